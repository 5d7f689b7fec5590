"""Who is calling: the ONE authentication dependency of every operator route, and the per-route
permission check.

    operator_router = APIRouter(prefix="/api/v1/operator", dependencies=[Depends(authenticated)])

    @operator_router.post("/operators", dependencies=[permit(Permission.operators_manage)])
    async def create(who: Caller, body: Annotated[NewOperatorBody, Depends(json_body(NewOperatorBody))]):

Order matters and is fixed by FastAPI: the router's dependencies, then the route decorator's,
then the handler's parameters. FastAPI reads and validates a declared body model BEFORE any
dependency (a malformed body would answer 422, echoing its input, to anyone), so operator
routes never declare one: they take their body through `json_body(Model)`, a dependency that
runs after authentication and the permission check. A test walks every route to hold this.

A caller presents a session token (the `samleng_console` cookie, or `Authorization: Bearer`) or
an API token (`Authorization: Bearer sk_op_…`); a disabled operator's credentials stop working at
once, and a role change applies to the next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsParam
from pydantic import BaseModel, ValidationError

from services.console.audit import AuditEvent, AuditLog, Outcome
from services.console.credentials import Credential, Credentials
from services.console.operators import Operator, OperatorStore
from services.console.permissions import Permission, allows
from services.console.settings import ConsoleSettings
from shared.contracts.envelope import Event
from shared.messaging.gateway import Gateway, Unavailable
from shared.openapi import inlined
from shared.personal_data import Vault

COOKIE = "samleng_console"
Model = TypeVar("Model", bound=BaseModel)


@dataclass
class Console:
    """What the routes work with (one per process, built in the app's lifespan)."""

    settings: ConsoleSettings
    operators: OperatorStore
    credentials: Credentials
    audit: AuditLog
    db: Any = None
    """The database, for the collections the console owns without a store of their own
    (`partner_keys`, shared/partner_keys.py), and for its declared reads of others' collections."""
    gateway: Gateway | None = None
    """The bus: operator actions are handed over as events (`hand_over`)."""
    vault: Vault | None = None
    """Opens what is sealed about a person (exports, replies, registrations) and seals what the
    console keeps about one."""


@dataclass(frozen=True)
class Principal:
    operator: Operator
    credential: Credential

    def event(
        self,
        action: str,
        object_type: str | None = None,
        object_id: str | None = None,
        outcome: Outcome = "ok",
        **detail: Any,
    ) -> AuditEvent:
        return AuditEvent(
            operator_id=self.operator.id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            session_id=self.credential.session_id,
            token_id=self.credential.token_id,
            outcome=outcome,
            detail=detail,
        )


def set_session_cookie(response: Response, settings: ConsoleSettings, token: str) -> None:
    """The browser's session: HttpOnly, SameSite=strict, Secure unless a local plain-http run."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=not settings.insecure_cookies,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, settings: ConsoleSettings) -> None:
    response.delete_cookie(
        COOKIE, path="/", secure=not settings.insecure_cookies, httponly=True, samesite="strict"
    )


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def unauthorized() -> HTTPException:
    return HTTPException(401, "operator credentials required", headers={"WWW-Authenticate": "Bearer"})


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


async def authenticated(request: Request) -> Principal:
    console = console_of(request)
    token = presented_token(request)
    if token is None or len(token) > 200:
        raise unauthorized()
    credential = await console.credentials.resolve(token)
    if credential is None:
        raise unauthorized()
    operator = await console.operators.get(credential.operator_id)
    if operator is None or operator.disabled:
        raise unauthorized()
    return Principal(operator, credential)


Caller = Annotated[Principal, Depends(authenticated)]


def require(permission: Permission) -> Callable[[Request, Principal], Awaitable[Principal]]:
    async def check(request: Request, who: Caller) -> Principal:
        if not allows(who.operator.role, permission):
            await console_of(request).audit.record(
                who.event("permission.denied", "permission", permission.value, outcome="denied")
            )
            raise HTTPException(403, f"your role may not do this ({permission.value})")
        return who

    check.permission = permission  # type: ignore[attr-defined]  # read by the route test and docs
    return check


def permit(permission: Permission) -> DependsParam:
    """A route decorator's dependency: the caller's role must have `permission`."""
    dependency: DependsParam = Depends(require(permission))
    return dependency


async def hand_over(request: Request, who: Principal, event: Event[Any]) -> None:
    """Publish `event` as `who`'s action (the envelope's `actor`); 503 with Retry-After when the
    broker did not confirm it (nothing was handed over: the operator may simply retry)."""
    gateway = console_of(request).gateway
    if gateway is None:
        raise HTTPException(503, "not handed over; retry", headers={"Retry-After": "30"})
    try:
        await gateway.publish(event.model_copy(update={"actor": who.operator.id}))
    except Unavailable:
        raise HTTPException(503, "not handed over; retry", headers={"Retry-After": "30"}) from None


def json_body(model: type[Model]) -> Callable[[Request], Awaitable[Model]]:
    """The request's JSON body as `model`, parsed only when this dependency runs (after auth);
    errors are listed without echoing the input."""

    async def parse(request: Request) -> Model:
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as invalid:
            errors = invalid.errors(include_input=False, include_url=False, include_context=False)
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None

    return parse


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The `openapi_extra` that documents a body read through `json_body`."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inlined(model)}},
        }
    }
