"""The operator API, `/api/v1/operator/…`.

    POST   /sign-in              email + password + TOTP code -> session (cookie and body); public
    POST   /sign-out             end the session in use
    GET    /me                   who I am, my role and permissions
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
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from services.console.audit import AuditEvent
from services.console.auth import COOKIE, Caller, authenticated, body_schema, console_of, json_body, permit
from services.console.credentials import TokenView
from services.console.operators import DuplicateEmail, OperatorView
from services.console.permissions import ROLE_PERMISSIONS, Permission, Role
from services.console.routes import ROUTERS
from services.console.signin import Throttled, sign_in
from shared.partner_keys import PartnerKey, create_partner_key, list_partner_keys, revoke_partner_key

PREFIX = "/api/v1/operator"
FAILED = "sign-in failed"


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


@operator_router.post("/sign-out", status_code=204, tags=["operator sign-in"], summary="End this session")
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
    "/tokens",
    status_code=201,
    response_model=NewToken,
    openapi_extra=body_schema(NewTokenBody),
    tags=["API tokens"],
    summary="Create an API token for scripts",
)
async def create_token(
    request: Request, who: Caller, body: Annotated[NewTokenBody, Depends(json_body(NewTokenBody))]
) -> NewToken:
    console = console_of(request)
    token, view = await console.credentials.create_token(who.operator.id, body.name, body.expires_in_days)
    await console.audit.record(who.event("token.created", "api_token", view.id, name=body.name))
    return NewToken(**view.model_dump(), token=token)


@operator_router.get("/tokens", response_model=list[TokenView], tags=["API tokens"], summary="My API tokens")
async def list_tokens(request: Request, who: Caller) -> list[TokenView]:
    return await console_of(request).credentials.tokens_of(who.operator.id)


@operator_router.delete(
    "/tokens/{token_id}", status_code=204, tags=["API tokens"], summary="Revoke one of my API tokens"
)
async def revoke_token(request: Request, who: Caller, token_id: str) -> Response:
    console = console_of(request)
    if not await console.credentials.revoke_token(who.operator.id, token_id):
        raise HTTPException(404, "no such live token of yours")
    await console.audit.record(who.event("token.revoked", "api_token", token_id))
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
    tags=["operators"],
    summary="Create an operator",
)
async def create_operator(
    request: Request, who: Caller, body: Annotated[NewOperatorBody, Depends(json_body(NewOperatorBody))]
) -> CreatedOperator:
    console = console_of(request)
    try:
        created = await console.operators.create(body.email, body.display_name, body.role)
    except DuplicateEmail:
        raise HTTPException(409, "an operator with this email exists") from None
    await console.audit.record(
        who.event("operator.created", "operator", created.operator.id, role=created.operator.role.value)
    )
    return CreatedOperator(
        operator=OperatorView.of(created.operator), password=created.password, otpauth_uri=created.otpauth_uri
    )


@operator_router.patch(
    "/operators/{operator_id}",
    response_model=OperatorView,
    dependencies=[permit(Permission.operators_manage)],
    openapi_extra=body_schema(OperatorChange),
    tags=["operators"],
    summary="Change an operator's role, or disable or enable them",
)
async def change_operator(
    request: Request,
    who: Caller,
    operator_id: str,
    body: Annotated[OperatorChange, Depends(json_body(OperatorChange))],
) -> OperatorView:
    console = console_of(request)
    target = await console.operators.get(operator_id)
    if target is None:
        raise HTTPException(404, "no such operator")
    changes = body.model_dump(exclude_none=True, exclude={"unlock"}, mode="json")
    if not changes and not body.unlock:
        raise HTTPException(422, "give role, disabled and/or unlock")
    stays_admin = changes.get("role", target.role) == Role.admin and not changes.get(
        "disabled", target.disabled
    )
    is_active_admin = target.role == Role.admin and not target.disabled
    if is_active_admin and not stays_admin and await console.operators.count_active_admins() <= 1:
        raise HTTPException(409, "this is the last active admin")
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


@operator_router.post(
    "/operators/{operator_id}/reset-credentials",
    response_model=ResetCredentials,
    dependencies=[permit(Permission.operators_manage)],
    tags=["operators"],
    summary="New password and TOTP for an operator who lost theirs; ends their sessions and tokens",
)
async def reset_credentials(request: Request, who: Caller, operator_id: str) -> ResetCredentials:
    console = console_of(request)
    if operator_id == who.operator.id:
        raise HTTPException(409, "reset your own credentials through another admin")
    reset = await console.operators.reset_credentials(operator_id)
    if reset is None:
        raise HTTPException(404, "no such operator")
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


@operator_router.get(
    "/audit",
    response_model=list[AuditEvent],
    dependencies=[permit(Permission.audit_read)],
    tags=["audit"],
    summary="The audit trail, newest first",
)
async def read_audit(
    request: Request,
    operator: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEvent]:
    return await console_of(request).audit.find(operator, action, since, until, limit)


@operator_router.get(
    "/partner-keys",
    response_model=list[PartnerKeyView],
    dependencies=[permit(Permission.keys_manage)],
    tags=["partner keys"],
    summary="The partner API keys of web forms",
)
async def list_keys(request: Request) -> list[PartnerKeyView]:
    return [PartnerKeyView.of(k) for k in await list_partner_keys(console_of(request).db)]


@operator_router.post(
    "/partner-keys",
    status_code=201,
    response_model=NewPartnerKey,
    dependencies=[permit(Permission.keys_manage)],
    openapi_extra=body_schema(NewPartnerKeyBody),
    tags=["partner keys"],
    summary="Create a partner API key (its own rate limit and allowed browser origins)",
)
async def create_key(
    request: Request, who: Caller, body: Annotated[NewPartnerKeyBody, Depends(json_body(NewPartnerKeyBody))]
) -> NewPartnerKey:
    console = console_of(request)
    try:
        key_id, secret = await create_partner_key(console.db, body.name, body.rate_per_minute, body.origins)
    except ValueError as error:  # an origin that is not one (`https://host[:port]`)
        raise HTTPException(
            422, [{"field": "origins", "code": "origin_invalid", "message": str(error)}]
        ) from None
    keys = {k.key_id: k for k in await list_partner_keys(console.db)}
    await console.audit.record(
        who.event("partner_key.created", "partner_key", key_id, rate_per_minute=body.rate_per_minute)
    )
    return NewPartnerKey(key=PartnerKeyView.of(keys[key_id]), secret=secret)


@operator_router.delete(
    "/partner-keys/{key_id}",
    status_code=204,
    dependencies=[permit(Permission.keys_manage)],
    tags=["partner keys"],
    summary="Revoke a partner API key",
)
async def revoke_key(request: Request, who: Caller, key_id: str) -> Response:
    console = console_of(request)
    if not await revoke_partner_key(console.db, key_id[:40]):
        raise HTTPException(404, "no such active key")
    await console.audit.record(who.event("partner_key.revoked", "partner_key", key_id[:40]))
    return Response(status_code=204)


for _work in ROUTERS:
    operator_router.include_router(_work)
