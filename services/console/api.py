"""The operator API, `/api/v1/operator/…`.

    POST   /sign-in              email + password + TOTP code -> session (cookie and body); public
    POST   /sign-out             end the session in use
    GET    /me                   who I am, my role and permissions
    POST   /me/password          change my password (current one required); ends my other sessions
    POST   /me/totp              re-enrol my second factor, step 1 (current password required): a
                                 new TOTP secret, shown once, pending until confirmed
    POST   /me/totp/confirm      step 2: a code of the new secret makes it mine; the old one stops
    POST   /tokens               a new API token for scripts (shown once)
    GET    /tokens               my live tokens (never the token itself)
    DELETE /tokens/{token_id}    revoke one of mine, at once
    GET    /operators            admin: every operator
    POST   /operators            admin: a new operator (password and TOTP URI shown once)
    PATCH  /operators/{id}       admin: change role, disable (ends their sessions and tokens) or
                                 enable, unlock after failed sign-ins
    POST   /operators/{id}/reset-credentials
                                 admin: a new password and TOTP (shown once); ends their sessions
    GET    /audit                admin: the audit trail, newest first, with filters
    GET    /partner-keys         admin: the web forms' partner API keys (never their secrets)
    POST   /partner-keys         admin: a new key (its secret shown once)
    DELETE /partner-keys/{id}    admin: revoke a key (intake refuses it within its cache time)

Every route but sign-in is on `operator_router`, whose one dependency authenticates the caller
(services/console/auth.py); each state change writes one audit event.

What a route does is a plain function of (console, caller, input) below it — `change_password`,
`create_operator`, … — which the console's pages (services/console/web/) call too; one that
cannot be done raises `Refused` (its status, and the field it is about, if any).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from services.console.audit import AuditEvent, UnknownCursor
from services.console.auth import (
    COOKIE,
    Caller,
    Console,
    Principal,
    authenticated,
    body_schema,
    console_of,
    json_body,
    permit,
)
from services.console.credentials import TokenView
from services.console.operators import (
    MIN_PASSWORD_LENGTH,
    DuplicateEmail,
    OperatorView,
    password_matches,
    password_problem,
)
from services.console.permissions import ROLE_PERMISSIONS, Permission, Role
from services.console.routes import ROUTERS
from services.console.signin import Throttled, sign_in
from shared.contracts import utcnow
from shared.http_errors import refusals
from shared.partner_keys import PartnerKey, create_partner_key, list_partner_keys, revoke_partner_key

PREFIX = "/api/v1/operator"
FAILED = "sign-in failed"
T = TypeVar("T")


class SignInBody(BaseModel):
    email: str = Field(min_length=3, max_length=320, examples=["ops@samleng.example.org"])
    password: str = Field(min_length=1, max_length=1024)
    totp: str = Field(min_length=6, max_length=10, description="The 6-digit code of the operator's app.")


class SignedIn(BaseModel):
    token: str = Field(description="The session token (also set as the `samleng_console` cookie).")
    expires_at: datetime
    operator: OperatorView


class Me(BaseModel):
    operator: OperatorView
    permissions: list[Permission]


class NewTokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["nightly import"])
    expires_in_days: int = Field(default=90, ge=1, le=366)


class NewToken(TokenView):
    token: str = Field(description="Shown once; stored only as its hash.", examples=["sk_op_…"])


class NewOperatorBody(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role


class CreatedOperator(BaseModel):
    operator: OperatorView
    password: str = Field(description="Shown once: give it to the operator over a safe channel.")
    otpauth_uri: str = Field(description="Shown once: the TOTP enrolment (as a QR code in their app).")


class NewPartnerKeyBody(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["Khmer Youth Network web form"])
    rate_per_minute: int = Field(default=60, ge=1, le=100_000)
    origins: list[str] = Field(
        default_factory=list, max_length=50, examples=[["https://partner.example.org"]]
    )


class PartnerKeyView(BaseModel):
    key_id: str
    name: str
    rate_per_minute: int
    origins: list[str]
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: PartnerKey) -> PartnerKeyView:
        return cls(**key.model_dump(include=set(cls.model_fields)))


class NewPartnerKey(BaseModel):
    key: PartnerKeyView
    secret: str = Field(description="Shown once: the partner sends it as `X-Samleng-Key`.")


class OperatorChange(BaseModel):
    role: Role | None = None
    disabled: bool | None = Field(
        default=None, description="true ends every session and revokes every API token of theirs at once."
    )
    unlock: bool | None = Field(default=None, description="true lifts a lockout after failed sign-ins.")


class ResetCredentials(BaseModel):
    operator: OperatorView
    password: str = Field(description="Shown once: give it to the operator over a safe channel.")
    otpauth_uri: str = Field(description="Shown once: the new TOTP enrolment; the old one stops working.")
    revoked: int = Field(description="Sessions and API tokens of theirs ended by the reset.")


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=1024,
        description=f"At least {MIN_PASSWORD_LENGTH} characters, and not your email address.",
    )


class PasswordChanged(BaseModel):
    sessions_ended: int = Field(description="Your other sign-in sessions, ended by the change.")


class TotpStart(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)


class TotpEnrolment(BaseModel):
    otpauth_uri: str = Field(description="Shown once: the new secret, for the authenticator app.")
    confirm_by: datetime = Field(description="Confirm with a code of it before this, else start again.")


class TotpConfirm(BaseModel):
    code: str = Field(min_length=6, max_length=10, description="A 6-digit code of the NEW secret.")


class Refused(Exception):
    """An operator action that cannot be done: the HTTP status, a message, and the input field it
    is about (`field`, with a `code`) when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code

    def problems(self) -> list[dict[str, str]]:
        """The JSON API's problem list (`{"field", "code", "message"}`), for a field's refusal;
        a 422 about no one field is about the whole body."""
        field = self.field or ("body" if self.status == 422 else None)
        if field is None:
            return []
        return [{"field": field, "code": self.code, "message": self.message}]

    def http(self) -> HTTPException:
        detail: Any = self.problems() if self.status == 422 else self.message
        return HTTPException(self.status, detail)


