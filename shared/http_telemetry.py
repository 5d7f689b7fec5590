"""HTTP request metrics and SERVER spans for every Samleng web app, as one ASGI middleware.

    install_http_telemetry(app, "intake")     # in the app factory, once

Each request is counted in `samleng_http_request_seconds{service, method, route, status}` and,
unless it is a health/metrics probe, a static file or matched no route (404 probes by bots), is
handled inside a SERVER span named `<METHOD> <route template>` whose parent is the caller's
`traceparent` (if any). Both use the matched route's TEMPLATE (`/api/v1/pledges/{pledge_id}`),
never the raw path: paths hold ids and secret tokens (`/u/{token}`); a request no route matched
is `route="unmatched"`. Nothing else of the request (query, client address, headers) is recorded.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.routing import iter_route_contexts
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tracing

HTTP_SECONDS = Histogram(
    "samleng_http_request_seconds",
    "Time to answer an HTTP request, by route template and status code.",
    ["service", "method", "route", "status"],
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
UNTRACED_ROUTES = frozenset({"/health/live", "/health/ready", "/metrics", UNMATCHED})
UNTRACED_PREFIXES = ("/static/",)


class RouteTable:
    """The app's route templates, matched the way its router matches (FastAPI's effective routes:
    an included router's routes carry its prefix). Rebuilt when routes are added (an app that
    includes routers in its lifespan)."""

    def __init__(self) -> None:
        self._size = -1
        self._routes: list[tuple[Any, str]] = []

    def template(self, scope: Scope) -> str:
        app = scope.get("app")
        router = getattr(app, "router", None)
        if router is None:
            return UNMATCHED
        if len(router.routes) != self._size:
            self._routes = [
                (route, route.path_format)
                for route in iter_route_contexts(router.routes)
                if isinstance(route.path_format, str)
            ]
            self._size = len(router.routes)
        partial = UNMATCHED
        for route, template in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return template
            if match is Match.PARTIAL and partial == UNMATCHED:
                partial = template  # 405: the route exists, not for this method
        return partial


def traced(route: str) -> bool:
    return route not in UNTRACED_ROUTES and not route.startswith(UNTRACED_PREFIXES)


class _Status:
    """The response's status code, as the app sends it (500 if it never does)."""

    def __init__(self, send: Send) -> None:
        self.code = 500
        self._send = send

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.code = message["status"]
        await self._send(message)


class HttpTelemetry:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.routes = RouteTable()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        route = self.routes.template(scope)
        status = _Status(send)
        started = time.perf_counter()
        try:
            if traced(route):
                await self._traced(scope, receive, status, method, route)
            else:
                await self.app(scope, receive, status.send)
        finally:
            HTTP_SECONDS.labels(self.service, method, route, str(status.code)).observe(
                time.perf_counter() - started
            )

    async def _traced(self, scope: Scope, receive: Receive, status: _Status, method: str, route: str) -> None:
        attributes: dict[str, str | int | bool] = {
            "http.request.method": method,
            "http.route": route,
            "url.scheme": scope.get("scheme", "http"),
        }
        context = tracing.context_from(tracing.http_headers(scope["headers"]))
        with tracing.span(f"{method} {route}", SpanKind.SERVER, attributes, context) as span:
            try:
                await self.app(scope, receive, status.send)
            finally:
                span.set_attribute("http.response.status_code", status.code)
                if status.code >= 500:
                    span.set_status(StatusCode.ERROR)
                    span.set_attribute(tracing.ERROR_TYPE, str(status.code))


def install_http_telemetry(app: Any, service: str) -> None:
    """Count and trace every request of a Starlette/FastAPI app (outermost of its middlewares
    added so far, so e.g. a 413 from a body limit is counted too)."""
    app.add_middleware(HttpTelemetry, service=service)
