"""Unsubscribe on the public site.

    GET  /u/{token}                    unsubscribe page (a button, so link scanners change nothing)
    POST /u/{token}                    unsubscribe; also the RFC 8058 one-click target of
                                       `List-Unsubscribe-Post` (no cookies, no CSRF token)

`{token}` is the member's unsubscribe link (purpose `unsubscribe`, never expires:
shared/member_links.py), or an old one carrying their raw secret (found by its blind index); it
opens this action only. Reads pledge-intake's `members` through read_models.py; an unsubscribe is handed to pledge-intake as `consent.withdrawn.v1`, which records
it in the consent history. Operators read deliveries and chat replies in the console
(services/console/routes/deliveries.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment

from services.intake.erasure import member_by_token
from services.intake.i18n import pick_language, ui
from services.intake.limits import unsubscribe_limit
from services.intake.read_models import MEMBERS_BY_TOKEN
from services.intake.settings import IntakeSettings
from shared.contracts import utcnow
from shared.contracts.languages import Lang
from shared.contracts.member import ConsentWithdrawn, ConsentWithdrawnData
from shared.messaging.gateway import Unavailable
from shared.web_security import CSRF_REQUIRED_OR_ONE_CLICK

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
        vault = await app.state.status.vault()
        member = await member_by_token(db(), vault, token, MEMBERS_BY_TOKEN, "unsubscribe")
        return member.id if member is not None else None

    @app.get("/u/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def unsubscribe_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        if await member_of(token) is None:
            return page(request, lang, "unknown", token=None, status=404)
        return page(request, lang, "ask", token=token, status=200)

    @app.post(
        "/u/{token}",
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED_OR_ONE_CLICK, Depends(unsubscribe_limit)],
    )
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
