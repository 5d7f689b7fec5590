"""Alerts on the web: the list, the compose form, the preview, "send to myself", the summary
before publishing with the second publisher's approval, and an alert's own page (live
progress, actions over time and per official, the recipients' CSV, updates and closure).

    GET  /alerts                   drafts, published and closed alerts            dashboard.read
    GET  /alerts/new               the compose form                               alerts.draft
    POST /alerts/new               save it as a draft (or: more rows for officials)  alerts.draft
    GET  /alerts/{id}              a draft's steps, or a published alert's page    dashboard.read
    GET  /alerts/{id}/edit         the form, filled (drafts)                      alerts.draft
    POST /alerts/{id}/edit         rewrite the draft (voids an approval)          alerts.draft
    GET  /alerts/{id}/preview      what each channel carries, per language        dashboard.read
    POST /alerts/{id}/test-send    send it to myself on one channel               alerts.draft
    GET  /alerts/{id}/summary      who receives it now; approve; publish          dashboard.read
    POST /alerts/{id}/approve      a second publisher approves this content       alerts.publish
    POST /alerts/{id}/publish      publish the draft                              alerts.publish
    POST /alerts/{id}/updates      an update, an extension or the closure         alerts.publish

Everything is done by the operator API's functions (services/console/routes/alerts.py and
alert_review.py): the same validation (the form is turned into the API's `AlertInput`), the same
two-person rule, events and audit events. Their refusals come back on their fields, or as a
message in the page's language. The progress table updates itself (static/alerts.js reads the
API's `GET /api/v1/operator/alerts/{id}` with the page's session); without JavaScript a reload
shows the same. No page shows a member's contact details.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.console.auth import Caller, Principal, console_of, permit
from services.console.permissions import Permission, allows
from services.console.read_models import ACTION_MOMENTS, ACTION_REPORTS, DELIVERIES
from services.console.routes import alert_review, alerts
from services.console.web.rendering import form_errors, language_of, render, words_for
from services.console.web.words import word
from shared.contracts.alert import TOPICS, Topic
from shared.contracts.languages import LANGUAGES, Lang
from shared.web_security import CSRF_REQUIRED

router = APIRouter()

Errors = dict[str, list[str]]
OFFICIAL_FIELDS = ("name", "title", "organisation", "email", "salutation")
TEXT_FIELDS = ("title", "summary", "background", "actions", "letter", "letter_subject")
EMPTY_OFFICIAL_ROWS = 3
MAX_OFFICIALS = 50
KINDS = ("update", "extension", "closure")
assert set(get_args(Topic)) == set(TOPICS)


# ---- the form <-> the API's AlertInput ------------------------------------------------------


def local_text(moment: datetime | str | None, zone: str) -> str:
    """A time as the form shows it (`datetime-local`) in the console's time zone."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def form_of(fields: Mapping[str, Any], zone: str) -> dict[str, Any]:
    """The form's values of a draft (an `AlertInput`'s fields, as stored)."""
    texts = fields.get("texts") or {}
    values: dict[str, Any] = {
        "number": fields.get("number", ""),
        "urgent": bool(fields.get("urgent")),
        "sensitive": bool(fields.get("sensitive")),
        "topics": list(fields.get("topics") or []),
        "deadline": local_text(fields.get("deadline"), zone),
        "texts": {},
        "officials": [
            {name: official.get(name) or "" for name in OFFICIAL_FIELDS}
            for official in fields.get("officials") or []
        ],
    }
    for lang in LANGUAGES:
        text = texts.get(lang) or {}
        values["texts"][lang] = {name: text.get(name) or "" for name in TEXT_FIELDS}
        values["texts"][lang]["actions"] = "\n".join(text.get("actions") or [])
    return values


def submitted(form: FormData) -> dict[str, Any]:
    """The form as sent (to read it, and to show it again): officials' empty rows left out."""

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    try:
        rows = min(MAX_OFFICIALS + EMPTY_OFFICIAL_ROWS, max(0, int(text("official_rows") or 0)))
    except ValueError:
        rows = 0
    officials = []
    for index in range(rows):
        row = {name: text(f"officials.{index}.{name}").strip() for name in OFFICIAL_FIELDS}
        if any(row.values()):
            officials.append(row)
    return {
        "number": " ".join(text("number").split()),
        "urgent": text("urgent") == "true",
        "sensitive": text("sensitive") == "true",
        "topics": [t for t in form.getlist("topics") if isinstance(t, str)],
        "deadline": text("deadline").strip(),
        "texts": {lang: {name: text(f"texts.{lang}.{name}") for name in TEXT_FIELDS} for lang in LANGUAGES},
        "officials": officials,
    }


