"""The signed-in frame's own routes: the home address and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from services.console.auth import Caller, clear_session_cookie, console_of
from shared.web_security import CSRF_REQUIRED

router = APIRouter()


@router.get("/")
async def home(request: Request, who: Caller) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse("/dashboard" + (f"?{query}" if query else ""), status_code=303)


@router.post("/sign-out", dependencies=[CSRF_REQUIRED])
async def sign_out(request: Request, who: Caller) -> RedirectResponse:
    console = console_of(request)
    if who.credential.session_id is not None:
        await console.credentials.revoke_session(who.credential.session_id)
        await console.audit.record(who.event("operator.sign_out", "session", who.credential.session_id))
    response = RedirectResponse("/sign-in?signed_out=true", status_code=303)
    clear_session_cookie(response, console.settings)
    return response
