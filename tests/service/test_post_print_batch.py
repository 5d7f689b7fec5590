"""Print-batch mode on the real Mongo-wire server: letters collected by the post channel become
one printable PDF, a label sheet and a CSV for volunteers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from gridfs import AsyncGridFSBucket
from pypdf import PdfReader

from services.channels.post.adapter import PostAdapter, PostSettings
from services.channels.post.print_batch import write_batch
from shared.contracts import utcnow
from shared.contracts.pledge import PostalAddress
from tests.support.channel_contract import message_for, recipient


async def test_letters_collected_in_print_batch_mode_come_out_as_pdf_labels_and_csv(
    db: Any, mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    settings = PostSettings(
        _env_file=None, mode="print-batch", MONGODB_URI=mongo_uri, MONGODB_DATABASE=db_name
    )
    adapter = PostAdapter(settings)
    await adapter.start()
    bucket = AsyncGridFSBucket(db, bucket_name="certificate_files")
    people = [
        (
            "សុខ ដារ៉ា",
            PostalAddress(
                street_address="12 Rue Mouffetard", city="Paris", postal_code="75005", country_code="FR"
            ),
        ),
        (
            "Chan Sophea",
            PostalAddress(
                street_address="1600 Main Street",
                city="Long Beach",
                country_area="CA",
                postal_code="90802",
                country_code="US",
            ),
        ),
    ]
    try:
        for index, (name, address) in enumerate(people):
            base = message_for(PostAdapter, f"dl_batch{index:016d}")
            file_id = await bucket.upload_from_stream("print.pdf", base.attachments[0].data)
            certificate = base.delivery.certificate.model_copy(  # type: ignore[union-attr]
                update={"certificate_number": f"KCAP-2026-00000{index}", "print_pdf_file_id": str(file_id)}
            )
            delivery = base.delivery.model_copy(
                update={
                    "recipient": recipient(name=name, postal_address=address, country=address.country_code),
                    "certificate": certificate,
                }
            )
            result = await adapter.send(type(base)(delivery, base.attachments))
            assert result.provider_message_id == f"print-batch:{utcnow().date().isoformat()}"
        again = await adapter.send(type(base)(delivery, base.attachments))  # a resend adds nothing
        assert again.state == "sent"
    finally:
        await adapter.close()

    batch = await write_batch(db, utcnow().date().isoformat(), tmp_path / "batch")
    assert batch.letters == 2
    letters = PdfReader(tmp_path / "batch" / "letters.pdf")
    assert len(letters.pages) == 2
    assert {(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in letters.pages} == {
        (612, 792)
    }
    labels = PdfReader(tmp_path / "batch" / "labels.pdf")
    assert len(labels.pages) == 1
    label_text = labels.pages[0].extract_text()
    assert "LONG BEACH, CA 90802" in label_text and "75005 PARIS" in label_text
    rows = list(csv.DictReader(io.StringIO((tmp_path / "batch" / "addresses.csv").read_text())))
    assert [r["name"] for r in rows] == ["សុខ ដារ៉ា", "Chan Sophea"]  # FR before US
    assert await db.post_print_batch.count_documents({"printed_at": {"$exists": True}}) == 2