def alert_input(values: Mapping[str, Any], zone: str, lang: Lang) -> alerts.AlertInput | Errors:
    """The API's `AlertInput` of the form's values, or the problems by field."""
    errors: Errors = {}
    deadline: str | None = None
    if values["deadline"]:
        try:
            moment = datetime.fromisoformat(values["deadline"])
        except ValueError:
            errors["deadline"] = [word("alerts_deadline_invalid", lang)]
        else:
            aware = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
            deadline = aware.isoformat()
    raw = {
        "number": values["number"],
        "urgent": values["urgent"],
        "sensitive": values["sensitive"],
        "topics": values["topics"],
        "deadline": deadline,
        "texts": {
            lang_: {
                **{name: text for name, text in texts.items() if name != "actions"},
                "actions": [line.strip() for line in texts["actions"].splitlines() if line.strip()],
            }
            for lang_, texts in values["texts"].items()
        },
        "officials": [
            {k: (v or None) if k == "email" else v for k, v in row.items()} for row in values["officials"]
        ],
    }
    try:
        body = alerts.AlertInput.model_validate(raw)
    except ValidationError as invalid:
        errors.update({k: v for k, v in form_errors(invalid).items() if k not in errors})
        return errors
    return errors or body


def compose(
    request: Request,
    who: Principal,
    values: dict[str, Any],
    errors: Errors,
    draft_id: str | None,
    status: int = 200,
    extra_rows: int = 0,
) -> HTMLResponse:
    rows = len(values["officials"]) + EMPTY_OFFICIAL_ROWS + extra_rows
    return render(
        request,
        "alerts/compose.html",
        who=who,
        status=status,
        values=values,
        errors=errors,
        draft_id=draft_id,
        rows=min(rows, MAX_OFFICIALS + EMPTY_OFFICIAL_ROWS),
        topics=TOPICS,
        languages=LANGUAGES,
    )


async def answered(response: Response) -> tuple[int, Any]:
    """The status and JSON of an operator API function's answer."""
    return response.status_code, json.loads(bytes(response.body))


def problems(payload: Any) -> list[dict[str, Any]]:
    detail = payload.get("detail") if isinstance(payload, dict) else None
    return detail if isinstance(detail, list) else [{"field": "form", "message": str(detail)}]


def translated(errors: Errors, lang: Lang) -> Errors:
    """The API's words for problems the pages have their own words for."""
    taken = word("alerts_number_taken", lang)
    return {
        field: [taken if field == "number" and m == "number already used" else m for m in messages]
        for field, messages in errors.items()
    }


def zone_of(request: Request) -> str:
    return console_of(request).settings.time_zone


# ---- the list ----------------------------------------------------------------------------------


@router.get("/alerts", dependencies=[permit(Permission.dashboard_read)])
async def alert_list(request: Request, who: Caller) -> HTMLResponse:
    _, payload = await answered(await alerts.list_alerts(request, limit=200))
    db = console_of(request).db
    rows = []
    for item in payload["alerts"]:
        row = {**item, "delivered": None, "acted": None}
        if item.get("state") != "draft":
            query = {
                "purpose": "alert",
                "correlation_id": item["alert_id"],
                "state": {"$in": ["sent", "delivered"]},
            }
            row["delivered"] = await DELIVERIES.count(db, query)
            row["acted"] = await ACTION_REPORTS.count(db, {"alert_id": item["alert_id"]})
        rows.append(row)
    return render(request, "alerts/list.html", who=who, alerts=rows, moment=moment)


def moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# ---- compose -------------------------------------------------------------------------------------


@router.get("/alerts/new", dependencies=[permit(Permission.alerts_draft)])
async def new_alert(request: Request, who: Caller) -> HTMLResponse:
    blank = form_of({}, zone_of(request))
    return compose(request, who, blank, {}, None)


