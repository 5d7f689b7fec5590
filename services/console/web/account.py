"""My account: who I am and what my role may do, my password, my second factor, my API tokens.

    GET  /account                        the page (`?shown=` shows a new secret, once)
    POST /account/password               change my password; my other sign-ins end
    POST /account/totp                   a new authenticator key (shown once), pending
    POST /account/totp/confirm           a code of it makes it mine; the old one stops working
    POST /account/tokens                 a new API token (shown once)
    GET  /account/tokens/{id}/revoke     confirm revoking one of mine
    POST /account/tokens/{id}/revoke     revoke it (`confirm=true`; without: sent to the confirm page)

Every signed-in operator has this page (no permission beyond being signed in). What the forms
do is done by the operator API's functions (services/console/api.py: the same checks and audit
events); the forms are turned into the API's input models, whose problems come back on their
fields in the page's language. A new secret goes from the form to the page through `ShownOnce`
(Post/Redirect/Get): a reload does not show it again, nor make another one. WebAuthn is not
offered (yet): the second factor is TOTP.

The field-error helpers here (`input_errors`, `refusal_errors`) serve the admin pages too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from services.console.api import (
    NewTokenBody,
    PasswordChange,
    Refused,
    TotpConfirm,
    TotpStart,
    change_password,
    confirm_totp,
    create_token,
    revoke_token,
    start_totp,
)
from services.console.auth import Caller, Principal, console_of
from services.console.credentials import ShownOnce
from services.console.operators import MIN_PASSWORD_LENGTH
from services.console.permissions import ROLE_PERMISSIONS
from services.console.web.rendering import language_of, render
from services.console.web.words import word
from shared.contracts import utcnow
from shared.contracts.languages import Lang
from shared.web_security import CSRF_REQUIRED

router = APIRouter()

Errors = dict[str, list[str]]
Model = TypeVar("Model", bound=BaseModel)
NO_STORE = {"Cache-Control": "no-store"}
DONE = ("password", "totp", "token_revoked", "token_gone")
REFUSALS = {
    "wrong": "account_error_wrong_password",
    "locked": "account_error_locked",
    "is_email": "account_error_is_email",
    "too_short": "account_error_too_short",
    "unchanged": "account_error_unchanged",
    "taken": "admin_error_taken",
}
"""A refusal's code -> its words (`code` refusals: account_error_code, see `refusal_errors`)."""


# ---- form -> the API's input, and its problems -> words ---------------------------------------


def filled(form: FormData, *names: str) -> dict[str, str]:
    """The named text fields of a form, as sent (an absent one is empty)."""
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    return values


def message(problem: Mapping[str, Any], lang: Lang) -> str:
    """A pydantic problem (its type and context) in the page's words."""
    kind, context = str(problem["type"]), problem.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return word("required", lang)
    if kind == "string_too_short":
        return word("account_error_too_short", lang, n=context["min_length"])
    if kind == "string_too_long":
        return word("account_error_too_long", lang, n=context["max_length"])
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return word("account_error_number", lang)
    if kind == "greater_than_equal":
        return word("account_error_at_least", lang, n=context["ge"])
    if kind == "less_than_equal":
        return word("account_error_at_most", lang, n=context["le"])
    if kind in ("enum", "literal_error"):
        return word("account_error_choice", lang)
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return word("admin_error_date", lang)
    if kind == "string_pattern_mismatch":
        return word("admin_error_email", lang)
    return word("account_error_invalid", lang)


def input_errors(invalid: ValidationError, lang: Lang) -> Errors:
    """A form's input model's problems by field, in the page's language."""
    errors: Errors = {}
    for problem in invalid.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in problem["loc"]) or "form"
        errors.setdefault(field, []).append(message(problem, lang))
    return errors


def refusal_errors(refused: Refused, lang: Lang, words: Mapping[str, str] | None = None) -> Errors:
    """A refused action as the field error (or the form's error) it is, in the page's language;
    `words` names what refusals without a field say (by status)."""
    if refused.field is None:
        key = (words or {}).get(str(refused.status), "account_error_invalid")
        return {"form": [word(key, lang)]}
    if refused.field == "code":
        return {"code": [word("account_error_code", lang)]}
    key = REFUSALS.get(refused.code, "account_error_invalid")
    return {refused.field: [word(key, lang, n=MIN_PASSWORD_LENGTH)]}


def parsed(model: type[Model], values: Mapping[str, Any], lang: Lang) -> tuple[Model | None, Errors]:
    """The form's values as the API's input model, or the problems by field."""
    try:
        return model.model_validate(values), {}
    except ValidationError as invalid:
        return None, input_errors(invalid, lang)


def qr_code(uri: str) -> str:
    """An otpauth URI as a QR code image (SVG, as a `data:` URI an <img> can show)."""
    code = segno.make(uri, error="m", boost_error=False)
    data_uri: str = code.svg_data_uri(scale=4, border=2, dark="#000", light="#fff")
    return data_uri


def holder(who: Principal) -> str:
    """What a shown-once secret is kept for: the session (or API token) in use."""
    held = who.credential.session_id or who.credential.token_id
    assert held is not None
    return held


async def keep_shown(request: Request, who: Principal, shown: dict[str, Any]) -> str:
    return await ShownOnce(console_of(request).db, console_of(request).vault).keep(
        who.operator.id, holder(who), shown
    )


