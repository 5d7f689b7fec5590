"""The shared channel contract: every channel's tests subclass `ChannelContract`.

A channel's `tests/test_<name>.py` sets `adapter_cls` and provides one fixture, `harness`: its
adapter started against a stand-in for its provider (a real local server or an in-process copy
of the sandbox API), which can count what it received and fail the next send on request. The
cases below then hold every channel to the same rules: a complete declaration, discovery by
folder, the declared eligibility, one message per send, and the error tree (permanent /
retryable / unknown) for the provider's failures.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

import pytest

from services.channels import discover
from shared.channels import (
    ChannelAdapter,
    ChannelSettings,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SendResult,
)
from shared.channels.adapter import Attachment
from shared.contracts.delivery import CertificateRef, DeliveryRequestedData, NoticeRef, Recipient, ReminderRef
from shared.contracts.pledge import PostalAddress

Failure = Literal["permanent", "retryable", "unknown"]
ADDRESS_KINDS = {"email", "postal", "phone", "psid"}
ATTACHMENT_KINDS = {"pdf", "png", "print_pdf"}


class Harness(Protocol):
    adapter: ChannelAdapter

    def received(self) -> int: ...

    def fail_next(self, failure: Failure) -> None: ...


def recipient(**changes: Any) -> Recipient:
    base: dict[str, Any] = {
        "member_id": "mb_contract",
        "name": "សុខ ដារ៉ា (Sok Dara)",
        "language": "km",
        "country": "US",
        "email": "dara@example.org",
        "phone": "+15625550123",
        "postal_address": PostalAddress(
            street_address="1600 Main Street",
            city="Long Beach",
            country_area="CA",
            postal_code="90802",
            country_code="US",
        ),
        "psid": "6543210987654321",
        "phone_confirmed": True,  # its owner wrote to us from it (services/dispatcher/numbers.py)
    }
    return Recipient(**{**base, **changes})


@dataclass
class Sample:
    """Tiny but valid attachments of every kind a channel may declare."""

    files: dict[str, Attachment] = field(default_factory=dict)

    def for_adapter(self, adapter_cls: type[ChannelAdapter]) -> tuple[Attachment, ...]:
        return tuple(self.files[kind] for kind in adapter_cls.attachments)


def sample_attachments() -> Sample:
    from datetime import date

    from services.certificates.render import CertificateContent, Renderer

    renderer = Renderer()
    content = CertificateContent(
        name="Sok Dara",
        language="en",
        number="KCAP-2026-000042",
        signed_on=date(2026, 11, 22),
        verify_url="https://pledge.example.org/v/KCAP-2026-000042",
    )
    rendered = renderer.render(content)
    assert rendered.png is not None
    return Sample(
        {
            "pdf": Attachment("KCAP-2026-000042.pdf", "application/pdf", rendered.pdf),
            "png": Attachment("KCAP-2026-000042.png", "image/png", rendered.png),
            "print_pdf": Attachment(
                "KCAP-2026-000042-print.pdf", "application/pdf", renderer.render_print(content)
            ),
        }
    )


_SAMPLE: Sample | None = None


def message_for(
    adapter_cls: type[ChannelAdapter], delivery_id: str = "dl_contract000000000000001"
) -> OutboundMessage:
    global _SAMPLE
    if _SAMPLE is None:
        _SAMPLE = sample_attachments()
    delivery = DeliveryRequestedData(
        delivery_id=delivery_id,
        channel=adapter_cls.name,
        purpose="certificate",
        source_id="KCAP-2026-000042",
        recipient=recipient(),
        certificate=CertificateRef(
            certificate_number="KCAP-2026-000042",
            bucket="certificate_files",
            pdf_file_id="0" * 24,
            png_file_id="1" * 24,
            print_pdf_file_id="2" * 24,
            verify_url="https://pledge.example.org/v/KCAP-2026-000042",
        ),
        unsubscribe_url="https://pledge.example.org/u/contract-token-000000",
        requested_at=datetime.now(UTC),
    )
    return OutboundMessage(delivery, _SAMPLE.for_adapter(adapter_cls))


def reminder_for(
    adapter_cls: type[ChannelAdapter], kind: str = "reminder", language: str = "en"
) -> OutboundMessage:
    """A session message (no attachments) as the dispatcher hands it to a channel."""
    starts = datetime(2027, 3, 6, 12, 0, tzinfo=UTC)
    delivery = DeliveryRequestedData(
        delivery_id="dl_contract_reminder_000001",
        channel=adapter_cls.name,
        purpose="reminder",
        source_id="rm_contract",
        priority=5,
        recipient=recipient().model_copy(update={"language": language}),
        reminder=ReminderRef(
            kind=kind,
            session_id="ss_contract",
            title="Commission of Inquiry hearing",
            description="Testimony on the mass trials.",
            when="Saturday 6 March 2027 at 19:00 Indochina Time",
            until="Saturday 6 March 2027 at 21:00 Indochina Time",
            time_zone="Asia/Phnom_Penh",
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            mode="online",
            join_link="https://zoom.example/j/123?pwd=abc" if kind in ("join-link", "reminder") else None,
            public_url="https://pledge.example.org/sessions/ss_contract",
            ics_url="https://pledge.example.org/sessions/ss_contract.ics",
            minutes_before=60 if kind == "reminder" else None,
            plan_of_action="We agreed to write to the UN." if kind == "plan-of-action" else None,
            cancel_url=None
            if kind in ("cancelled", "plan-of-action", "registration-cancelled")
            else "https://pledge.example.org/sessions/cancel/rg_contract.0123456789abcdef",
        ),
        requested_at=datetime.now(UTC),
    )
    return OutboundMessage(delivery, ())


def notice_for(adapter_cls: type[ChannelAdapter], language: str = "en") -> OutboundMessage:
    """A "was it you?" notice as the dispatcher hands it to a channel."""
    delivery = DeliveryRequestedData(
        delivery_id="dl_contract_notice_0000001",
        channel=adapter_cls.name,
        purpose="notice",
        source_id="change:ch_contract",
        priority=8,
        recipient=recipient().model_copy(update={"language": language}),
        notice=NoticeRef(
            kind="confirm-change",
            subject="Was it you?",
            body="Someone used your phone number to change your Samleng record.",
            link_url="https://pledge.example.org/m/confirm/contract-token-0123456789",
            link_label="Yes, it was me",
        ),
        requested_at=datetime.now(UTC),
    )
    return OutboundMessage(delivery, ())


class ChannelContract:
    adapter_cls: ClassVar[type[ChannelAdapter]]

    # ---- declaration -------------------------------------------------------------------------

    def test_declares_what_it_needs_and_can_do(self) -> None:
        cls = self.adapter_cls
        assert cls.name and cls.name.isidentifier() and cls.name == cls.name.lower()
        assert cls.address_kind in ADDRESS_KINDS
        assert set(cls.attachments) <= ATTACHMENT_KINDS
        assert cls.rate_per_second > 0 and cls.max_attachment_bytes > 0
        assert all(len(c) == 2 and c.isupper() for c in cls.unavailable_countries)
        assert cls.purposes, "declare the purposes it can carry"
        assert cls.send is not ChannelAdapter.send, "implement send()"

    def test_has_its_own_settings_with_its_own_prefix(self) -> None:
        settings = self.adapter_cls.settings_class
        assert issubclass(settings, ChannelSettings)
        assert settings.model_config.get("env_prefix") == f"{self.adapter_cls.name.upper()}_"

    def test_is_discovered_from_its_folder_and_runs_as_a_module(self) -> None:
        assert discover()[self.adapter_cls.name] is self.adapter_cls
        assert importlib.util.find_spec(f"services.channels.{self.adapter_cls.name}.__main__") is not None

    # ---- eligibility -------------------------------------------------------------------------

    def test_serves_a_recipient_with_its_address_kind(self) -> None:
        assert self.adapter_cls.ineligibility(recipient(), "certificate") is None

    def test_refuses_recipients_without_its_address_kind(self) -> None:
        missing = {
            "email": {"email": None},
            "phone": {"phone": None},
            "psid": {"psid": None},
            "postal": {"postal_address": None},
        }
        reason = self.adapter_cls.ineligibility(
            recipient(**missing[self.adapter_cls.address_kind]), "certificate"
        )
        assert reason == f"no-{self.adapter_cls.address_kind}-address"

    def test_refuses_a_number_its_owner_has_not_confirmed(self) -> None:
        unconfirmed = self.adapter_cls.ineligibility(recipient(phone_confirmed=False), "certificate")
        if self.adapter_cls.address_kind == "phone":
            assert unconfirmed == "number-not-confirmed"
        else:
            assert unconfirmed is None

    def test_refuses_the_countries_it_cannot_serve(self) -> None:
        for country in self.adapter_cls.unavailable_countries:
            assert (
                self.adapter_cls.ineligibility(recipient(country=country), "certificate")
                == f"not-available-in-{country}"
            )

    # ---- sending -----------------------------------------------------------------------------

    async def test_a_send_delivers_exactly_one_message(self, harness: Harness) -> None:
        result = await harness.adapter.send(message_for(self.adapter_cls))
        assert isinstance(result, SendResult) and result.state in ("sent", "delivered")
        assert harness.received() == 1

    async def test_a_refusal_that_will_not_change_is_permanent(self, harness: Harness) -> None:
        harness.fail_next("permanent")
        with pytest.raises(PermanentDeliveryError):
            await harness.adapter.send(message_for(self.adapter_cls))

    async def test_a_temporary_provider_failure_is_retryable(self, harness: Harness) -> None:
        harness.fail_next("retryable")
        with pytest.raises(RetryableDeliveryError):
            await harness.adapter.send(message_for(self.adapter_cls))
        await harness.adapter.send(message_for(self.adapter_cls))
        assert harness.received() == 1

    async def test_an_ambiguous_failure_is_an_unknown_outcome(self, harness: Harness) -> None:
        harness.fail_next("unknown")
        with pytest.raises(OutcomeUnknown):
            await harness.adapter.send(message_for(self.adapter_cls))

    async def test_an_unknown_outcome_is_settled_without_a_second_message(self, harness: Harness) -> None:
        """Either the provider dedupes a resend (`resend_is_safe`) or `reconcile()` can tell."""
        harness.fail_next("unknown")
        message = message_for(self.adapter_cls, "dl_contract000000000000002")
        with pytest.raises(OutcomeUnknown):
            await harness.adapter.send(message)
        delivered = harness.received()
        if self.adapter_cls.resend_is_safe:
            await harness.adapter.send(message)
        else:
            try:
                settled = await harness.adapter.reconcile(message.delivery)
            except RetryableDeliveryError:
                settled = await harness.adapter.send(message)
            if settled is None:
                pytest.skip("this provider cannot be asked; unknown outcomes go to an operator")
        assert harness.received() == max(delivered, 1)
