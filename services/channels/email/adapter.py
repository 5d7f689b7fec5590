"""Email: multipart text + HTML (Jinja2, English and Khmer), the certificate PDF attached.

`Message-ID` is derived from the delivery id. SMTP cannot be asked afterwards whether a message
was accepted, so an in-doubt delivery (the connection died during DATA, or a worker died holding
the claim) is never resent blindly: if `EMAIL_RECONCILE_API_URL` points at a mailbox API that can
search by Message-ID (Mailpit's, or the local sink's), the runner asks it; otherwise the delivery
is held as `unknown` for an operator.
Every message carries `List-Unsubscribe` (URL + optional mailto) and the RFC 8058 one-click
`List-Unsubscribe-Post` header. SMTP replies map onto the adapter error tree: 4xx (and no
connection) -> retry, 5xx -> permanent, a connection lost during DATA -> unknown.
"""

from __future__ import annotations

import asyncio
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode

import aiosmtplib
import httpx
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.calendar import calendar, session_event
from shared.channels import (
    ChannelAdapter,
    ChannelSettings,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SendResult,
)
from shared.channels.texts import is_discreet
from shared.contracts import utcnow
from shared.contracts.delivery import DeliveryRequestedData, ReminderRef
from shared.message_details import DISCREET_KIND

SUBJECTS = {
    ("certificate", "en"): "Your Khmer Community Advocacy Pledge certificate ({number})",
    ("certificate", "km"): "វិញ្ញាបនបត្រសន្យាតស៊ូមតិសហគមន៍ខ្មែររបស់អ្នក ({number})",
}


class EmailSettings(ChannelSettings):
    model_config = SettingsConfigDict(env_prefix="EMAIL_", env_file=".env", extra="ignore")
    smtp_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("EMAIL_SMTP_HOST", "SMTP_HOST"))
    smtp_port: int = Field(default=1025, validation_alias=AliasChoices("EMAIL_SMTP_PORT", "SMTP_PORT"))
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = 30.0
    smtp_connections: int = 4
    from_address: str = "pledge@samleng.invalid"
    from_name: str = "Samleng"
    discreet_from_name: str = Field(
        default="Notifications",
        description="The sender name of discreet messages (at-risk mode): neutral, never the network's.",
    )
    discreet_from_address: str | None = Field(
        default=None,
        description="The sender address of discreet messages; unset: EMAIL_FROM_ADDRESS. Use a "
        "neutral mailbox (its domain shows too).",
    )
    message_id_domain: str = "samleng.invalid"
    unsubscribe_mailto: str | None = None
    reconcile_api_url: str | None = Field(
        default=None,
        description="Mailpit-compatible API (`/api/v1/search?query=message-id:...`) that settles in-doubt "
        "sends; unset = in-doubt deliveries wait for an operator.",
    )


