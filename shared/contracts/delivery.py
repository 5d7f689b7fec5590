"""Delivery contracts: the dispatcher asks a channel to deliver; the channel reports what happened.

    delivery.requested.v1   routed as `delivery.requested.v1.<channel>.<band>`: only that
                            channel's queue for the request's priority band receives it, so
                            each channel scales and fails on its own, and its urgent work never
                            waits behind a backlog of less urgent work
                            (`delivery.requested.v1.<channel>.#` is all of one channel's)
    delivery.status.v1      routed as `delivery.status.v1.<channel>`: the dispatcher updates
                            its `deliveries` read model and falls back on final failures

Requests carry the recipient's address and personal texts. With encryption on (shared/personal_data.py)
the dispatcher moves them into `encrypted`, sealed with the member's own data key, and blanks them in
the plain fields (`PERSONAL_FIELDS`), so a request resting in a queue (retry tier, dead letter) holds
no personal data in plain text; the channel runner opens it just before the send.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from shared.contracts.alert import Official
from shared.contracts.envelope import Event, Payload
from shared.contracts.pledge import Language, PostalAddress

AddressKind = Literal["email", "postal", "phone", "psid"]
DeliveryState = Literal[
    "waiting",
    "pending",
    "retrying",
    "unknown",
    "sent",
    "delivered",
    "failed_permanent",
    "dead_lettered",
    "skipped",
]
FINAL_FAILURES: frozenset[str] = frozenset({"failed_permanent", "dead_lettered"})
UNRESOLVED = "outcome-unresolved"
"""The reason of an `unknown` status after reconciliation could not tell whether the message
arrived: the channel holds it for an operator (dead letter `outcome-unknown`), and the dispatcher
falls back from it (after the channel's receipt wait, if the channel gets receipts)."""

Band = Literal["high", "normal", "low"]
BANDS: tuple[Band, ...] = ("high", "normal", "low")
"""Priority bands, most urgent first: each channel has one queue per band (quorum queues have no
message priorities), and its runner starts a high-band send before any waiting lower-band one."""


def band_of(priority: int) -> Band:
    """high: alerts (7-9); normal: reminders (4-6); low: certificates (0-3)."""
    if priority >= 7:
        return "high"
    if priority >= 4:
        return "normal"
    return "low"


class Recipient(Payload):
    member_id: str
    name: str = Field(description="How to address the person, any script.")
    language: Language
    country: str = Field(min_length=2, max_length=2, examples=["US"])
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    postal_address: PostalAddress | None = None
    psid: str | None = Field(default=None, description="Messenger page-scoped id, once linked.")
    last_inbound_at: dict[str, AwareDatetime] = Field(
        default_factory=dict,
        description="Per channel, when the person last wrote to us (chat platforms' 24-hour windows).",
    )
    phone_confirmed: bool = Field(
        default=False,
        description="The owner of `phone` wrote to us from it (services/dispatcher/numbers.py): only "
        "then may a channel that sends to phone numbers carry a message to it.",
    )
    discreet: bool = Field(
        default=False,
        description="At-risk mode: the request carries only a neutral notice (kind `discreet`) whose "
        "link opens the details once; channels send it under a neutral sender name; never post.",
    )


class CertificateRef(Payload):
    certificate_number: str = Field(examples=["KCAP-2026-000125"])
    bucket: str = Field(
        description="The GridFS bucket holding the certificate's files, named by the service that "
        "stored them (certificate.issued): the channel runner opens this bucket."
    )
    pdf_file_id: str = Field(description="GridFS id (in `bucket`) of the A4 PDF.")
    png_file_id: str | None = Field(
        default=None, description="GridFS id of the PNG, made when a chosen channel carries `png`."
    )
    print_pdf_file_id: str | None = Field(
        default=None,
        description="GridFS id of the US Letter print-ready PDF, made when a chosen channel carries `print_pdf`.",
    )
    verify_url: str
    replaces: str | None = None
    download_url: str | None = Field(
        default=None,
        description="A personal link that downloads the certificate once; set for channels that carry "
        "no file (services/dispatcher/downloads.py).",
    )


class AlertRef(Payload):
    """An Urgent Action alert as one member receives it: in their language, letter personalised."""

    alert_id: str
    number: str = Field(examples=["UA 12/26"])
    kind: Literal["alert", "update", "extension", "closure"] = "alert"
    urgent: bool = False
    sensitive: bool = False
    title: str
    summary: str
    actions: list[str] = Field(default_factory=list)
    officials: list[Official] = Field(default_factory=list)
    letter: str = Field(default="", description="The letter template with the member's name filled in.")
    letter_subject: str = ""
    deadline: AwareDatetime | None = None
    public_url: str
    action_url: str = Field(description="This member's one-click 'I took action' link.")


class ReminderRef(Payload):
    """A session message as one registrant receives it: their language, times in their time zone."""

    kind: str = Field(
        examples=["reminder"],
        description="confirmation, reminder, join-link, rescheduled, cancelled, plan-of-action, promoted, "
        "registration-cancelled",
    )
    session_id: str
    title: str
    description: str = ""
    when: str = Field(description="The start, written in the registrant's language and time zone.")
    until: str = Field(description="The end, same.")
    previous_when: str | None = Field(default=None, description="The old start (rescheduled).")
    time_zone: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    mode: str
    place: str = ""
    join_link: str | None = Field(default=None, description="Only once released.")
    public_url: str
    ics_url: str = Field(description="The session as an iCalendar file.")
    minutes_before: int | None = None
    waitlisted: bool = False
    plan_of_action: str | None = None
    plan_pdf_file_id: str | None = Field(default=None, description="GridFS id (in `plan_pdf_bucket`).")
    plan_pdf_bucket: str | None = Field(
        default=None,
        description="The GridFS bucket of the Plan of Action PDF, named by the service that stored it.",
    )
    version: int = 1
    cancel_url: str | None = Field(default=None, description="The registrant's link to cancel.")


class NoticeRef(Payload):
    """A short service message (e.g. "confirm your subscription"), already in the person's language."""

    kind: str = Field(examples=["confirm-subscription"])
    subject: str
    body: str = Field(description="Plain text.")
    link_url: str
    link_label: str


class DeliveryRequestedData(Payload):
    delivery_id: str = Field(
        description="Deterministic: purpose x source x member x channel. Channels claim it once.",
        examples=["dl_6b1f0c2a9e4d4f1b8a7c3d2e"],
    )
    channel: str = Field(examples=["email"])
    purpose: str = Field(description="What is delivered: `certificate`, `alert`, `reminder` or `notice`.")
    source_id: str = Field(description="What it is about, e.g. the certificate number.")
    priority: int = Field(
        default=5,
        ge=0,
        le=9,
        description="Urgency: alerts (7, urgent 9) > reminders (5) > certificates (3). Picks the "
        "band in the routing key: >= 7 `high`, 4-6 `normal`, <= 3 `low`.",
    )
    recipient: Recipient
    certificate: CertificateRef | None = None
    alert: AlertRef | None = None
    notice: NoticeRef | None = None
    reminder: ReminderRef | None = None
    preferences_url: str | None = Field(
        default=None, description="The member's personal page to change what they receive."
    )
    unsubscribe_url: str | None = Field(default=None, description="One-click unsubscribe (RFC 8058).")
    fallback_from: str | None = Field(default=None, description="The failed delivery this one replaces.")
    requested_at: AwareDatetime
    encrypted: str | None = Field(
        default=None,
        description="The personal fields (`PERSONAL_FIELDS`: the recipient's name, addresses and "
        "reply windows, the member's letter and personal links) encrypted with the member's own data "
        "key: base64 of a MongoDB explicit-encryption value (BSON subtype 6). While set, those fields "
        "are blank in the plain request; the channel runner opens it just before the send.",
    )

    @property
    def band(self) -> Band:
        return band_of(self.priority)

    def split_personal(self) -> tuple[dict[str, Any], DeliveryRequestedData]:
        """(the personal fields, this request with them blanked): what `encrypted` seals."""
        plain = self.model_dump(mode="json")
        personal: dict[str, Any] = {}
        for part, names in PERSONAL_FIELDS.items():
            holder = plain if part == "request" else plain.get(part)
            if holder is None:
                continue
            model = _PART_MODELS[part]
            personal[part] = {name: holder[name] for name in names}
            for name in names:
                holder[name] = _blank(model, name)
        return personal, DeliveryRequestedData.model_validate(plain)

    def with_personal(self, personal: dict[str, Any]) -> DeliveryRequestedData:
        """The request with its personal fields back (from `split_personal`) and no `encrypted`."""
        plain = self.model_dump(mode="json")
        for part, values in personal.items():
            holder = plain if part == "request" else plain.get(part)
            if holder is not None:
                holder.update({k: v for k, v in values.items() if k in PERSONAL_FIELDS.get(part, ())})
        plain["encrypted"] = None
        return DeliveryRequestedData.model_validate(plain)


PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "recipient": ("name", "email", "phone", "postal_address", "psid", "last_inbound_at"),
    "alert": ("letter", "action_url"),
    "certificate": ("download_url",),
    "notice": ("subject", "body", "link_url"),
    "reminder": ("cancel_url",),
    "request": ("unsubscribe_url", "preferences_url"),
}
"""What a request carries that is personal (by part of the request; `request` = its own fields):
sealed into `encrypted` at rest and in queues. The rest (ids, language, country, the alert's and
session's common texts, certificate file ids) is the same for everyone or needed for routing."""

