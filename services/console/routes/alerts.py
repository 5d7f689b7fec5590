"""Operator routes: Urgent Action alerts, from the first draft to the closure.

    POST /alerts                publish an alert (202; alerts.draft and alerts.publish), or keep
                                it as a draft with `?draft=true` (201; alerts.draft)
    PUT  /alerts/{id}           rewrite a draft (alerts.draft)
    POST /alerts/{id}/approve   a second publisher approves a draft's current content
                                (alerts.publish): needed for an urgent or sensitive alert
    POST /alerts/{id}/publish   publish a draft, safe to repeat (alerts.publish)
    POST /alerts/{id}/updates   an update, a deadline extension or the closure; it goes to the
                                original recipients (alerts.publish)
    GET  /alerts                drafts and alerts, newest first (dashboard.read)
    GET  /alerts/{id}           an alert with delivery and action totals (dashboard.read)

Drafts are the operators' working copies, kept here (`alert_drafts`, the console's own) until they
are published, so an operator can write, read back and rewrite one before anybody sees it; the
number a draft holds is reserved (a unique index). A direct publication reserves its number there
too, with the digest of its content, at request time — not in the dispatcher's `alerts`, written
later — so another alert with that number is refused (409, `number`) even while the dispatcher
is down. With an `Idempotency-Key` (the caller's own; its alert id is derived from it) a repeat
answers as the first request did, and the same key with another request is refused (422). An
identical publication without a key is the same alert too. Whoever repeats it, however many at
once (a double click, a client retry after a lost answer or a 503): one request claims the
hand-over, the others wait for it and publish nothing, so the alert is handed over once
(`handed_over_at`; a 503 frees the claim for the retry). Publishing hands `alert.published.v1`
(its `actor`: the operator) to the dispatcher, which keeps the alert (`alerts`) and fans it out; the totals are
read from the dispatcher's `alerts`, `deliveries`, `action_reports` and `official_actions`
(counts and states, nothing about a member) as read models (services/console/read_models.py). The public page is intake's `/a/<slug>`.

Two-person rule: an urgent alert (sent at once, day or night) or a sensitive one (people at
risk) is published only as a draft a second publisher approved. The approver must differ from
the operator who last changed the draft (its `changed_by`) and from the one who publishes it;
the approval names the digest of the content it saw, so any later change voids it (a rewrite
also removes it). A direct publication (`POST /alerts` without `?draft=true`) of such an alert is
refused (409). The audit trail holds both: `alert.approved` (the approver) and `alert.published`
(the publisher, with `approved_by`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from services.console.auth import (
    Caller,
    Principal,
    body_schema,
    console_of,
    hand_over,
    json_body,
    permit,
    require,
)
from services.console.permissions import Permission
from services.console.read_models import (
    ACTION_REPORTS,
    ALERT_HEADLINES,
    ALERT_NUMBERS,
    ALERTS,
    DELIVERIES,
    OFFICIAL_ACTIONS,
    present,
)
from shared.contracts import utcnow
from shared.contracts.alert import AlertPublished, AlertPublishedData, AlertText, Official, Topic, slug

PROGRESS = ("requested", "waiting", "sending", "sent", "delivered", "failed", "skipped")
STAGES = {
    "waiting": "waiting",
    "sent": "sent",
    "delivered": "delivered",
    "failed_permanent": "failed",
    "dead_lettered": "failed",
    "skipped": "skipped",
}  # pending, retrying, unknown: sending
NUMBER = re.compile(r"^UA \d{1,4}/\d{2}$")
LISTED = (
    "number",
    "state",
    "urgent",
    "sensitive",
    "topics",
    "deadline",
    "texts.en.title",
    "sequence",
    "kind",
)

router = APIRouter(tags=["alerts"])


Filled = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class AlertTextInput(AlertText):
    """An alert's text in one language as an operator writes it: a title and a summary at least."""

    title: Filled = Field(max_length=300)
    summary: Filled = Field(max_length=2000)


class OfficialInput(Official):
    """An official to write to: named, and with an email address that is one, if any."""

    name: Filled = Field(max_length=200)

    @field_validator("email")
    @classmethod
    def an_address(cls, email: str | None) -> str | None:
        if email is None or not email.strip():
            return None
        try:
            return str(validate_email(email.strip(), check_deliverability=False).normalized)
        except EmailNotValidError:
            raise ValueError("not an email address") from None