class SmtpPool:
    """Up to `size` open SMTP connections, reused across sends (a new one after any error)."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(max(1, settings.smtp_connections))

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_seconds,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )

    async def send(self, message: EmailMessage) -> None:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            if client is None or not client.is_connected:
                client = self._client()
                try:
                    await client.connect()
                except (aiosmtplib.SMTPException, OSError) as error:
                    raise RetryableDeliveryError(
                        f"cannot reach the SMTP server: {error}", reason="smtp-unreachable"
                    ) from error
            try:
                await client.send_message(message)
            except BaseException:
                client.close()
                raise
            self._idle.append(client)

    async def close(self) -> None:
        while self._idle:
            client = self._idle.pop()
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


class EmailAdapter(ChannelAdapter):
    name: ClassVar[str] = "email"
    settings_class = EmailSettings

    def __init__(
        self, settings: ChannelSettings, lookup_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings)
        assert isinstance(settings, EmailSettings)
        self._lookup_transport = lookup_transport
        self.email_settings = settings
        self.pool = SmtpPool(settings)
        self._lookup: httpx.AsyncClient | None = None
        self.templates = Environment(
            loader=PackageLoader("services.channels.email", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
        )

    def max_concurrent_sends(self) -> int:
        return max(1, self.email_settings.smtp_connections)

    async def start(self) -> None:
        if self.email_settings.reconcile_api_url:
            self._lookup = httpx.AsyncClient(
                base_url=self.email_settings.reconcile_api_url, timeout=10, transport=self._lookup_transport
            )

    async def close(self) -> None:
        await self.pool.close()
        if self._lookup is not None:
            await self._lookup.aclose()

    async def reconcile(self, delivery: DeliveryRequestedData) -> SendResult | None:
        if self._lookup is None:
            return None
        message_id = self.message_id(delivery)
        try:
            response = await self._lookup.get("/api/v1/search", params={"query": f"message-id:{message_id}"})
            response.raise_for_status()
        except httpx.HTTPError as error:  # the mail server is down with its mailbox: ask again later
            raise OutcomeUnknown("the mailbox cannot be asked now", reason="mailbox-unreachable") from error
        if response.json().get("messages"):
            return SendResult(provider_message_id=f"<{message_id}>")
        raise RetryableDeliveryError("the mailbox has no such message", reason="not-sent")

    def message_id(self, delivery: DeliveryRequestedData) -> str:
        s = self.email_settings
        if is_discreet(delivery) and s.discreet_from_address:  # not the network's domain either
            return f"{delivery.delivery_id}@{s.discreet_from_address.rpartition('@')[2]}"
        return f"{delivery.delivery_id}@{s.message_id_domain}"

    def compose(self, message: OutboundMessage) -> EmailMessage:
        delivery = message.delivery
        recipient = delivery.recipient
        assert recipient.email is not None
        s = self.email_settings
        language = recipient.language
        context = {
            "name": recipient.name,
            "certificate": delivery.certificate,
            "alert": delivery.alert,
            "officials": officials_with_mailto(delivery),
            "notice": delivery.notice,
            "reminder": delivery.reminder,
            "unsubscribe_url": delivery.unsubscribe_url,
            "preferences_url": delivery.preferences_url,
        }
        mail = EmailMessage()
        mail["Subject"] = subject(delivery)
        if is_discreet(delivery):  # nothing of the network or the person: sender, name, template
            mail["From"] = formataddr((s.discreet_from_name, s.discreet_from_address or s.from_address))
            mail["To"] = Address(addr_spec=recipient.email)
        else:
            mail["From"] = formataddr((s.from_name, s.from_address))
            mail["To"] = Address(display_name=recipient.name, addr_spec=recipient.email)
        mail["Date"] = format_datetime(utcnow())
        mail["Message-ID"] = f"<{self.message_id(delivery)}>"
        unsubscribe = []
        if delivery.unsubscribe_url:
            unsubscribe.append(f"<{delivery.unsubscribe_url}>")
        if s.unsubscribe_mailto:
            unsubscribe.append(f"<mailto:{s.unsubscribe_mailto}?subject=unsubscribe>")
        if unsubscribe:
            mail["List-Unsubscribe"] = ", ".join(unsubscribe)
        if delivery.unsubscribe_url:
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        base = f"{DISCREET_KIND if is_discreet(delivery) else delivery.purpose}.{language}"
        mail.set_content(self.templates.get_template(f"{base}.txt").render(context))
        mail.add_alternative(self.templates.get_template(f"{base}.html").render(context), subtype="html")
        if delivery.reminder is not None and delivery.reminder.kind in INVITATION_KINDS:
            mail.add_attachment(
                invitation(delivery.reminder, language),
                maintype="text",
                subtype="calendar",
                filename="session.ics",
            )
        for attachment in message.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            mail.add_attachment(
                attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
            )
        mail["Content-Language"] = language  # after the body: set_content() drops Content-* headers
        return mail

    async def send(self, message: OutboundMessage) -> SendResult:
        mail = self.compose(message)
        try:
            await self.pool.send(mail)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [error.code for error in refused.recipients]
            raise _by_code(min(codes) if codes else 550, "recipient refused") from refused
        except aiosmtplib.SMTPResponseException as error:
            raise _by_code(error.code, error.message[:200]) from error
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, ConnectionError) as error:
            raise OutcomeUnknown(
                f"connection lost while sending: {error}", reason="smtp-connection-lost"
            ) from error
        return SendResult(provider_message_id=str(mail["Message-ID"]))


REMINDER_SUBJECT = {
    ("confirmation", "en"): "Registered: {title}",
    ("confirmation", "km"): "បានចុះឈ្មោះ៖ {title}",
    ("reminder", "en"): "Reminder: {title}, {when}",
    ("reminder", "km"): "ការរំលឹក៖ {title}, {when}",
    ("join-link", "en"): "How to join: {title}",
    ("join-link", "km"): "របៀបចូលរួម៖ {title}",
    ("rescheduled", "en"): "New time: {title}, {when}",
    ("rescheduled", "km"): "ពេលវេលាថ្មី៖ {title}, {when}",
    ("cancelled", "en"): "Cancelled: {title}",
    ("cancelled", "km"): "បានលុបចោល៖ {title}",
    ("plan-of-action", "en"): "Plan of Action: {title}",
    ("plan-of-action", "km"): "ផែនការសកម្មភាព៖ {title}",
    ("promoted", "en"): "You have a seat: {title}",
    ("promoted", "km"): "អ្នកមានកន្លែង៖ {title}",
    ("registration-cancelled", "en"): "Registration cancelled: {title}",
    ("registration-cancelled", "km"): "ការចុះឈ្មោះត្រូវបានលុបចោល៖ {title}",
}
INVITATION_KINDS = frozenset({"confirmation", "rescheduled", "cancelled", "promoted"})


def invitation(reminder: ReminderRef, language: str) -> bytes:
    """The session as an .ics the mail client offers to add (same UID: a new time replaces it)."""
    session = {
        "session_id": reminder.session_id,
        "texts": {language: {"title": reminder.title, "description": reminder.description}},
        "starts_at": reminder.starts_at,
        "ends_at": reminder.ends_at,
        "mode": reminder.mode,
        "place": reminder.place,
        "public_url": reminder.public_url,
        "version": reminder.version,
        "status": "cancelled" if reminder.kind == "cancelled" else "scheduled",
    }
    return calendar([session_event(session, language, join_link=reminder.join_link)], reminder.title)


ALERT_SUBJECT = {
    ("alert", "en"): "Urgent Action {number}: {title}",
    ("alert", "km"): "សកម្មភាពបន្ទាន់ {number}៖ {title}",
    ("update", "en"): "Update on Urgent Action {number}: {title}",
    ("update", "km"): "ព័ត៌មានបន្ថែម សកម្មភាពបន្ទាន់ {number}៖ {title}",
    ("extension", "en"): "Urgent Action {number}: deadline extended — {title}",
    ("extension", "km"): "សកម្មភាពបន្ទាន់ {number}៖ ពន្យារពេលកំណត់ — {title}",
    ("closure", "en"): "Urgent Action {number} closed: {title}",
    ("closure", "km"): "សកម្មភាពបន្ទាន់ {number} បានបិទ៖ {title}",
}


def subject(delivery: DeliveryRequestedData) -> str:
    language = delivery.recipient.language
    if delivery.notice is not None:
        return delivery.notice.subject
    if delivery.reminder is not None:
        reminder = delivery.reminder
        return REMINDER_SUBJECT[(reminder.kind, language)].format(title=reminder.title, when=reminder.when)
    if delivery.alert is not None:
        alert = delivery.alert
        text = ALERT_SUBJECT[(alert.kind, language)].format(number=alert.number, title=alert.title)
        return ("URGENT: " if alert.urgent and alert.kind == "alert" else "") + text
    number = delivery.certificate.certificate_number if delivery.certificate else delivery.source_id
    return SUBJECTS.get((delivery.purpose, language), SUBJECTS[("certificate", "en")]).format(number=number)


def officials_with_mailto(delivery: DeliveryRequestedData) -> list[dict[str, Any]]:
    """Each official with a mailto: link pre-filled with the subject and the personalised letter."""
    alert = delivery.alert
    if alert is None:
        return []
    found = []
    for official in alert.officials:
        link = None
        if official.email:
            salutation = official.salutation or official.name
            body = alert.letter.replace("{salutation}", salutation)
            link = f"mailto:{official.email}?" + urlencode(
                {"subject": alert.letter_subject or alert.title, "body": body}, quote_via=quote
            )
        found.append({"official": official, "mailto": link})
    return found


def _by_code(code: int, text: str) -> Exception:
    if 400 <= code < 500:
        return RetryableDeliveryError(f"SMTP {code}: {text}", reason=f"smtp-{code}")
    return PermanentDeliveryError(f"SMTP {code}: {text}", reason=f"smtp-{code}")