_PART_MODELS: dict[str, type[BaseModel]] = {
    "recipient": Recipient,
    "alert": AlertRef,
    "certificate": CertificateRef,
    "notice": NoticeRef,
    "reminder": ReminderRef,
    "request": DeliveryRequestedData,
}


def _blank(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields[name]
    return "" if field.is_required() else field.get_default(call_default_factory=True)


class DeliveryRequested(Event[DeliveryRequestedData]):
    """Deliver one message to one member on one channel."""

    type: Literal["delivery.requested.v1"] = "delivery.requested.v1"

    @classmethod
    def routing_key_for(cls, channel: str, band: str) -> str:
        """The key of one channel's requests in one band; `band="#"` binds all of the channel's."""
        return f"{cls.event_type()}.{channel}.{band}"

    @classmethod
    def routing_pattern(cls) -> str:
        return cls.routing_key_for("{channel}", "{band}")

    def routing_key(self) -> str:
        return self.routing_key_for(self.data.channel, self.data.band)


class DeliveryStatusData(Payload):
    delivery_id: str
    channel: str
    state: DeliveryState
    attempt: int = Field(ge=1)
    reason: str | None = Field(default=None, description="Why it failed or is retried; no personal data.")
    provider_message_id: str | None = None
    at: AwareDatetime


class DeliveryStatus(Event[DeliveryStatusData]):
    """What a channel did with a delivery: sent, delivered, retrying, failed, dead-lettered, unknown."""

    type: Literal["delivery.status.v1"] = "delivery.status.v1"

    @classmethod
    def routing_pattern(cls) -> str:
        return f"{cls.event_type()}.{{channel}}"

    def routing_key(self) -> str:
        return f"{self.type}.{self.data.channel}"
