"""Discreet messages (at-risk mode) as pure decisions: who gets them, what replaces a message,
which channels may carry them, and what each channel's text and email look like."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr
from typing import Any

import pytest

from services.channels.email.adapter import EmailAdapter, EmailSettings
from services.dispatcher.deliveries import Deps, discreet_base, recipient_of
from services.dispatcher.discreet import make_discreet
from services.dispatcher.routing import plan_certificate
from shared.channels.adapter import OutboundMessage
from shared.channels.catalogue import catalogue
from shared.channels.texts import chat_text
from shared.contracts import utcnow
from shared.contracts.delivery import (
    AlertRef,
    CertificateRef,
    DeliveryRequestedData,
    NoticeRef,
    Recipient,
)
from shared.contracts.pledge import PostalAddress, is_discreet
from shared.message_details import DISCREET_KIND, DetailContent, token_hash

CHANNELS = catalogue()
BASE_URL = "https://pledge.example.org"


def person(**changes: Any) -> Recipient:
    base: dict[str, Any] = {
        "member_id": "mb_1",
        "name": "Sok Dara",
        "language": "en",
        "country": "KH",
        "email": "dara@example.org",
        "phone": "+85512000001",
        "discreet": True,
    }
    return Recipient(**{**base, **changes})


def alert_base(recipient: Recipient) -> dict[str, Any]:
    return {
        "purpose": "alert",
        "source_id": "al_1#0",
        "correlation_id": "al_1",
        "priority": 7,
        "recipient": recipient,
        "alert": AlertRef(
            alert_id="al_1",
            number="UA 1/26",
            title="Release Chea Vuthy",
            summary="Chea Vuthy was arrested.",
            public_url=f"{BASE_URL}/a/UA-1-26",
            action_url=f"{BASE_URL}/a/done/tok",
        ),
        "unsubscribe_url": f"{BASE_URL}/u/x",
    }


def test_residents_of_cambodia_are_discreet_unless_they_chose_otherwise() -> None:
    assert is_discreet(None, "KH") and is_discreet(None, "kh")
    assert not is_discreet(None, "US") and not is_discreet(None, None)
    assert not is_discreet(False, "KH") and is_discreet(True, "US")
    member = {"_id": "mb_1", "name": "n", "country": "KH", "language": "km"}
    assert recipient_of(member).discreet
    assert not recipient_of({**member, "discreet": False}).discreet
    assert recipient_of({**member, "country": "FR", "discreet": True}).discreet


def test_a_discreet_message_is_a_neutral_notice_whose_details_are_kept_apart() -> None:
    base, detail = make_discreet(alert_base(person()), BASE_URL, link_hours=72)
    assert detail is not None
    assert base["alert"] is None and base["certificate"] is None and base["reminder"] is None
    notice = base["notice"]
    assert isinstance(notice, NoticeRef) and notice.kind == DISCREET_KIND
    token = notice.link_url.removeprefix(f"{BASE_URL}/d/")
    assert detail["_id"] == token_hash(token) and token not in str(detail), "stored only hashed"
    shown = f"{notice.subject} {notice.body} {notice.link_label}"
    assert "Chea Vuthy" not in shown and "Sok Dara" not in shown and "UA 1/26" not in shown
    content = DetailContent.model_validate(detail["content"])
    assert content.alert is not None and content.alert.title == "Release Chea Vuthy"
    lasts = detail["expires_at"] - detail["created_at"]
    assert timedelta(hours=71.9) < lasts <= timedelta(hours=72)
    assert base["unsubscribe_url"] == f"{BASE_URL}/u/x"
    khmer, _ = make_discreet(alert_base(person(language="km")), BASE_URL, link_hours=1)
    assert khmer["notice"].subject == "សារថ្មី"


def test_others_answers_and_a_fallback_keep_what_they_carry() -> None:
    plain = alert_base(person(discreet=False))
    assert make_discreet(plain, BASE_URL, 72) == (plain, None)
    answer = {**alert_base(person()), "purpose": "reply", "alert": None}
    assert make_discreet(answer, BASE_URL, 72) == (answer, None)
    deps = Deps(deliveries=None, db=None, channels=CHANNELS, public_base_url=BASE_URL)  # type: ignore[arg-type]
    first, _ = discreet_base(deps, alert_base(person()))
    again, detail = discreet_base(deps, first)  # the failed delivery's request, copied
    assert detail is None and again["notice"] == first["notice"], "the same link"


def test_post_never_carries_a_discreet_message() -> None:
    address = PostalAddress(street_address="1 Main St", city="Lowell", postal_code="01852", country_code="US")
    decisions = plan_certificate(
        ["post", "email"], person(country="US", postal_address=address), CHANNELS, []
    )
    assert [(d.channel, d.skipped_reason) for d in decisions] == [
        ("post", "not-for-discreet-messages"),
        ("email", None),
    ]
    assert CHANNELS["post"].ineligibility(person(country="US", postal_address=address, discreet=False),
                                          "certificate") is None  # fmt: skip


def discreet_request(channel: str, purpose: str = "certificate") -> DeliveryRequestedData:
    base = {
        "purpose": purpose,
        "source_id": "KCAP-2026-000001",
        "priority": 3,
        "recipient": person(),
        "certificate": CertificateRef(
            certificate_number="KCAP-2026-000001",
            bucket="certificate_files",
            pdf_file_id="a",
            png_file_id="b",
            verify_url=f"{BASE_URL}/v/KCAP-2026-000001",
        ),
    }
    neutral, _ = make_discreet(base, BASE_URL, 72)
    fields = {k: v for k, v in neutral.items() if k in DeliveryRequestedData.model_fields}
    return DeliveryRequestedData(delivery_id="dl_1", channel=channel, requested_at=utcnow(), **fields)


def test_chat_text_is_the_neutral_line_and_the_link_only() -> None:
    request = discreet_request("signal")
    text = chat_text(request)
    assert text is not None and text.startswith("You have a new message from your network.")
    assert "KCAP" not in text and "Sok Dara" not in text and f"{BASE_URL}/d/" in text


@pytest.mark.parametrize("sender", [None, "notifications@mail.example"])
def test_a_discreet_email_names_neither_the_person_nor_the_network(sender: str | None) -> None:
    settings = EmailSettings(discreet_from_address=sender)
    adapter = EmailAdapter(settings)
    mail = adapter.compose(OutboundMessage(delivery=discreet_request("email"), attachments=()))
    name, address = parseaddr(str(mail["From"]))
    assert name == "Notifications" and address == (sender or settings.from_address)
    assert str(mail["To"]) == "dara@example.org", "no display name"
    assert str(mail["Subject"]) == "New message"
    body = mail.as_string()
    assert "Sok Dara" not in body and "KCAP" not in body and "Dear" not in body
    if sender:
        assert "samleng" not in body.lower(), "not even the Message-ID's domain"