@router.post("/alerts/new", dependencies=[CSRF_REQUIRED, permit(Permission.alerts_draft)])
async def create_draft(request: Request, who: Caller) -> Response:
    form = await request.form()
    values = submitted(form)
    if form.get("more") is not None:  # more rows for officials: nothing saved yet
        return compose(request, who, values, {}, None, extra_rows=EMPTY_OFFICIAL_ROWS)
    lang = language_of(request)
    body = alert_input(values, zone_of(request), lang)
    if not isinstance(body, alerts.AlertInput):
        return compose(request, who, values, body, None, status=422)
    status, payload = await answered(await alerts.create_alert(request, who, body, draft=True))
    if status != 201:
        return compose(
            request, who, values, translated(form_errors(problems(payload)), lang), None, status=422
        )
    return RedirectResponse(f"/alerts/{payload['alert_id']}?done=saved", status_code=303)


async def draft_or_404(request: Request, alert_id: str) -> dict[str, Any]:
    draft = await console_of(request).db.alert_drafts.find_one({"_id": alert_id, "state": "draft"})
    if draft is None:
        raise HTTPException(404)
    return dict(draft)


async def still_draft(request: Request, alert_id: str) -> dict[str, Any] | None:
    """The alert's draft, or None once it is published (its page shows it then); 404 if no such alert
    was ever drafted."""
    draft = await console_of(request).db.alert_drafts.find_one({"_id": alert_id})
    if draft is None:
        raise HTTPException(404)
    return dict(draft) if draft.get("state") == "draft" else None


@router.get("/alerts/{alert_id}/edit", dependencies=[permit(Permission.alerts_draft)])
async def edit_draft(request: Request, who: Caller, alert_id: str) -> Response:
    draft = await still_draft(request, alert_id)
    if draft is None:
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)
    return compose(request, who, form_of(draft, zone_of(request)), {}, alert_id)


@router.post("/alerts/{alert_id}/edit", dependencies=[CSRF_REQUIRED, permit(Permission.alerts_draft)])
async def rewrite(request: Request, who: Caller, alert_id: str) -> Response:
    await draft_or_404(request, alert_id)
    form = await request.form()
    values = submitted(form)
    if form.get("more") is not None:
        return compose(request, who, values, {}, alert_id, extra_rows=EMPTY_OFFICIAL_ROWS)
    lang = language_of(request)
    body = alert_input(values, zone_of(request), lang)
    if not isinstance(body, alerts.AlertInput):
        return compose(request, who, values, body, alert_id, status=422)
    status, payload = await answered(await alerts.rewrite_draft(request, who, alert_id, body))
    if status == 409 and payload.get("code") == "published":
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)
    if status != 200:
        errors = translated(form_errors(problems(payload)), lang)
        return compose(request, who, values, errors, alert_id, status=422)
    return RedirectResponse(f"/alerts/{alert_id}?done=saved", status_code=303)


# ---- a draft's steps, and a published alert's page ------------------------------------------------


async def operator_name(request: Request, operator_id: str | None) -> str:
    if not operator_id:
        return ""
    found = await console_of(request).operators.get(operator_id)
    return found.display_name if found is not None else operator_id


async def approval_state(request: Request, draft: dict[str, Any], who: Principal) -> dict[str, Any]:
    """What the pages say about the two-person rule for this draft, and what `who` may do."""
    body = alerts.draft_input(draft)
    needed = alerts.needs_approval(body)
    approval = draft.get("approval") or {}
    current = bool(approval) and approval.get("digest") == alerts.digest_of(body)
    may_publish = allows(who.operator.role, Permission.alerts_publish)
    return {
        "needed": needed,
        "approved": current,
        "by": await operator_name(request, approval.get("by")) if current else "",
        "at": moment(approval.get("at")) if current else None,
        "changed_by": await operator_name(request, draft.get("changed_by")),
        "may_approve": may_publish and needed and not current and draft.get("changed_by") != who.operator.id,
        "refusal": alerts.approval_problem(draft, body, who) if may_publish else None,
        "may_publish": may_publish and alerts.approval_problem(draft, body, who) is None,
    }


def testable_channels() -> list[tuple[str, str]]:
    """(channel, address kind) of the channels a test can go to: by email or to a phone number."""
    return [
        (name, adapter.address_kind)
        for name, adapter in alert_review.alert_channels().items()
        if adapter.address_kind in ("email", "phone")
    ]


