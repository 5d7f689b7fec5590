"""What the console reads of collections other services own (shared/read_models.py). It writes
none of them: what an operator does is handed over as an event (services/console/routes/).

    collection        owner                 why the console reads it
    alerts            alert-dispatcher      an alert as operators see it, changed and totalled
                                            (`AlertShown`), the list (`AlertHeadline`), whether a
                                            number is taken (`AlertNumber`)
    deliveries        alert-dispatcher      the deliveries list, filtered and paged, never the
                                            sealed request (`DeliveryListed`); the dashboard's
                                            counts per channel and state (`DeliveryCounted`)
    action_reports    alert-dispatcher      an alert's actions per source (`ActionSource`) and
                                            over time (`ActionMoment`)
    official_actions  alert-dispatcher      an alert's actions per official (`OfficialAction`)
    certificates      certificate-renderer  a re-issue: the certificate's state and pledge
                                            (`CertificateState`); certificates per day on the
                                            dashboard (`CertificateIssued`)
    pledges           pledge-intake         pledges per day on the dashboard (`PledgeReceived`)
    members           pledge-intake         whether a member to erase is known (`KnownMember`);
                                            an alert's audience counted for its summary
                                            (`AudienceMember`); when a member last wrote on each
                                            channel, for a reply's window (`MemberWindows`)
    erasures          pledge-intake         whether they were erased already (`Erasure`)
    member_keys       pledge-intake         who holds a contact to erase (`ContactOwner`)
    inbound_messages  pledge-intake         the chat replies to read and answer (`ReplyToAnswer`),
                                            when a sender last wrote (`SenderMessage`)
    sessions          event-scheduler       a session to change (`SessionKept`); the list, without
                                            its join link (`SessionListed`)
    registrations     event-scheduler       counts per session and state, cancelling one for
                                            someone (`RegistrationState`); a session's roster and
                                            ideas (`RegistrationRow`)

A member's export (`GET /members/{id}/export`) reads through shared/member_data.py, which intake
shares: not declared here.

Sealed documents (certificates, inbound_messages, registrations: shared/personal_data.py) are read
with their `sealed` value and opened with the console's vault by `opened`; one whose subject was
erased reads as absent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.read_models import ReadModel, View


def present(found: View) -> dict[str, Any]:
    """The fields `found`'s document has, in the view's order: one the document lacks stays
    absent (no `None` for it), as the stored document read; `id` left out."""
    return {
        name: getattr(found, name)
        for name in type(found).model_fields
        if name in found.model_fields_set and name != "id"
    }


# ---- alert-dispatcher -------------------------------------------------------------------------


class AlertShown(View):
    """An alert as the dispatcher keeps its latest version (`AlertPublishedData` and its state):
    what operators see of it, and what an update starts from."""

    id: str
    alert_id: str | None = None
    number: str
    kind: str | None = None
    sequence: int = 0
    urgent: bool | None = None
    sensitive: bool | None = None
    topics: list[str] | None = None
    texts: dict[str, Any] | None = None
    officials: list[dict[str, Any]] | None = None
    deadline: datetime | str | None = None  # ISO text as the dispatcher stores it (the event's JSON)
    public_url: str | None = None
    published_at: datetime | str | None = None
    state: str | None = None


class AlertHeadline(View):
    """An alert in the list: its English title, flags and when it last changed."""

    id: str
    number: str | None = None
    state: str | None = None
    urgent: bool | None = None
    sensitive: bool | None = None
    topics: list[str] | None = None
    deadline: datetime | str | None = None
    texts: dict[str, Any] | None = None
    sequence: int | None = None
    kind: str | None = None
    updated_at: datetime | None = None

    def listed(self) -> dict[str, Any]:
        """The list's row of fields: those the alert has, its texts cut to the English title."""
        row = present(self)
        if self.texts is not None:  # as the projection `texts.en.title` would answer
            english = self.texts.get("en")
            row["texts"] = (
                {"en": {k: v for k, v in english.items() if k == "title"}}
                if isinstance(english, dict)
                else {}
            )
        return row


class AlertNumber(View):
    id: str
    number: str


class ActionSource(View):
    alert_id: str
    source: str


class OfficialAction(View):
    alert_id: str
    official: int


class DeliveryListed(View):
    """A delivery in the operators' list: states and channels, never its request (the
    recipient's address and name). `member_id` and `correlation_id` are filters only."""

    id: str
    channel: str
    purpose: str
    source_id: str | None = None
    state: str
    reason: str | None = None
    attempt: int = 1
    fallback_from: str | None = None
    fallback: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    member_id: str | None = None
    correlation_id: str | None = None


ALERTS = ReadModel("alerts", AlertShown)
ALERT_HEADLINES = ReadModel("alerts", AlertHeadline)
ALERT_NUMBERS = ReadModel("alerts", AlertNumber)
DELIVERIES = ReadModel("deliveries", DeliveryListed)
ACTION_REPORTS = ReadModel("action_reports", ActionSource)
OFFICIAL_ACTIONS = ReadModel("official_actions", OfficialAction)


# ---- certificate-renderer ---------------------------------------------------------------------


class CertificateState(View):
    """A certificate to re-issue. Its sealed value is opened only to know its member was not
    erased (an erased member's certificate is unknown)."""

    number: str
    state: str
    replaced_by: str | None = None
    pledge_id: str
    sealed: Any = None


CERTIFICATES = ReadModel("certificates", CertificateState)


# ---- pledge-intake ----------------------------------------------------------------------------


class KnownMember(View):
    """Only that the member exists (`_id`)."""


