"""Delivery visibility and unsubscribe on the public site.

    GET  /api/v1/operator/deliveries   operators (Bearer): deliveries with filters, newest first
    GET  /api/v1/operator/replies      operators (Bearer): chat replies (pledge-intake's
                                       `inbound_messages`), newest first
    GET  /u/{token}                    unsubscribe page (a button, so link scanners change nothing)
    POST /u/{token}                    unsubscribe; also the RFC 8058 one-click target of
                                       `List-Unsubscribe-Post` (no cookies, no CSRF token)

Reads the dispatcher's `deliveries` and pledge-intake's `members` (unsubscribe tokens) and
`inbound_messages` as read models; a reply's sender and text are stored sealed and opened here
with the site's vault (a reply whose subject was erased is left out); an unsubscribe is
handed to pledge-intake as `consent.withdrawn.v1`, which records it in the consent history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment

from services.intake.auth import operator_denied
from services.intake.delivery_status import PROJECTION, DeliveryList, view
from services.intake.erasure import member_by_token, opened_all
from services.intake.i18n import pick_language, ui
from services.intake.settings import IntakeSettings
from services.intake.web_security import CSRF_REQUIRED_OR_ONE_CLICK
from shared.contracts import utcnow
from shared.contracts.languages import Lang
from shared.contracts.member import ConsentWithdrawn, ConsentWithdrawnData
from shared.messaging.gateway import Unavailable

UNSUBSCRIBE_TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Stop messages", "km": "ឈប់ទទួលសារ"},
    "ask": {
        "en": "Stop all messages from Samleng, on every channel?",
        "km": "ឈប់ទទួលសារទាំងអស់ពីសំឡេង តាមគ្រប់មធ្យោបាយ?",
    },
    "button": {"en": "Stop all messages", "km": "ឈប់ទទួលសារទាំងអស់"},
    "done": {
        "en": "Done: you will receive no more messages from us. Your pledge stays signed.",
        "km": "រួចរាល់៖ អ្នកនឹងមិនទទួលសារពីយើងទៀតទេ។ ការសន្យារបស់អ្នកនៅតែមាន។",
    },
    "unknown": {"en": "This unsubscribe link is not valid.", "km": "តំណឈប់ទទួលសារនេះមិនត្រឹមត្រូវទេ។"},
    "retry": {
        "en": "We could not record this right now. Please try again in a minute.",
        "km": "យើងមិនអាចកត់ត្រាបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀតក្នុងមួយនាទី។",
    },
}


def add_delivery_routes(app: FastAPI, settings: IntakeSettings, templates: Environment) -> None:
    def db() -> Any:
        return app.state.status.database()

    @app.get(
        "/api/v1/operator/deliveries",
        response_model=DeliveryList,
        summary="List deliveries (operators)",
        responses={401: {"description": "Operator token missing or wrong"}},
    )
    async def list_deliveries(
        authorization: Annotated[str | None, Header()] = None,
        state: Annotated[str | None, Query(max_length=40)] = None,
        channel: Annotated[str | None, Query(max_length=40)] = None,
        purpose: Annotated[str | None, Query(max_length=40)] = None,
        source_id: Annotated[
            str | None, Query(max_length=80, description="e.g. a certificate number")
        ] = None,
        member_id: Annotated[str | None, Query(max_length=80)] = None,
        pledge_id: Annotated[str | None, Query(max_length=80)] = None,
        before: Annotated[
            datetime | None, Query(description="Only deliveries updated before this time")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        query: dict[str, Any] = {
            key: value
            for key, value in {
                "state": state,
                "channel": channel,
                "purpose": purpose,
                "source_id": source_id,
                "member_id": member_id,
                "correlation_id": pledge_id,
            }.items()
            if value is not None
        }
        if before is not None:
            query["updated_at"] = {"$lt": before}
        docs = (
            await db().deliveries.find(query, PROJECTION).sort("updated_at", -1).limit(limit).to_list(limit)
        )
        views = [view(d) for d in docs]
        result = DeliveryList(
            count=len(views),
            deliveries=views,
            next_before=views[-1].updated_at if len(views) == limit else None,
        )
        return JSONResponse(result.model_dump(mode="json"))

    @app.get(
        "/api/v1/operator/replies",
        summary="Chat replies people sent us (STOP and DONE included), newest first (operators)",
        responses={401: {"description": "Operator token missing or wrong"}},
    )
    async def list_replies(
        authorization: Annotated[str | None, Header()] = None,
        channel: Annotated[str | None, Query(max_length=40)] = None,
        member_id: Annotated[str | None, Query(max_length=80)] = None,
        unknown_sender: Annotated[
            bool | None, Query(description="Only replies from numbers we hold for no member")
        ] = None,
        before: Annotated[
            datetime | None, Query(description="Only replies received before this time")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        query: dict[str, Any] = {k: v for k, v in {"channel": channel, "member_id": member_id}.items() if v}
        if unknown_sender:
            query["member_id"] = None
        if before is not None:
            query["received_at"] = {"$lt": before}
        found = await db().inbound_messages.find(query).sort("received_at", -1).limit(limit).to_list(limit)
        docs = await opened_all(await app.state.status.vault(), found)
        replies = [
            {
                "reply_id": d["_id"],
                "channel": d.get("channel"),
                "member_id": d.get("member_id"),
                "sender": d.get("sender"),
                "text": d.get("text", ""),
                "stop": bool(d.get("stop")),
                "received_at": d["received_at"].isoformat(),
            }
            for d in docs
        ]
        next_before = found[-1]["received_at"].isoformat() if len(found) == limit else None
        return JSONResponse({"count": len(replies), "replies": replies, "next_before": next_before})

    def page(request: Request, lang: str | None, key: str, *, token: str | None, status: int) -> HTMLResponse:
        language: Lang = pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )
        html = templates.get_template("unsubscribe.html").render(
            lang=language,
            other_lang="km" if language == "en" else "en",
            t=lambda k: UNSUBSCRIBE_TEXT[k][language] if k in UNSUBSCRIBE_TEXT else ui(k, language),
            message_key=key,
            token=token,
        )
        return HTMLResponse(
            html, status_code=status, headers={"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
        )

    async def member_of(token: str) -> str | None:
        if not 16 <= len(token) <= 64:
            return None
        doc = await member_by_token(db(), await app.state.status.vault(), token, {"_id": 1})
        return str(doc["_id"]) if doc else None

    @app.get("/u/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def unsubscribe_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        if await member_of(token) is None:
            return page(request, lang, "unknown", token=None, status=404)
        return page(request, lang, "ask", token=token, status=200)

    @app.post("/u/{token}", include_in_schema=False, dependencies=[CSRF_REQUIRED_OR_ONE_CLICK])
    async def unsubscribe(request: Request, token: str, lang: str | None = None) -> Response:
        member_id = await member_of(token)
        if member_id is None:
            return page(request, lang, "unknown", token=None, status=404)
        body = (await request.body())[:200]
        source = "list-unsubscribe" if b"List-Unsubscribe=One-Click" in body else "unsubscribe-page"
        event = ConsentWithdrawn(
            correlation_id=member_id,
            data=ConsentWithdrawnData(member_id=member_id, scope="all", source=source, at=utcnow()),
        )
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return page(request, lang, "retry", token=token, status=503)
        return page(request, lang, "done", token=None, status=200)
