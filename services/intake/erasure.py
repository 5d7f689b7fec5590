"""A member's own data on the public site: download everything we hold about them, and erase it.

    GET  /p/{token}/export         the member's own data, as a download (shared/member_data.py)
    GET  /p/{token}/erase, POST    erase everything about me (the POST must carry `confirm=yes`:
                                   a confirmation step)

`{token}` is the member's personal page link (purpose `preferences`, expiring: shared/member_links.py),
checked by `member_by_token`; an unsubscribe link, an old link with the raw secret, an expired or
forged one all read as unknown. Erasure is handed to pledge-intake as
`member.erasure_requested.v1` (shared/contracts/erasure.py), which erases and tells the others.
Operators export and erase members through the console (services/console/routes/members.py).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment

from services.intake.i18n import pick_language, ui
from services.intake.limits import link_limit
from services.intake.read_models import MEMBERS_BY_TOKEN, MemberOfToken, MemberT
from services.intake.settings import IntakeSettings
from shared.contracts import Event, utcnow
from shared.contracts.languages import Lang
from shared.member_data import erasure_request, member_export
from shared.member_links import Purpose, parse_link, verified
from shared.messaging.gateway import Unavailable
from shared.personal_data import Vault, unsubscribe_key
from shared.read_models import ReadModel, opened
from shared.web_security import CSRF_REQUIRED

ERASE_TEXT: dict[str, dict[str, str]] = {
    "erase_title": {"en": "Erase everything about me", "km": "លុបអ្វីៗទាំងអស់អំពីខ្ញុំ"},
    "erase_ask": {
        "en": "We will delete everything we hold about you: your details, your pledge and "
        "certificate, your registrations, your replies and the messages waiting for you. Only a "
        "record that consent was once given stays, without your name or contacts. This cannot be "
        "undone.",
        "km": "យើងនឹងលុបអ្វីៗទាំងអស់ដែលយើងមានអំពីអ្នក៖ ព័ត៌មានរបស់អ្នក ការសន្យា និងវិញ្ញាបនបត្ររបស់អ្នក "
        "ការចុះឈ្មោះ ការឆ្លើយតប និងសារដែលកំពុងរង់ចាំអ្នក។ មានតែកំណត់ត្រាថាធ្លាប់បានយល់ព្រម "
        "ប៉ុណ្ណោះដែលនៅសល់ ដោយគ្មានឈ្មោះ ឬទំនាក់ទំនងរបស់អ្នក។ សកម្មភាពនេះមិនអាចត្រឡប់វិញបានទេ។",
    },
    "erase_confirm": {
        "en": "Yes, erase everything about me",
        "km": "បាទ/ចាស លុបអ្វីៗទាំងអស់អំពីខ្ញុំ",
    },
    "erase_button": {"en": "Erase", "km": "លុប"},
    "erase_needs_confirm": {
        "en": "Please tick the box to confirm.",
        "km": "សូមធីកប្រអប់ដើម្បីបញ្ជាក់។",
    },
    "erase_done": {
        "en": "Done: everything about you is being erased. You will receive nothing more from us.",
        "km": "រួចរាល់៖ អ្វីៗទាំងអស់អំពីអ្នកកំពុងត្រូវបានលុប។ អ្នកនឹងមិនទទួលអ្វីពីយើងទៀតទេ។",
    },
    "erase_unknown": {
        "en": "This link is not valid (or everything about you was already erased).",
        "km": "តំណនេះមិនត្រឹមត្រូវទេ (ឬអ្វីៗទាំងអស់អំពីអ្នកត្រូវបានលុបរួចហើយ)។",
    },
    "erase_retry": {
        "en": "We could not record this right now. Please try again in a minute.",
        "km": "យើងមិនអាចកត់ត្រាបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀតក្នុងមួយនាទី។",
    },
    "erase_keep": {"en": "No, keep my data", "km": "ទេ រក្សាទិន្នន័យរបស់ខ្ញុំ"},
}


async def member_by_token(
    db: Any, vault: Vault | None, token: str, model: ReadModel[MemberT], purpose: Purpose
) -> MemberT | None:
    """The member whose link for `purpose` is `token` (as `model` sees them, opened); None if
    unknown, forged, expired, made for another purpose, or its member was erased — all alike.

    A link (shared/member_links.py) names its member: their secret is opened and the link checked
    against it. An old unsubscribe link carries the raw secret: it still unsubscribes (found by
    its blind index, or as stored before, plain), and opens nothing else."""
    link = parse_link(token)
    if link is not None:
        found = await opened(vault, await model.find_one(db, {"_id": link.member_id}))
        secret = found.unsubscribe_token if found is not None else None
        return found if verified(link, secret, purpose, utcnow()) else None
    if purpose != "unsubscribe" or not 16 <= len(token) <= 64:
        return None
    query: dict[str, Any] = {"unsubscribe_token": token}
    if vault is not None:
        query = {"$or": [{"unsubscribe_key": unsubscribe_key(vault, token)}, query]}
    return await opened(vault, await model.find_one(db, query))


def add_erasure_routes(app: FastAPI, settings: IntakeSettings, templates: Environment) -> None:
    def db() -> Any:
        return app.state.status.database()

    async def hand_over(event: Event[Any]) -> bool:
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return False
        return True

    async def member_of(token: str) -> MemberOfToken | None:
        return await member_by_token(
            db(), await app.state.status.vault(), token, MEMBERS_BY_TOKEN, "preferences"
        )

    def page(language: Lang, state: str, token: str | None, status: int = 200) -> HTMLResponse:
        def t(key: str) -> str:
            return ERASE_TEXT[key][language] if key in ERASE_TEXT else ui(key, language)

        html = templates.get_template("erase.html").render(
            lang=language, other_lang="km" if language == "en" else "en", t=t, state=state, token=token
        )
        headers = {"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
        return HTMLResponse(html, status_code=status, headers=headers)

    def language_of(request: Request, lang: str | None, member: MemberOfToken | None) -> Lang:
        return pick_language(
            lang or (member.language if member is not None else None),
            request.cookies.get("samleng_lang"),
            request.headers.get("accept-language"),
        )

    @app.get("/p/{token}/export", include_in_schema=False)
    async def own_export(token: str) -> Response:
        member = await member_of(token)
        vault = await app.state.status.vault()
        exported = await member_export(db(), member.id, vault) if member is not None else None
        if exported is None:
            return JSONResponse({"detail": "unknown link"}, status_code=404)
        return Response(
            json.dumps(exported, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="samleng-my-data.json"',
                "Cache-Control": "no-store",
                "X-Robots-Tag": "noindex",
                "Referrer-Policy": "no-referrer",
            },
        )

    @app.get("/p/{token}/erase", response_class=HTMLResponse, include_in_schema=False)
    async def erase_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        member = await member_of(token)
        language = language_of(request, lang, member)
        if member is None:
            return page(language, "unknown", None, 404)
        return page(language, "ask", token)

    @app.post(
        "/p/{token}/erase",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED, Depends(link_limit)],
    )
    async def erase_own(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        member = await member_of(token)
        language = language_of(request, lang, member)
        if member is None:
            return page(language, "unknown", None, 404)
        form = await request.form()
        if form.get("confirm") != "yes":
            return page(language, "needs-confirm", token, 422)
        if not await hand_over(erasure_request(member.id, "member-page")):
            return page(language, "retry", token, 503)
        return page(language, "done", None)