async def answered(action: Awaitable[T]) -> T:
    """`action`'s result, or its `Refused` as the HTTP error the JSON routes answer with."""
    try:
        return await action
    except Refused as refused:
        raise refused.http() from None


public_router = APIRouter(prefix=PREFIX, tags=["operator sign-in"])
operator_router = APIRouter(prefix=PREFIX, dependencies=[Depends(authenticated)])


@public_router.post(
    "/sign-in",
    response_model=SignedIn,
    responses={
        401: {"description": "Wrong email, password or code, or the account is locked"},
        429: {"description": "Too many failed sign-ins from this address lately (Retry-After)"},
    },
    openapi_extra=body_schema(SignInBody),
    summary="Sign in with password and TOTP code",
)
async def sign_in_route(
    request: Request, response: Response, body: Annotated[SignInBody, Depends(json_body(SignInBody))]
) -> SignedIn:
    console = console_of(request)
    ip = request.client.host if request.client else None
    try:
        session = await sign_in(console, body.email, body.password, body.totp, ip)
    except Throttled as throttled:
        raise HTTPException(
            429,
            "too many failed sign-ins from here; try later",
            headers={"Retry-After": str(throttled.retry_after)},
        ) from None
    if session is None:
        raise HTTPException(401, FAILED)
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(console.settings.session_hours * 3600),
        path="/",
        secure=not console.settings.insecure_cookies,
        httponly=True,
        samesite="strict",
    )
    return SignedIn(
        token=session.token, expires_at=session.expires_at, operator=OperatorView.of(session.operator)
    )


@operator_router.post(
    "/sign-out",
    status_code=204,
    responses=refusals({409: "Signed in with an API token, which has no session: revoke the token"}),
    tags=["operator sign-in"],
    summary="End this session",
)
async def sign_out(request: Request, who: Caller) -> Response:
    console = console_of(request)
    if who.credential.session_id is None:
        raise HTTPException(409, "an API token has no session: revoke it with DELETE /tokens/{id}")
    await console.credentials.revoke_session(who.credential.session_id)
    await console.audit.record(who.event("operator.sign_out", "session", who.credential.session_id))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", secure=not console.settings.insecure_cookies, httponly=True)
    return response


@operator_router.get("/me", response_model=Me, tags=["operator sign-in"], summary="Who I am")
async def me(who: Caller) -> Me:
    return Me(operator=OperatorView.of(who.operator), permissions=sorted(ROLE_PERMISSIONS[who.operator.role]))


@operator_router.post(
    "/me/password",
    response_model=PasswordChanged,
    openapi_extra=body_schema(PasswordChange),
    responses={422: {"description": "The current password is wrong, or the new one too weak"}},
    tags=["operator sign-in"],
    summary="Change my password; my other sessions end",
)
async def change_password_route(
    request: Request, who: Caller, body: Annotated[PasswordChange, Depends(json_body(PasswordChange))]
) -> PasswordChanged:
    return await answered(change_password(console_of(request), who, body))