async def take_shown(
    request: Request, who: Principal, shown_id: str | None, *kinds: str
) -> dict[str, Any] | None:
    """What was kept for this page (one of `kinds`) as `shown_id`, once."""
    if not shown_id:
        return None
    shown = await ShownOnce(console_of(request).db, console_of(request).vault).take(holder(who), shown_id)
    return shown if shown is not None and shown.get("kind") in kinds else None


# ---- the page ---------------------------------------------------------------------------------


async def account_page(
    request: Request,
    who: Principal,
    *,
    errors: Errors | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
    shown: dict[str, Any] | None = None,
    done: str | None = None,
    ended: int | None = None,
) -> Response:
    operator = who.operator
    pending = operator.totp_pending_until if operator.totp_pending_secret else None
    return render(
        request,
        "account/account.html",
        who=who,
        status=status,
        headers=NO_STORE if shown else None,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[operator.role]),
        tokens=await console_of(request).credentials.tokens_of(operator.id),
        pending=pending if pending is not None and pending > utcnow() else None,
        errors=errors or {},
        values={"expires_in_days": "90", **(values or {})},
        shown=shown,
        qr=qr_code(shown["otpauth_uri"]) if shown and "otpauth_uri" in shown else None,
        done=done if done in DONE else None,
        ended=ended,
        min_length=MIN_PASSWORD_LENGTH,
    )


@router.get("/account")
async def account(
    request: Request, who: Caller, shown: str | None = None, done: str | None = None, ended: int | None = None
) -> Response:
    kept = await take_shown(request, who, shown, "token", "totp")
    return await account_page(request, who, shown=kept, done=done, ended=ended)


@router.post("/account/password", dependencies=[CSRF_REQUIRED])
async def password_form(request: Request, who: Caller) -> Response:
    form, lang = await request.form(), language_of(request)
    values = filled(form, "current_password", "new_password", "repeat_password")
    body, errors = parsed(PasswordChange, values, lang)
    if body is not None and values["repeat_password"] != body.new_password:
        body, errors = None, {"repeat_password": [word("account_error_mismatch", lang)]}
    if body is not None:
        try:
            changed = await change_password(console_of(request), who, body)
        except Refused as refused:
            errors = refusal_errors(refused, lang)
        else:
            return RedirectResponse(f"/account?done=password&ended={changed.sessions_ended}", status_code=303)
    return await account_page(request, who, errors=errors, status=422)  # passwords are never sent back


@router.post("/account/totp", dependencies=[CSRF_REQUIRED])
async def totp_start_form(request: Request, who: Caller) -> Response:
    form, lang = await request.form(), language_of(request)
    password = filled(form, "totp_password")["totp_password"]  # its own field name on the page
    body, errors = parsed(TotpStart, {"current_password": password}, lang)
    if body is not None:
        try:
            started = await start_totp(console_of(request), who, body)
        except Refused as refused:
            errors = refusal_errors(refused, lang)
        else:
            shown = {"kind": "totp", "otpauth_uri": started.otpauth_uri}
            shown_id = await keep_shown(request, who, shown)
            return RedirectResponse(f"/account?shown={shown_id}#totp", status_code=303)
    errors = {("totp_password" if k == "current_password" else k): v for k, v in errors.items()}
    return await account_page(request, who, errors=errors, status=422)


@router.post("/account/totp/confirm", dependencies=[CSRF_REQUIRED])
async def totp_confirm_form(request: Request, who: Caller) -> Response:
    form, lang = await request.form(), language_of(request)
    body, errors = parsed(TotpConfirm, filled(form, "code"), lang)
    if body is not None:
        try:
            await confirm_totp(console_of(request), who, body)
        except Refused as refused:
            errors = refusal_errors(refused, lang)
        else:
            return RedirectResponse("/account?done=totp#totp", status_code=303)
    return await account_page(request, who, errors=errors, status=422)


@router.post("/account/tokens", dependencies=[CSRF_REQUIRED])
async def token_form(request: Request, who: Caller) -> Response:
    form, lang = await request.form(), language_of(request)
    values = {k: v.strip() for k, v in filled(form, "name", "expires_in_days").items()}
    body, errors = parsed(NewTokenBody, values, lang)
    if body is None:
        return await account_page(request, who, errors=errors, values=values, status=422)
    made = await create_token(console_of(request), who, body)
    shown_id = await keep_shown(request, who, {"kind": "token", "name": made.name, "token": made.token})
    return RedirectResponse(f"/account?shown={shown_id}#tokens", status_code=303)


@router.get("/account/tokens/{token_id}/revoke")
async def confirm_revoke_token(request: Request, who: Caller, token_id: str) -> Response:
    """The confirm step of revoking one of my tokens (no JavaScript needed)."""
    tokens = await console_of(request).credentials.tokens_of(who.operator.id)
    token = next((t for t in tokens if t.id == token_id[:40]), None)
    if token is None:  # revoked already, or not mine
        return RedirectResponse("/account?done=token_gone#tokens", status_code=303)
    return render(request, "account/confirm_revoke.html", who=who, token=token)


@router.post("/account/tokens/{token_id}/revoke", dependencies=[CSRF_REQUIRED])
async def revoke_token_form(request: Request, who: Caller, token_id: str) -> Response:
    if (await request.form()).get("confirm") != "true":  # not confirmed: the page that asks
        return RedirectResponse(f"/account/tokens/{quote(token_id[:40], safe='')}/revoke", 303)
    try:
        await revoke_token(console_of(request), who, token_id[:40])
    except Refused:
        return RedirectResponse("/account?done=token_gone#tokens", status_code=303)
    return RedirectResponse("/account?done=token_revoked#tokens", status_code=303)