async def draft_page(
    request: Request,
    who: Principal,
    draft: dict[str, Any],
    errors: Errors,
    status: int = 200,
    sent: Any = None,
    tested: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "alerts/draft.html",
        who=who,
        status=status,
        draft=draft,
        alert_id=draft["_id"],
        approval=await approval_state(request, draft, who),
        channels=testable_channels(),
        errors=errors,
        sent=sent,
        tested={"channel": "email", "to": "", "language": None, **(tested or {})},
        done=request.query_params.get("done"),
        languages=LANGUAGES,
    )


@router.get("/alerts/{alert_id}", dependencies=[permit(Permission.dashboard_read)])
async def alert_page(request: Request, who: Caller, alert_id: str) -> HTMLResponse:
    draft = await console_of(request).db.alert_drafts.find_one({"_id": alert_id, "state": "draft"})
    if draft is not None:
        return await draft_page(request, who, dict(draft), {}, sent=request.query_params.get("channel"))
    return await published_page(request, who, alert_id, {}, {})


async def published_page(
    request: Request,
    who: Principal,
    alert_id: str,
    errors: Errors,
    values: Mapping[str, Any],
    status: int = 200,
) -> HTMLResponse:
    code, payload = await answered(await alerts.alert_totals(request, alert_id))
    if code == 404:
        raise HTTPException(404)
    alert = payload["alert"]
    lang = language_of(request)
    zone = zone_of(request)
    per_day: dict[str, int] = {}
    async for found in ACTION_MOMENTS.find(console_of(request).db, {"alert_id": alert_id}):
        if found.at is not None:
            day = found.at.astimezone(ZoneInfo(zone)).date().isoformat()
            per_day[day] = per_day.get(day, 0) + 1
    days = sorted(per_day.items())
    texts = alert.get("texts") or {}
    title = (texts.get(lang) or texts.get("en") or {}).get("title", "")
    progress = payload.get("progress") or {}
    return render(
        request,
        "alerts/alert.html",
        who=who,
        status=status,
        alert_id=alert_id,
        alert=alert,
        title=title,
        progress=progress,
        stages=alerts.PROGRESS,
        actions=payload["actions"],
        days=days,
        chart={"days": [d for d, _ in days], "counts": [n for _, n in days]},
        live_words=words_for(
            lang,
            [f"alerts_stage_{s}" for s in alerts.PROGRESS]
            + ["alerts_total", "alerts_version_0", "alerts_channel"],
        ),
        deadline=moment(alert.get("deadline")),
        closed=alert.get("state") == "closed",
        kinds=KINDS,
        errors=errors,
        values=values or {"kind": "update", "deadline": "", "texts": {lang_: {} for lang_ in LANGUAGES}},
        done=request.query_params.get("done"),
        kind_done=request.query_params.get("kind"),
        languages=LANGUAGES,
    )


# ---- preview and send to myself ------------------------------------------------------------------


@router.get("/alerts/{alert_id}/preview", dependencies=[permit(Permission.dashboard_read)])
async def preview_page(request: Request, who: Caller, alert_id: str) -> HTMLResponse:
    data = await alert_review.alert_as_published(request, alert_id)
    if data is None:
        raise HTTPException(404)
    console = console_of(request)
    shown = alert_review.previewed(data, console.settings.public_site_url)
    drafted = await console.db.alert_drafts.find_one({"_id": alert_id, "state": "draft"}, {"_id": 1})
    return render(
        request,
        "alerts/preview.html",
        who=who,
        preview=shown,
        alert_id=alert_id,
        is_draft=drafted is not None,
        languages=LANGUAGES,
    )


@router.post("/alerts/{alert_id}/test-send", dependencies=[CSRF_REQUIRED, permit(Permission.alerts_draft)])
async def send_test(request: Request, who: Caller, alert_id: str) -> Response:
    draft = await draft_or_404(request, alert_id)
    form = await request.form()
    raw = {k: v for k, v in form.items() if k in ("channel", "to", "language") and isinstance(v, str)}
    raw["to"] = raw.get("to", "").strip() or None  # type: ignore[assignment]
    try:
        body = alert_review.SendToMyself.model_validate(raw)
    except ValidationError as invalid:
        return await draft_page(request, who, draft, form_errors(invalid), status=422, tested=raw)
    status, payload = await answered(await alert_review.send_to_myself(request, who, alert_id, body))
    if status != 202:
        errors = form_errors(problems(payload))
        return await draft_page(request, who, draft, errors, status=422, tested=raw)
    return RedirectResponse(f"/alerts/{alert_id}?done=test&channel={body.channel}", status_code=303)