@operator_router.post(
    "/me/totp",
    status_code=201,
    response_model=TotpEnrolment,
    openapi_extra=body_schema(TotpStart),
    responses={422: {"description": "The current password is wrong"}},
    tags=["operator sign-in"],
    summary="Re-enrol my second factor, step 1: a new TOTP secret (shown once)",
)
async def start_totp_route(
    request: Request, who: Caller, body: Annotated[TotpStart, Depends(json_body(TotpStart))]
) -> TotpEnrolment:
    return await answered(start_totp(console_of(request), who, body))


@operator_router.post(
    "/me/totp/confirm",
    status_code=204,
    openapi_extra=body_schema(TotpConfirm),
    responses={422: {"description": "Not a code of the new secret, or the enrolment expired"}},
    tags=["operator sign-in"],
    summary="Re-enrol my second factor, step 2: a code of the new secret; the old one stops working",
)
async def confirm_totp_route(
    request: Request, who: Caller, body: Annotated[TotpConfirm, Depends(json_body(TotpConfirm))]
) -> Response:
    await answered(confirm_totp(console_of(request), who, body))
    return Response(status_code=204)


@operator_router.post(
    "/tokens",
    status_code=201,
    response_model=NewToken,
    openapi_extra=body_schema(NewTokenBody),
    tags=["API tokens"],
    summary="Create an API token for scripts",
)
async def create_token_route(
    request: Request, who: Caller, body: Annotated[NewTokenBody, Depends(json_body(NewTokenBody))]
) -> NewToken:
    return await create_token(console_of(request), who, body)


@operator_router.get("/tokens", response_model=list[TokenView], tags=["API tokens"], summary="My API tokens")
async def list_tokens(request: Request, who: Caller) -> list[TokenView]:
    return await console_of(request).credentials.tokens_of(who.operator.id)


@operator_router.delete(
    "/tokens/{token_id}",
    status_code=204,
    responses=refusals({404: "No such live token of yours"}),
    tags=["API tokens"],
    summary="Revoke one of my API tokens",
)
async def revoke_token_route(request: Request, who: Caller, token_id: str) -> Response:
    await answered(revoke_token(console_of(request), who, token_id))
    return Response(status_code=204)


@operator_router.get(
    "/operators",
    response_model=list[OperatorView],
    dependencies=[permit(Permission.operators_manage)],
    tags=["operators"],
    summary="Every operator",
)
async def list_operators(request: Request) -> list[OperatorView]:
    return [OperatorView.of(o) for o in await console_of(request).operators.all()]


@operator_router.post(
    "/operators",
    status_code=201,
    response_model=CreatedOperator,
    dependencies=[permit(Permission.operators_manage)],
    openapi_extra=body_schema(NewOperatorBody),
    responses=refusals({409: "An operator with this email exists"}),
    tags=["operators"],
    summary="Create an operator",
)
async def create_operator_route(
    request: Request, who: Caller, body: Annotated[NewOperatorBody, Depends(json_body(NewOperatorBody))]
) -> CreatedOperator:
    return await answered(create_operator(console_of(request), who, body))


@operator_router.patch(
    "/operators/{operator_id}",
    response_model=OperatorView,
    dependencies=[permit(Permission.operators_manage)],
    openapi_extra=body_schema(OperatorChange),
    responses=refusals({404: "No such operator", 409: "This is the last active admin"}),
    tags=["operators"],
    summary="Change an operator's role, or disable or enable them",
)
async def change_operator_route(
    request: Request,
    who: Caller,
    operator_id: str,
    body: Annotated[OperatorChange, Depends(json_body(OperatorChange))],
) -> OperatorView:
    return await answered(change_operator(console_of(request), who, operator_id, body))


@operator_router.post(
    "/operators/{operator_id}/reset-credentials",
    response_model=ResetCredentials,
    dependencies=[permit(Permission.operators_manage)],
    responses=refusals({404: "No such operator", 409: "Your own: another admin resets them"}),
    tags=["operators"],
    summary="New password and TOTP for an operator who lost theirs; ends their sessions and tokens",
)
async def reset_credentials_route(request: Request, who: Caller, operator_id: str) -> ResetCredentials:
    return await answered(reset_credentials(console_of(request), who, operator_id))


@operator_router.get(
    "/audit",
    response_model=list[AuditEvent],
    dependencies=[permit(Permission.audit_read)],
    tags=["audit"],
    summary="The audit trail, newest first",
    description="Newest first, ordered by (at, id). The next page: `before_id` = the id of the "
    "last event of this page (events of the same millisecond never fall between two pages).",
)
async def read_audit(
    request: Request,
    operator: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[str | None, Query(max_length=100)] = None,
) -> list[AuditEvent]:
    try:
        return await console_of(request).audit.find(operator, action, since, until, limit, before_id)
    except UnknownCursor:
        raise Refused(422, "no such audit event", "before_id", "unknown").http() from None


