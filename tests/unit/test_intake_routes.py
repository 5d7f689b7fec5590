"""The public site serves only what the public uses: every operator route lives in the console
(services/console), behind its one authentication dependency. This pins intake's whole surface,
so a route added to intake is a deliberate change of this list."""

from __future__ import annotations

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from services.intake.app import create_app
from tests.service.conftest import intake_settings

PUBLIC = {
    ("GET", "/"),
    ("POST", "/"),
    ("GET", "/pledge/{pledge_id}"),
    ("GET", "/m/confirm/{token}"),
    ("POST", "/m/confirm/{token}"),
    ("POST", "/api/v1/pledges"),
    ("OPTIONS", "/api/v1/pledges"),
    ("GET", "/api/v1/pledges/{pledge_id}"),
    ("GET", "/v/{number}"),
    ("GET", "/api/v1/certificates/{number}"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
    ("GET", "/a/done/{token}"),
    ("POST", "/a/done/{token}"),
    ("GET", "/a/{alert_slug}"),
    ("GET", "/subscribe"),
    ("POST", "/subscribe"),
    ("POST", "/api/v1/subscriptions"),
    ("GET", "/c/{token}"),
    ("POST", "/c/{token}"),
    ("GET", "/p/{token}"),
    ("POST", "/p/{token}"),
    ("GET", "/p/{token}/export"),
    ("GET", "/p/{token}/erase"),
    ("POST", "/p/{token}/erase"),
    ("POST", "/p/{token}/links"),
    ("GET", "/sessions"),
    ("GET", "/sessions.ics"),
    ("GET", "/sessions/{session_id}.ics"),
    ("GET", "/sessions/cancel/{token}"),
    ("POST", "/sessions/cancel/{token}"),
    ("GET", "/sessions/{session_id}"),
    ("POST", "/sessions/{session_id}/register"),
    ("POST", "/api/v1/sessions/{session_id}/registrations"),
    ("OPTIONS", "/api/v1/sessions/{session_id}/registrations"),
    ("GET", "/d/{token}"),
    ("POST", "/d/{token}"),
    ("POST", "/d/{token}/certificate"),
}
INFRASTRUCTURE = {
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/health/live",
    "/health/ready",
    "/metrics",
}


def served() -> tuple[set[tuple[str, str]], set[str]]:
    app = create_app(intake_settings("amqp://guest:guest@127.0.0.1:1/", "mongodb://127.0.0.1:1", "unused"))
    api: set[tuple[str, str]] = set()
    other: set[str] = set()
    for route in iter_route_contexts(app.router.routes):  # an included router's routes too
        if isinstance(route.original_route, APIRoute):
            api |= {(method, str(route.path)) for method in route.methods or ()}
        elif isinstance(route.original_route, Route | Mount):
            other.add(str(route.path))
    return api, other


def test_intake_serves_no_operator_route_only_the_public_ones() -> None:
    api, other = served()
    assert not {(m, p) for m, p in api if p.startswith("/api/v1/operator")}
    assert not {(m, p) for m, p in api if "import" in p or p.endswith("/reissue")}
    assert api == PUBLIC
    assert other == INFRASTRUCTURE | {"/static"}


def test_intake_has_no_operator_token_setting() -> None:
    from services.intake.settings import IntakeSettings

    assert "operator_token" not in IntakeSettings.model_fields
