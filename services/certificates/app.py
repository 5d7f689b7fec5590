"""certificate-renderer: one numbered certificate per recorded pledge, as PDF and PNG in GridFS.

Consumes `pledge.recorded.v1`, `certificate.reissue_requested.v1` and `member.erased.v1` (the
member's certificates and their files are deleted: `/v/<number>` then says unknown); publishes
`certificate.issued.v1`. Owns `certificates`,
`certificate_counters` and the GridFS bucket `certificate_files` (`CERTIFICATE_FILES_BUCKET`), which
each `certificate.issued` names so that readers open the bucket the message says.

Files: the A4 PDF always (email, the verification and personal download pages); the PNG and the
US Letter print PDF only when one of the signer's chosen channels declares it carries them
(`attachments` in its channel.toml: shared/channels/catalogue.py), so no channel name is known here.

At rest (with the process's vault; shared/personal_data.py): a certificate is about its member, so
everything personal is sealed under the member's data key. In `certificates`, the name and the
re-issue reasons (`SEALED_FIELDS`) are one encrypted `sealed` value; number, ids, state, dates,
language, channels, `show_name_publicly` and `discreet` stay plain (they are looked up and shown).
`discreet` (the member's discreet messages when the pledge was recorded, kept on every re-issue):
the public verification page then says only whether the certificate is valid. Every file
(PDF, PNG, print PDF: the name is on them) is stored as `seal_bytes` of its bytes, with
`metadata.sealed: true`; readers open files so marked (`open_bytes`) and pass others through.
Once the member's key is deleted their certificates read as unknown. Without a vault (encryption
off) documents and files are stored plain, as before.

Numbers (`KCAP-<year>-<seq>-<check>`, e.g. `KCAP-2026-000123-7QK4`) keep a readable serial from an
atomic per-year counter and add a random check part (4 characters of an alphabet without 0/O,
1/I: 20 bits), so knowing one number does not tell anyone the next: numbers cannot be listed. A
unique index means any number of renderer processes never hand out one twice. Numbers issued
before the check part (`KCAP-<year>-<seq>`) stay valid. A certificate is stored under
`<pledge_id>:r<revision>`; a redelivered `pledge.recorded` finds it and republishes the same
`certificate.issued` event (same event id) instead of rendering a second one. If two renderers race
on the same pledge, the loser deletes its files; its number stays unused (numbers may have gaps).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.certificates.render import CertificateContent, RendererPool, RenderError
from shared.channels.catalogue import attachments_wanted
from shared.contracts import utcnow
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData, ReissueRequested
from shared.contracts.erasure import MemberErased
from shared.contracts.pledge import PledgeRecorded
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import PermanentError
from shared.personal_data import PersonalDataUnreadable, Vault, open_fields, seal_bytes, seal_fields
from shared.service import Resources, Router
from shared.settings import ServiceSettings
from shared.storage import Document, FileStore, StoredFile, durable, insert_once

router = Router("certificate-renderer", description="Renders numbered pledge certificates (PDF + PNG).")
router.publishing(CertificateIssued)

ISSUED_NAMESPACE = uuid.UUID("0b7d8a52-93f4-4c52-8f0e-2f3a9d3c6b71")
PREFIX = "KCAP"
CHECK_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: 5 bits each, no 0/O or 1/I
CHECK_LENGTH = 4
SEALED_FIELDS = ("name", "reissue_reason", "replaced_reason")
CERTIFICATE_FILES_BUCKET = "certificate_files"
"""The personal fields of a `certificates` document, sealed under the member's key."""


class CertificateSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CERTIFICATES_", env_file=".env", extra="ignore")
    service_name: ClassVar[str] = "certificate-renderer"
    public_base_url: str = "http://127.0.0.1:8000"
    render_threads: int = Field(
        default_factory=lambda: len(os.sched_getaffinity(0)),
        ge=1,
        description="Certificates rendered in parallel (Typst releases the GIL).",
    )


@dataclass
class Deps:
    certificates: AsyncCollection[Document]
    counters: AsyncCollection[Document]
    files: FileStore
    renderer: RendererPool
    public_base_url: str
    vault: Vault | None = None


def certificate_id(pledge_id: str, revision: int) -> str:
    return f"{pledge_id}:r{revision}"


def issued_event_id(number: str) -> uuid.UUID:
    return uuid.uuid5(ISSUED_NAMESPACE, number)


def check_part(choose: Callable[[str], str] = secrets.choice) -> str:
    return "".join(choose(CHECK_ALPHABET) for _ in range(CHECK_LENGTH))


def format_number(year: int, serial: int, check: str) -> str:
    return f"{PREFIX}-{year}-{serial:06d}-{check}"