@operator_router.get(
    "/partner-keys",
    response_model=list[PartnerKeyView],
    dependencies=[permit(Permission.keys_manage)],
    tags=["partner keys"],
    summary="The partner API keys of web forms",
)
async def list_keys(request: Request) -> list[PartnerKeyView]:
    return await partner_keys(console_of(request))


@operator_router.post(
    "/partner-keys",
    status_code=201,
    response_model=NewPartnerKey,
    dependencies=[permit(Permission.keys_manage)],
    openapi_extra=body_schema(NewPartnerKeyBody),
    tags=["partner keys"],
    summary="Create a partner API key (its own rate limit and allowed browser origins)",
)
async def create_key_route(
    request: Request, who: Caller, body: Annotated[NewPartnerKeyBody, Depends(json_body(NewPartnerKeyBody))]
) -> NewPartnerKey:
    return await answered(create_key(console_of(request), who, body))


@operator_router.delete(
    "/partner-keys/{key_id}",
    status_code=204,
    dependencies=[permit(Permission.keys_manage)],
    responses=refusals({404: "No such active partner key"}),
    tags=["partner keys"],
    summary="Revoke a partner API key",
)
async def revoke_key_route(request: Request, who: Caller, key_id: str) -> Response:
    await answered(revoke_key(console_of(request), who, key_id))
    return Response(status_code=204)


# What the routes do, as plain functions (the console's pages call them too).


async def _current_password_checked(console: Console, who: Principal, password: str, action: str) -> None:
    """Refuse unless `password` is the caller's: a wrong one counts as a failed sign-in (so a
    session in other hands cannot guess it faster than a sign-in could), and a locked account
    is refused until the lock ends."""
    operator = await console.operators.get(who.operator.id)
    assert operator is not None
    now = utcnow()
    if operator.locked_until is not None and operator.locked_until > now:
        await console.audit.record(
            who.event(action, "operator", operator.id, outcome="failed", reason="locked")
        )
        raise Refused(422, "too many wrong passwords: try again later", "current_password", "locked")
    if not password_matches(operator.password_hash, password):
        await console.audit.record(
            who.event(action, "operator", operator.id, outcome="failed", reason="current_password")
        )
        settings = console.settings
        lock_until = now + timedelta(minutes=settings.lockout_minutes)
        if await console.operators.failed(operator.id, settings.max_failures, lock_until):
            await console.audit.record(
                who.event("operator.locked", "operator", operator.id, until=lock_until.isoformat())
            )
        raise Refused(422, "this is not your current password", "current_password", "wrong")
    if operator.failed_attempts:
        await console.operators.unlock(operator.id)  # the count of wrong ones starts over, as on sign-in


async def change_password(console: Console, who: Principal, body: PasswordChange) -> PasswordChanged:
    """Set the caller's new password (after their current one); their other sessions end (API
    tokens stay: each is revoked on its own)."""
    await _current_password_checked(console, who, body.current_password, "operator.password_changed")
    weak = password_problem(body.new_password, who.operator.email)
    if weak == "is_email":
        raise Refused(422, "your email address is not a password", "new_password", weak)
    if weak is not None:
        raise Refused(422, f"at least {MIN_PASSWORD_LENGTH} characters", "new_password", weak)
    if body.new_password == body.current_password:
        raise Refused(422, "the new password must differ from the current one", "new_password", "unchanged")
    await console.operators.set_password(who.operator.id, body.new_password)
    ended = await console.credentials.revoke_sessions(who.operator.id, keep=who.credential.session_id)
    await console.audit.record(
        who.event("operator.password_changed", "operator", who.operator.id, sessions_ended=ended)
    )
    return PasswordChanged(sessions_ended=ended)


async def start_totp(console: Console, who: Principal, body: TotpStart) -> TotpEnrolment:
    """Step 1 of re-enrolling the caller's second factor (after their current password): a new
    secret, pending until a code of it confirms it; the current one works until then."""
    await _current_password_checked(console, who, body.current_password, "operator.totp_enrolment_started")
    started = await console.operators.start_totp(who.operator.id, utcnow())
    assert started is not None
    uri, until = started
    await console.audit.record(who.event("operator.totp_enrolment_started", "operator", who.operator.id))
    return TotpEnrolment(otpauth_uri=uri, confirm_by=until)


