"""A certificate on a channel that carries no files goes with a personal download link
(services/dispatcher/downloads.py): which channels get one, what the link stands for, and what a
fallback does with it. Pure decisions; the link on the real site: tests/service/
test_dispatcher_download_link.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.dispatcher.downloads import carries_certificate, with_download_link
from shared.channels.catalogue import ChannelSpec, catalogue
from shared.contracts import utcnow
from shared.contracts.delivery import CertificateRef, Recipient
from shared.message_details import DetailContent, token_hash

BASE_URL = "https://pledge.example.org"
TEXT_ONLY = ChannelSpec(name="sms", labels={"en": "SMS"}, address_kind="phone", attachments=())


def certificate_base(**certificate: Any) -> dict[str, Any]:
    return {
        "purpose": "certificate",
        "source_id": "KCAP-2026-000007",
        "recipient": Recipient(member_id="mb_7", name="Sok Dara", language="km", country="US"),
        "certificate": CertificateRef(
            certificate_number="KCAP-2026-000007",
            bucket="certificate_files",
            pdf_file_id="f1",
            verify_url=f"{BASE_URL}/v/KCAP-2026-000007",
            **certificate,
        ),
    }


def test_only_a_channel_that_carries_none_of_the_certificates_files_needs_a_link() -> None:
    assert not carries_certificate(TEXT_ONLY)
    assert carries_certificate(catalogue()["email"]) and carries_certificate(catalogue()["post"])


def test_the_link_stands_for_the_certificate_once_and_is_stored_only_hashed() -> None:
    base = certificate_base()
    sent, detail = with_download_link(base, TEXT_ONLY, BASE_URL + "/", link_hours=72, wait_seconds=3600)
    url = sent["certificate"].download_url
    assert url is not None and url.startswith(f"{BASE_URL}/d/") and detail is not None
    token = url.rsplit("/", 1)[1]
    assert detail["_id"] == token_hash(token) and token not in str(detail)
    assert (detail["subject"], detail["purpose"]) == ("mb_7", "certificate")
    content = DetailContent.model_validate(detail["content"])
    assert content.certificate == base["certificate"] and content.language == "km"
    hours = (detail["expires_at"] - utcnow()) / timedelta(hours=1)
    assert 72.9 < hours <= 73, "the link works its hours after the delivery may go out"
    assert sent["certificate"].verify_url == base["certificate"].verify_url
    assert base["certificate"].download_url is None, "the base shared by the other channels is unchanged"


def test_a_channel_that_carries_the_files_gets_none_and_a_fallback_keeps_or_drops_it() -> None:
    email = catalogue()["email"]
    base = certificate_base()
    assert with_download_link(base, email, BASE_URL, 72) == (base, None)
    linked = certificate_base(download_url=f"{BASE_URL}/d/abc")
    to_email, detail = with_download_link(linked, email, BASE_URL, 72)
    assert to_email["certificate"].download_url is None and detail is None
    assert with_download_link(linked, TEXT_ONLY, BASE_URL, 72) == (linked, None), "the same link"


def test_other_messages_and_unknown_channels_are_left_alone() -> None:
    alert = {**certificate_base(), "purpose": "alert", "certificate": None}
    assert with_download_link(alert, TEXT_ONLY, BASE_URL, 72) == (alert, None)
    base = certificate_base()
    assert with_download_link(base, None, BASE_URL, 72) == (base, None)
