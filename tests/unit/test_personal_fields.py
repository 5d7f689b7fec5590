"""What a delivery request seals (shared/contracts/delivery.py PERSONAL_FIELDS): everything
personal leaves the plain request, and comes back exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contracts.delivery import (
    PERSONAL_FIELDS,
    AlertRef,
    CertificateRef,
    DeliveryRequestedData,
    NoticeRef,
    Recipient,
)
from shared.contracts.pledge import PostalAddress

NAME, EMAIL, PHONE, PSID = "Qvorn Belatrix", "qvorn@example.org", "+15625550199", "9988776655"


def full_request() -> DeliveryRequestedData:
    return DeliveryRequestedData(
        delivery_id="dl_unit",
        channel="email",
        purpose="alert",
        source_id="al_1#0",
        recipient=Recipient(
            member_id="mb_unit",
            name=NAME,
            language="en",
            country="US",
            email=EMAIL,
            phone=PHONE,
            psid=PSID,
            postal_address=PostalAddress(
                street_address="77 Qvorn Lane",
                city="Long Beach",
                country_area="CA",
                postal_code="90802",
                country_code="US",
            ),
            last_inbound_at={"whatsapp": datetime(2026, 11, 30, tzinfo=UTC)},
        ),
        alert=AlertRef(
            alert_id="al_1",
            number="UA 1/26",
            title="Free Sok Vanna",
            summary="Write today",
            letter=f"I am {NAME}",
            public_url="https://pledge.example.org/a/al_1",
            action_url="https://pledge.example.org/a/done/secret-token",
        ),
        certificate=CertificateRef(
            certificate_number="KCAP-2026-000001",
            bucket="certificate_files",
            pdf_file_id="f1",
            verify_url="https://pledge.example.org/v/KCAP-2026-000001",
            download_url="https://pledge.example.org/d/secret-token",  # a channel without files
        ),
        notice=NoticeRef(
            kind="confirm-subscription",
            subject=f"{NAME}, confirm",
            body=f"Hello {NAME}",
            link_url="https://pledge.example.org/c/secret",
            link_label="Confirm",
        ),
        unsubscribe_url="https://pledge.example.org/u/secret-token",
        preferences_url="https://pledge.example.org/p/secret-token",
        requested_at=datetime(2026, 11, 30, tzinfo=UTC),
    )


def test_the_plain_part_holds_nothing_personal_and_the_rest_comes_back() -> None:
    request = full_request()
    personal, blank = request.split_personal()
    text = blank.model_dump_json()
    for secret in (NAME, EMAIL, PHONE, PSID, "Qvorn Lane", "secret", "2026-11-30T00:00:00Z"):
        assert secret not in text.replace('"requested_at":"2026-11-30T00:00:00Z"', "")
    assert blank.recipient.member_id == "mb_unit" and blank.alert is not None
    assert blank.alert.title == "Free Sok Vanna"  # common texts stay for everyone to read
    assert blank.certificate is not None and blank.certificate.verify_url.endswith("/v/KCAP-2026-000001")
    assert set(personal) == set(PERSONAL_FIELDS) - {"reminder"}  # no reminder in this request
    assert blank.model_copy(update={"encrypted": "x"}).with_personal(personal) == request


def test_absent_parts_are_not_sealed() -> None:
    request = full_request().model_copy(update={"alert": None, "notice": None, "certificate": None})
    personal, blank = request.split_personal()
    assert set(personal) == {"recipient", "request"}
    assert blank.with_personal(personal) == request