async def confirm_totp(console: Console, who: Principal, body: TotpConfirm) -> None:
    """Step 2: a code of the pending secret makes it the caller's; the old secret stops working."""
    if not await console.operators.confirm_totp(who.operator.id, body.code, utcnow()):
        await console.audit.record(
            who.event("operator.totp_changed", "operator", who.operator.id, outcome="failed")
        )
        raise Refused(
            422, "not a code of the new secret, or the enrolment expired: start again", "code", "wrong"
        )
    await console.audit.record(who.event("operator.totp_changed", "operator", who.operator.id))


async def create_token(console: Console, who: Principal, body: NewTokenBody) -> NewToken:
    token, view = await console.credentials.create_token(who.operator.id, body.name, body.expires_in_days)
    await console.audit.record(who.event("token.created", "api_token", view.id, name=body.name))
    return NewToken(**view.model_dump(), token=token)


async def revoke_token(console: Console, who: Principal, token_id: str) -> None:
    if not await console.credentials.revoke_token(who.operator.id, token_id):
        raise Refused(404, "no such live token of yours")
    await console.audit.record(who.event("token.revoked", "api_token", token_id))


async def create_operator(console: Console, who: Principal, body: NewOperatorBody) -> CreatedOperator:
    try:
        created = await console.operators.create(body.email, body.display_name, body.role)
    except DuplicateEmail:
        raise Refused(409, "an operator with this email exists", "email", "taken") from None
    await console.audit.record(
        who.event("operator.created", "operator", created.operator.id, role=created.operator.role.value)
    )
    return CreatedOperator(
        operator=OperatorView.of(created.operator), password=created.password, otpauth_uri=created.otpauth_uri
    )


async def change_operator(
    console: Console, who: Principal, operator_id: str, body: OperatorChange
) -> OperatorView:
    target = await console.operators.get(operator_id)
    if target is None:
        raise Refused(404, "no such operator")
    changes = body.model_dump(exclude_none=True, exclude={"unlock"}, mode="json")
    if not changes and not body.unlock:
        raise Refused(422, "give role, disabled and/or unlock")
    stays_admin = changes.get("role", target.role) == Role.admin and not changes.get(
        "disabled", target.disabled
    )
    is_active_admin = target.role == Role.admin and not target.disabled
    if is_active_admin and not stays_admin and await console.operators.count_active_admins() <= 1:
        raise Refused(409, "this is the last active admin")
    if changes:
        await console.operators.update(operator_id, changes)
    if body.unlock:
        await console.operators.unlock(operator_id)
    if changes.get("disabled"):
        await console.credentials.revoke_all(operator_id)
    updated = await console.operators.get(operator_id)
    assert updated is not None
    detail = {**changes, **({"unlock": True} if body.unlock else {})}
    await console.audit.record(who.event("operator.updated", "operator", operator_id, **detail))
    return OperatorView.of(updated)


async def reset_credentials(console: Console, who: Principal, operator_id: str) -> ResetCredentials:
    if operator_id == who.operator.id:
        raise Refused(409, "reset your own credentials through another admin")
    reset = await console.operators.reset_credentials(operator_id)
    if reset is None:
        raise Refused(404, "no such operator")
    revoked = await console.credentials.revoke_all(operator_id)
    await console.audit.record(
        who.event("operator.credentials_reset", "operator", operator_id, revoked=revoked)
    )
    return ResetCredentials(
        operator=OperatorView.of(reset.operator),
        password=reset.password,
        otpauth_uri=reset.otpauth_uri,
        revoked=revoked,
    )


async def partner_keys(console: Console) -> list[PartnerKeyView]:
    return [PartnerKeyView.of(k) for k in await list_partner_keys(console.db)]


async def create_key(console: Console, who: Principal, body: NewPartnerKeyBody) -> NewPartnerKey:
    try:
        key_id, secret = await create_partner_key(console.db, body.name, body.rate_per_minute, body.origins)
    except ValueError as error:  # an origin that is not one (`https://host[:port]`)
        raise Refused(422, str(error), "origins", "origin_invalid") from None
    keys = {k.key_id: k for k in await list_partner_keys(console.db)}
    await console.audit.record(
        who.event("partner_key.created", "partner_key", key_id, rate_per_minute=body.rate_per_minute)
    )
    return NewPartnerKey(key=PartnerKeyView.of(keys[key_id]), secret=secret)


async def revoke_key(console: Console, who: Principal, key_id: str) -> None:
    if not await revoke_partner_key(console.db, key_id[:40]):
        raise Refused(404, "no such active key")
    await console.audit.record(who.event("partner_key.revoked", "partner_key", key_id[:40]))


for _work in ROUTERS:
    operator_router.include_router(_work)
