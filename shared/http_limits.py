"""Request body limits per route, for every Samleng web service.

Public routes take small bodies (`default`); a route that needs more declares it where it is
defined, in its OpenAPI extension, so the limit is also shown in /docs:

    @app.post("/api/v1/operator/subscribers", openapi_extra=body_limit(8 * MIB))

or names the setting that holds it, so the limit follows the service's configuration (the number
in /docs is the configured one, `document_limits`):

    @router.post("/subscribers", openapi_extra=configured_limit("subscriber_import_max_bytes"))

`BodyLimit` answers 413 before the handler runs when a body is larger than its route's limit,
whether announced by Content-Length or streamed, and says the limit:

    {"detail": [{"field": "body", "code": "too_large", "limit_bytes": 65536,
                 "message": "This request's body may be at most 64 KiB (65536 bytes)."}]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB
LIMIT_KEY = "x-body-limit-bytes"
SETTING_KEY = "x-body-limit-setting"


def body_limit(limit_bytes: int) -> dict[str, Any]:
    """The `openapi_extra` of a route whose bodies may be up to `limit_bytes`."""
    return {LIMIT_KEY: limit_bytes}


def configured_limit(setting: str) -> dict[str, Any]:
    """The `openapi_extra` of a route whose body limit is the service setting named `setting`."""
    return {SETTING_KEY: setting}


def _declared(extra: dict[str, Any] | None, settings: Any) -> int | None:
    extra = extra or {}
    setting = extra.get(SETTING_KEY)
    if setting is not None:
        value = getattr(settings, str(setting), None)
        if not isinstance(value, int):
            raise LookupError(f"the route's body limit names {setting!r}, which its settings do not have")
        return value
    declared = extra.get(LIMIT_KEY)
    return int(declared) if declared else None


def document_limits(app: Any, settings: Any) -> None:
    """Show each configured limit as its number (`x-body-limit-bytes`) in the app's OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document: dict[str, Any] = generate()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict) and SETTING_KEY in operation:
                    operation[LIMIT_KEY] = _declared(operation, settings)
        return document

    app.openapi = openapi


def human_size(size: int) -> str:
    for unit, factor in (("MiB", MIB), ("KiB", KIB)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def route_limits(
    routes: Callable[[], Iterable[BaseRoute]], default: int, settings: Any = None
) -> Callable[[Scope], int]:
    """The limit of the route a request goes to: its declared one (a number, or the value of the
    setting it names in `settings`), else `default`. Routes of included routers
    (`app.include_router`) are looked at one by one, with their full paths."""

    def limit(scope: Scope) -> int:
        for route in iter_route_contexts(list(routes())):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                declared = _declared(getattr(route, "openapi_extra", None), settings)
                return declared if declared is not None else default
        return default

    return limit


class BodyLimit:
    """413 for bodies over their route's limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, limit: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await too_large(send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await too_large(send, limit)


class _BodyTooLarge(Exception):
    pass


async def too_large(send: Send, limit: int) -> None:
    problem = {
        "field": "body",
        "code": "too_large",
        "limit_bytes": limit,
        "message": f"This request's body may be at most {human_size(limit)} ({limit} bytes).",
    }
    body = json.dumps({"detail": [problem]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
