"""Member contracts: subscriptions, preferences and consent changes that apply across channels.

    subscription.requested.v1   someone asked for alerts (subscribe page, API, operator import);
                                pledge-intake keeps it pending and asks the dispatcher to send the
                                confirmation email (double opt-in)
    subscription.confirmed.v1   the person clicked the confirmation link: the subscription applies
    preferences.changed.v1      a member changed topics, channel order, language, time zone, quiet
                                hours or per-channel stops through their personal link
    consent.withdrawn.v1        a member asked to receive nothing more (or nothing on one channel)
    notice.requested.v1         a short service message for one person (e.g. "confirm your
                                subscription"); the dispatcher delivers it like any other message
    member_change.confirmed.v1  a member used the link sent to a contact they already had on file:
                                the change someone proposed with that contact (a pledge or a
                                subscription) was theirs, so pledge-intake applies it
    member.links_reset_requested.v1
                                a member pressed "end all my old links" on their personal page:
                                pledge-intake replaces their secret, so every link made from it
                                (unsubscribe, personal page: shared/member_links.py) stops working

pledge-intake owns `members`, `subscriptions`, `pending_changes` and the consent history
(`consents`): every change is recorded there with what text the person saw, where and when.
A contact a member already holds never changes that member (nor joins another record) until the
member confirms from a contact on file: see docs/pledges.md, "Known contacts".
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.alert import Topic
from shared.contracts.envelope import Event, Payload
from shared.contracts.pledge import DISCREET_DESCRIPTION, Channel, Consent, Contact, Language

WithdrawalSource = Literal[
    "list-unsubscribe", "unsubscribe-page", "chat-reply", "operator", "preferences-page"
]
SubscriptionSource = Literal["subscribe-page", "api", "operator-import", "pledge-form"]


class QuietHours(Payload):
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["21:00"])
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["07:00"])


class Preferences(Payload):
    topics: list[Topic] = Field(default_factory=list, description="Empty: every topic.")
    channels: list[Channel] = Field(min_length=1, description="In order of preference.")
    language: Language
    time_zone: str = Field(default="UTC", description="IANA time zone, e.g. Asia/Phnom_Penh.")
    quiet_hours: QuietHours | None = Field(default=None, description="No alerts between these local times.")
    discreet: bool | None = Field(default=None, description=DISCREET_DESCRIPTION)


class SubscriptionRequestedData(Payload):
    subscription_id: str
    source: SubscriptionSource
    name: str
    country: str = Field(min_length=2, max_length=2)
    contact: Contact
    preferences: Preferences
    consent: Consent
    confirmed: bool = Field(
        default=False,
        description="Operator imports of people who already confirmed elsewhere (with their consent "
        "record); everything else waits for the email confirmation.",
    )
    requested_at: AwareDatetime


class SubscriptionRequested(Event[SubscriptionRequestedData]):
    """Someone asked for Urgent Action alerts; it applies once their email address is confirmed."""

    type: Literal["subscription.requested.v1"] = "subscription.requested.v1"
    sealed_by: ClassVar[str | None] = "subscription_id"


class SubscriptionConfirmedData(Payload):
    subscription_id: str
    at: AwareDatetime


class SubscriptionConfirmed(Event[SubscriptionConfirmedData]):
    """The person confirmed their subscription from the link in the confirmation email."""

    type: Literal["subscription.confirmed.v1"] = "subscription.confirmed.v1"


class PreferencesChangedData(Payload):
    member_id: str
    alerts: bool = Field(description="Receive Urgent Action alerts.")
    preferences: Preferences
    stopped_channels: list[Channel] = Field(
        default_factory=list, description="Channels the member wants nothing on."
    )
    resume_all: bool = Field(default=False, description="Lift an earlier 'stop everything'.")
    consent: Consent
    at: AwareDatetime


class PreferencesChanged(Event[PreferencesChangedData]):
    """A member changed what they receive, and how, through their personal link."""

    type: Literal["preferences.changed.v1"] = "preferences.changed.v1"
    sealed_by: ClassVar[str | None] = "member_id"


class ConsentWithdrawnData(Payload):
    member_id: str
    scope: str = Field(
        description="`all` (every message on every channel) or one channel name.", examples=["all", "email"]
    )
    source: WithdrawalSource = Field(description="Where the person asked.")
    at: AwareDatetime


class ConsentWithdrawn(Event[ConsentWithdrawnData]):
    """A member asked to receive nothing more (or nothing more on one channel)."""

    type: Literal["consent.withdrawn.v1"] = "consent.withdrawn.v1"


class NoticeRequestedData(Payload):
    notice_id: str = Field(description="Deterministic per notice: a repeated request is one message.")
    member_id: str = Field(description="The member, or the pending subscription's id.")
    name: str
    language: Language
    country: str = Field(min_length=2, max_length=2)
    contact: Contact
    psid: str | None = Field(default=None, description="Their Messenger page-scoped id, if linked.")
    channels: list[Channel] = Field(min_length=1, description="Channels to try, in order.")
    kind: Literal["confirm-subscription", "confirm-change"] = Field(
        description="`confirm-subscription`: double opt-in of a new subscription's email; "
        "`confirm-change`: someone used a contact this member holds, confirm it was them."
    )
    subject: str
    body: str = Field(description="Plain text, in the person's language.")
    link_path: str = Field(description="Path on the public site; the dispatcher adds its base URL.")
    link_label: str


class NoticeRequested(Event[NoticeRequestedData]):
    """Send one short service message (with one link) to one person."""

    type: Literal["notice.requested.v1"] = "notice.requested.v1"
    sealed_by: ClassVar[str | None] = "member_id"


class MemberChangeConfirmedData(Payload):
    change_id: str = Field(
        description="The pending change (pledge-intake's `pending_changes`) whose link was used.",
        examples=["ch_5b0d6c1e9a3f4e2b8c7d6a5f4e3d2c1b"],
    )
    at: AwareDatetime


class MemberChangeConfirmed(Event[MemberChangeConfirmedData]):
    """A member confirmed, from a contact already on file, that a pledge or subscription made with
    that contact was theirs: the proposed change applies to their record."""

    type: Literal["member_change.confirmed.v1"] = "member_change.confirmed.v1"


class LinksResetRequestedData(Payload):
    member_id: str
    at: AwareDatetime


class LinksResetRequested(Event[LinksResetRequestedData]):
    """A member asked, from their personal page, to end all their old links: pledge-intake gives
    them a new secret; the next message they receive carries links made from it."""

    type: Literal["member.links_reset_requested.v1"] = "member.links_reset_requested.v1"
