"""How a console page is drawn: the page language, the frame (navigation by permission, sign-out,
language switch), the CSRF field and the helpers every template has.

    return render(request, "alerts/list.html", who=who, alerts=found)

Every template extends `base.html` and has `t(key, **values)`, `lang`, `other_lang`,
`csrf_field()`, `who`, `can("alerts.publish")`, `when(datetime)` and `number(n)`. Form errors
are a dict of dotted field path -> messages (`form_errors`), drawn by the macros of
`_forms.html` next to their fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.routing import iter_route_contexts
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from starlette.routing import Route

from services.console.auth import Principal, console_of
from services.console.permissions import Permission, allows
from services.console.web.words import WORDS, word
from shared.contracts.languages import LANGUAGES, Lang, pick_language
from shared.web_security import Csrf

LANG_COOKIE = "samleng_console_lang"

TEMPLATES = Environment(
    loader=PackageLoader("services.console", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

NAVIGATION: tuple[tuple[str, str, Permission | None], ...] = (
    ("/dashboard", "nav_dashboard", Permission.dashboard_read),
    ("/alerts", "nav_alerts", Permission.dashboard_read),
    ("/sessions", "nav_sessions", Permission.dashboard_read),
    ("/replies", "nav_replies", Permission.members_read_personal),
    ("/members", "nav_members", Permission.members_read_personal),
    ("/dead-letters", "nav_dead_letters", Permission.deliveries_read),
    ("/admin/operators", "nav_operators", Permission.operators_manage),
    ("/admin/partner-keys", "nav_partner_keys", Permission.keys_manage),
    ("/admin/audit", "nav_audit", Permission.audit_read),
    ("/account", "nav_account", None),
)
"""The console's areas, in menu order: an entry shows when its page exists and the role may see it."""


def language_of(request: Request) -> Lang:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _pages(request: Request) -> set[str]:
    """The paths of the app's GET pages (included routers flattened, with their prefixes)."""
    found: set[str] | None = getattr(request.app.state, "console_pages", None)
    if found is None:
        found = {
            str(route.path)
            for route in iter_route_contexts(request.app.router.routes)
            if isinstance(route.original_route, Route) and "GET" in (route.methods or ()) and route.path
        }
        request.app.state.console_pages = found
    return found


def navigation(request: Request, who: Principal | None, lang: Lang) -> list[dict[str, Any]]:
    if who is None:
        return []
    pages = _pages(request)
    return [
        {"href": href, "label": word(key, lang), "current": request.url.path.startswith(href)}
        for href, key, permission in NAVIGATION
        if href in pages and (permission is None or allows(who.operator.role, permission))
    ]


def render(
    request: Request,
    template: str,
    *,
    who: Principal | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = language_of(request)
    console = console_of(request)
    zone = ZoneInfo(console.settings.time_zone)
    csrf: Csrf = request.app.state.csrf

    def t(key: str, **values: object) -> str:
        return word(key, lang, **values)

    def can(permission: str) -> bool:
        return who is not None and allows(who.operator.role, Permission(permission))

    def when(value: datetime | None, style: str = "medium") -> str:
        if value is None:
            return ""
        return format_datetime(value, style, tzinfo=zone, locale=lang)

    def number(value: float | int | None) -> str:
        return "" if value is None else format_decimal(value, locale=lang)

    html = TEMPLATES.get_template(template).render(
        t=t,
        lang=lang,
        other_lang="km" if lang == "en" else "en",
        csrf_field=csrf.field,
        who=who,
        can=can,
        when=when,
        number=number,
        zone=console.settings.time_zone,
        nav=navigation(request, who, lang),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    asked = request.query_params.get("lang")
    if asked in LANGUAGES and asked != request.cookies.get(LANG_COOKIE):
        response.set_cookie(
            LANG_COOKIE,
            asked,
            max_age=365 * 24 * 3600,
            path="/",
            secure=not console.settings.insecure_cookies,
            httponly=True,
            samesite="lax",
        )
    return response


def form_errors(problems: ValidationError | Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Field errors by dotted path (`texts.en.title`), from a pydantic error or from the problem
    lists the JSON API answers with (`{"field": ..., "message": ...}` or FastAPI's `loc`)."""
    errors: dict[str, list[str]] = {}
    items: Iterable[Mapping[str, Any]] = (
        problems.errors(include_input=False, include_url=False)
        if isinstance(problems, ValidationError)
        else problems
    )
    for item in items:
        if "field" in item:
            field = str(item["field"])
        else:
            loc = [str(part) for part in item.get("loc", ()) if part != "body"]
            field = ".".join(loc) or "form"
        message = str(item.get("message") or item.get("msg") or "invalid")
        errors.setdefault(field, []).append(message.removeprefix("Value error, "))
    return errors


def words_for(lang: Lang, keys: Iterable[str]) -> dict[str, str]:
    """Some words in `lang`, e.g. for a script (handed over as data attributes, never inline)."""
    return {key: WORDS[key][lang] for key in keys}
