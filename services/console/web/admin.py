"""The admin pages: operators and their roles, partner keys, the audit trail.

    GET  /admin/operators                    every operator; a new one     operators.manage
    POST /admin/operators                    create (password, key shown once)
    POST /admin/operators/{id}               change role, disable (confirmed)/enable, unlock
    GET  /admin/operators/{id}/disable       confirm disabling them
    GET  /admin/operators/{id}/reset         confirm a new password and key
    POST /admin/operators/{id}/reset         new password and key (shown once, confirmed); their sign-ins end
    GET  /admin/partner-keys                 every key; a new one          keys.manage
    POST /admin/partner-keys                 create (its secret shown once)
    GET  /admin/partner-keys/{id}/revoke     confirm revoking it
    POST /admin/partner-keys/{id}/revoke     revoke (confirmed)
    GET  /admin/audit                        the trail, newest first, filtered, by pages   audit.read

What the forms do is done by the operator API's functions (services/console/api.py): the same
checks (the last active admin stays, no one resets their own credentials) and audit events.
New secrets reach their page once (`ShownOnce`, see web/account.py). Disabling an operator,
resetting their credentials and revoking a partner key are confirmed on a page of their own first
(no JavaScript needed): a POST without `confirm=true` is sent to that page and changes nothing.

The audit trail is paged with a cursor: the next page holds the events after the last one shown
in the trail's order (at, id), so events of the same millisecond never fall between two pages.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from services.console.api import (
    NewOperatorBody,
    NewPartnerKeyBody,
    OperatorChange,
    Refused,
    change_operator,
    create_key,
    create_operator,
    partner_keys,
    reset_credentials,
    revoke_key,
)
from services.console.audit import AUDIT_EVENTS, UnknownCursor
from services.console.auth import Caller, Principal, console_of, permit
from services.console.operators import Operator
from services.console.permissions import Permission, Role
from services.console.web.account import (
    NO_STORE,
    Errors,
    filled,
    keep_shown,
    parsed,
    qr_code,
    refusal_errors,
    take_shown,
)
from services.console.web.rendering import language_of, render
from services.console.web.words import word
from shared.contracts import utcnow
from shared.partner_keys import normal_origin
from shared.web_security import CSRF_REQUIRED

router = APIRouter()

AUDIT_PAGE = 50
OPERATOR_REFUSALS = {
    "404": "admin_error_gone",
    "409": "admin_error_last_admin",
    "422": "account_error_invalid",
}


def state_of(operator: Operator) -> tuple[str, datetime | None]:
    """active, disabled, or locked (until when)."""
    if operator.disabled:
        return "disabled", None
    if operator.locked_until is not None and operator.locked_until > utcnow():
        return "locked", operator.locked_until
    return "active", None


# ---- operators --------------------------------------------------------------------------------


async def operators_page(
    request: Request,
    who: Principal,
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    shown: dict[str, Any] | None = None,
    updated: str | None = None,
) -> Response:
    operators = await console_of(request).operators.all()
    names = {o.id: o.display_name for o in operators}
    lang = language_of(request)
    return render(
        request,
        "admin/operators.html",
        who=who,
        status=status,
        headers=NO_STORE if shown else None,
        operators=[(o, *state_of(o)) for o in operators],
        roles=[(role.value, word(f"role_{role.value}", lang)) for role in Role],
        errors=errors or {},
        values={"role": Role.editor.value, **(values or {})},
        shown=shown,
        qr=qr_code(shown["otpauth_uri"]) if shown else None,
        updated=names.get(updated or ""),
    )


@router.get("/admin/operators", dependencies=[permit(Permission.operators_manage)])
async def operators(
    request: Request, who: Caller, shown: str | None = None, updated: str | None = None
) -> Response:
    kept = await take_shown(request, who, shown, "operator")
    return await operators_page(request, who, shown=kept, updated=updated)


@router.post("/admin/operators", dependencies=[CSRF_REQUIRED, permit(Permission.operators_manage)])
async def create_operator_form(request: Request, who: Caller) -> Response:
    form, lang = await request.form(), language_of(request)
    values = {k: v.strip() for k, v in filled(form, "email", "display_name", "role").items()}
    body, errors = parsed(NewOperatorBody, values, lang)
    if body is not None:
        try:
            made = await create_operator(console_of(request), who, body)
        except Refused as refused:
            errors = refusal_errors(refused, lang, OPERATOR_REFUSALS)
        else:
            shown = {
                "kind": "operator",
                "name": made.operator.display_name,
                "password": made.password,
                "otpauth_uri": made.otpauth_uri,
            }
            shown_id = await keep_shown(request, who, shown)
            return RedirectResponse(f"/admin/operators?shown={shown_id}#shown", status_code=303)
    return await operators_page(request, who, errors=errors, values=values, status=422)


CONFIRMED = ("disable", "reset")
"""The operator actions confirmed on their own page first."""


@router.get("/admin/operators/{operator_id}/{action}", dependencies=[permit(Permission.operators_manage)])
async def confirm_operator_action(request: Request, who: Caller, operator_id: str, action: str) -> Response:
    operator = await console_of(request).operators.get(operator_id[:40])
    if action not in CONFIRMED or operator is None:
        raise HTTPException(404, "no such operator action")
    if operator.id == who.operator.id or (action == "disable" and operator.disabled):
        return RedirectResponse("/admin/operators", status_code=303)
    return render(request, "admin/confirm.html", who=who, operator=operator, action=action)


@router.post(
    "/admin/operators/{operator_id}", dependencies=[CSRF_REQUIRED, permit(Permission.operators_manage)]
)
async def change_operator_form(request: Request, who: Caller, operator_id: str) -> Response:
    form, lang = await request.form(), language_of(request)
    if form.get("disabled") == "true" and form.get("confirm") != "true":
        return RedirectResponse(f"/admin/operators/{quote(operator_id[:40], safe='')}/disable", 303)
    asked = {k: v for k, v in filled(form, "role", "disabled", "unlock").items() if v}
    body, errors = parsed(OperatorChange, asked, lang)
    if body is not None:
        try:
            await change_operator(console_of(request), who, operator_id[:40], body)
        except Refused as refused:
            errors = refusal_errors(refused, lang, OPERATOR_REFUSALS)
            return await operators_page(request, who, errors=errors, status=refused.status)
        return RedirectResponse(f"/admin/operators?updated={operator_id[:40]}", status_code=303)
    problems = [message for messages in errors.values() for message in messages]
    return await operators_page(request, who, errors={"form": problems}, status=422)


@router.post(
    "/admin/operators/{operator_id}/reset", dependencies=[CSRF_REQUIRED, permit(Permission.operators_manage)]
)
async def reset_operator_form(request: Request, who: Caller, operator_id: str) -> Response:
    lang = language_of(request)
    if (await request.form()).get("confirm") != "true":
        return RedirectResponse(f"/admin/operators/{quote(operator_id[:40], safe='')}/reset", 303)
    try:
        reset = await reset_credentials(console_of(request), who, operator_id[:40])
    except Refused as refused:
        words = {**OPERATOR_REFUSALS, "409": "admin_error_self_reset"}
        return await operators_page(
            request, who, errors=refusal_errors(refused, lang, words), status=refused.status
        )
    shown = {
        "kind": "operator",
        "name": reset.operator.display_name,
        "password": reset.password,
        "otpauth_uri": reset.otpauth_uri,
        "revoked": reset.revoked,
    }
    shown_id = await keep_shown(request, who, shown)
    return RedirectResponse(f"/admin/operators?shown={shown_id}#shown", status_code=303)


# ---- partner keys -----------------------------------------------------------------------------


async def keys_page(
    request: Request,
    who: Principal,
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    shown: dict[str, Any] | None = None,
    done: str | None = None,
) -> Response:
    return render(
        request,
        "admin/partner_keys.html",
        who=who,
        status=status,
        headers=NO_STORE if shown else None,
        keys=await partner_keys(console_of(request)),
        errors=errors or {},
        values={"rate_per_minute": "60", **(values or {})},
        shown=shown,
        done=done if done == "revoked" else None,
    )


@router.get("/admin/partner-keys", dependencies=[permit(Permission.keys_manage)])
async def keys(request: Request, who: Caller, shown: str | None = None, done: str | None = None) -> Response:
    kept = await take_shown(request, who, shown, "partner_key")
    return await keys_page(request, who, shown=kept, done=done)


def bad_origin(origins: list[str]) -> str | None:
    """The first of `origins` that is not a browser origin (the partner keys' own rule)."""
    for origin in origins:
        try:
            normal_origin(origin)
        except ValueError:
            return origin
    return None


@router.post("/admin/partner-keys", dependencies=[CSRF_REQUIRED, permit(Permission.keys_manage)])
async def create_key_form(request: Request, who: Caller) -> Response:
    form, lang = await request.form(), language_of(request)
    values = filled(form, "name", "rate_per_minute", "origins")
    origins = [line.strip() for line in values["origins"].splitlines() if line.strip()]
    fields = {"name": values["name"].strip(), "rate_per_minute": values["rate_per_minute"].strip()}
    body, errors = parsed(NewPartnerKeyBody, {**fields, "origins": origins}, lang)
    if body is not None:
        try:
            made = await create_key(console_of(request), who, body)
        except Refused as refused:
            if refused.field != "origins":
                raise
            errors = {"origins": [word("admin_error_origin", lang, origin=bad_origin(origins) or "")]}
        else:
            shown = {"kind": "partner_key", "name": made.key.name, "secret": made.secret}
            shown_id = await keep_shown(request, who, shown)
            return RedirectResponse(f"/admin/partner-keys?shown={shown_id}#shown", status_code=303)
    errors = {k.partition(".")[0]: v for k, v in errors.items()}  # origins.3 -> origins
    return await keys_page(request, who, errors=errors, values=values, status=422)


@router.get("/admin/partner-keys/{key_id}/revoke", dependencies=[permit(Permission.keys_manage)])
async def confirm_revoke_key(request: Request, who: Caller, key_id: str) -> Response:
    """The confirm step of revoking a partner key (no JavaScript needed)."""
    keys = await partner_keys(console_of(request))
    key = next((k for k in keys if k.key_id == key_id[:40] and k.revoked_at is None), None)
    if key is None:  # revoked already, or no such key: the list shows which
        return RedirectResponse("/admin/partner-keys", status_code=303)
    return render(request, "admin/confirm_key.html", who=who, key=key)


@router.post(
    "/admin/partner-keys/{key_id}/revoke", dependencies=[CSRF_REQUIRED, permit(Permission.keys_manage)]
)
async def revoke_key_form(request: Request, who: Caller, key_id: str) -> Response:
    if (await request.form()).get("confirm") != "true":  # not confirmed: the page that asks
        return RedirectResponse(f"/admin/partner-keys/{quote(key_id[:40], safe='')}/revoke", 303)
    with contextlib.suppress(Refused):  # revoked already (a second click): the list shows it so
        await revoke_key(console_of(request), who, key_id)
    return RedirectResponse("/admin/partner-keys?done=revoked", status_code=303)


# ---- the audit trail --------------------------------------------------------------------------


class AuditFilter(BaseModel):
    """The audit page's filters: days (in the console's time zone), both included."""

    operator: str | None = Field(default=None, max_length=100)
    action: str | None = Field(default=None, max_length=100)
    since: date | None = None
    until: date | None = None
    before: str | None = Field(
        default=None, max_length=100, description="Paging: the id of the last event shown."
    )

    def window(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        start = datetime.combine(self.since, time(0), zone) if self.since else None
        end = datetime.combine(self.until + timedelta(days=1), time(0), zone) if self.until else None
        return start, end


@router.get("/admin/audit", dependencies=[permit(Permission.audit_read)])
async def audit(
    request: Request,
    who: Caller,
    operator: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    console, lang = console_of(request), language_of(request)
    values = {"operator": operator, "action": action, "since": since, "until": until}
    asked = {k: v.strip() for k, v in {**values, "before": before}.items() if v.strip()}
    chosen, errors = parsed(AuditFilter, asked, lang)
    if chosen is not None and chosen.since and chosen.until and chosen.until < chosen.since:
        chosen, errors = None, {"until": [word("admin_error_dates", lang)]}
    events = []
    older = None
    if chosen is not None:
        start, end = chosen.window(ZoneInfo(console.settings.time_zone))
        try:
            found = await console.audit.find(
                chosen.operator, chosen.action, start, end, AUDIT_PAGE + 1, chosen.before
            )
        except UnknownCursor:
            found, errors = [], {"before": [word("admin_error_cursor", lang)]}
        events = found[:AUDIT_PAGE]
        if len(found) > AUDIT_PAGE:
            older = urlencode({**{k: v for k, v in values.items() if v}, "before": events[-1].id})
    everyone = await console.operators.all()
    actions = sorted(await console.db[AUDIT_EVENTS].distinct("action"))
    return render(
        request,
        "admin/audit.html",
        who=who,
        status=200 if chosen is not None and not errors else 422,
        events=events,
        names={o.id: o.display_name for o in everyone},
        operator_options=[("", word("admin_audit_any", lang))]
        + [(o.id, f"{o.display_name} ({o.email})") for o in everyone],
        action_options=[("", word("admin_audit_any", lang))] + [(a, a) for a in actions],
        values=values,
        errors=errors,
        older=older,
        paged=bool(before),
        newest=urlencode({k: v for k, v in values.items() if v}),
    )
