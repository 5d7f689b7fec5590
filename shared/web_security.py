"""What every response of a service with web pages (intake's public site, the operator console)
carries, and what every HTML form POST must prove.

`SecurityHeaders` (ASGI) adds the browser protections to every response, HTML and JSON: a
Content-Security-Policy without inline script or style, no framing, no Referer, no MIME
sniffing, and HSTS when the service's setting is on (`INTAKE_HSTS`, `CONSOLE_HSTS`: production
behind TLS).

CSRF is a double-submit token: `CsrfCookie` (ASGI) reads the signed `samleng_csrf` cookie of the
request, and sets one when a page rendered a token the browser does not hold yet; templates write
the token with `{{ csrf_field() }}`; a form POST route declares `dependencies=[CSRF_REQUIRED]`,
(`CSRF_REQUIRED_OR_ONE_CLICK` for unsubscribe), which refuses a POST whose `csrf_token` field does not match the cookie with `CsrfRefused` (a
403 page; the route never runs, so nothing is published).
"""

from __future__ import annotations

import contextvars
import hmac
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
COOKIE = "samleng_csrf"
FIELD = "csrf_token"


def security_headers(*, hsts: bool) -> list[tuple[bytes, bytes]]:
    headers = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
    }
    if hsts:
        headers["strict-transport-security"] = HSTS
    return [(name.encode(), value.encode()) for name, value in headers.items()]


class SecurityHeaders:
    """Sets the security headers on every HTTP response (replacing a route's own value)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = security_headers(hsts=hsts)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message = {**message, "headers": [*kept, *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class _Token:
    value: str | None  # the browser's token, from its cookie
    issued: bool = False  # a new token was rendered: the response sets the cookie


_current: contextvars.ContextVar[_Token | None] = contextvars.ContextVar("samleng_csrf", default=None)


class Csrf:
    """Issues and checks the double-submit token, signed with the site's secret."""

    def __init__(self, secret: bytes, *, secure_cookie: bool) -> None:
        self.signer = URLSafeSerializer(secret, salt="csrf")
        self.secure_cookie = secure_cookie

    def token_of_cookie(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            token = self.signer.loads(cookie)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def valid(self, cookie: str | None, field: object) -> bool:
        expected = self.token_of_cookie(cookie)
        return expected is not None and isinstance(field, str) and hmac.compare_digest(expected, field)

    def field(self) -> Markup:
        """The hidden input of a form (a Jinja global); the token of this request's browser."""
        current = _current.get()
        if current is None:  # rendered outside a request (tests of a template alone)
            current = _Token(None)
        if current.value is None:
            current.value, current.issued = secrets.token_urlsafe(24), True
        return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, current.value)

    def set_cookie_header(self, token: str) -> bytes:
        cookie: SimpleCookie = SimpleCookie()
        cookie[COOKIE] = self.signer.dumps(token)
        morsel = cookie[COOKIE]
        morsel["path"], morsel["httponly"], morsel["samesite"] = "/", True, "lax"
        if self.secure_cookie:
            morsel["secure"] = True
        return morsel.OutputString().encode("latin-1")


class CsrfCookie:
    """Makes the browser's CSRF token known to `Csrf.field` and sets the cookie of a new one."""

    def __init__(self, app: ASGIApp, *, csrf: Csrf) -> None:
        self.app = app
        self.csrf = csrf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = b"; ".join(v for k, v in scope.get("headers", []) if k.lower() == b"cookie").decode("latin-1")
        current = _Token(self.csrf.token_of_cookie(cookie_parser(raw).get(COOKIE)))
        reset = _current.set(current)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and current.issued and current.value:
                cookie = (b"set-cookie", self.csrf.set_cookie_header(current.value))
                message = {**message, "headers": [*message.get("headers", []), cookie]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            _current.reset(reset)


class CsrfRefused(Exception):
    """A form POST without the token of its page: answered 403, nothing done."""


async def _check(request: Request, *, one_click: bool) -> None:
    await request.body()  # kept by Starlette: the route can still read the body or the form
    form = await request.form()
    if one_click and form.get("List-Unsubscribe") == "One-Click":
        return  # RFC 8058: a mail provider posts without a browser or cookie; the URL token decides
    csrf: Csrf = request.app.state.csrf
    if not csrf.valid(request.cookies.get(COOKIE), form.get(FIELD)):
        raise CsrfRefused


async def _require_csrf(request: Request) -> None:
    await _check(request, one_click=False)


async def _require_csrf_or_one_click(request: Request) -> None:
    await _check(request, one_click=True)


CSRF_REQUIRED: Any = Depends(_require_csrf)
CSRF_REQUIRED_OR_ONE_CLICK: Any = Depends(_require_csrf_or_one_click)
"""For the unsubscribe URL that `List-Unsubscribe-Post` names: the page's form, or one click."""
