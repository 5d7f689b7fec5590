"""The email channel against a real SMTP server (the local sink, in-process) and its search API."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.smtp_sink import Mailbox, SinkHandler, create_app
from services.channels.email.adapter import EmailAdapter, EmailSettings
from tests.support.channel_contract import ChannelContract, Failure, message_for, reminder_for
from tests.support.ports import free_port


def _body(message: email.message.EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


class FlakySink(SinkHandler):
    """The sink, told to refuse (550), defer (451) or drop the connection after accepting."""

    def __init__(self, mailbox: Mailbox) -> None:
        super().__init__(mailbox)
        self.next_failure: Failure | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        failure, self.next_failure = self.next_failure, None if self.next_failure != "unknown" else "unknown"
        if failure == "permanent":
            return "550 5.1.1 No such mailbox"
        if failure == "retryable":
            return "451 4.3.0 Try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.next_failure == "unknown":  # stored, but the client never hears back
            self.next_failure = None
            assert server.transport is not None
            server.transport.close()
        return reply


logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's thread logs dropped connections


class EmailHarness:
    def __init__(self, tmp: Path) -> None:
        self.mailbox = Mailbox(tmp / "mail")
        self.handler = FlakySink(self.mailbox)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())
        settings = EmailSettings(
            _env_file=None,
            EMAIL_SMTP_HOST="127.0.0.1",
            EMAIL_SMTP_PORT=self.controller.port,
            smtp_timeout_seconds=5,
            reconcile_api_url="http://sink",
        )
        self.adapter = EmailAdapter(settings, lookup_transport=httpx.ASGITransport(create_app(self.mailbox)))

    def received(self) -> int:
        return len(self.mailbox.ids())

    def fail_next(self, failure: Failure) -> None:
        self.handler.next_failure = failure


class TestEmailChannel(ChannelContract):
    adapter_cls = EmailAdapter

    @pytest.fixture
    async def harness(self, tmp_path: Path) -> AsyncIterator[EmailHarness]:
        harness = EmailHarness(tmp_path)
        harness.controller.start()
        await harness.adapter.start()
        yield harness
        await harness.adapter.close()
        harness.controller.stop()

    async def test_the_message_is_multipart_with_the_pdf_and_one_click_unsubscribe(
        self, harness: EmailHarness
    ) -> None:
        await harness.adapter.send(message_for(EmailAdapter))
        [stored] = harness.mailbox.ids()
        message = email.message_from_bytes(harness.mailbox.raw(stored) or b"", policy=email.policy.default)
        assert message["Message-ID"] == "<dl_contract000000000000001@samleng.invalid>"
        assert message["List-Unsubscribe"].strip() == "<https://pledge.example.org/u/contract-token-000000>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Content-Language"] == "km"
        assert message["To"].addresses[0].display_name == "សុខ ដារ៉ា (Sok Dara)"
        text = _body(message, "plain")
        html = _body(message, "html")
        assert "KCAP-2026-000042" in text and "វិញ្ញាបនបត្រ" in text
        assert 'lang="km"' in html
        [pdf] = list(message.iter_attachments())
        assert pdf.get_content_type() == "application/pdf" and pdf.get_content().startswith(b"%PDF")

    def test_names_are_text_in_the_html_never_markup(self) -> None:
        hostile = message_for(EmailAdapter)
        delivery = hostile.delivery.model_copy(
            update={
                "recipient": hostile.delivery.recipient.model_copy(
                    update={"name": "<script>alert(1)</script>"}
                )
            }
        )
        adapter = EmailAdapter(EmailSettings(_env_file=None))
        html = _body(adapter.compose(type(hostile)(delivery, hostile.attachments)), "html")
        assert "<script>" not in html and "&lt;script&gt;" in html

    async def test_smtp_replies_map_onto_the_error_tree(self, harness: EmailHarness) -> None:
        from shared.channels import PermanentDeliveryError, RetryableDeliveryError

        harness.fail_next("permanent")
        with pytest.raises(PermanentDeliveryError) as permanent:
            await harness.adapter.send(message_for(EmailAdapter))
        assert permanent.value.reason == "smtp-550"
        harness.fail_next("retryable")
        with pytest.raises(RetryableDeliveryError) as retry:
            await harness.adapter.send(message_for(EmailAdapter))
        assert retry.value.reason == "smtp-451"
        nobody = EmailAdapter(
            EmailSettings(_env_file=None, EMAIL_SMTP_HOST="127.0.0.1", EMAIL_SMTP_PORT=free_port())
        )
        with pytest.raises(RetryableDeliveryError) as down:
            await nobody.send(message_for(EmailAdapter))
        assert down.value.reason == "smtp-unreachable"


def test_session_messages_in_the_registrants_language_with_an_invitation_to_add() -> None:
    from icalendar import Calendar

    adapter = EmailAdapter(EmailSettings(_env_file=None))
    confirmation = adapter.compose(reminder_for(EmailAdapter, "confirmation"))
    assert confirmation["Subject"] == "Registered: Commission of Inquiry hearing"
    text = _body(confirmation, "plain")
    assert "Saturday 6 March 2027 at 19:00 Indochina Time" in text
    assert "https://pledge.example.org/sessions/ss_contract.ics" in text
    assert "zoom.example" not in text, "no join link before it is released"
    [invite] = [
        part for part in confirmation.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    [event] = Calendar.from_ical(invite.get_content()).walk("VEVENT")
    assert event.decoded("dtstart") == datetime(2027, 3, 6, 12, 0, tzinfo=UTC)
    assert str(event["uid"]) == "ss_contract@samleng"

    reminder = adapter.compose(reminder_for(EmailAdapter, "reminder", language="km"))
    assert reminder["Subject"].startswith("ការរំលឹក៖ Commission of Inquiry hearing")
    assert "https://zoom.example/j/123?pwd=abc" in _body(reminder, "plain")
    assert not [p for p in reminder.iter_attachments()], "a reminder carries no attachment"
    cancelled = adapter.compose(reminder_for(EmailAdapter, "cancelled"))
    [invite] = list(cancelled.iter_attachments())
    [event] = Calendar.from_ical(invite.get_content()).walk("VEVENT")
    assert str(event["status"]) == "CANCELLED"


def test_every_session_message_renders_in_both_languages_and_offers_the_cancel_link() -> None:
    from typing import get_args

    from shared.channels.texts import reminder_text
    from shared.contracts.session import ReminderKind

    adapter = EmailAdapter(EmailSettings(_env_file=None))
    for kind in get_args(ReminderKind):
        for language in ("en", "km"):
            message = reminder_for(EmailAdapter, kind, language)
            mail = adapter.compose(message)
            assert "Commission of Inquiry hearing" in mail["Subject"]
            texts = _body(mail, "plain") + _body(mail, "html")
            offered = "/sessions/cancel/rg_contract." in texts
            assert offered == (kind not in ("cancelled", "plan-of-action", "registration-cancelled")), (
                kind,
                language,
            )
            chat = reminder_text(message.delivery)
            assert ("/sessions/cancel/" in chat) == (kind in ("confirmation", "promoted")), (kind, language)
    promoted = adapter.compose(reminder_for(EmailAdapter, "promoted"))
    assert promoted["Subject"] == "You have a seat: Commission of Inquiry hearing"
    assert "A seat came free" in _body(promoted, "plain")
    assert [p.get_content_type() for p in promoted.iter_attachments()] == ["text/calendar"]
    withdrawn = adapter.compose(reminder_for(EmailAdapter, "registration-cancelled", "km"))
    assert withdrawn["Subject"] == "ការចុះឈ្មោះត្រូវបានលុបចោល៖ Commission of Inquiry hearing"
    assert "ចុះឈ្មោះម្តងទៀត" in _body(withdrawn, "plain") and "zoom.example" not in _body(withdrawn, "plain")
    assert not list(withdrawn.iter_attachments())
