"""Certificates at rest, through the processes: a recorded pledge for a person with a unique name
is rendered (certificate-renderer), verified (intake), emailed (dispatcher, email channel, SMTP
sink) and added to the day's print batch (post channel in print-batch mode). A raw client finds
the name nowhere in `certificates`, `certificate_files.*` or `post_print_batch`, and no stored
chunk is a PDF or PNG (they are sealed); the page, the email attachment and the batch still give
the real name and PDF. A certificate whose member was forgotten (data key deleted) is unknown."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import bson
import httpx
import pytest
from pypdf import PdfReader

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.pledge import PledgeRecorded, PledgeRecordedData
from shared.personal_data import open_fields
from tests.integration.conftest import collect
from tests.integration.test_certificates import publish
from tests.integration.test_delivery import parsed, wait_for_states
from tests.support.infra import MailSink
from tests.support.processes import ServiceProcess, wait_until
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(300)
STORED = ("certificates", "certificate_files.files", "certificate_files.chunks", "post_print_batch")
MAGIC = (b"%PDF", b"\x89PNG")


def pledge(member_id: str, pledge_id: str, name: str, channels: list[str]) -> PledgeRecorded:
    return PledgeRecorded(  # published plain, as a process without keys would: consumers accept it
        correlation_id=pledge_id,
        data=PledgeRecordedData(
            pledge_id=pledge_id,
            member_id=member_id,
            recorded_at=utcnow(),
            name=name,
            show_name_publicly=True,
            country="US",
            certificate_language="en",
            channels=channels,
            source="web",
        ),
    )


async def plain_hits(db: Any, secrets: list[str]) -> list[str]:
    hits = []
    for name in STORED:
        async for doc in db[name].find():
            raw = bson.encode(doc)
            hits += [f"{name}:{s}" for s in secrets if s.encode() in raw]
    return hits


async def test_a_certificate_and_its_files_rest_sealed_and_still_verify_mail_and_print(
    rabbit: RabbitNode,
    service_env: dict[str, str],
    mail: MailSink,
    intake: str,
    issued: Any,
    db: Any,
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:10]
    name = f"Quenby Astrolath{tag}"
    street = f"{int(tag[:4], 16)} Vellichor Avenue{tag}"
    address = f"qa.{tag}@example.org"
    member_id, pledge_id = f"mb_sealcert_{tag}", f"pl_sealcert_{tag}"
    env = {
        **service_env,
        **mail.client_env(),
        "CERTIFICATES_PUBLIC_BASE_URL": "https://pledge.example.org",
        "DISPATCHER_PUBLIC_BASE_URL": "https://pledge.example.org",
        "POST_MODE": "print-batch",
    }
    procs: list[ServiceProcess] = []
    opener = Opener(service_env)
    try:
        for module, label in (
            ("services.certificates", "certificate-renderer.1"),
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.channels.email", "email.1"),
            ("services.channels.post", "post.1"),
        ):
            procs.append(ServiceProcess(module, env, tmp_path / f"{label}.log", label).start())
        for proc in procs:
            proc.wait_ready()
        await db.members.insert_one(  # as pledge-intake stores it (its own change seals it)
            {
                "_id": member_id,
                "name": name,
                "country": "US",
                "language": "en",
                "email": address,
                "emails": [address],
                "postal_address": {
                    "street_address": street,
                    "city": "Long Beach",
                    "country_area": "CA",
                    "postal_code": "90802",
                    "country_code": "US",
                },
                "channels": ["email", "post"],
                "unsubscribe_token": f"tok{tag}unsubscribe",
            }
        )
        await publish(rabbit, [pledge(member_id, pledge_id, name, ["email", "post"])])
        [event] = await collect(issued, 1, timeout=60)
        number = event.data.certificate_number
        await wait_for_states(db, {"correlation_id": pledge_id}, {"sent"}, 2, timeout=90)

        assert await plain_hits(db, [name, street, address]) == []
        stored = await db.certificates.find_one({"number": number})
        assert "name" not in stored and "sealed" in stored and stored["state"] == "valid"
        files = await db["certificate_files.files"].find({"metadata.number": number}).to_list(None)
        assert len(files) == 2 and all(f["metadata"]["sealed"] is True for f in files)  # PDF, print PDF
        chunks = (
            await db["certificate_files.chunks"]
            .find({"files_id": {"$in": [f["_id"] for f in files]}})
            .to_list(None)
        )
        assert chunks and not [c for c in chunks if bytes(c["data"]).startswith(MAGIC)], "sealed, not plain"

        async with httpx.AsyncClient(base_url=intake) as client:
            page = await client.get(f"/v/{number}?lang=en")
            assert page.status_code == 200 and name in page.text, "shown: the signer chose so"
            api = (await client.get(f"/api/v1/certificates/{number}")).json()
            assert api["state"] == "valid" and api["signer"] == name

        stored_mail = wait_until(
            lambda: [m for m in mail.messages() if address in str(m)], 30, message="email"
        )
        message = parsed(mail, stored_mail[0]["ID"])
        [attachment] = list(message.iter_attachments())
        pdf = attachment.get_content()
        assert pdf.startswith(b"%PDF") and attachment.get_filename() == f"{number}.pdf"
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert "Quenby" in text, "the real certificate, with the member's name"

        vault = await opener.vault()
        [letter] = await db.post_print_batch.find({"member_id": member_id}).to_list(None)
        assert "address" not in letter and "name" not in letter
        opened = await open_fields(vault, letter)
        assert opened["name"] == name and opened["address"]["street_address"] == street
        assert opened["certificate_number"] == number

        # a second member, forgotten (their data key deleted) before anyone read their certificate
        other_member, other_pledge = f"{member_id}x", f"{pledge_id}x"
        await publish(rabbit, [pledge(other_member, other_pledge, f"{name}x", ["email"])])
        [other] = await collect(issued, 1, timeout=60)
        assert await vault.forget(other_member)
        async with httpx.AsyncClient(base_url=intake) as client:
            gone = await client.get(f"/v/{other.data.certificate_number}?lang=en")
            assert gone.status_code == 404 and "We have no certificate with this number." in gone.text
            api_gone = await client.get(f"/api/v1/certificates/{other.data.certificate_number}")
            assert api_gone.status_code == 404 and api_gone.json()["state"] == "unknown"
        for proc in procs:
            assert name not in proc.logs(), proc.name
    finally:
        await opener.aclose()
        for proc in reversed(procs):
            proc.terminate()
