"""The operator console's HTTP service (`console`): operator accounts with roles, sign-in with
password and TOTP, per-operator API tokens, and the audit trail (services/console/api.py lists
the routes). It owns `operators`, `operator_sessions`, `api_tokens` and `audit_events`, and
publishes nothing yet; the operator routes that still live in intake move here next
(docs/operators.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pymongo.errors import PyMongoError

from services.console.api import operator_router, public_router
from services.console.audit import AuditLog
from services.console.auth import Console
from services.console.credentials import Credentials
from services.console.operators import OperatorStore
from services.console.settings import ConsoleSettings
from shared.health import health_routes
from shared.http_limits import BodyLimit, route_limits
from shared.http_telemetry import install_http_telemetry
from shared.personal_data import open_vault
from shared.storage import create_client, database, ping, wait_for_database


def create_app(settings: ConsoleSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_client(settings)
        try:
            await wait_for_database(client)
            db = database(client, settings)
            vault = await open_vault(db)
            console = Console(settings, OperatorStore(db, vault), Credentials(db), AuditLog(db), db)
            for store in (console.operators, console.credentials, console.audit):
                await store.ensure_indexes()
            app.state.console = console
            app.state.mongo = client
            yield
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
    app.add_middleware(BodyLimit, limit=route_limits(lambda: app.routes, settings.max_body_bytes))
    install_http_telemetry(app, "console")

    async def readiness() -> dict[str, bool]:
        try:
            await ping(app.state.mongo)
        except PyMongoError:
            return {"mongodb": False}
        return {"mongodb": True}

    for route in health_routes("console", readiness):
        app.router.routes.append(route)
    app.include_router(public_router)
    app.include_router(operator_router)
    return app
