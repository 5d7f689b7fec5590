"""Certificates at rest on the real Mongo-wire server: the renderer's store seals the name and
every file under the member's key; the channel runner and the post channel's print batch open
them; a forgotten member's certificate files and letters cannot be opened any more."""

from __future__ import annotations

import base64
import csv
import io
import os
import uuid
from pathlib import Path
from typing import Any, ClassVar

import bson
import pytest
from gridfs import AsyncGridFSBucket
from pydantic import SecretStr
from pymongo import AsyncMongoClient
from pypdf import PdfReader

from services.certificates.app import Deps, render_and_store
from services.certificates.render import RendererPool
from services.channels.post.adapter import PostAdapter, PostSettings
from services.channels.post.print_batch import write_batch
from shared.channels import ChannelAdapter, ChannelSettings, OutboundMessage, SendResult
from shared.channels.runner import ChannelRunner, SendLog
from shared.contracts import utcnow
from shared.contracts.delivery import DeliveryRequested
from shared.contracts.pledge import PostalAddress
from shared.messaging.consumer import MessageContext
from shared.personal_data import PersonalDataSettings, Vault, open_fields
from shared.storage import FileStore, durable
from tests.support.channel_contract import message_for, recipient

MAGIC = (b"%PDF", b"\x89PNG")


@pytest.fixture
def keys() -> dict[str, str]:
    return {
        "SAMLENG_MASTER_KEY": base64.b64encode(os.urandom(96)).decode(),
        "SAMLENG_BLIND_INDEX_KEY": os.urandom(32).hex(),
    }


@pytest.fixture
async def vaults(mongo_uri: str, db_name: str, keys: dict[str, str]) -> Any:
    """Vaults on the same keys, each on its own client (as separate processes hold them)."""
    opened: list[tuple[Vault, AsyncMongoClient[Any]]] = []

    async def make() -> Vault:
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            mongo_uri, tz_aware=True, uuidRepresentation="standard"
        )
        settings = PersonalDataSettings(
            _env_file=None,
            master_key=SecretStr(keys["SAMLENG_MASTER_KEY"]),
            blind_index_key=SecretStr(keys["SAMLENG_BLIND_INDEX_KEY"]),
        )
        vault = await Vault.open(client[db_name], settings)
        opened.append((vault, client))
        return vault

    yield make
    for vault, client in opened:
        await vault.close()
        await client.close()


async def issue(db: Any, vault: Vault | None, member_id: str, name: str, channels: list[str]) -> Any:
    files = FileStore(db, "certificate_files")
    await files.ensure_indexes()
    deps = Deps(
        certificates=durable(db.certificates),
        counters=durable(db.certificate_counters),
        files=files,
        renderer=RendererPool(1),
        public_base_url="https://pledge.example.org",
        vault=vault,
    )
    source = {
        "pledge_id": f"pl_{member_id}",
        "member_id": member_id,
        "name": name,
        "show_name_publicly": True,
        "language": "en",
        "channels": channels,
        "signed_on": utcnow(),
        "revision": 1,
    }
    return await render_and_store(deps, f"pl_{member_id}:r1", source)


async def stored_bytes(db: Any) -> list[bytes]:
    found = []
    for name in ("certificates", "certificate_files.files", "certificate_files.chunks"):
        found += [bson.encode(doc) async for doc in db[name].find()]
    return found


async def test_the_store_seals_the_name_and_every_file(db: Any, vaults: Any) -> None:
    name = f"Torvald Insenke{uuid.uuid4().hex[:8]}"
    doc = await issue(db, await vaults(), "mb_seal1", name, ["email", "post", "signal"])
    assert not [raw for raw in await stored_bytes(db) if name.encode() in raw]
    stored = await db.certificates.find_one({"_id": doc["_id"]})
    assert "name" not in stored and stored["number"] == doc["number"] and stored["state"] == "valid"
    assert (await open_fields(await vaults(), stored))["name"] == name
    files = await db["certificate_files.files"].find().to_list(None)
    assert len(files) == 3 and all(f["metadata"]["sealed"] is True for f in files)
    async for chunk in db["certificate_files.chunks"].find({"n": 0}):
        assert not bytes(chunk["data"]).startswith(MAGIC), "stored sealed, not as a PDF/PNG"


async def test_without_a_vault_everything_is_stored_plain_as_before(db: Any) -> None:
    doc = await issue(db, None, "mb_plain1", "Sok Dara", ["email"])
    stored = await db.certificates.find_one({"_id": doc["_id"]})
    assert stored["name"] == "Sok Dara" and "sealed" not in stored
    bucket = AsyncGridFSBucket(db, bucket_name="certificate_files")
    stream = await bucket.open_download_stream(doc["pdf_file_id"])
    assert (await stream.read()).startswith(b"%PDF") and "sealed" not in (stream.metadata or {})


# ---- the channel runner opens sealed attachments -------------------------------------------------


class Attaching(ChannelAdapter):
    name: ClassVar[str] = "attaching"
    address_kind = "email"
    attachments = ("pdf", "png")

    def __init__(self) -> None:
        super().__init__(ChannelSettings(_env_file=None))
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id="p1")


class Published:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def publish(self, event: Any) -> None:
        self.events.append(event)


