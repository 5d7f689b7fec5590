"""The console's public pages: sign-in (email, password, TOTP code) — the only page served to
someone not signed in. It signs in exactly as `POST /api/v1/operator/sign-in` does
(services/console/signin.py: lockout, per-address throttle, one use per code, audit) and sets the
same session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.auth import console_of, set_session_cookie
from services.console.signin import Throttled, sign_in
from services.console.web.rendering import language_of, render
from services.console.web.words import word
from shared.web_security import CSRF_REQUIRED

public_router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 500:
        return "/dashboard"
    return target


@public_router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str | None = None, signed_out: bool = False) -> HTMLResponse:
    return render(
        request,
        "sign_in.html",
        who=None,
        values={"email": ""},
        errors={},
        failed=None,
        next=safe_next(next),
        signed_out=signed_out,
    )


@public_router.post("/sign-in", response_class=HTMLResponse, dependencies=[CSRF_REQUIRED])
async def sign_in_form(request: Request) -> Response:
    form = await request.form()
    email, password, totp = (str(form.get(name) or "")[:1024] for name in ("email", "password", "totp"))
    target = safe_next(str(form.get("next") or ""))
    required = word("required", language_of(request))
    fields = (("email", email), ("password", password), ("totp", totp))
    errors = {name: [required] for name, value in fields if not value.strip()}
    if errors:
        return render(
            request,
            "sign_in.html",
            who=None,
            status=422,
            values={"email": email},
            errors=errors,
            failed=None,
            next=target,
            signed_out=False,
        )
    console = console_of(request)
    ip = request.client.host if request.client else None
    try:
        session = await sign_in(console, email.strip(), password, totp.strip(), ip)
    except Throttled as throttled:
        return render(
            request,
            "sign_in.html",
            who=None,
            status=429,
            headers={"Retry-After": str(throttled.retry_after)},
            values={"email": email},
            errors={},
            failed="throttled",
            minutes=max(1, throttled.retry_after // 60),
            next=target,
            signed_out=False,
        )
    if session is None:
        return render(
            request,
            "sign_in.html",
            who=None,
            status=401,
            values={"email": email},
            errors={},
            failed="failed",
            next=target,
            signed_out=False,
        )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, console.settings, session.token)
    return response
