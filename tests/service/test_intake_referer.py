"""The alert page sends no Referer to an official's site (issue 17, point 4), seen in a real browser
(Debian's Chromium under Playwright) against intake on a real socket and a local HTTP server that
stands for the official's mail site and records the headers it receives.

An official's link on the alert page is a `mailto:` link: a mail program or a webmail registered
for mailto opens it, the webmail as a navigation to its compose page. The test points the
official's link on the page at the recording server's compose page, as such a webmail would open
it, and clicks it; the page's own referrer policy decides what the browser sends. A page served
without a policy, clicked the same way, shows that the recorder would see a Referer if one were
sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.integration.test_alerts import ALERT
from tests.support.http import serve


class OfficialsSite:
    """A site that records the path and the Referer of every request it receives."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    async def page(self, request: Request) -> HTMLResponse:
        self.seen.append((request.url.path, request.headers.get("referer")))
        return HTMLResponse("<!doctype html><title>Mail</title><p id=compose>Compose</p>")

    async def plain_page(self, request: Request) -> HTMLResponse:
        """A page without a referrer policy, linking to the compose page (the control)."""
        target = request.query_params["to"]
        return HTMLResponse(f'<!doctype html><title>Plain</title><a id=out href="{target}">write</a>')

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/plain", self.plain_page), Route("/{path:path}", self.page)])


@pytest.fixture
async def officials_site() -> AsyncIterator[tuple[OfficialsSite, str]]:
    site = OfficialsSite()
    async with serve(site.app()) as url:
        yield site, url.replace("127.0.0.1", "localhost")  # another site than intake's, as in life


async def seed_alert(db: Any) -> None:
    body = copy.deepcopy(ALERT)
    body["number"] = "UA 35/26"
    await db.alerts.insert_one(  # as the dispatcher keeps a published alert
        {
            "_id": "al_referer",
            **body,
            "deadline": datetime(2026, 12, 15, tzinfo=UTC),
            "alert_id": "al_referer",
            "kind": "alert",
            "sequence": 0,
            "state": "published",
            "public_url": "http://intake.test/a/UA-35-26",
            "published_at": datetime(2026, 11, 1, tzinfo=UTC),
        }
    )


async def click_through(page: Any, link: str, compose: str) -> None:
    """Point `link` at the mail site's compose page, as a webmail opens a mailto link, and click it."""
    await page.eval_on_selector(
        link, "(a, compose) => { a.href = compose + '?to=' + encodeURIComponent(a.href); }", compose
    )
    async with page.expect_navigation(url=f"{compose}*"):
        await page.click(link)


async def test_clicking_an_officials_link_on_the_alert_page_sends_no_referer(
    chromium: Any, intake: str, db: Any, officials_site: tuple[OfficialsSite, str]
) -> None:
    site, site_url = officials_site
    await seed_alert(db)
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        alert = await page.goto(f"{intake}/a/UA-35-26?lang=en")
        assert alert is not None and alert.status == 200
        assert (await alert.all_headers())["referrer-policy"] == "no-referrer"
        link = "#alert-officials a"
        assert (await page.get_attribute(link, "href") or "").startswith("mailto:minister@justice.example?")
        await click_through(page, link, f"{site_url}/compose")
        assert await page.locator("#compose").is_visible()

        control = await context.new_page()
        await control.goto(f"{site_url}/plain?to={site_url}/control")
        async with control.expect_navigation(url=f"{site_url}/control"):
            await control.click("#out")
    finally:
        await context.close()
    referers = {path: referer for path, referer in site.seen if path in ("/compose", "/control")}
    assert referers == {"/compose": None, "/control": f"{site_url}/plain?to={site_url}/control"}, json.dumps(
        site.seen
    )
