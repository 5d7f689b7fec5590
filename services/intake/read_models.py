"""What intake reads of other services' collections (shared/read_models.py). Intake writes none of
them: every change a visitor asks for is handed over as an event.

    collection       owner                 why intake reads it
    alerts           alert-dispatcher      the public alert page (/a/{slug}); the officials a
                                           member can tick on "I took action" (/a/done/{token})
                                           and when that link expires (deadline, closure)
    certificates     certificate-renderer  public verification (/v/{number}, the API)
    deliveries       alert-dispatcher      an "I took action" link: its alert, member, token's
                                           hash and when it was sent
    message_details  alert-dispatcher      a discreet message's link (/d/{token}): its expiry and
                                           its content (sealed), shown once (details.py)
    members          pledge-intake         a member's personal pages by their token: unsubscribe,
                                           preferences, their data, erasure
    partner_keys     console               a partner key presented with a submission; the origins
                                           unrevoked keys allow (CORS preflights)
    pending_changes  pledge-intake         a confirmation link (/m/confirm/{token}) still pending
    pledges          pledge-intake         a pledge's status (page and API)
    registrations    event-scheduler       seats taken (full sessions); a registrant's cancel link
    sessions         event-scheduler       the public calendar, session pages and iCalendar feeds
    subscriptions    pledge-intake         a subscription's confirmation link (/c/{token})

Sealed documents (members, certificates, subscriptions: shared/personal_data.py) are read with
their `sealed` value and opened with the site's vault by `opened`; one whose subject was erased
reads as absent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field

from shared.partner_keys import secret_matches
from shared.read_models import ReadModel, View

# ---- alert-dispatcher -------------------------------------------------------------------------


class AlertPage(View):
    """An alert as its public page shows it (the latest version)."""

    number: str
    state: str = "published"
    texts: dict[str, dict[str, Any]]
    officials: list[dict[str, Any]] = Field(default_factory=list)
    deadline: datetime | None = None  # stored as ISO text (the event's JSON form)


class AlertOfficials(View):
    officials: list[dict[str, Any]] = Field(default_factory=list)


class ActionLink(View):
    """What an "I took action" link is checked against: the delivery it came with (its token's
    hash; `action_token`: the plain token of deliveries written before hashing, until their
    retention removes them) and when it was made."""

    alert_id: str | None = None
    member_id: str | None = None
    action_token_hash: str | None = None
    action_token: str | None = None
    created_at: datetime | None = None


class ActionPeriod(View):
    """When an alert's action period ends: its deadline, or its closure (the closing version's
    `published_at`, stored as ISO text like `deadline`)."""

    state: str = "published"
    deadline: datetime | None = None
    published_at: datetime | None = None


ALERT_PAGES = ReadModel("alerts", AlertPage)
ALERT_OFFICIALS = ReadModel("alerts", AlertOfficials)
ACTION_LINKS = ReadModel("deliveries", ActionLink)
ACTION_PERIODS = ReadModel("alerts", ActionPeriod)


class MessageDetail(View):
    """What a discreet message's link stands for (shared/message_details.py): `sealed` with the
    person's data key (`Vault.seal`), or plain `content` with encryption off."""

    id: str
    purpose: str
    expires_at: datetime
    sealed: Any = None
    content: dict[str, Any] | None = None


DETAIL_LINKS = ReadModel("message_details", MessageDetail)


# ---- certificate-renderer ---------------------------------------------------------------------


class CertificateCheck(View):
    """What public verification needs of a certificate (`name` is sealed with a vault)."""

    number: str
    state: str
    signed_on: datetime
    name: str | None = None
    show_name_publicly: bool = False
    discreet: bool = False  # the member's discreet messages: verification says only "valid"
    replaced_by: str | None = None
    sealed: Any = None


CERTIFICATES = ReadModel("certificates", CertificateCheck)


# ---- pledge-intake ----------------------------------------------------------------------------


class MemberOfToken(View):
    """A member found by one of their links (shared/member_links.py): by the id the link names,
    with their secret (`unsubscribe_token`, sealed) to check it against; or, for an old link that
    carries the raw secret, by its blind index, `unsubscribe_key`, or as stored before, plain."""

    id: str
    unsubscribe_key: str | None = None
    unsubscribe_token: str | None = None
    language: str | None = None
    sealed: Any = None


MemberT = TypeVar("MemberT", bound=MemberOfToken)


class MemberPreferences(MemberOfToken):
    """A member's own preferences page: their choices and which addresses they have (sealed)."""

    email: str | None = None
    phone: str | None = None
    psid: str | None = None
    alerts_opt_in: bool | None = None
    topics: list[str] | None = None
    channels: list[str] | None = None
    time_zone: str | None = None
    quiet_hours: dict[str, Any] | None = None
    unsubscribed: list[str] | None = None
    country: str | None = None
    discreet: bool | None = None  # their own choice; None: their country's default
    sealed: Any = None


class PendingChange(View):
    id: str
    token: str
    state: str


class PledgeOutcome(View):
    """What a pledge's status says (services/intake/submission.py `PledgeStatus`)."""

    state: str
    reason: str | None = None
    detail: str | None = None
    recorded_at: datetime | None = None


class SubscriptionToConfirm(View):
    """A subscription by its confirmation token; its `request` is sealed while pending."""

    id: str
    confirm_token: str
    state: str
    request: dict[str, Any] | None = None
    sealed: Any = None


MEMBERS_BY_TOKEN = ReadModel("members", MemberOfToken)
MEMBER_PREFERENCES = ReadModel("members", MemberPreferences)
PENDING_CHANGES = ReadModel("pending_changes", PendingChange)
PLEDGES = ReadModel("pledges", PledgeOutcome)
SUBSCRIPTIONS = ReadModel("subscriptions", SubscriptionToConfirm)


# ---- console ----------------------------------------------------------------------------------


class PartnerKeyCheck(View):
    """A partner key as intake checks a presented secret against it (shared/partner_keys.py)."""

    id: str
    secret_hash: str
    rate_per_minute: int
    origins: list[str] = Field(default_factory=list)
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def accepts(self, secret: str) -> bool:
        return secret_matches(self.secret_hash, secret)

    def allows_origin(self, origin: str) -> bool:
        return origin in self.origins


class KeyOrigins(View):
    origins: list[str] = Field(default_factory=list)
    revoked_at: datetime | None = None


PARTNER_KEYS = ReadModel("partner_keys", PartnerKeyCheck)
PARTNER_KEY_ORIGINS = ReadModel("partner_keys", KeyOrigins)


# ---- event-scheduler --------------------------------------------------------------------------


class PublicSession(View):
    """A session as the public pages and feeds show it: the `Session` contract's fields except
    `join_link`, which intake never reads (registrants receive it in their messages)."""

    session_id: str
    kind: str
    texts: dict[str, dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    mode: str
    place: str = ""
    join_link_release_at: datetime | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    capacity: int | None = None
    status: str = "scheduled"
    version: int = 1
    public_url: str


class RegistrationState(View):
    """A registration's plain id, session and state (never its sealed registrant)."""

    id: str
    session_id: str
    state: str


SESSIONS = ReadModel("sessions", PublicSession)
REGISTRATIONS = ReadModel("registrations", RegistrationState)
