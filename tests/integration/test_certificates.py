"""certificate-renderer as processes on the real broker and Mongo-wire server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from gridfs import AsyncGridFSBucket

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.pledge import PledgeRecorded, PledgeRecordedData
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.personal_data import open_bytes
from tests.integration.conftest import collect
from tests.support.processes import ServiceProcess
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(300)


def renderer(service_env: dict[str, str], tmp_path: Path, replica: str) -> ServiceProcess:
    env = dict(service_env, CERTIFICATES_PUBLIC_BASE_URL="https://pledge.example.org")
    return ServiceProcess("services.certificates", env, tmp_path / f"{replica}.log", replica).start()


def recorded(index: int, name: str = "Sok Dara", language: str = "en") -> PledgeRecorded:
    pledge_id = f"pl_test{index:06d}"
    return PledgeRecorded(
        correlation_id=pledge_id,
        data=PledgeRecordedData(
            pledge_id=pledge_id,
            member_id=f"mb_{index}",
            recorded_at=utcnow(),
            name=name,
            show_name_publicly=False,
            country="KH",
            certificate_language=language,
            channels=["email", "signal"],
            source="web",  # type: ignore[arg-type]
        ),
    )


async def publish(rabbit: RabbitNode, events: list[PledgeRecorded]) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    for start in range(0, len(events), 100):
        await publisher.publish_many(events[start : start + 100])
    await connection.close()


async def test_a_recorded_pledge_gets_a_numbered_certificate_stored_as_pdf_and_png(
    rabbit: RabbitNode, service_env: dict[str, str], tmp_path: Path, issued: Any, db: Any
) -> None:
    proc = renderer(service_env, tmp_path, "certificate-renderer.1")
    proc.wait_ready()
    try:
        event = recorded(1, "សុខ ចាន់ធី", "km")
        await publish(rabbit, [event, event])  # the second is a redelivery
        certificates = await collect(issued, 2, timeout=30)
        assert len(certificates) == 2
        assert certificates[0].event_id == certificates[1].event_id, (
            "the redelivery republishes the same event"
        )
        data = certificates[0].data
        assert data.certificate_number.startswith(f"KCAP-{utcnow().year}-")
        assert data.verify_url == f"https://pledge.example.org/v/{data.certificate_number}"
        assert data.language == "km" and data.channels == ["email", "signal"]
        assert certificates[0].causation_id == event.event_id
        assert await db.certificates.count_documents({}) == 1
        assert data.bucket == "certificate_files"  # the message says where its files are
        files = AsyncGridFSBucket(db, bucket_name=data.bucket)
        pdf_stream = await files.open_download_stream(ObjectId(data.pdf_file_id))
        png_stream = await files.open_download_stream(ObjectId(data.png_file_id))
        assert (pdf_stream.metadata or {}).get("sealed") and (png_stream.metadata or {}).get("sealed")
        opener = Opener(service_env)
        try:
            pdf = await open_bytes(await opener.vault(), await pdf_stream.read())
            png = await open_bytes(await opener.vault(), await png_stream.read())
        finally:
            await opener.aclose()
        assert pdf.startswith(b"%PDF") and png.startswith(b"\x89PNG")
        assert await db["certificate_files.files"].count_documents({}) == 2
    finally:
        proc.terminate()


async def test_two_renderers_and_500_pledges_give_500_distinct_numbers(
    rabbit: RabbitNode, service_env: dict[str, str], tmp_path: Path, issued: Any, db: Any
) -> None:
    procs = [renderer(service_env, tmp_path, f"certificate-renderer.{i}") for i in (1, 2)]
    try:
        for proc in procs:
            proc.wait_ready()
        await publish(rabbit, [recorded(i) for i in range(500)])
        certificates = await collect(issued, 500, timeout=240)
        numbers = [c.data.certificate_number for c in certificates]
        assert len(numbers) == 500
        assert len(set(numbers)) == 500, "no number twice"
        assert len({c.data.pledge_id for c in certificates}) == 500
        assert await db.certificates.count_documents({}) == 500
        handled_by = {
            p.name: sum(1 for r in p.log_records() if r.get("event") == "certificate issued") for p in procs
        }
        assert all(count > 0 for count in handled_by.values()), f"both renderers worked: {handled_by}"
    finally:
        for proc in procs:
            proc.terminate()


async def test_files_stored_in_the_gridfs_layout_read_back_with_gridfs(db: Any) -> None:
    from shared.storage import GRIDFS_CHUNK_BYTES, FileStore, StoredFile

    store = FileStore(db, "test_files")
    await store.ensure_indexes()
    big = bytes(range(256)) * (2 * GRIDFS_CHUNK_BYTES // 256 + 7)  # three chunks, the last short
    ids = await store.put(
        [
            StoredFile("big.bin", big, {"contentType": "application/octet-stream"}),
            StoredFile("empty.bin", b"", {}),
            StoredFile("small.pdf", b"%PDF-1.7 tiny", {"number": "KCAP-2026-000001"}),
        ]
    )
    bucket = AsyncGridFSBucket(db, bucket_name="test_files")
    read = [await (await bucket.open_download_stream(file_id)).read() for file_id in ids]
    assert read == [big, b"", b"%PDF-1.7 tiny"]
    small = await bucket.open_download_stream(ids[2])
    assert small.filename == "small.pdf" and small.metadata == {"number": "KCAP-2026-000001"}
    assert await db["test_files.chunks"].count_documents({"files_id": ids[0]}) == 3

    await store.delete(ids[:1])
    assert await db["test_files.chunks"].count_documents({"files_id": ids[0]}) == 0
    assert await db["test_files.files"].count_documents({}) == 2
