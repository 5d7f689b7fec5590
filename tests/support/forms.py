"""Posting intake's HTML forms as a browser does: with the CSRF token of a page it loaded."""

from __future__ import annotations

import re
from typing import Any

import httpx

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def csrf(client: httpx.AsyncClient, page: str = "/") -> dict[str, str]:
    """The form field of `page`'s token; the client keeps the cookie that goes with it."""
    found = TOKEN.search((await client.get(page)).text)
    assert found, f"{page} has no form with a CSRF token"
    return {"csrf_token": found.group(1)}


async def post_form(
    client: httpx.AsyncClient, url: str, data: dict[str, Any] | None = None, page: str | None = None
) -> httpx.Response:
    """POST a form as a browser does after loading it: the CSRF token of `page` (default: the
    form's own URL, whose GET shows it) joins `data`."""
    token = await csrf(client, page or url)
    return await client.post(url, data={**(data or {}), **token})
