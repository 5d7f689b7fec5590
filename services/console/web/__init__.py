"""The operator console on the web: server-rendered pages (Jinja2) that work without JavaScript,
in English and Khmer, over the same logic as the operator API.

    web_router    every page but sign-in, behind the ONE authentication dependency of the API
                  (services/console/auth.py `authenticated`); each route names its permission
    public_router the sign-in page

A page area is one module of this package with a `router` (an `APIRouter`), its words in
`words/<area>.py` and its templates in `services/console/templates/<area>/`: the package is
scanned, so adding an area edits no list. Form POSTs carry the CSRF token (shared/web_security.py).
An unauthenticated page request is sent to /sign-in; a role without the permission gets a 403
page (services/console/app.py installs both answers for pages, keeping JSON for /api).
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter, Depends

from services.console.auth import authenticated
from services.console.web.signin import public_router

web_router = APIRouter(include_in_schema=False, dependencies=[Depends(authenticated)])

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if _info.ispkg:
        continue
    _area = importlib.import_module(f"{__name__}.{_info.name}")
    if isinstance(getattr(_area, "router", None), APIRouter):
        web_router.include_router(_area.router)

__all__ = ["public_router", "web_router"]
