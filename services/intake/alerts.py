"""Urgent Action alerts on the public site.

    GET /a/{slug}                   the public alert page (EN/KM): case, actions, officials with
                                    mailto links, the letter
    GET /a/done/{token}, POST       "I took action": one click from the member's own link

An "I took action" link (shared/contracts/alert.py `action_token`; the delivery keeps only its
hash) works until INTAKE_ACTION_LINK_GRACE_DAYS (7) after the alert's action period ended (its
deadline, or its closure if that came first), or, for an open alert with no deadline,
INTAKE_ACTION_LINK_DAYS (30) after it was sent (`action_link_expires_at`). Past that, the link
shows only that the action period is over (410): nothing about the member.

The alert is the dispatcher's (`alerts`, read here through read_models.py, like the delivery an
"I took action" link came with); operators write, publish and update alerts through the console
(services/console/routes/alerts.py). An action report is `action.reported.v1`, counted once per
member and alert by the dispatcher.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment

from services.intake.i18n import pick_language, ui
from services.intake.limits import link_limit
from services.intake.read_models import (
    ACTION_LINKS,
    ACTION_PERIODS,
    ALERT_OFFICIALS,
    ALERT_PAGES,
    ActionLink,
    ActionPeriod,
)
from services.intake.settings import IntakeSettings
from shared.contracts import utcnow
from shared.contracts.alert import (
    ActionReported,
    ActionReportedData,
    action_token_hash,
    delivery_of_action_token,
    letter_salutation,
    number_of_slug,
)
from shared.messaging.gateway import Unavailable
from shared.web_security import CSRF_REQUIRED

TEXT: dict[str, dict[str, str]] = {
    "urgent_action": {"en": "Urgent Action", "km": "សកម្មភាពបន្ទាន់"},
    "closed": {"en": "This Urgent Action is closed.", "km": "សកម្មភាពបន្ទាន់នេះបានបិទហើយ។"},
    "deadline": {"en": "Please act before", "km": "សូមធ្វើសកម្មភាពមុន"},
    "actions": {"en": "What you can do", "km": "អ្វីដែលអ្នកអាចធ្វើបាន"},
    "background": {"en": "Background", "km": "សាវតា"},
    "officials": {"en": "Write to", "km": "សរសេរទៅកាន់"},
    "write_email": {"en": "write an email", "km": "សរសេរអ៊ីមែល"},
    "letter": {"en": "A letter you can send", "km": "លិខិតដែលអ្នកអាចផ្ញើបាន"},
    "your_name": {"en": "[your name]", "km": "[ឈ្មោះរបស់អ្នក]"},
    "fill_in": {"en": "[{}]", "km": "[{}]"},
    "fill_in_unnamed": {"en": "[fill in]", "km": "[សូមបំពេញ]"},
    "unknown": {"en": "We do not know this Urgent Action.", "km": "យើងមិនស្គាល់សកម្មភាពបន្ទាន់នេះទេ។"},
    "done_ask": {
        "en": "Did you take action on this Urgent Action?",
        "km": "តើអ្នកបានធ្វើសកម្មភាពលើសកម្មភាពបន្ទាន់នេះទេ?",
    },
    "done_button": {"en": "I took action", "km": "ខ្ញុំបានធ្វើសកម្មភាព"},
    "done_officials": {
        "en": "Who did you write to? (optional — it helps us follow up)",
        "km": "តើអ្នកបានសរសេរទៅអ្នកណា? (ស្រេចចិត្ត — វាជួយយើងតាមដាន)",
    },
    "done_thanks": {"en": "Thank you — your action is counted.", "km": "សូមអរគុណ — សកម្មភាពរបស់អ្នកត្រូវបានរាប់។"},
    "done_unknown": {"en": "This link is not valid.", "km": "តំណនេះមិនត្រឹមត្រូវទេ។"},
    "expired_action": {
        "en": "The action period for this Urgent Action is over, so this link no longer works. "
        "Thank you for caring.",
        "km": "រយៈពេលធ្វើសកម្មភាពសម្រាប់សកម្មភាពបន្ទាន់នេះបានបញ្ចប់ហើយ ដូច្នេះតំណនេះលែងដំណើរការទៀតហើយ។ "
        "សូមអរគុណចំពោះការយកចិត្តទុកដាក់របស់អ្នក។",
    },
    "retry": {
        "en": "We could not record this right now. Please try again.",
        "km": "យើងមិនអាចកត់ត្រាបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀត។",
    },
}


PLACEHOLDER = re.compile(r"\{([^{}\n]{0,60})\}")


class LetterPart(NamedTuple):
    """A piece of the letter as the reader sees it; `hint` marks what they replace themselves."""

    text: str
    hint: bool = False


def salutation_for(officials: list[dict[str, Any]], language: str) -> str:
    """The salutation a letter to these officials opens with (shared/contracts/alert.py)."""
    return letter_salutation([str(o.get("salutation") or "") for o in officials], language)


def readable_letter(letter: str, language: str, salutation: str) -> list[LetterPart]:
    """The letter template as a reader would write it: `{salutation}` filled, `{name}` and any
    other placeholder shown as a bracketed hint for the reader to replace; never a raw `{…}`."""
    parts: list[LetterPart] = []
    at = 0
    for match in PLACEHOLDER.finditer(letter):
        if match.start() > at:
            parts.append(LetterPart(letter[at : match.start()]))
        key = match.group(1).strip()
        if key == "salutation":
            parts.append(LetterPart(salutation))
        elif key == "name":
            parts.append(LetterPart(TEXT["your_name"][language], hint=True))
        elif key:
            parts.append(LetterPart(TEXT["fill_in"][language].format(key.replace("_", " ")), hint=True))
        else:
            parts.append(LetterPart(TEXT["fill_in_unnamed"][language], hint=True))
        at = match.end()
    if at < len(letter):
        parts.append(LetterPart(letter[at:]))
    return parts


def letter_text(parts: list[LetterPart]) -> str:
    return "".join(part.text for part in parts)


def generic_mailto(official: dict[str, Any], texts: dict[str, Any], language: str) -> str | None:
    if not official.get("email"):
        return None
    letter = readable_letter(str(texts.get("letter", "")), language, salutation_for([official], language))
    query = urlencode(
        {"subject": texts.get("letter_subject") or texts.get("title", ""), "body": letter_text(letter)},
        quote_via=quote,
    )
    return f"mailto:{official['email']}?{query}"


def add_alert_routes(app: FastAPI, settings: IntakeSettings, templates: Environment) -> None:
    """The public alert pages (`settings`: none of them needs any; kept for the app's call)."""

    def db() -> Any:
        return app.state.status.database()

    def t_for(language: str) -> Any:
        return lambda key, **kw: TEXT[key][language].format(**kw) if key in TEXT else ui(key, language, **kw)  # type: ignore[arg-type]

    async def handed_over(event: ActionReported) -> bool:
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return False
        return True

    def page(request: Request, name: str, language: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            lang=language, other_lang="km" if language == "en" else "en", t=t_for(language), **context
        )
        return HTMLResponse(html, status_code=status, headers={"Referrer-Policy": "no-referrer"})

    def language_of(request: Request, lang: str | None) -> str:
        return pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )

    grace = timedelta(days=settings.action_link_grace_days)
    lifetime = timedelta(days=settings.action_link_days)

    async def expired(delivery: ActionLink) -> bool:
        period = await ACTION_PERIODS.find_one(db(), {"_id": delivery.alert_id})
        ends = action_link_expires_at(delivery.created_at, period, grace, lifetime)
        return ends is not None and utcnow() >= ends

    def over(request: Request, language: str) -> HTMLResponse:
        return page(request, "alert_done.html", language, 410, state="expired", token=None)

    @app.get("/a/done/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def done_page(request: Request, token: str, lang: str | None = None) -> Response:
        language = language_of(request, lang)
        delivery = await _delivery_of(db(), token)
        if delivery is None:
            return page(request, "alert_done.html", language, 404, state="unknown", token=None)
        if await expired(delivery):
            return over(request, language)
        alert = await ALERT_OFFICIALS.find_one(db(), {"_id": delivery.alert_id})
        officials = alert.officials if alert is not None else []
        return page(request, "alert_done.html", language, state="ask", token=token, officials=officials)

    @app.post(
        "/a/done/{token}",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED, Depends(link_limit)],
    )
    async def report_done(request: Request, token: str, lang: str | None = None) -> Response:
        language = language_of(request, lang)
        delivery = await _delivery_of(db(), token)
        if delivery is None:
            return page(request, "alert_done.html", language, 404, state="unknown", token=None)
        if await expired(delivery):
            return over(request, language)
        form = await request.form()
        officials = sorted(
            {int(str(v)) for v in form.getlist("official") if str(v).isdigit() and int(str(v)) < 50}
        )
        event = ActionReported(
            correlation_id=delivery.alert_id,
            data=ActionReportedData(
                alert_id=delivery.alert_id,
                member_id=delivery.member_id,
                source="link",
                officials=officials,
                reported_at=utcnow(),
            ),
        )
        if not await handed_over(event):
            return page(request, "alert_done.html", language, 503, state="retry", token=token)
        return page(request, "alert_done.html", language, state="thanks", token=None)

    @app.get("/a/{alert_slug}", response_class=HTMLResponse, include_in_schema=False)
    async def alert_page(request: Request, alert_slug: str, lang: str | None = None) -> Response:
        language = language_of(request, lang)
        number = number_of_slug(alert_slug)
        alert = await ALERT_PAGES.find_one(db(), {"number": number})
        if alert is None:
            return page(request, "alert.html", language, 404, alert=None)
        texts = alert.texts.get(language) or alert.texts["en"]
        officials = [{**o, "mailto": generic_mailto(o, texts, language)} for o in alert.officials]
        salutation = salutation_for(alert.officials, language)
        letter = readable_letter(str(texts.get("letter", "")), language, salutation)
        return page(
            request,
            "alert.html",
            language,
            alert=alert,
            texts=texts,
            officials=officials,
            deadline=alert.deadline,
            letter=letter,
        )


