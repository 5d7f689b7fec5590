"""A certificate on a channel that carries no files (issue #18: SMS) goes with a personal link that
downloads it once: the dispatcher (in this process, on the real broker and Mongo-wire server, with
encryption on) routes `certificate.issued.v1` to a text-only channel installed in the catalogue for
the test (tests/support/catalogue.py), and the public site (over real HTTP) opens the link.

The request for the text-only channel carries `download_url` (sealed at rest and in the queue,
like every personal link); the one for email, which attaches the PDF, does not. The link shows
the certificate once and its PDF downloads once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.channels.catalogue import ChannelSpec
from shared.contracts.delivery import BANDS, band_of
from shared.personal_data import Vault
from shared.storage import FileStore, StoredFile
from tests.support.catalogue import with_channel
from tests.support.dispatcher import in_process_dispatcher, issue_certificate, request_on
from tests.support.forms import csrf

pytestmark = pytest.mark.timeout(120)

TEXT_ONLY = ChannelSpec(
    name="sms",
    labels={"en": "SMS", "km": "សារ SMS"},
    order=60,
    address_kind="phone",
    attachments=(),
    purposes=frozenset({"certificate", "alert"}),
)
MEMBER = "mb_textonly"
NUMBER = "KCAP-2026-000321-TEXT"
PDF_BYTES = b"%PDF-1.4\n% the certificate sent as a link\n%%EOF\n"


@pytest.fixture
def text_only() -> Iterator[None]:
    with with_channel(TEXT_ONLY):
        yield


@pytest.fixture
async def dispatcher(
    text_only: None, keys: dict[str, str], site: str, rabbit: RabbitNode, mongo_uri: str, db_name: str
) -> AsyncIterator[str]:
    async with in_process_dispatcher(rabbit, mongo_uri, db_name, site, confirm_numbers=False) as exchange:
        yield exchange


async def test_a_channel_without_files_carries_a_link_that_downloads_the_certificate_once(
    dispatcher: str, site: str, rabbit: RabbitNode, db: Any, vault: Vault
) -> None:
    [file_id] = await FileStore(db, "certificate_files").put([StoredFile(f"{NUMBER}.pdf", PDF_BYTES, {})])
    await db.members.insert_one(
        {
            "_id": MEMBER,
            "name": "Sok Dara",
            "country": "US",  # not discreet: the certificate itself is sent
            "language": "en",
            "channels": ["sms", "email"],
            "phone": "+15625550142",
            "email": "dara@example.org",
            "unsubscribe_token": "tok_" + "t" * 28,
        }
    )
    await issue_certificate(
        rabbit,
        dispatcher,
        MEMBER,
        NUMBER,
        ["sms", "email"],
        pdf_file_id=str(file_id),
        verify_url=f"{site}/v/{NUMBER}",
    )

    band = band_of(3)
    assert band in BANDS
    queued = await request_on(rabbit.url, f"{dispatcher}.channel-sms.{band}")
    assert queued.certificate is not None and queued.certificate.download_url is None, "sealed in the queue"
    by_text = (await vault.unseal(queued.encrypted)) if queued.encrypted else None
    assert by_text is not None
    sms = queued.with_personal(by_text)
    assert sms.certificate is not None and sms.certificate.verify_url == f"{site}/v/{NUMBER}"
    link = sms.certificate.download_url
    assert link is not None and link.startswith(f"{site}/d/")
    email = await request_on(rabbit.url, f"{dispatcher}.channel-email.{band}")
    assert email.certificate is not None and email.certificate.download_url is None
    opened_email = email.with_personal(await vault.unseal(email.encrypted)) if email.encrypted else email
    assert opened_email.certificate is not None and opened_email.certificate.download_url is None

    path = link.removeprefix(site)
    async with httpx.AsyncClient(base_url=site) as client:
        form = await csrf(client, path)
        shown = await client.post(path, data=form)
        assert shown.status_code == 200 and f"Certificate no. {NUMBER}" in shown.text
        pdf = await client.post(f"{path}/certificate", data=form)
        assert pdf.status_code == 200 and pdf.content == PDF_BYTES
        assert pdf.headers["content-type"] == "application/pdf"
        again = await client.post(f"{path}/certificate", data=form)
        assert again.status_code == 404 and 'data-state="nothing"' in again.text, "it downloads once"
        assert (await client.post(path, data=form)).status_code == 404, "it shows once"
