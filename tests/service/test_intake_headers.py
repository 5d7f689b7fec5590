"""Headers and forms of the public site (real broker and Mongo-wire server): every response carries
the browser protections (HSTS only when configured), every HTML form POST needs the CSRF token of
its page (403 and nothing handed over without it), CSV cells never run as formulas, and a
session's place stays off the public pages until the join link's release time."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from devstack.broker import RabbitNode
from services.channels.post.print_batch import write_files
from shared.csv_safety import FormulaSafeWriter, formula_safe
from shared.web_security import CONTENT_SECURITY_POLICY
from tests.support import seeds
from tests.support.forms import csrf
from tests.support.handed_over import drain, watched

START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
PLACE = "Wat Khmer hall, 2100 W Willow St, Long Beach"
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


@pytest.fixture
async def published(rabbit: RabbitNode) -> AsyncIterator[Callable[[], Any]]:
    """Every event intake hands over, declared but not consumed."""
    async with watched(rabbit.url, "test-headers", ("#",)) as queue:

        async def types() -> list[str]:
            return [event["type"] for event in await drain(queue, settle=0.3)]

        yield types


async def seed_session(db: Any, session_id: str, **change: Any) -> None:
    """A session in a hall (`PLACE`, no join link) ten days away."""
    in_person = {
        "starts_at": START,
        "ends_at": START + timedelta(hours=2),
        "mode": "in-person",
        "place": PLACE,
        "join_link": None,
        "reminder_minutes": [1440],
    }
    await seeds.seed_session(db, session_id, **{**in_person, **change})


def assert_protected(response: httpx.Response, *, hsts: bool = False) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)
    assert ("strict-transport-security" in response.headers) is hsts, response.url


async def test_every_page_and_the_json_api_carry_the_security_headers(intake: str, db: Any) -> None:
    await seed_session(db, "ss_headers")
    pages = [
        "/", "/?lang=km", "/subscribe", "/sessions", "/sessions/ss_headers", "/sessions/ss_none",
        "/sessions/cancel/x", "/u/" + "b" * 32, "/p/" + "b" * 32, "/c/" + "b" * 32,
        "/m/confirm/" + "b" * 32, "/p/" + "b" * 32 + "/erase", "/a/UA-1-26", "/a/done/" + "b" * 32,
        "/v/KCAP-2026-000001", "/pledge/pl_unknown", "/static/site.css",
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=intake) as client:
        for path in pages:
            response = await client.get(path)
            assert response.status_code < 500, path
            assert_protected(response)
        for path in ("/api/v1/pledges/pl_unknown", "/sessions.ics", "/health/live", "/openapi.json"):
            assert_protected(await client.get(path))
        refused = await client.post("/api/v1/pledges", json={})
        assert refused.status_code == 422
        assert_protected(refused)


async def test_strict_transport_security_only_when_configured(make_intake: Any) -> None:
    async with make_intake(hsts=True) as url, httpx.AsyncClient(base_url=url) as client:
        for path in ("/", "/api/v1/pledges/pl_unknown"):
            response = await client.get(path)
            assert_protected(response, hsts=True)
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_templates_have_no_inline_script_or_handler() -> None:
    templates = Path(__file__).resolve().parents[2] / "services" / "intake" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and "<script " not in text.replace('<script src="', ""), template
        assert " onclick=" not in text and " onchange=" not in text and " onsubmit=" not in text, template
        assert "<style" not in text, template


FORM_POSTS = [
    "/subscribe",
    "/sessions/ss_forms/register",
    "/sessions/cancel/" + "b" * 40,
    "/u/" + "b" * 32,
    "/p/" + "b" * 32,
    "/p/" + "b" * 32 + "/erase",
    "/p/" + "b" * 32 + "/links",
    "/c/" + "b" * 32,
    "/m/confirm/" + "b" * 32,
]
SUBSCRIBE = {
    "name": "Sok Dara",
    "country": "US",
    "email": "dara@example.org",
    "channel_1": "email",
    "language": "en",
    "time_zone": "America/Los_Angeles",
    "alerts": "yes",
    "sessions": "yes",
    "consent": "yes",
}
REGISTER = {
    "name": "Sok Dara",
    "country": "US",
    "email": "dara@example.org",
    "channel_1": "email",
    "language": "en",
    "time_zone": "America/Los_Angeles",
    "consent": "yes",
}


async def test_a_form_post_without_its_token_is_refused_and_hands_nothing_over(
    intake: str, db: Any, published: Callable[[], Any]
) -> None:
    await seed_session(db, "ss_forms")
    await db.members.insert_one({"_id": "mb_csrf", "unsubscribe_token": "u" * 32})
    await db.pending_changes.insert_one({"_id": "pc_csrf", "token": "t" * 32, "state": "pending"})
    async with httpx.AsyncClient(base_url=intake) as client:
        for path in [*FORM_POSTS, "/u/" + "u" * 32, "/m/confirm/" + "t" * 32]:
            for data in ({}, {"csrf_token": "forged"}):
                refused = await client.post(path, data={**SUBSCRIBE, **data})
                assert refused.status_code == 403, path
                assert 'id="csrf-refused"' in refused.text and "nothing was sent" in refused.text
                assert_protected(refused)
        await csrf(client)  # a browser that holds a cookie, but a page of another site posts
        forged = await client.post("/subscribe", data={**SUBSCRIBE, "csrf_token": "forged"})
        assert forged.status_code == 403
        assert await published() == [], "a refused form hands nothing over"

        token = await csrf(client, "/subscribe")
        for path in FORM_POSTS:  # with the token, each route runs (unknown links are 404, not 403)
            response = await client.post(path, data={**SUBSCRIBE, **token})
            assert response.status_code != 403, path
        subscribed = await client.post("/subscribe", data={**SUBSCRIBE, **await csrf(client, "/subscribe")})
        registered = await client.post(
            "/sessions/ss_forms/register", data={**REGISTER, **await csrf(client, "/sessions/ss_forms")}
        )
        confirmed = await client.post(
            "/m/confirm/" + "t" * 32, data=await csrf(client, "/m/confirm/" + "t" * 32)
        )
        unsubscribed = await client.post("/u/" + "u" * 32, data=await csrf(client, "/u/" + "u" * 32))
    assert subscribed.status_code == 200 and registered.status_code == 200
    assert confirmed.status_code == 200 and 'data-state="done"' in confirmed.text
    assert unsubscribed.status_code == 200 and 'data-state="done"' in unsubscribed.text
    handed_over = await published()
    for kind in (
        "subscription.requested.v1",
        "registration.submitted.v1",
        "member_change.confirmed.v1",
        "consent.withdrawn.v1",
    ):
        assert kind in handed_over, (kind, handed_over)


async def test_the_token_cookie_is_http_only_and_same_site(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        first = await client.get("/subscribe")
        cookie = first.headers["set-cookie"]
        assert "samleng_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        again = await client.get("/sessions/cancel/x")  # the browser holds it: not set again
    assert "samleng_csrf" not in again.headers.get("set-cookie", "")


def test_formula_cells_are_kept_as_text() -> None:
    for cell in ("=1+1", "+61 4", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://evil")'):
        assert formula_safe(cell) == "'" + cell
    for cell in ("Sok Dara", "សុខ ដារ៉ា", "1+1", "", "a=b"):
        assert formula_safe(cell) == cell
    assert formula_safe(None) == "" and formula_safe(-3) == "'-3"
    out = io.StringIO()
    FormulaSafeWriter(out).writerows([["=cmd|' /C calc'!A0", "ok"]])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=cmd|' /C calc'!A0", "ok"]


def test_the_print_batch_addresses_are_formula_safe(tmp_path: Path) -> None:
    letter = {
        "certificate_number": "KCAP-2026-000001",
        "name": "=HYPERLINK(\"http://evil\",\"Sok\")",
        "address": {"street_address": "@12 Rue Mouffetard", "city": "Paris", "postal_code": "75005",
                    "country_code": "FR"},
    }  # fmt: skip
    write_files([letter], [], tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "addresses.csv").read_text())))
    assert rows[0]["name"] == "'" + letter["name"]
    assert rows[0]["street_address"] == "'@12 Rue Mouffetard" and rows[0]["city"] == "Paris"


async def test_the_place_is_public_only_from_the_join_link_release(intake: str, db: Any) -> None:
    now = datetime.now(UTC)
    await seed_session(db, "ss_later", join_link_release_at=now + timedelta(days=2))
    await seed_session(db, "ss_default")  # no release time: 24 h before the start, 10 days away
    await seed_session(db, "ss_released", join_link_release_at=now - timedelta(minutes=1))
    async with httpx.AsyncClient(base_url=intake) as client:
        pages = {s: await client.get(f"/sessions/{s}") for s in ("ss_later", "ss_default", "ss_released")}
        icses = {s: await client.get(f"/sessions/{s}.ics") for s in ("ss_later", "ss_default", "ss_released")}
        calendar_page = await client.get("/sessions")
        feed = await client.get("/sessions.ics")
    for hidden in ("ss_later", "ss_default"):
        assert pages[hidden].status_code == 200 and PLACE not in pages[hidden].text
        event = Calendar.from_ical(icses[hidden].content).walk("VEVENT")[0]
        assert "LOCATION" not in event, "not released: no place, and not 'Online' either"
    assert 'id="place"' in pages["ss_released"].text and PLACE in pages["ss_released"].text
    released = Calendar.from_ical(icses["ss_released"].content).walk("VEVENT")[0]
    assert str(released["LOCATION"]) == PLACE
    assert calendar_page.text.count(PLACE) <= 1
    locations = [str(e.get("LOCATION", "")) for e in Calendar.from_ical(feed.content).walk("VEVENT")]
    assert locations.count(PLACE) == 1