class AlertInput(BaseModel):
    """An Urgent Action as an operator writes it."""

    number: str = Field(pattern=NUMBER.pattern, examples=["UA 12/26"])
    urgent: bool = Field(default=False, description="Sent at once, even in members' quiet hours.")
    sensitive: bool = Field(default=False, description="Chat messages will carry only the link, no names.")
    topics: list[Topic] = Field(min_length=1)
    texts: dict[Literal["en", "km"], AlertTextInput] = Field(
        description="Both English and Khmer are required."
    )
    officials: list[OfficialInput] = Field(default_factory=list, max_length=50)
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

    @field_validator("texts")
    @classmethod
    def both_languages(
        cls, texts: dict[Literal["en", "km"], AlertText] | None
    ) -> dict[Literal["en", "km"], AlertText] | None:
        """New texts replace both: an update with one language (or `{}`) would reach members with
        nothing to read in the other, and the dispatcher with no text at all."""
        if texts is not None and set(texts) != {"en", "km"}:
            missing = sorted({"en", "km"} - set(texts))
            raise ValueError(f"new texts need both languages; missing: {', '.join(missing)}")
        return texts


NewAlert = Annotated[AlertInput, Depends(json_body(AlertInput))]
Change = Annotated[AlertChange, Depends(json_body(AlertChange))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Recommended. The same key with the same request is the same alert: a repeat "
        "answers as the first request did and publishes nothing again. Keys are the caller's "
        "own and are kept with the alert; a key sent with another request is refused (422).",
        examples=["5f1c2d0e-publish-UA-12-26"],
    ),
]
HOLDING = ("digest", "request", "handed_over_at", "handing_over_until")  # not shown
CLAIM_MARGIN_SECONDS = 30  # a hand-over claimed by a request that died is taken over after this


async def ensure_indexes(db: Any) -> None:
    """A number belongs to one draft (a second draft or a rewrite to a held number is refused even
    when two operators save at once); the list reads the drafts still in draft."""
    await db.alert_drafts.create_index("number", unique=True)
    await db.alert_drafts.create_index([("state", 1), ("updated_at", DESCENDING)])


