"""The operator console's HTTP service (`console`): operator accounts with roles, sign-in with
password and TOTP, per-operator API tokens, the audit trail, the whole operator API — alerts,
sessions, members, deliveries, replies, dead letters, the dashboard, certificates, imports
(services/console/api.py and services/console/routes/ list the routes; docs/operators.md) — and
the same on web pages for people (services/console/web/; docs/console.md).

It owns `operators`, `operator_sessions`, `api_tokens`, `audit_events`, `partner_keys`,
`shown_once`, `reply_states` and the operators' working copies (`alert_drafts`, `session_drafts`);
what it changes elsewhere it hands to the bus as an event carrying the acting operator (`actor`),
and it reads other services' collections only through its declared read models.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException

from services.console.api import operator_router, public_router
from services.console.audit import AuditLog
from services.console.auth import Console, Principal, authenticated
from services.console.credentials import Credentials
from services.console.operators import OperatorStore
from services.console.routes import ensure_indexes
from services.console.settings import ConsoleSettings
from services.console.web import public_router as public_pages
from services.console.web import web_router
from services.console.web.rendering import render
from shared.contracts.alert import AlertPublished, AlertTestRequested
from shared.contracts.certificate import ReissueRequested
from shared.contracts.erasure import ContactErasureRequested, ErasureRequested
from shared.contracts.member import SubscriptionRequested
from shared.contracts.pledge import PledgeSubmitted
from shared.contracts.reply import ReplyAnswerRequested
from shared.contracts.session import PlanOfActionPublished, RegistrationCancelled, SessionPublished
from shared.health import health_routes
from shared.http_errors import install_field_problems
from shared.http_limits import BodyLimit, document_limits, route_limits
from shared.http_telemetry import install_http_telemetry
from shared.messaging.gateway import Gateway
from shared.personal_data import Vault, open_vault
from shared.service import Router
from shared.storage import create_client, database, ping, wait_for_database
from shared.web_security import Csrf, CsrfCookie, CsrfRefused, SecurityHeaders

HERE = Path(__file__).resolve().parent
NOT_PAGES = ("/api/", "/health", "/metrics", "/static/", "/docs", "/redoc", "/openapi.json")

router = Router(
    "console",
    description="The operator API: what operators do is handed over as events carrying the acting "
    "operator (`actor`); operator accounts, tokens and the audit trail stay in the console.",
)
router.publishing(
    AlertPublished,
    AlertTestRequested,
    SessionPublished,
    RegistrationCancelled,
    PlanOfActionPublished,
    ReissueRequested,
    PledgeSubmitted,
    SubscriptionRequested,
    ErasureRequested,
    ContactErasureRequested,
    ReplyAnswerRequested,
)


async def _vault(vault: Vault | None) -> Vault | None:
    return vault


def create_app(settings: ConsoleSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_client(settings)
        try:
            await wait_for_database(client)
            db = database(client, settings)
            vault = await open_vault(db)
            gateway = Gateway(
                settings.amqp_url.get_secret_value(),
                settings.amqp_exchange,
                "console",
                settings.submit_timeout_seconds,
            )
            console = Console(
                settings, OperatorStore(db, vault), Credentials(db), AuditLog(db), db, gateway, vault
            )
            for store in (console.operators, console.credentials, console.audit):
                await store.ensure_indexes()
            await ensure_indexes(db)
            app.state.console = console
            app.state.mongo = client
            await gateway.start(lambda: _vault(vault))
            try:
                yield
            finally:
                await gateway.stop()
                if vault is not None:
                    await vault.close()
        finally:
            await client.close()

    app = FastAPI(
        title="Samleng operator console",
        description="Operator accounts, sign-in, API tokens and the audit trail.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=route_limits(lambda: app.routes, settings.max_body_bytes, settings))
    csrf = Csrf(settings.secret_key.get_secret_value().encode(), secure_cookie=not settings.insecure_cookies)
    app.state.csrf = csrf
    app.add_middleware(CsrfCookie, csrf=csrf)
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)
    document_limits(app, settings)
    install_http_telemetry(app, "console")

    async def readiness() -> dict[str, bool]:
        gateway = app.state.console.gateway
        try:
            await ping(app.state.mongo)
        except PyMongoError:
            return {"broker": gateway.ready, "mongodb": False}
        return {"broker": gateway.ready, "mongodb": True}

    for route in health_routes("console", readiness):
        app.router.routes.append(route)
    app.include_router(public_router)
    app.include_router(operator_router)
    app.include_router(public_pages)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    install_page_answers(app)
    install_field_problems(app)
    return app


def install_page_answers(app: FastAPI) -> None:
    """Errors on pages answer as pages: not signed in -> the sign-in page (then back here), a
    role without the permission -> 403 page, an expired form -> 403 page (nothing done), the bus
    not confirming -> 503 page. The API keeps its JSON answers."""

    async def signed_in(request: Request) -> Principal | None:
        try:
            return await authenticated(request)
        except HTTPException:
            return None

    @app.exception_handler(HTTPException)
    async def page_error(request: Request, error: HTTPException) -> Response:
        if request.url.path.startswith(NOT_PAGES):
            return await http_exception_handler(request, error)
        if error.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?{urlencode({'next': target})}", status_code=303)
        pages = {403: "forbidden", 404: "not_found", 503: "unavailable"}
        if error.status_code not in pages:
            return await http_exception_handler(request, error)
        return render(
            request,
            "problem.html",
            who=await signed_in(request),
            status=error.status_code,
            headers=error.headers,
            problem=pages[error.status_code],
        )

    @app.exception_handler(CsrfRefused)
    async def form_expired(request: Request, _: CsrfRefused) -> Response:
        return render(
            request, "problem.html", who=await signed_in(request), status=403, problem="form_expired"
        )