async def _delivery_of(db: Any, token: str) -> ActionLink | None:
    delivery_id = delivery_of_action_token(token) if len(token) <= 96 else None
    if delivery_id is None:
        return None
    found = await ACTION_LINKS.find_one(db, {"_id": delivery_id})
    if found is None or not found.alert_id:
        return None
    if found.action_token_hash is not None:
        return found if hmac.compare_digest(found.action_token_hash, action_token_hash(token)) else None
    if found.action_token is not None:  # written before hashing (kept until deliveries' retention)
        return found if hmac.compare_digest(found.action_token, token) else None
    return None


def action_link_expires_at(
    sent_at: datetime | None, period: ActionPeriod | None, grace: timedelta, lifetime: timedelta
) -> datetime | None:
    """When an "I took action" link stops working: `grace` after the alert's action period ended
    (its deadline, or its closure when that came first), else `lifetime` after it was sent;
    None when neither is known."""
    ends = [_aware(moment) for moment in _period_ends(period)]
    if ends:
        return min(ends) + grace
    return _aware(sent_at) + lifetime if sent_at is not None else None


def _period_ends(period: ActionPeriod | None) -> list[datetime]:
    if period is None:
        return []
    closed = period.published_at if period.state == "closed" else None
    return [moment for moment in (period.deadline, closed) if moment is not None]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