@router.post(
    "/alerts",
    status_code=202,
    dependencies=[permit(Permission.alerts_draft)],
    openapi_extra=body_schema(AlertInput),
    summary="Publish an Urgent Action alert, or keep it as a draft (`?draft=true`)",
    description="A draft needs `alerts.draft`; publishing at once needs `alerts.publish` too. Safe "
    "to repeat: send an `Idempotency-Key`, and a repeat (a double click, a retry after a lost "
    "answer or a 503) answers as the first did and publishes nothing again.",
    responses={
        201: {"description": "Kept as a draft (or a repeat of that request)"},
        403: {"description": "Publishing needs `alerts.publish`"},
        409: {
            "description": "Its number is taken (field `number`, code `taken`), or urgent or "
            "sensitive (publish it as an approved draft)"
        },
        422: {"description": "Invalid alert, or the `Idempotency-Key` was used with another request"},
        503: {"description": "Not handed over (broker away): nothing was published, retry"},
    },
)
async def create_alert(
    request: Request,
    who: Caller,
    body: NewAlert,
    draft: Annotated[bool, Query(description="Keep it as a draft instead of publishing it.")] = False,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if not draft:
        await require(Permission.alerts_publish)(request, who)
        if needs_approval(body):
            return JSONResponse({"detail": DIRECT_REFUSED}, status_code=409)
    db = console_of(request).db
    asked = request_digest(body, draft) if idempotency_key else None
    alert_id = keyed_alert_id(who, idempotency_key) if idempotency_key else f"al_{uuid.uuid4().hex[:20]}"
    if asked is not None:
        known = await db.alert_drafts.find_one({"_id": alert_id})
        if known is not None:  # a repeat with this key
            return await replay(request, who, known, body, asked, draft)
    if not draft:
        repeated = await same_publication(db, body)
        if repeated is not None:  # a double click, or a retry after a lost answer or a 503
            return await publish_reserved(request, who, repeated, body)
    problem = await invalid(db, body, alert_id)
    if problem is not None and problem.status_code != 409:
        return problem
    try:  # the unique number index decides between two requests at once
        if problem is not None:  # taken: by another alert, or by this request's twin just now
            raise DuplicateKeyError("number taken")
        await db.alert_drafts.insert_one(held(alert_id, body, who, draft, asked))
    except DuplicateKeyError:
        known = await db.alert_drafts.find_one({"_id": alert_id}) if asked is not None else None
        if known is not None:  # the same key's twin got there first
            return await replay(request, who, known, body, asked, draft)
        repeated = None if draft else await same_publication(db, body)
        if repeated is None:
            return number_taken()
        return await publish_reserved(request, who, repeated, body)
    if draft:
        await audit(request, who, "alert.drafted", alert_id, number=body.number)
        return JSONResponse({"alert_id": alert_id, "number": body.number, "state": "draft"}, status_code=201)
    return await publish_reserved(request, who, alert_id, body)


@router.put(
    "/alerts/{alert_id}",
    dependencies=[permit(Permission.alerts_draft)],
    openapi_extra=body_schema(AlertInput),
    summary="Rewrite a draft alert",
    responses={
        404: {"description": "No such draft"},
        409: {"description": "Already published"},
        422: {"description": "Invalid alert, or its number is taken"},
    },
    description="A rewrite voids an approval: an urgent or sensitive draft needs a new one.",
)
async def rewrite_draft(request: Request, who: Caller, alert_id: str, body: NewAlert) -> JSONResponse:
    db = console_of(request).db
    current = await db.alert_drafts.find_one({"_id": alert_id}, {"state": 1})
    if current is None:
        return JSONResponse({"detail": "unknown draft"}, status_code=404)
    if current.get("state") != "draft":
        return already_published()
    problem = await invalid(db, body, alert_id)
    if problem is not None:
        return problem
    answer = await save_draft(db, alert_id, body, 200, who)
    if answer.status_code == 200:
        await audit(request, who, "alert.draft_rewritten", alert_id, number=body.number)
    return answer


@router.post(
    "/alerts/{alert_id}/publish",
    status_code=202,
    dependencies=[permit(Permission.alerts_publish)],
    summary="Publish a draft alert (safe to repeat: a second call answers 200 and sends nothing)",
    responses={
        200: {"description": "Published already"},
        404: {"description": "No such draft"},
        409: {
            "description": "Urgent or sensitive, and not approved by a second publisher for its "
            "current content (or the caller approved it: another publisher must publish it)"
        },
        503: {"description": "Not handed over (broker away): still a draft, retry"},
    },
)
async def publish_draft(request: Request, who: Caller, alert_id: str) -> JSONResponse:
    db = console_of(request).db
    current = await db.alert_drafts.find_one({"_id": alert_id})
    if current is None:
        return JSONResponse({"detail": "unknown draft"}, status_code=404)
    if current.get("state") == "published":  # a repeated request: it was handed over already
        return JSONResponse(
            {"alert_id": alert_id, "number": current["number"], "state": "published"}, status_code=200
        )
    body = draft_input(current)
    refusal = approval_problem(current, body, who)
    if refusal is not None:
        return JSONResponse({"detail": REFUSALS[refusal], "code": refusal}, status_code=409)
    # no longer editable once handed over; two clicks (or publishers) at once: one event, one audit event
    if not await hand_over_once(request, who, alert_id, body, state="published", published_at=utcnow()):
        return JSONResponse(
            {"alert_id": alert_id, "number": body.number, "state": "published"}, status_code=200
        )
    approved = {"approved_by": current["approval"]["by"]} if needs_approval(body) else {}
    await audit(request, who, "alert.published", alert_id, number=body.number, **approved)
    return published_answer(request, alert_id, body)


@router.post(
    "/alerts/{alert_id}/approve",
    dependencies=[permit(Permission.alerts_publish)],
    summary="Approve a draft's current content (a second publisher; urgent or sensitive alerts)",
    description="The approver must differ from the operator who last changed the draft and from "
    "the one who will publish it. The approval holds for this content only: a rewrite voids it. "
    "Approving the same content again answers 200 and changes nothing.",
    responses={
        404: {"description": "No such draft"},
        409: {
            "description": "Published already, needs no approval, or the caller changed it last "
            "(a second person must approve)"
        },
    },
)
async def approve_draft(request: Request, who: Caller, alert_id: str) -> JSONResponse:
    db = console_of(request).db
    current = await db.alert_drafts.find_one({"_id": alert_id})
    if current is None:
        return JSONResponse({"detail": "unknown draft"}, status_code=404)
    if current.get("state") != "draft":
        return already_published()
    body = draft_input(current)
    if not needs_approval(body):
        return JSONResponse(
            {"detail": "only an urgent or sensitive alert needs approval", "code": "needs-none"},
            status_code=409,
        )
    if current.get("changed_by") == who.operator.id:
        return JSONResponse({"detail": OWN_CHANGE, "code": "own-change"}, status_code=409)
    digest = digest_of(body)
    approval = current.get("approval") or {}
    if approval.get("by") == who.operator.id and approval.get("digest") == digest:
        return JSONResponse(approved(alert_id, approval), status_code=200)
    approval = {"by": who.operator.id, "digest": digest, "at": utcnow()}
    recorded = await db.alert_drafts.update_one(  # only the content the approver saw
        {"_id": alert_id, "state": "draft", "updated_at": current.get("updated_at")},
        {"$set": {"approval": approval}},
    )
    if not recorded.modified_count:
        return JSONResponse(
            {"detail": "the draft changed meanwhile: read it again", "code": "changed-meanwhile"},
            status_code=409,
        )
    await audit(request, who, "alert.approved", alert_id, number=body.number, digest=digest)
    return JSONResponse(approved(alert_id, approval), status_code=200)


DIRECT_REFUSED = (
    "an urgent or sensitive alert needs a second publisher's approval: save it as a draft "
    "(?draft=true), have another publisher approve it (POST /alerts/{id}/approve), then publish it"
)
OWN_CHANGE = "you changed this draft last: another publisher must approve it"


def needs_approval(body: AlertInput) -> bool:
    """The two-person rule's scope: sent at once day or night, or about people at risk."""
    return body.urgent or body.sensitive


def draft_input(draft: dict[str, Any]) -> AlertInput:
    return AlertInput.model_validate({k: draft[k] for k in AlertInput.model_fields if k in draft})


def approval_problem(draft: dict[str, Any], body: AlertInput, who: Principal) -> str | None:
    """Why `who` may not publish this draft yet, as a code of `REFUSALS` (None: they may)."""
    if not needs_approval(body):
        return None
    approval = draft.get("approval") or {}
    if not approval or approval.get("digest") != digest_of(body):
        return "approval-needed"
    if approval.get("by") == who.operator.id:
        return "approver-publishes"
    if approval.get("by") == draft.get("changed_by"):
        return "approver-changed"
    return None


REFUSALS = {
    "approval-needed": "an urgent or sensitive alert needs a second publisher's approval of its current content",
    "approver-publishes": "you approved this alert: another publisher must publish it",
    "approver-changed": "the approver changed the draft after approving it: another publisher must approve it",
}


def approved(alert_id: str, approval: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = jsonable_encoder(
        {"alert_id": alert_id, "approved_by": approval["by"], "approved_at": approval["at"], "state": "draft"}
    )
    return answer


@router.post(
    "/alerts/{alert_id}/updates",
    status_code=202,
    dependencies=[permit(Permission.alerts_publish)],
    openapi_extra=body_schema(AlertChange),
    summary="Update, extend or close an alert (it goes to the original recipients)",
    responses={
        404: {"description": "No such published alert"},
        409: {"description": "The alert is closed"},
        422: {"description": "An extension without a later deadline"},
        503: {"description": "Not handed over (broker away): retry"},
    },
)
async def change_alert(request: Request, who: Caller, alert_id: str, body: Change) -> JSONResponse:
    current = await ALERTS.find_one(console_of(request).db, {"_id": alert_id})
    if current is None:
        return JSONResponse({"detail": "unknown alert"}, status_code=404)
    if current.state == "closed":
        return JSONResponse({"detail": "the alert is closed"}, status_code=409)
    problem = extension_problem(body, current.deadline)
    if problem is not None:
        return JSONResponse({"detail": [problem]}, status_code=422)
    fields = {k: v for k, v in present(current).items() if k in AlertPublishedData.model_fields}
    fields.update(kind=body.kind, sequence=current.sequence + 1, published_at=utcnow())
    if body.texts is not None:
        fields["texts"] = {k: v.model_dump() for k, v in body.texts.items()}
    if body.deadline is not None:
        fields["deadline"] = body.deadline
    data = AlertPublishedData.model_validate(fields)
    await hand_over(request, who, AlertPublished(correlation_id=alert_id, data=data))
    await audit(request, who, "alert.changed", alert_id, kind=data.kind, sequence=data.sequence)
    return JSONResponse({"alert_id": alert_id, "sequence": data.sequence, "kind": data.kind}, status_code=202)


@router.get(
    "/alerts",
    dependencies=[permit(Permission.dashboard_read)],
    summary="Drafts and published alerts, newest first",
)
async def list_alerts(request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> JSONResponse:
    db = console_of(request).db
    fields = dict.fromkeys((*LISTED, "updated_at"), 1)
    items: list[dict[str, Any]] = []
    async for doc in db.alert_drafts.find({"state": "draft"}, fields):
        items.append({**doc, "alert_id": doc.pop("_id"), "at": doc.pop("updated_at", None)})
    async for alert in ALERT_HEADLINES.find(db, {}):  # the same row as a draft's, `_id` and `updated_at` too
        row = {"_id": alert.id, **alert.listed()}
        items.append({**row, "alert_id": alert.id, "at": row.get("updated_at")})
    items.sort(key=lambda item: str(item.get("at") or ""), reverse=True)
    return JSONResponse(jsonable_encoder({"alerts": items[:limit]}))


@router.get(
    "/alerts/{alert_id}",
    dependencies=[permit(Permission.dashboard_read)],
    summary="An alert (or draft) with its delivery and action totals",
    description="`progress`: per version (`0` the alert, then its updates) the deliveries in total "
    "and per channel, each `requested` and in one stage: `waiting` (quiet hours, an address to "
    "come), `sending` (queued or retried), `sent`, `delivered`, `failed` (for good or dead-lettered) "
    "or `skipped` (the channel could not serve them; a fallback is another delivery). Tests sent "
    "to operators (`alert_test`) are not counted.",
    responses={404: {"description": "No such alert or draft"}},
)
async def alert_totals(request: Request, alert_id: str) -> JSONResponse:
    db = console_of(request).db
    current = await ALERTS.find_one(db, {"_id": alert_id})
    if current is None:
        # a draft, or one handed over that the dispatcher has not kept yet (nothing sent yet)
        draft = await db.alert_drafts.find_one({"_id": alert_id}, dict.fromkeys(("_id", *HOLDING), 0))
        if draft is None:
            return JSONResponse({"detail": "unknown alert"}, status_code=404)
        empty = {"total": 0, "by_source": {}, "by_official": []}
        draft["needs_approval"] = needs_approval(draft_input(draft))
        if draft.get("state") == "published":
            draft["public_url"] = public_url_of(console_of(request).settings.public_site_url, draft["number"])
        return JSONResponse(
            jsonable_encoder({"alert": draft, "deliveries_by_sequence": {}, "progress": {}, "actions": empty})
        )
    deliveries: dict[str, dict[str, int]] = {}
    progress: dict[str, dict[str, Any]] = {}
    async for delivery in DELIVERIES.find(db, {"purpose": "alert", "correlation_id": alert_id}):
        sequence = (delivery.source_id or "").split("#")[-1]
        per = deliveries.setdefault(sequence, {})
        per[delivery.state] = per.get(delivery.state, 0) + 1
        stage = STAGES.get(delivery.state, "sending")
        version = progress.setdefault(sequence, {"total": dict.fromkeys(PROGRESS, 0), "channels": {}})
        channel = version["channels"].setdefault(delivery.channel, dict.fromkeys(PROGRESS, 0))
        for row in (version["total"], channel):
            row["requested"] += 1
            row[stage] += 1
    actions: dict[str, int] = {}
    async for report in ACTION_REPORTS.find(db, {"alert_id": alert_id}):
        actions[report.source] = actions.get(report.source, 0) + 1
    per_official: dict[int, int] = {}
    async for action in OFFICIAL_ACTIONS.find(db, {"alert_id": alert_id}):
        per_official[action.official] = per_official.get(action.official, 0) + 1
    by_official = [
        {"official": index, "name": official.get("name"), "members": per_official.get(index, 0)}
        for index, official in enumerate(current.officials or [])
    ]
    totals = {"total": sum(actions.values()), "by_source": actions, "by_official": by_official}
    alert = present(current)
    return JSONResponse(
        jsonable_encoder(
            {"alert": alert, "deliveries_by_sequence": deliveries, "progress": progress, "actions": totals}
        )
    )


async def invalid(db: Any, body: AlertInput, alert_id: str | None) -> JSONResponse | None:
    """422 for an alert without both languages; 409 for a number another alert or draft holds."""
    missing = {"en", "km"} - set(body.texts)
    if missing:
        detail = [
            {"field": f"texts.{m}", "code": "required", "message": f"{m} text is required"}
            for m in sorted(missing)
        ]
        return JSONResponse({"detail": detail}, status_code=422)
    published = await ALERT_NUMBERS.find_one(db, {"number": body.number})
    drafted = await db.alert_drafts.find_one({"number": body.number, "_id": {"$ne": alert_id}}, {"_id": 1})
    if (published and published.id != alert_id) or drafted:
        return number_taken()
    return None


def digest_of(body: AlertInput) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


async def same_publication(db: Any, body: AlertInput) -> str | None:
    """The alert an identical direct publication already reserved this number for, if any."""
    held = await db.alert_drafts.find_one({"number": body.number}, {"state": 1, "digest": 1})
    if held is not None and held.get("state") == "published" and held.get("digest") == digest_of(body):
        return str(held["_id"])
    return None


def request_digest(body: AlertInput, draft: bool) -> str:
    """What an Idempotency-Key stands for: this alert, kept as a draft or published at once."""
    return hashlib.sha256(f"{draft}\x1f{body.model_dump_json()}".encode()).hexdigest()


def keyed_alert_id(who: Principal, key: str) -> str:
    """The alert id a caller's Idempotency-Key names (another operator's same key names another)."""
    return "al_" + hashlib.sha256(f"{who.operator.id}\x1f{key}".encode()).hexdigest()[:20]


def held(alert_id: str, body: AlertInput, who: Principal, draft: bool, asked: str | None) -> dict[str, Any]:
    """The document that holds the number: a draft (`who`'s change), or a direct publication with
    the digest of its content (an identical request is the same alert); with the request it
    answers, when it came with an Idempotency-Key."""
    now = utcnow()
    document: dict[str, Any] = {
        "_id": alert_id,
        **body.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
    }
    if draft:
        document.update(state="draft", changed_by=who.operator.id)
    else:
        document.update(state="published", digest=digest_of(body), published_at=now)
    if asked is not None:
        document["request"] = asked
    return document


async def replay(
    request: Request, who: Principal, known: dict[str, Any], body: AlertInput, asked: str | None, draft: bool
) -> JSONResponse:
    """The answer to a request repeated with its Idempotency-Key: the first one's, and nothing
    published again (a publication the broker did not take yet is handed over now)."""
    if known.get("request") != asked:
        return key_reused()
    if draft:
        answer = {"alert_id": known["_id"], "number": known["number"], "state": known.get("state")}
        return JSONResponse(answer, status_code=201)
    return await publish_reserved(request, who, str(known["_id"]), body)


async def publish_reserved(request: Request, who: Principal, alert_id: str, body: AlertInput) -> JSONResponse:
    """Publish a reserved direct publication once: only the call that hands it over is audited;
    a repeat answers the same and publishes nothing."""
    if await hand_over_once(request, who, alert_id, body):
        await audit(request, who, "alert.published", alert_id, number=body.number)
    return published_answer(request, alert_id, body)


async def hand_over_once(
    request: Request, who: Principal, alert_id: str, body: AlertInput, **mark: Any
) -> bool:
    """Hand the alert over unless it was: True when this call did (and wrote `mark` with it),
    False when an earlier or concurrent call did. The call that claims the hand-over publishes;
    one that finds it claimed waits for its outcome (a 503 frees the claim, and then it tries
    itself; a claim whose request died expires). Raises 503 like `hand_over`."""
    console = console_of(request)
    drafts = console.db.alert_drafts
    lease = timedelta(seconds=console.settings.submit_timeout_seconds + CLAIM_MARGIN_SECONDS)
    while True:
        now = utcnow()
        claim = await drafts.update_one(
            {
                "_id": alert_id,
                "handed_over_at": None,
                "$or": [{"handing_over_until": None}, {"handing_over_until": {"$lt": now}}],
            },
            {"$set": {"handing_over_until": now + lease}},
        )
        if claim.modified_count:
            break
        current = await drafts.find_one({"_id": alert_id}, {"handed_over_at": 1})
        if current is None:
            raise HTTPException(404, "unknown alert")
        if current.get("handed_over_at") is not None:
            return False
        await asyncio.sleep(0.05)
    try:
        await publish(request, who, alert_id, body)
    except BaseException:  # not handed over (503, or the request went away): free the claim for a retry
        await drafts.update_one({"_id": alert_id}, {"$unset": {"handing_over_until": ""}})
        raise
    await drafts.update_one(
        {"_id": alert_id},
        {"$set": {"handed_over_at": utcnow(), **mark}, "$unset": {"handing_over_until": ""}},
    )
    return True


async def save_draft(db: Any, alert_id: str, body: AlertInput, status: int, who: Principal) -> JSONResponse:
    """Write the draft as `who`'s change: it voids any approval (a second person approves what
    they read, and only that)."""
    now = utcnow()
    content = {
        **body.model_dump(mode="json"),
        "changed_by": who.operator.id,
        "updated_at": now,
    }
    try:
        await db.alert_drafts.update_one(
            {"_id": alert_id, "state": "draft"},
            {
                "$set": content,
                "$unset": {"approval": ""},
                "$setOnInsert": {"state": "draft", "created_at": now},
            },
            upsert=True,
        )
    except DuplicateKeyError:  # published meanwhile (no draft of this id), or its number taken meanwhile
        current = await db.alert_drafts.find_one({"_id": alert_id}, {"state": 1})
        if current is not None and current.get("state") != "draft":
            return already_published()
        return number_taken()
    return JSONResponse({"alert_id": alert_id, "number": body.number, "state": "draft"}, status_code=status)


async def publish(request: Request, who: Principal, alert_id: str, body: AlertInput) -> None:
    """Hand the alert over as `who`'s (503 when the broker did not take it: nothing was sent)."""
    public_url = public_url_of(console_of(request).settings.public_site_url, body.number)
    data = AlertPublishedData(
        alert_id=alert_id, public_url=public_url, published_at=utcnow(), **body.model_dump()
    )
    # one id per alert, so that even a hand-over taken over after a lost confirm is the same event
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"samleng:alert:{alert_id}#0")
    await hand_over(request, who, AlertPublished(event_id=event_id, correlation_id=alert_id, data=data))


def published_answer(request: Request, alert_id: str, body: AlertInput) -> JSONResponse:
    public_url = public_url_of(console_of(request).settings.public_site_url, body.number)
    return JSONResponse(
        {"alert_id": alert_id, "number": body.number, "public_url": public_url, "state": "published"},
        status_code=202,
    )


def public_url_of(site: str, number: str) -> str:
    """The alert's page on the public site (intake's `/a/<slug>`)."""
    return f"{site.rstrip('/')}/a/{slug(number)}"


async def audit(request: Request, who: Principal, action: str, alert_id: str, **detail: Any) -> None:
    await console_of(request).audit.record(who.event(action, "alert", alert_id, **detail))


def extension_problem(body: AlertChange, old: datetime | str | None) -> dict[str, str] | None:
    """An extension must move the deadline (`old`, as stored) later; other kinds may change it
    freely."""
    if body.kind != "extension":
        return None
    if body.deadline is None:
        return {"field": "deadline", "code": "required", "message": "an extension needs the new deadline"}
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


def number_taken() -> JSONResponse:
    return JSONResponse(
        {"detail": [{"field": "number", "code": "taken", "message": "number already used"}]}, status_code=409
    )


def key_reused() -> JSONResponse:
    problem = {
        "field": "Idempotency-Key",
        "code": "reused",
        "message": "this Idempotency-Key was sent with another request: use a new key for a new one",
    }
    return JSONResponse({"detail": [problem]}, status_code=422)


def already_published() -> JSONResponse:
    return JSONResponse({"detail": "the alert is already published", "code": "published"}, status_code=409)