def request_for(doc: Any, delivery_id: str) -> DeliveryRequested:
    plain = message_for(Attaching, delivery_id).delivery
    certificate = plain.certificate.model_copy(  # type: ignore[union-attr]
        update={
            "certificate_number": doc["number"],
            "bucket": "certificate_files",
            "pdf_file_id": str(doc["pdf_file_id"]),
            "png_file_id": str(doc["png_file_id"]),
        }
    )
    data = plain.model_copy(
        update={
            "channel": "attaching",
            "certificate": certificate,
            "recipient": plain.recipient.model_copy(update={"member_id": doc["member_id"]}),
        }
    )
    return DeliveryRequested(correlation_id="c", data=data)


async def test_the_runner_attaches_sealed_files_opened(db: Any, vaults: Any) -> None:
    doc = await issue(db, await vaults(), "mb_seal2", "Sok Dara", ["email", "whatsapp"])
    adapter, published = Attaching(), Published()
    runner = ChannelRunner(adapter, SendLog(db.sends_attaching, "w1", 60), db, vault=await vaults())
    ctx = MessageContext(None, 1, 3, False, published)  # type: ignore[arg-type]
    await runner.handle(request_for(doc, "dl_sealed_files_000000001"), ctx)
    [message] = adapter.sent
    assert [a.data[:4] for a in message.attachments] == [b"%PDF", b"\x89PNG"]
    assert [a.filename for a in message.attachments] == [f"{doc['number']}.pdf", f"{doc['number']}.png"]


async def test_a_forgotten_members_sealed_attachment_fails_permanently(db: Any, vaults: Any) -> None:
    writer = await vaults()
    doc = await issue(db, writer, "mb_seal3", "Sok Dara", ["email", "whatsapp"])
    await writer.forget("mb_seal3")
    adapter, published = Attaching(), Published()
    runner = ChannelRunner(adapter, SendLog(db.sends_attaching, "w1", 60), db, vault=await vaults())
    ctx = MessageContext(None, 1, 3, False, published)  # type: ignore[arg-type]
    await runner.handle(request_for(doc, "dl_sealed_files_000000002"), ctx)
    assert adapter.sent == []
    assert [(e.data.state, e.data.reason) for e in published.events] == [
        ("failed_permanent", "personal-data-erased")
    ]


# ---- the post channel's print batch --------------------------------------------------------------


async def test_print_batch_letters_are_sealed_and_printed_plain(
    db: Any,
    vaults: Any,
    keys: dict[str, str],
    mongo_uri: str,
    db_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in keys.items():
        monkeypatch.setenv(key, value)  # the adapter and the batch command read the process's keys
    tag = uuid.uuid4().hex[:8]
    people = [
        (f"mb_post{tag}a", f"Ilsabet Varrow{tag}", f"{tag} Quellmoor Lane", "FR"),
        (f"mb_post{tag}b", f"Oskarn Duvelle{tag}", f"{tag} Brackenfold Road", "US"),
    ]
    adapter = PostAdapter(
        PostSettings(_env_file=None, mode="print-batch", MONGODB_URI=mongo_uri, MONGODB_DATABASE=db_name)
    )
    await adapter.start()
    try:
        for index, (member_id, name, street, country) in enumerate(people):
            doc = await issue(db, await vaults(), member_id, name, ["post"])
            base = message_for(PostAdapter, f"dl_sealed_batch_{index:09d}")
            address = PostalAddress(
                street_address=street, city="Springfield", postal_code="90802", country_code=country
            )
            delivery = base.delivery.model_copy(
                update={
                    "recipient": recipient(
                        member_id=member_id, name=name, postal_address=address, country=country
                    ),
                    "certificate": base.delivery.certificate.model_copy(  # type: ignore[union-attr]
                        update={
                            "certificate_number": doc["number"],
                            "print_pdf_file_id": str(doc["print_pdf_file_id"]),
                        }
                    ),
                }
            )
            await adapter.send(type(base)(delivery, base.attachments))
    finally:
        await adapter.close()

    secrets = [p[1] for p in people] + [p[2] for p in people]
    letters = await db.post_print_batch.find().to_list(None)
    assert len(letters) == 2 and all("sealed" in letter and "address" not in letter for letter in letters)
    assert {letter["member_id"] for letter in letters} == {p[0] for p in people}
    assert not [s for letter in letters for s in secrets if s.encode() in bson.encode(letter)]

    batch = await write_batch(db, utcnow().date().isoformat(), tmp_path / "batch")
    assert (batch.letters, batch.skipped) == (2, 0)
    assert len(PdfReader(tmp_path / "batch" / "letters.pdf").pages) == 2
    rows = list(csv.DictReader(io.StringIO((tmp_path / "batch" / "addresses.csv").read_text())))
    assert [(r["name"], r["street_address"]) for r in rows] == [(p[1], p[2]) for p in people]  # FR, US

    await (await vaults()).forget(people[0][0])  # erased since: their letter is left out
    again = await write_batch(db, utcnow().date().isoformat(), tmp_path / "again")
    assert (again.letters, again.skipped) == (1, 1)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "again" / "addresses.csv").read_text())))
    assert [r["name"] for r in rows] == [people[1][1]]
