"""Dead letters on the web: every dead-letter queue with its count, one queue's letters (reason,
attempts, type, when it failed; never what a letter carries), replay one, replay all after a
confirm step, drop one or all after a confirm step.

    GET  /dead-letters                          the queues                       deliveries.read
    GET  /dead-letters/{queue}                  its letters                      deliveries.read
    GET  /dead-letters/{queue}/confirm?action=  replay|drop all: how many, where dead_letters.manage
         (&message_id=: drop that one letter)
    POST /dead-letters/{queue}/replay           `message_id` or `all`            dead_letters.manage
    POST /dead-letters/{queue}/drop             `message_id` or `all`, and `confirm=true`
                                                (without: sent to its confirm page, nothing done)

Everything is done by the operator API's functions (services/console/routes/dead_letters.py):
the same known queues, the same audit events. A POST answers 303 to the queue's page, which says
what was done (`done`, `count`) or that the letter was gone already (`gone`).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.console.auth import Caller, console_of, permit
from services.console.permissions import Permission
from services.console.routes.dead_letters import (
    BrokerAway,
    DeadLetterAction,
    act,
    dead_letter_queue,
    letters_of,
    queue_counts,
    unavailable,
)
from services.console.web.channels import channel_names
from services.console.web.rendering import render
from shared.web_security import CSRF_REQUIRED

router = APIRouter()

ACTIONS = ("replay", "drop")


def page_of(queue: str, **outcome: str | int) -> str:
    query = f"?{urlencode(outcome)}" if outcome else ""
    return f"/dead-letters/{quote(queue, safe='')}{query}"


@router.get("/dead-letters", dependencies=[permit(Permission.deliveries_read)])
async def queues(request: Request, who: Caller) -> HTMLResponse:
    try:
        found = await queue_counts(console_of(request).settings)
    except BrokerAway:
        raise unavailable() from None
    return render(
        request, "dead_letters/queues.html", who=who, queues=found, channel_name=channel_names(request)
    )


@router.get("/dead-letters/{queue}", dependencies=[permit(Permission.deliveries_read)])
async def letters(request: Request, who: Caller, queue: str) -> HTMLResponse:
    try:
        found = await letters_of(console_of(request).settings, queue[:200])
    except BrokerAway:
        raise unavailable() from None
    done = request.query_params.get("done")
    count = request.query_params.get("count", "")
    return render(
        request,
        "dead_letters/letters.html",
        who=who,
        found=found,
        done=done if done in ("replayed", "dropped") else None,
        done_count=int(count) if count.isdigit() else 0,
        gone=request.query_params.get("gone") == "1",
    )


@router.get("/dead-letters/{queue}/confirm", dependencies=[permit(Permission.dead_letters_manage)])
async def confirm(request: Request, who: Caller, queue: str) -> Response:
    action = request.query_params.get("action")
    if action not in ACTIONS:
        raise HTTPException(404)
    try:
        found = await letters_of(console_of(request).settings, queue[:200])
    except BrokerAway:
        raise unavailable() from None
    message_id = request.query_params.get("message_id", "")[:200] or None
    letter = None
    if message_id is not None:
        if action != "drop":  # one letter is replayed at once: it can be replayed again
            raise HTTPException(404)
        letter = next((one for one in found.letters if one.message_id == message_id), None)
        if letter is None and found.count <= len(found.letters):  # dropped or replayed already
            return RedirectResponse(page_of(found.queue, gone=1), status_code=303)
    return render(
        request,
        "dead_letters/confirm.html",
        who=who,
        found=found,
        action=action,
        message_id=message_id,
        letter=letter,
    )


async def _act(request: Request, who: Caller, queue: str, drop: bool) -> RedirectResponse:
    queue = queue[:200]
    await dead_letter_queue(console_of(request).settings, queue)  # 404 page for a name not ours
    form = await request.form()
    message_id = form.get("message_id")
    try:
        action = DeadLetterAction(
            message_id=message_id if isinstance(message_id, str) and message_id else None,
            all=form.get("all") == "true",
        )
    except ValidationError:  # no field to correct: the buttons send one or the other
        raise HTTPException(404) from None
    if drop and form.get("confirm") != "true":  # not confirmed: the page that asks
        asked = {"action": "drop"} if action.all else {"action": "drop", "message_id": action.message_id}
        return RedirectResponse(f"{page_of(queue)}/confirm?{urlencode(asked)}", status_code=303)
    try:
        outcome = await act(request, who, queue, action, drop=drop)
    except BrokerAway:
        raise unavailable() from None
    except HTTPException as refused:
        if refused.status_code == 404:  # replayed or dropped already (a second click, a colleague)
            return RedirectResponse(page_of(queue, gone=1), status_code=303)
        raise
    return RedirectResponse(page_of(queue, done=outcome.action, count=outcome.count), status_code=303)


@router.post(
    "/dead-letters/{queue}/replay", dependencies=[CSRF_REQUIRED, permit(Permission.dead_letters_manage)]
)
async def replay(request: Request, who: Caller, queue: str) -> RedirectResponse:
    return await _act(request, who, queue, drop=False)


@router.post(
    "/dead-letters/{queue}/drop", dependencies=[CSRF_REQUIRED, permit(Permission.dead_letters_manage)]
)
async def drop(request: Request, who: Caller, queue: str) -> RedirectResponse:
    return await _act(request, who, queue, drop=True)