class Erasure(View):
    """Only that the member was erased (`_id`: their id; nothing personal)."""


class ContactOwner(View):
    """Who holds a contact, under the contact's blind index (`contact_key`)."""

    member_id: str


class ReplyReceived(View):
    """A chat reply; `sender` and `text` are sealed with a vault."""

    id: str
    channel: str | None = None
    member_id: str | None = None
    sender: str | None = None
    text: str = ""
    stop: bool | None = None
    received_at: datetime
    sealed: Any = None


MEMBERS = ReadModel("members", KnownMember)
ERASURES = ReadModel("erasures", Erasure)
MEMBER_KEYS = ReadModel("member_keys", ContactOwner)


# ---- event-scheduler --------------------------------------------------------------------------


class SessionListed(View):
    """A session in the operators' list: the `Session` contract's fields (the event-scheduler
    keeps nothing else) except `join_link`, in the contract's order."""

    id: str
    session_id: str
    kind: str
    texts: dict[str, Any]
    starts_at: datetime
    ends_at: datetime
    mode: str
    place: str = ""
    join_link_release_at: datetime | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    capacity: int | None = None
    reminder_minutes: list[int] | None = None
    reminder_seconds: list[int] | None = None
    status: str = "scheduled"
    version: int = 1
    public_url: str


class SessionKept(SessionListed):
    """A session to change: all of it, its join link too (the next version carries it on)."""

    join_link: str | None = None


class RegistrationState(View):
    session_id: str | None = None
    state: str = "registered"


class RegistrationRow(RegistrationState):
    """A registration in its session's roster and ideas (`registrant` and `ideas` are sealed with
    a vault; the contact they hold is never shown)."""

    id: str
    registrant: dict[str, Any] | None = None
    ideas: str = ""
    submitted_at: datetime | None = None
    sealed: Any = None


SESSIONS = ReadModel("sessions", SessionKept)
SESSIONS_LISTED = ReadModel("sessions", SessionListed)
REGISTRATIONS = ReadModel("registrations", RegistrationState)
REGISTRATION_ROWS = ReadModel("registrations", RegistrationRow)


# ---- the dashboard (services/console/routes/dashboard.py) --------------------------------------


class DeliveryCounted(View):
    """A delivery counted on the dashboard: its channel and state, when it was created (the
    period) and last changed (how long a pending one has waited). Nobody's id."""

    channel: str
    state: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PledgeReceived(View):
    """A pledge counted per day (pledge-intake's `pledges`): when it was submitted, nothing else."""

    submitted_at: datetime | None = None


class CertificateIssued(View):
    """A certificate counted per day (certificate-renderer's `certificates`): when it was issued."""

    issued_at: datetime | None = None


DELIVERIES_COUNTED = ReadModel("deliveries", DeliveryCounted)
PLEDGES_RECEIVED = ReadModel("pledges", PledgeReceived)
CERTIFICATES_ISSUED = ReadModel("certificates", CertificateIssued)


# ---- the replies inbox: answering within a channel's window (pledge-intake) ------------------


class ReplyToAnswer(ReplyReceived):
    """A reply to answer: also what its sender is (`sender_kind`: phone, PSID) and their contact
    key (`sender_key`, a blind index), by which their latest message on the channel is found."""

    sender_kind: str | None = None
    sender_key: str | None = None


class SenderMessage(View):
    """When a sender wrote on a channel (the start of its reply window); nothing personal."""

    channel: str | None = None
    sender_key: str | None = None
    received_at: datetime


class MemberWindows(View):
    """When a member last wrote on each channel (`last_inbound`; a linked address sets it too)."""

    id: str
    last_inbound: dict[str, datetime] | None = None


REPLIES_TO_ANSWER = ReadModel("inbound_messages", ReplyToAnswer)
SENDER_MESSAGES = ReadModel("inbound_messages", SenderMessage)
MEMBER_WINDOWS = ReadModel("members", MemberWindows)


# ---- pledge-intake: an alert's audience (appended for the summary before publishing) ---------


class AudienceMember(View):
    """A member as the dispatcher's alert fan-out plans for them: consent, topics, channel
    preferences and stops, quiet hours, and (sealed with encryption on) the addresses the
    channels' declarations check. Only counted: nothing of it leaves the summary."""

    id: str
    country: str | None = None
    language: str | None = None
    channels: list[str] | None = None
    alerts_opt_in: bool | None = None
    topics: list[str] | None = None
    time_zone: str | None = None
    quiet_hours: dict[str, Any] | None = None
    unsubscribed: list[str] | None = None
    name: str | None = None
    email: str | None = None
    emails: list[str] | None = None
    phone: str | None = None
    phones: list[str] | None = None
    postal_address: dict[str, Any] | None = None
    psid: str | None = None
    email_confirmed: str | None = None
    discreet: bool | None = None
    sealed: Any = None


AUDIENCE = ReadModel("members", AudienceMember)


# ---- alert-dispatcher: numbers their owners confirmed (appended for the alert summary) --------


class ConfirmedNumber(View):
    """A phone number whose owner wrote to us from it (services/dispatcher/numbers.py): `_id` is
    its blind index, never the number."""

    id: str


CONFIRMED = ReadModel("confirmed_numbers", ConfirmedNumber)


# ---- alert-dispatcher: when members acted on an alert (appended for the alert's page chart) ----


class ActionMoment(View):
    """When a member's action on an alert was counted (its first report): for the chart of
    actions over time. Nobody's id."""

    alert_id: str
    at: datetime | None = None


ACTION_MOMENTS = ReadModel("action_reports", ActionMoment)
