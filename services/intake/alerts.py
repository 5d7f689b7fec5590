"""Urgent Action alerts on the public site and the operators' alert API.

    POST /api/v1/operator/alerts               publish an alert (operators; 202), or keep it as
                                               a draft with `?draft=true` (201)
    PUT  /api/v1/operator/alerts/{id}          rewrite a draft
    POST /api/v1/operator/alerts/{id}/publish  publish a draft (safe to repeat)
    POST /api/v1/operator/alerts/{id}/updates  publish an update, a deadline extension or the
                                               closure; it goes to the original recipients
    GET  /api/v1/operator/alerts               drafts and alerts, newest first
    GET  /api/v1/operator/alerts/{id}          the alert with delivery and action totals
    GET  /a/{slug}                             the public alert page (EN/KM): case, actions,
                                               officials with mailto links, the letter
    GET  /a/done/{token}, POST                 "I took action": one click from the member's own link

Intake stays a gateway: publishing hands `alert.published.v1` to the dispatcher, which keeps the
alert (`alerts`, read here) and fans it out; an action report is `action.reported.v1`, counted
once per member and alert by the dispatcher (`action_reports`, read here for the totals).
Drafts are the operators' own working copies: intake keeps them (`alert_drafts`) until they are
published, so an operator can write, read back and rewrite one before anybody sees it.
"""

from __future__ import annotations

import hmac
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment
from pydantic import AwareDatetime, BaseModel, Field
from pymongo.errors import DuplicateKeyError

from services.intake.auth import operator_denied
from services.intake.i18n import pick_language, ui
from services.intake.settings import IntakeSettings
from services.intake.web_security import CSRF_REQUIRED
from shared.contracts import utcnow
from shared.contracts.alert import (
    ActionReported,
    ActionReportedData,
    AlertPublished,
    AlertPublishedData,
    AlertText,
    Official,
    Topic,
    delivery_of_action_token,
    letter_salutation,
)
from shared.messaging.gateway import Unavailable

NUMBER = re.compile(r"^UA \d{1,4}/\d{2}$")
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
    "retry": {
        "en": "We could not record this right now. Please try again.",
        "km": "យើងមិនអាចកត់ត្រាបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀត។",
    },
}


class AlertInput(BaseModel):
    """An Urgent Action as an operator writes it."""

    number: str = Field(pattern=NUMBER.pattern, examples=["UA 12/26"])
    urgent: bool = False
    sensitive: bool = Field(default=False, description="Chat messages will carry only the link, no names.")
    topics: list[Topic] = Field(min_length=1)
    texts: dict[Literal["en", "km"], AlertText] = Field(description="Both English and Khmer are required.")
    officials: list[Official] = Field(default_factory=list, max_length=50)
    deadline: AwareDatetime | None = None


class AlertChange(BaseModel):
    kind: Literal["update", "extension", "closure"] = Field(
        default="update",
        description="`update`: further information; `extension`: a later deadline (required); "
        "`closure`: the case is closed, no more changes.",
    )
    texts: dict[Literal["en", "km"], AlertText] | None = Field(
        default=None, description="New texts (both languages); unset = keep the current ones."
    )
    deadline: AwareDatetime | None = Field(default=None, description="A new (extended) deadline.")


