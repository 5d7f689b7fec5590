"""Certificate files on the real Mongo-wire server: the renderer makes only the files the chosen
channels declare they carry and names its bucket in `certificate.issued`; the channel runner opens
the bucket a request names, and a request without a file its channel carries fails permanently
(`attachment-missing`: the dispatcher falls back to the member's next channel).

Real: the renderer (Typst), GridFS on the Mongo-wire server, the channel runner. Fake: the provider
(an adapter that keeps what it was given).
"""

from __future__ import annotations

from typing import Any, ClassVar

from bson import ObjectId
from gridfs import AsyncGridFSBucket

from services.certificates.app import CERTIFICATE_FILES_BUCKET, Deps, issued_event, render_and_store
from services.certificates.render import RendererPool
from shared.channels import ChannelAdapter, ChannelSettings, OutboundMessage, SendResult
from shared.channels.runner import ChannelRunner, SendLog
from shared.contracts import utcnow
from shared.contracts.delivery import CertificateRef, DeliveryRequested
from shared.messaging.consumer import MessageContext
from shared.storage import FileStore, durable
from tests.support.channel_contract import message_for


async def issue(db: Any, member_id: str, channels: list[str]) -> Any:
    files = FileStore(db, CERTIFICATE_FILES_BUCKET)
    await files.ensure_indexes()
    deps = Deps(
        certificates=durable(db.certificates),
        counters=durable(db.certificate_counters),
        files=files,
        renderer=RendererPool(1),
        public_base_url="https://pledge.example.org",
    )
    source = {
        "pledge_id": f"pl_{member_id}",
        "member_id": member_id,
        "name": "Sok Dara",
        "show_name_publicly": True,
        "language": "en",
        "channels": channels,
        "signed_on": utcnow(),
        "revision": 1,
    }
    return await render_and_store(deps, f"pl_{member_id}:r1", source)


async def content_types(db: Any, doc: Any) -> list[str]:
    stored = (
        await db[f"{CERTIFICATE_FILES_BUCKET}.files"].find({"metadata.number": doc["number"]}).to_list(None)
    )
    return sorted(f["metadata"]["contentType"] for f in stored)


async def test_a_pledge_choosing_only_email_gets_no_png_and_no_print_pdf(db: Any) -> None:
    doc = await issue(db, "mb_files1", ["email"])
    assert doc["png_file_id"] is None and doc["print_pdf_file_id"] is None
    assert await content_types(db, doc) == ["application/pdf"]
    data = issued_event(doc, None).data
    assert data.bucket == CERTIFICATE_FILES_BUCKET and data.png_file_id is None
    assert data.print_pdf_file_id is None


async def test_a_pledge_choosing_post_gets_the_print_pdf_and_one_choosing_a_chat_the_png(db: Any) -> None:
    posted = await issue(db, "mb_files2", ["post", "email"])
    assert posted["print_pdf_file_id"] is not None and posted["png_file_id"] is None
    assert await content_types(db, posted) == ["application/pdf", "application/pdf"]
    chatted = await issue(db, "mb_files3", ["signal"])
    assert chatted["png_file_id"] is not None and chatted["print_pdf_file_id"] is None
    assert await content_types(db, chatted) == ["application/pdf", "image/png"]


class Imaging(ChannelAdapter):
    name: ClassVar[str] = "imaging"
    address_kind = "email"
    attachments = ("png",)

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


def request(delivery_id: str, certificate: CertificateRef) -> DeliveryRequested:
    plain = message_for(Imaging, delivery_id).delivery
    return DeliveryRequested(
        correlation_id="c", data=plain.model_copy(update={"channel": "imaging", "certificate": certificate})
    )


def certificate(bucket: str, png_file_id: str | None) -> CertificateRef:
    return CertificateRef(
        certificate_number="KCAP-2026-000042",
        bucket=bucket,
        pdf_file_id=str(ObjectId()),
        png_file_id=png_file_id,
        verify_url="https://pledge.example.org/v/KCAP-2026-000042",
    )


async def test_the_runner_opens_the_bucket_the_request_names(db: Any) -> None:
    elsewhere = AsyncGridFSBucket(db, bucket_name="elsewhere_files")
    png = b"\x89PNG\r\n\x1a\n-an-image"
    file_id = await elsewhere.upload_from_stream("KCAP-2026-000042.png", png)
    adapter, published = Imaging(), Published()
    runner = ChannelRunner(adapter, SendLog(db.sends_imaging, "w1", 60), db)
    ctx = MessageContext(None, 1, 3, False, published)  # type: ignore[arg-type]
    await runner.handle(
        request("dl_files_bucket_000000001", certificate("elsewhere_files", str(file_id))), ctx
    )
    [message] = adapter.sent
    assert [(a.filename, a.data) for a in message.attachments] == [("KCAP-2026-000042.png", png)]
    assert [e.data.state for e in published.events] == ["sent"]


async def test_a_request_without_the_file_its_channel_carries_fails_permanently(db: Any) -> None:
    adapter, published = Imaging(), Published()
    runner = ChannelRunner(adapter, SendLog(db.sends_imaging, "w1", 60), db)
    ctx = MessageContext(None, 1, 3, False, published)  # type: ignore[arg-type]
    await runner.handle(
        request("dl_files_bucket_000000002", certificate(CERTIFICATE_FILES_BUCKET, None)), ctx
    )
    await runner.handle(
        request("dl_files_bucket_000000003", certificate(CERTIFICATE_FILES_BUCKET, str(ObjectId()))), ctx
    )
    assert adapter.sent == []
    assert [(e.data.state, e.data.reason) for e in published.events] == [
        ("failed_permanent", "attachment-missing"),
        ("failed_permanent", "attachment-missing"),
    ]