COUNTER_TRIES = 5


async def next_number(counters: AsyncCollection[Document], year: int) -> str:
    """The year's next serial. The year's first numbers, taken at once by several renderers, may
    race to create its counter: the loser gets a duplicate key (MongoDB) or no document (seen on
    the local Mongo-wire server, under load) and simply takes the next number again. A serial
    may so be skipped, never given twice."""
    key = f"{PREFIX}-{year}"
    for _ in range(COUNTER_TRIES):
        try:
            doc = await counters.find_one_and_update(
                {"_id": key}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            continue
        if doc is not None:
            return format_number(year, int(doc["seq"]), check_part())
    raise RuntimeError(f"no serial from the {key} counter after {COUNTER_TRIES} tries")


def issued_event(doc: Document, causation: uuid.UUID | None) -> CertificateIssued:
    return CertificateIssued(
        event_id=issued_event_id(doc["number"]),
        correlation_id=doc["pledge_id"],
        causation_id=causation,
        data=CertificateIssuedData(
            certificate_number=doc["number"],
            pledge_id=doc["pledge_id"],
            member_id=doc["member_id"],
            language=doc["language"],
            channels=doc["channels"],
            bucket=CERTIFICATE_FILES_BUCKET,
            pdf_file_id=str(doc["pdf_file_id"]),
            png_file_id=str(doc["png_file_id"]) if doc.get("png_file_id") else None,
            print_pdf_file_id=str(doc["print_pdf_file_id"]) if doc.get("print_pdf_file_id") else None,
            verify_url=doc["verify_url"],
            issued_at=doc["issued_at"],
            replaces=doc.get("replaces"),
        ),
    )


@router.handles(PledgeRecorded)
async def on_pledge_recorded(event: PledgeRecorded, ctx: MessageContext[Deps]) -> None:
    deps, data = ctx.deps, event.data
    key = certificate_id(data.pledge_id, 1)
    existing = await deps.certificates.find_one({"_id": key})
    if existing is None:
        existing = await issue(deps, key, event)
    await ctx.publish(issued_event(existing, event.event_id))
    ctx.log.info("certificate issued", pledge_id=data.pledge_id, number=existing["number"])


@router.handles(ReissueRequested)
async def on_reissue_requested(event: ReissueRequested, ctx: MessageContext[Deps]) -> None:
    """Render a corrected certificate with a new number; the old one becomes `replaced`."""
    deps, data = ctx.deps, event.data
    stored = await deps.certificates.find_one({"number": data.certificate_number})
    if stored is None:
        raise PermanentError(f"no certificate {data.certificate_number}", reason="unknown-certificate")
    try:
        old = await open_fields(deps.vault, stored)
    except PersonalDataUnreadable as error:  # the member was erased
        raise PermanentError(
            f"no certificate {data.certificate_number}", reason="unknown-certificate"
        ) from error
    key = certificate_id(old["pledge_id"], int(old["revision"]) + 1)
    new = await deps.certificates.find_one({"_id": key})
    if new is None:
        if old["state"] != "valid":
            raise PermanentError(f"{data.certificate_number} was already replaced", reason="already-replaced")
        source = {
            "pledge_id": old["pledge_id"],
            "member_id": old["member_id"],
            "name": data.corrected_name,
            "show_name_publicly": old["show_name_publicly"],
            "discreet": bool(old.get("discreet", False)),
            "language": old["language"],
            "channels": old["channels"],
            "signed_on": old["signed_on"],
            "revision": int(old["revision"]) + 1,
            "replaces": old["number"],
            "reissue_reason": data.reason,
        }
        new = await render_and_store(deps, key, source)
    personal = {name: old[name] for name in SEALED_FIELDS if name in old}
    sealed = await seal_fields(
        deps.vault, old["member_id"], {**personal, "replaced_reason": data.reason}, SEALED_FIELDS
    )
    unsealed = {name: "" for name in personal if name in stored and name not in sealed}  # stored plain before
    await deps.certificates.update_one(
        {"_id": old["_id"], "state": "valid"},
        {
            "$set": {"state": "replaced", "replaced_by": new["number"], "replaced_at": utcnow(), **sealed},
            **({"$unset": unsealed} if unsealed else {}),
        },
    )
    await ctx.publish(issued_event(new, event.event_id))
    ctx.log.info("certificate re-issued", old=old["number"], number=new["number"])


FILE_FIELDS = ("pdf_file_id", "png_file_id", "print_pdf_file_id")


@router.handles(MemberErased)
async def on_member_erased(event: MemberErased, ctx: MessageContext[Deps]) -> None:
    """Forget an erased member's certificates: documents and GridFS files (every revision)."""
    deps, data = ctx.deps, event.data
    found = await deps.certificates.find(
        {"member_id": {"$in": data.member_ids}}, {"_id": 1, "pledge_id": 1, **dict.fromkeys(FILE_FIELDS, 1)}
    ).to_list(None)
    if not found:
        ctx.log.info("erasure: no certificates held", member_id=data.member_id)
        return
    file_ids = [doc[name] for doc in found for name in FILE_FIELDS if doc.get(name) is not None]
    await deps.files.delete(file_ids)
    pledges = sorted({str(doc["pledge_id"]) for doc in found})
    orphans = await deps.files.files.find({"metadata.pledge_id": {"$in": pledges}}, {"_id": 1}).to_list(None)
    await deps.files.delete([doc["_id"] for doc in orphans])  # e.g. a lost race's files
    await deps.certificates.delete_many({"_id": {"$in": [doc["_id"] for doc in found]}})
    ctx.log.info("erasure: certificates deleted", member_id=data.member_id, certificates=len(found))


async def issue(deps: Deps, key: str, event: PledgeRecorded) -> Document:
    data = event.data
    source = {
        "pledge_id": data.pledge_id,
        "member_id": data.member_id,
        "name": data.name,
        "show_name_publicly": data.show_name_publicly,
        "discreet": data.discreet,
        "language": data.certificate_language,
        "channels": list(data.channels),
        "signed_on": data.recorded_at,
        "revision": 1,
    }
    return await render_and_store(deps, key, source)


async def render_and_store(deps: Deps, key: str, source: Document) -> Document:
    number = await next_number(deps.counters, utcnow().year)
    verify_url = f"{deps.public_base_url.rstrip('/')}/v/{number}"
    content = CertificateContent(
        name=source["name"],
        language=source["language"],
        number=number,
        signed_on=source["signed_on"].date(),
        verify_url=verify_url,
    )
    wanted = attachments_wanted(source["channels"])
    try:
        rendered = await asyncio.to_thread(deps.renderer.render, content, png="png" in wanted)
        print_pdf = (
            await asyncio.to_thread(deps.renderer.render_print, content) if "print_pdf" in wanted else None
        )
    except RenderError as error:  # the same input will fail the same way: no retries
        raise PermanentError(str(error), reason="render-failed") from error
    subject = source["member_id"]
    metadata: dict[str, Any] = {"number": number, "pledge_id": source["pledge_id"]}
    if deps.vault is not None:
        metadata["sealed"] = True
    contents: dict[str, tuple[str, bytes, str]] = {
        "pdf_file_id": (f"{number}.pdf", rendered.pdf, "application/pdf")
    }
    if rendered.png is not None:
        contents["png_file_id"] = (f"{number}.png", rendered.png, "image/png")
    if print_pdf is not None:
        contents["print_pdf_file_id"] = (f"{number}-print.pdf", print_pdf, "application/pdf")
    files = [
        StoredFile(filename, await seal_bytes(deps.vault, subject, data), {**metadata, "contentType": kind})
        for filename, data, kind in contents.values()
    ]
    stored = await deps.files.put(files)
    ids = dict(zip(contents, stored, strict=True))
    plain: Document = {
        **source,
        "_id": key,
        "number": number,
        "state": "valid",
        "issued_at": utcnow(),
        "verify_url": verify_url,
        "pdf_file_id": ids["pdf_file_id"],
        "png_file_id": ids.get("png_file_id"),
        "print_pdf_file_id": ids.get("print_pdf_file_id"),
    }
    doc = await seal_fields(deps.vault, subject, plain, SEALED_FIELDS)
    if await insert_once(deps.certificates, doc):
        return doc
    await deps.files.delete(stored)  # another renderer won the race for this pledge
    winner = await deps.certificates.find_one({"_id": key})
    assert winner is not None
    return winner


async def bootstrap(resources: Resources) -> Deps:
    assert resources.db is not None
    settings = resources.settings
    assert isinstance(settings, CertificateSettings)
    certificates = durable(resources.db.certificates)
    await certificates.create_index([("number", ASCENDING)], unique=True)
    await certificates.create_index([("pledge_id", ASCENDING)])
    await certificates.create_index([("member_id", ASCENDING)])
    files = FileStore(resources.db, CERTIFICATE_FILES_BUCKET)
    await files.ensure_indexes()
    await files.files.create_index([("metadata.pledge_id", ASCENDING)])
    return Deps(
        certificates=certificates,
        counters=durable(resources.db.certificate_counters),
        files=files,
        renderer=RendererPool(settings.render_threads),
        public_base_url=settings.public_base_url,
        vault=resources.vault,
    )