# ---- summary, approval, publishing ---------------------------------------------------------------


@router.get("/alerts/{alert_id}/summary", dependencies=[permit(Permission.dashboard_read)])
async def summary_page(request: Request, who: Caller, alert_id: str) -> Response:
    draft = await still_draft(request, alert_id)
    if draft is None:
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)
    code, counted = await answered(await alert_review.summary(request, alert_id))
    if code != 200:
        raise HTTPException(404)
    refused = request.query_params.get("refused")
    return render(
        request,
        "alerts/summary.html",
        who=who,
        draft=draft,
        alert_id=alert_id,
        counted=counted,
        at=moment(counted["at"]),
        approval=await approval_state(request, dict(draft), who),
        refused=refused if refused in REFUSAL_CODES else None,
        done=request.query_params.get("done"),
    )


REFUSAL_CODES = frozenset(
    {
        "needs-none",
        "own-change",
        "changed-meanwhile",
        "approval-needed",
        "approver-publishes",
        "approver-changed",
    }
)


def refusal_of(payload: Any) -> str:
    code = payload.get("code") if isinstance(payload, dict) else None
    return code if code in REFUSAL_CODES else "changed-meanwhile"


@router.post("/alerts/{alert_id}/approve", dependencies=[CSRF_REQUIRED, permit(Permission.alerts_publish)])
async def approve(request: Request, who: Caller, alert_id: str) -> RedirectResponse:
    await draft_or_404(request, alert_id)
    status, payload = await answered(await alerts.approve_draft(request, who, alert_id))
    if status != 200:
        return RedirectResponse(f"/alerts/{alert_id}/summary?refused={refusal_of(payload)}", status_code=303)
    return RedirectResponse(f"/alerts/{alert_id}/summary?done=approved", status_code=303)


@router.post("/alerts/{alert_id}/publish", dependencies=[CSRF_REQUIRED, permit(Permission.alerts_publish)])
async def publish(request: Request, who: Caller, alert_id: str) -> RedirectResponse:
    status, payload = await answered(await alerts.publish_draft(request, who, alert_id))
    if status == 404:
        raise HTTPException(404)
    if status == 409:
        return RedirectResponse(f"/alerts/{alert_id}/summary?refused={refusal_of(payload)}", status_code=303)
    return RedirectResponse(f"/alerts/{alert_id}?done=published", status_code=303)


# ---- updates, extension, closure -----------------------------------------------------------------


@router.post("/alerts/{alert_id}/updates", dependencies=[CSRF_REQUIRED, permit(Permission.alerts_publish)])
async def change(request: Request, who: Caller, alert_id: str) -> Response:
    form = await request.form()
    lang = language_of(request)
    zone = zone_of(request)

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    values: dict[str, Any] = {
        "kind": text("kind"),
        "deadline": text("deadline").strip(),
        "texts": {
            lang_: {n: text(f"texts.{lang_}.{n}") for n in ("title", "summary")} for lang_ in LANGUAGES
        },
    }
    errors: Errors = {}
    raw: dict[str, Any] = {"kind": values["kind"]}
    if values["deadline"]:
        try:
            parsed = datetime.fromisoformat(values["deadline"])
            raw["deadline"] = (parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))).isoformat()
        except ValueError:
            errors["deadline"] = [word("alerts_deadline_invalid", lang)]
    if any(values["texts"][lang_]["title"].strip() for lang_ in LANGUAGES):
        raw["texts"] = values["texts"]
    if errors:
        return await published_page(request, who, alert_id, errors, values, status=422)
    try:
        body = alerts.AlertChange.model_validate(raw)
    except ValidationError as invalid:
        return await published_page(request, who, alert_id, form_errors(invalid), values, status=422)
    status, payload = await answered(await alerts.change_alert(request, who, alert_id, body))
    if status == 404:
        raise HTTPException(404)
    if status == 409:
        errors = {"kind": [word("alerts_refused_closed", lang)]}
        return await published_page(request, who, alert_id, errors, values, status=409)
    if status != 202:
        return await published_page(
            request, who, alert_id, form_errors(problems(payload)), values, status=422
        )
    return RedirectResponse(f"/alerts/{alert_id}?done=changed&kind={body.kind}", status_code=303)