def slug(number: str) -> str:
    return number.replace(" ", "-").replace("/", "-")


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
    def db() -> Any:
        return app.state.status.database()

    def t_for(language: str) -> Any:
        return lambda key, **kw: TEXT[key][language].format(**kw) if key in TEXT else ui(key, language, **kw)  # type: ignore[arg-type]

    async def publish(event: Any) -> JSONResponse | None:
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return JSONResponse(
                {"detail": "not handed over; retry"}, status_code=503, headers={"Retry-After": "30"}
            )
        return None

    @app.post(
        "/api/v1/operator/alerts",
        status_code=202,
        summary="Publish an Urgent Action alert (operators)",
        responses={
            401: {"description": "Operator token missing or wrong"},
            422: {"description": "Invalid alert"},
        },
    )
    async def publish_alert(
        body: AlertInput,
        draft: Annotated[bool, Query(description="Keep it as a draft instead of publishing it.")] = False,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        problem = await invalid(body, None)
        if problem is not None:
            return problem
        alert_id = f"al_{uuid.uuid4().hex[:20]}"
        if draft:
            return await save_draft(alert_id, body, 201)
        return await publish_new(alert_id, body)

    async def invalid(body: AlertInput, alert_id: str | None) -> JSONResponse | None:
        missing = {"en", "km"} - set(body.texts)
        if missing:
            detail = [
                {"field": f"texts.{m}", "code": "required", "message": f"{m} text is required"}
                for m in sorted(missing)
            ]
            return JSONResponse({"detail": detail}, status_code=422)
        published = await db().alerts.find_one({"number": body.number}, {"_id": 1})
        drafted = await db().alert_drafts.find_one(
            {"number": body.number, "_id": {"$ne": alert_id}}, {"_id": 1}
        )
        if (published and published["_id"] != alert_id) or drafted:
            return JSONResponse(
                {"detail": [{"field": "number", "code": "taken", "message": "number already used"}]},
                status_code=422,
            )
        return None

    async def save_draft(alert_id: str, body: AlertInput, status: int) -> JSONResponse:
        now = utcnow()
        try:
            await db().alert_drafts.update_one(
                {"_id": alert_id, "state": "draft"},
                {
                    "$set": {**body.model_dump(mode="json"), "updated_at": now},
                    "$setOnInsert": {"state": "draft", "created_at": now},
                },
                upsert=True,
            )
        except DuplicateKeyError:  # published meanwhile (state is no longer draft)
            return JSONResponse({"detail": "the alert is already published"}, status_code=409)
        return JSONResponse(
            {"alert_id": alert_id, "number": body.number, "state": "draft"}, status_code=status
        )

    async def publish_new(alert_id: str, body: AlertInput) -> JSONResponse:
        public_url = f"{settings.public_base_url.rstrip('/')}/a/{slug(body.number)}"
        data = AlertPublishedData(
            alert_id=alert_id, public_url=public_url, published_at=utcnow(), **body.model_dump()
        )
        # the same alert published twice (a repeated request) is the same event: fan-out dedupes it
        event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"samleng:alert:{alert_id}#0")
        failed = await publish(AlertPublished(event_id=event_id, correlation_id=alert_id, data=data))
        if failed is not None:
            return failed
        return JSONResponse(
            {"alert_id": alert_id, "number": body.number, "public_url": public_url, "state": "published"},
            status_code=202,
        )

    @app.put(
        "/api/v1/operator/alerts/{alert_id}",
        summary="Rewrite a draft alert (operators)",
        responses={404: {"description": "No such draft"}, 409: {"description": "Already published"}},
    )
    async def rewrite_draft(
        alert_id: str, body: AlertInput, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        current = await db().alert_drafts.find_one({"_id": alert_id}, {"state": 1})
        if current is None:
            return JSONResponse({"detail": "unknown draft"}, status_code=404)
        if current.get("state") != "draft":
            return JSONResponse({"detail": "the alert is already published"}, status_code=409)
        problem = await invalid(body, alert_id)
        if problem is not None:
            return problem
        return await save_draft(alert_id, body, 200)

    @app.post(
        "/api/v1/operator/alerts/{alert_id}/publish",
        status_code=202,
        summary="Publish a draft alert (operators; safe to repeat)",
        responses={404: {"description": "No such draft"}},
    )
    async def publish_draft(
        alert_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        current = await db().alert_drafts.find_one({"_id": alert_id})
        if current is None:
            return JSONResponse({"detail": "unknown draft"}, status_code=404)
        if current.get("state") == "published":  # a repeated request: it was handed over already
            return JSONResponse(
                {"alert_id": alert_id, "number": current["number"], "state": "published"}, status_code=200
            )
        body = AlertInput.model_validate({k: current[k] for k in AlertInput.model_fields if k in current})
        answer = await publish_new(alert_id, body)
        if answer.status_code == 202:  # handed over: the draft is no longer editable
            await db().alert_drafts.update_one(
                {"_id": alert_id, "state": "draft"},
                {"$set": {"state": "published", "published_at": utcnow()}},
            )
        return answer

    @app.get("/api/v1/operator/alerts", summary="Drafts and published alerts, newest first (operators)")
    async def list_alerts(
        authorization: Annotated[str | None, Header()] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        fields = {
            "number": 1,
            "state": 1,
            "urgent": 1,
            "sensitive": 1,
            "topics": 1,
            "deadline": 1,
            "texts.en.title": 1,
            "sequence": 1,
            "kind": 1,
        }
        items: list[dict[str, Any]] = []
        async for doc in db().alert_drafts.find({"state": "draft"}, {**fields, "updated_at": 1}):
            items.append({**doc, "alert_id": doc.pop("_id"), "at": doc.pop("updated_at", None)})
        async for doc in db().alerts.find({}, {**fields, "updated_at": 1}):
            items.append({**doc, "alert_id": doc.pop("_id"), "at": doc.pop("updated_at", None)})
        items.sort(key=lambda item: str(item.get("at") or ""), reverse=True)
        return JSONResponse(_jsonable({"alerts": items[:limit]}))

    @app.post(
        "/api/v1/operator/alerts/{alert_id}/updates",
        status_code=202,
        summary="Update or close an alert (operators)",
    )
    async def change_alert(
        alert_id: str, body: AlertChange, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        current = await db().alerts.find_one({"_id": alert_id})
        if current is None:
            return JSONResponse({"detail": "unknown alert"}, status_code=404)
        if current.get("state") == "closed":
            return JSONResponse({"detail": "the alert is closed"}, status_code=409)
        problem = extension_problem(body, current)
        if problem is not None:
            return JSONResponse({"detail": [problem]}, status_code=422)
        fields = {k: current[k] for k in AlertPublishedData.model_fields if k in current}
        fields.update(kind=body.kind, sequence=int(current["sequence"]) + 1, published_at=utcnow())
        if body.texts is not None:
            fields["texts"] = {k: v.model_dump() for k, v in body.texts.items()}
        if body.deadline is not None:
            fields["deadline"] = body.deadline
        data = AlertPublishedData.model_validate(fields)
        failed = await publish(AlertPublished(correlation_id=alert_id, data=data))
        if failed is not None:
            return failed
        return JSONResponse(
            {"alert_id": alert_id, "sequence": data.sequence, "kind": data.kind}, status_code=202
        )

    @app.get(
        "/api/v1/operator/alerts/{alert_id}", summary="An alert with delivery and action totals (operators)"
    )
    async def alert_totals(
        alert_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        current = await db().alerts.find_one(
            {"_id": alert_id}, {"_id": 0, "updated_at": 0, "first_published_at": 0}
        )
        if current is None:
            draft = await db().alert_drafts.find_one({"_id": alert_id, "state": "draft"}, {"_id": 0})
            if draft is None:
                return JSONResponse({"detail": "unknown alert"}, status_code=404)
            empty = {"total": 0, "by_source": {}, "by_official": []}
            return JSONResponse(_jsonable({"alert": draft, "deliveries_by_sequence": {}, "actions": empty}))
        deliveries: dict[str, dict[str, int]] = {}
        async for doc in db().deliveries.find(
            {"purpose": "alert", "correlation_id": alert_id}, {"source_id": 1, "state": 1, "channel": 1}
        ):
            per = deliveries.setdefault(doc["source_id"].split("#")[-1], {})
            per[doc["state"]] = per.get(doc["state"], 0) + 1
        actions: dict[str, int] = {}
        async for report in db().action_reports.find({"alert_id": alert_id}, {"source": 1}):
            actions[report["source"]] = actions.get(report["source"], 0) + 1
        per_official: dict[int, int] = {}
        async for doc in db().official_actions.find({"alert_id": alert_id}, {"official": 1}):
            per_official[doc["official"]] = per_official.get(doc["official"], 0) + 1
        by_official = [
            {"official": index, "name": official.get("name"), "members": per_official.get(index, 0)}
            for index, official in enumerate(current.get("officials") or [])
        ]
        body = {
            "alert": current,
            "deliveries_by_sequence": deliveries,
            "actions": {"total": sum(actions.values()), "by_source": actions, "by_official": by_official},
        }
        return JSONResponse(_jsonable(body))

    def page(request: Request, name: str, language: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            lang=language, other_lang="km" if language == "en" else "en", t=t_for(language), **context
        )
        return HTMLResponse(html, status_code=status, headers={"Referrer-Policy": "no-referrer"})

    def language_of(request: Request, lang: str | None) -> str:
        return pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )

    @app.get("/a/done/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def done_page(request: Request, token: str, lang: str | None = None) -> Response:
        language = language_of(request, lang)
        delivery = await _delivery_of(db(), token)
        if delivery is None:
            return page(request, "alert_done.html", language, 404, state="unknown", token=None)
        alert = await db().alerts.find_one({"_id": delivery["alert_id"]}, {"officials": 1})
        officials = (alert or {}).get("officials") or []
        return page(request, "alert_done.html", language, state="ask", token=token, officials=officials)

    @app.post(
        "/a/done/{token}", response_class=HTMLResponse, include_in_schema=False, dependencies=[CSRF_REQUIRED]
    )
    async def report_done(request: Request, token: str, lang: str | None = None) -> Response:
        language = language_of(request, lang)
        delivery = await _delivery_of(db(), token)
        if delivery is None:
            return page(request, "alert_done.html", language, 404, state="unknown", token=None)
        form = await request.form()
        officials = sorted(
            {int(str(v)) for v in form.getlist("official") if str(v).isdigit() and int(str(v)) < 50}
        )
        event = ActionReported(
            correlation_id=delivery["alert_id"],
            data=ActionReportedData(
                alert_id=delivery["alert_id"],
                member_id=delivery["member_id"],
                source="link",
                officials=officials,
                reported_at=utcnow(),
            ),
        )
        if await publish(event) is not None:
            return page(request, "alert_done.html", language, 503, state="retry", token=token)
        return page(request, "alert_done.html", language, state="thanks", token=None)

    @app.get("/a/{alert_slug}", response_class=HTMLResponse, include_in_schema=False)
    async def alert_page(request: Request, alert_slug: str, lang: str | None = None) -> Response:
        language = language_of(request, lang)
        number = alert_slug.replace("-", " ", 1).replace("-", "/")
        alert = await db().alerts.find_one({"number": number})
        if alert is None:
            return page(request, "alert.html", language, 404, alert=None)
        texts = alert["texts"].get(language) or alert["texts"]["en"]
        officials = [{**o, "mailto": generic_mailto(o, texts, language)} for o in alert.get("officials", [])]
        deadline = alert.get("deadline")
        if isinstance(deadline, str):
            deadline = datetime.fromisoformat(deadline)
        salutation = salutation_for(alert.get("officials", []), language)
        letter = readable_letter(str(texts.get("letter", "")), language, salutation)
        return page(
            request,
            "alert.html",
            language,
            alert=alert,
            texts=texts,
            officials=officials,
            deadline=deadline,
            letter=letter,
        )


def extension_problem(body: AlertChange, current: dict[str, Any]) -> dict[str, str] | None:
    """An extension must move the deadline later; other kinds may change it freely."""
    if body.kind != "extension":
        return None
    if body.deadline is None:
        return {"field": "deadline", "code": "required", "message": "an extension needs the new deadline"}
    old = current.get("deadline")
    if isinstance(old, str):
        old = datetime.fromisoformat(old)
    if isinstance(old, datetime) and old.tzinfo is None:
        old = old.replace(tzinfo=UTC)
    if old is not None and body.deadline <= old:
        return {
            "field": "deadline",
            "code": "not-later",
            "message": "the new deadline must be after the current one",
        }
    return None


async def _delivery_of(db: Any, token: str) -> dict[str, Any] | None:
    delivery_id = delivery_of_action_token(token) if len(token) <= 96 else None
    if delivery_id is None:
        return None
    doc: dict[str, Any] | None = await db.deliveries.find_one(
        {"_id": delivery_id}, {"alert_id": 1, "member_id": 1, "action_token": 1}
    )
    if doc is None or not doc.get("alert_id") or not isinstance(doc.get("action_token"), str):
        return None
    return doc if hmac.compare_digest(doc["action_token"], token) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
