"""Sessions on intake (real broker and Mongo-wire server): the public calendar in the viewer's
time zone, the iCalendar output, registration (idempotent per person and session) and a
registrant's own cancellation. The event-scheduler's `sessions` and `registrations` are seeded
here as it would write them. Operators' routes are the console's
(tests/service/test_console_sessions.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from devstack.broker import RabbitNode
from services.intake.sessions import cancel_token
from tests.service.conftest import SECRET
from tests.support.forms import csrf
from tests.support.handed_over import drain, watched
from tests.support.seeds import START, seed_session


@pytest.fixture
async def events(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The scheduler's inputs from intake, declared but not consumed: what intake publishes stays readable."""
    async with watched(
        rabbit.url, "test-sessions", ("registration.submitted.v1", "registration.cancelled.v1")
    ) as queue:
        yield queue


async def test_the_calendar_shows_each_viewer_their_own_time_and_the_ics_is_in_utc(
    intake: str, db: Any
) -> None:
    await seed_session(db)
    await seed_session(
        db,
        "ss_gone",
        status="cancelled",
        starts_at=START + timedelta(days=1),
        ends_at=START + timedelta(days=1, hours=1),
    )
    async with httpx.AsyncClient(base_url=intake) as client:
        phnom_penh = await client.get("/sessions", params={"tz": "Asia/Phnom_Penh", "lang": "en"})
        los_angeles = await client.get("/sessions", params={"tz": "America/Los_Angeles", "lang": "en"})
        khmer = await client.get("/sessions", params={"tz": "Asia/Phnom_Penh", "lang": "km"})
        single = await client.get("/sessions/ss_seeded.ics")
        feed = await client.get("/sessions.ics")
        page = await client.get("/sessions/ss_seeded", params={"tz": "Australia/Melbourne"})
    assert "Saturday 6 March 2027, 19:00" in phnom_penh.text
    assert "Saturday 6 March 2027, 04:00" in los_angeles.text
    assert "វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី" in khmer.text and "សៅរ៍" in khmer.text  # Saturday, in Khmer
    assert "Saturday 6 March 2027, 23:00" in page.text  # Melbourne, daylight saving time (UTC+11)
    for response in (phnom_penh, page):
        assert "zoom.example" not in response.text, "the join link is never public"
    assert single.headers["content-type"].startswith("text/calendar")
    [event] = Calendar.from_ical(single.content).walk("VEVENT")
    assert event.decoded("dtstart") == START and event.decoded("dtend") == START + timedelta(hours=2)
    assert str(event["uid"]) == "ss_seeded@samleng" and "zoom.example" not in single.text
    statuses = {str(e["uid"]): str(e["status"]) for e in Calendar.from_ical(feed.content).walk("VEVENT")}
    assert statuses == {"ss_seeded@samleng": "CONFIRMED", "ss_gone@samleng": "CANCELLED"}
    local = Calendar.from_ical(feed.content).walk("VEVENT")[0].decoded("dtstart")
    assert local.astimezone(ZoneInfo("America/Los_Angeles")).hour == 4


FORM = {
    "name": "Sok Dara",
    "country": "US",
    "email": "Dara@Example.org",
    "channel_1": "email",
    "language": "km",
    "time_zone": "America/Los_Angeles",
    "ideas": '=HYPERLINK("http://evil") សំណូមពរ',
    "consent": "yes",
}


async def test_registration_is_idempotent_per_person_and_bad_input_is_named(
    intake: str, events: Any, db: Any
) -> None:
    await seed_session(db)
    async with httpx.AsyncClient(base_url=intake) as client:
        token = await csrf(client, "/sessions/ss_seeded")
        bad = await client.post(
            "/sessions/ss_seeded/register",
            data={**FORM, **token, "email": "", "channel_1": "signal", "consent": ""},
        )
        assert bad.status_code == 422
        assert 'id="phone-error"' in bad.text and 'id="consent-error"' in bad.text
        assert 'value="Sok Dara"' in bad.text, "what was typed comes back"
        first = await client.post("/sessions/ss_seeded/register", data={**FORM, **token})
        again = await client.post("/api/v1/sessions/ss_seeded/registrations", json={
            "name": "Sok Dara", "country": "US", "email": "dara@example.org", "channels": ["email"],
            "language": "km", "time_zone": "America/Los_Angeles", "consent": True,
        })  # fmt: skip
        unknown = await client.post("/api/v1/sessions/ss_nope/registrations", json={"consent": True})
    assert first.status_code == 200 and 'data-state="registered"' in first.text
    assert again.status_code == 202 and unknown.status_code == 404
    registrations = [e for e in await drain(events) if e["type"] == "registration.submitted.v1"]
    assert len(registrations) == 2
    assert (
        registrations[0]["data"]["registration_id"]
        == registrations[1]["data"]["registration_id"]
        == again.json()["registration_id"]
    )
    data = registrations[0]["data"]
    assert data["registrant"]["time_zone"] == "America/Los_Angeles" and data["registrant"]["language"] == "km"
    assert data["registrant"]["contact"]["email"].lower() == "dara@example.org"


async def test_closed_registration_is_refused(intake: str, events: Any, db: Any) -> None:
    await seed_session(db, registration_closes_at=datetime.now(UTC) - timedelta(minutes=1))
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get("/sessions/ss_seeded")
        refused = await client.post("/api/v1/sessions/ss_seeded/registrations", json={
            "name": "Sok Dara", "country": "US", "email": "dara@example.org", "channels": ["email"], "consent": True,
        })  # fmt: skip
    assert 'data-state="closed"' in page.text
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "session"
    assert await drain(events) == []


async def test_a_registrant_cancels_with_the_link_from_their_messages_and_only_with_it(
    intake: str, events: Any, db: Any
) -> None:
    await seed_session(db)
    async with httpx.AsyncClient(base_url=intake) as client:
        registered = await client.post("/api/v1/sessions/ss_seeded/registrations", json={
            "name": "Sok Dara", "country": "US", "email": "dara@example.org", "channels": ["email"],
            "language": "en", "time_zone": "America/Los_Angeles", "consent": True,
        })  # fmt: skip
        assert registered.status_code == 202
        submitted = next(e for e in await drain(events) if e["type"] == "registration.submitted.v1")["data"]
        link = submitted["cancel_url"]
        rid = submitted["registration_id"]
        assert link.startswith("http") and f"/sessions/cancel/{rid}." in link
        path = link[link.index("/sessions/cancel/") :]
        # the scheduler keeps the registration (here: as it would)
        await db.registrations.insert_one({"_id": rid, "session_id": "ss_seeded", "state": "registered"})

        for forged in (
            path[:-1] + ("0" if path[-1] != "0" else "1"),
            f"/sessions/cancel/{rid}",
            "/sessions/cancel/x",
        ):
            assert (await client.get(forged)).status_code == 404
            assert (await client.post(forged, data=await csrf(client))).status_code == 404
        assert await drain(events) == [], "a forged link cancels nothing"

        asked = await client.get(path)
        assert asked.status_code == 200 and 'data-state="ask"' in asked.text and "Forum" in asked.text
        assert await drain(events) == [], "opening the link is not cancelling"
        assert (await client.post(path)).status_code == 403, "a cancellation without its form's token"
        assert await drain(events) == []
        done = await client.post(path, data=await csrf(client, path))
        assert done.status_code == 200 and 'data-state="cancelled"' in done.text
    cancelled = [e for e in await drain(events) if e["type"] == "registration.cancelled.v1"]
    assert [(e["data"]["registration_id"], e["data"]["session_id"]) for e in cancelled] == [
        (rid, "ss_seeded")
    ]


async def test_a_cancel_link_stops_working_once_its_session_is_over_or_called_off(
    intake: str, events: Any, db: Any
) -> None:
    """Ended, called off or marked held: the link says only that it no longer works (EN and KM),
    shows nothing of the session and cancels nothing."""
    now = datetime.now(UTC)
    await seed_session(db, "ss_ended", starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1))
    await seed_session(db, "ss_calledoff", status="cancelled")
    await seed_session(db, "ss_held", status="completed")
    await seed_session(
        db, "ss_underway", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    links = {}
    async with httpx.AsyncClient(base_url=intake) as client:
        for session_id in ("ss_ended", "ss_calledoff", "ss_held", "ss_underway"):
            rid = "rg_" + session_id.ljust(24, "0")[:24]
            await db.registrations.insert_one({"_id": rid, "session_id": session_id, "state": "registered"})
            links[session_id] = f"/sessions/cancel/{cancel_token(SECRET.encode(), rid)}"
        underway = await client.get(links["ss_underway"])
        assert underway.status_code == 200 and 'data-state="ask"' in underway.text, "until it ends"
        form = await csrf(client, links["ss_underway"])
        for session_id in ("ss_ended", "ss_calledoff", "ss_held"):
            for lang, said in (("en", "no longer works"), ("km", "លែងដំណើរការទៀតហើយ")):
                page = await client.get(links[session_id], params={"lang": lang})
                assert page.status_code == 410 and 'data-state="expired"' in page.text, session_id
                assert said in page.text and "cancel-button" not in page.text, session_id
                assert "Forum" not in page.text and "វេទិកា" not in page.text, "nothing of the session"
            refused = await client.post(links[session_id], data=form)
            assert refused.status_code == 410 and 'data-state="expired"' in refused.text, session_id
    assert await drain(events) == [], "an expired link cancels nothing"


async def test_the_calendar_lists_upcoming_sessions_by_month_and_past_ones_apart(
    intake: str, db: Any
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await seed_session(db, "ss_march")  # START: March 2027
    await seed_session(
        db, "ss_soon", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=2)
    )
    await seed_session(
        db,
        "ss_called_off",
        status="cancelled",
        starts_at=START + timedelta(days=40),
        ends_at=START + timedelta(days=40, hours=1),
    )
    await seed_session(
        db, "ss_last_week", starts_at=now - timedelta(days=7), ends_at=now - timedelta(days=7, hours=-2)
    )
    await seed_session(
        db,
        "ss_held",
        status="completed",
        starts_at=now - timedelta(days=2),
        ends_at=now - timedelta(days=2, hours=-2),
    )
    async with httpx.AsyncClient(base_url=intake) as client:
        english = await client.get("/sessions", params={"tz": "Asia/Phnom_Penh", "lang": "en"})
        khmer = await client.get("/sessions", params={"tz": "Asia/Phnom_Penh", "lang": "km"})
    upcoming, past = english.text.split('id="past"')
    order = [upcoming.index(f'data-session="{s}"') for s in ("ss_soon", "ss_march", "ss_called_off")]
    assert order == sorted(order), "soonest first"
    assert upcoming.index("March 2027") < order[1] < upcoming.index("April 2027") < order[2]
    assert 'data-session="ss_called_off" data-status="cancelled"' in upcoming and "Cancelled" in upcoming
    assert "Past sessions" in past and past.index("ss_held") < past.index("ss_last_week"), "most recent first"
    assert "ss_held" not in upcoming and "ss_last_week" not in upcoming
    assert "មីនា 2027" in khmer.text and "មេសា 2027" in khmer.text and "វគ្គកន្លងមក" in khmer.text


async def test_registrations_and_subscriptions_count_against_the_same_per_address_limit(
    make_intake: Any, submitted_queue: Any, events: Any, db: Any
) -> None:
    """Anyone could fill a session's seats or make Samleng write to many contacts: every public
    submission counts against its address, with 429 and Retry-After past the limit (a page in the
    visitor's language on the forms, JSON on the API); a partner key has its own limit instead."""
    await seed_session(db)
    person = {
        "name": "Sok Dara", "country": "US", "channels": ["email"], "language": "km",
        "time_zone": "America/Los_Angeles", "consent": True,
    }  # fmt: skip
    async with make_intake(rate_limit_per_minute=3) as url, httpx.AsyncClient(base_url=url) as client:
        registered = [
            await client.post(
                "/api/v1/sessions/ss_seeded/registrations", json={**person, "email": f"dara{n}@example.org"}
            )
            for n in ("a", "b")
        ]
        subscribed = await client.post(
            "/api/v1/subscriptions",
            json={"name": "Sok Dara", "country": "US", "email": "dara@example.org", "consent": True},
        )
        over = await client.post(
            "/api/v1/sessions/ss_seeded/registrations", json={**person, "email": "darac@example.org"}
        )
        token = await csrf(client, "/sessions/ss_seeded?lang=km")
        form = await client.post("/sessions/ss_seeded/register?lang=km", data={**FORM, **token})
        subscribe_form = await client.post("/subscribe", data={**token})
    assert [r.status_code for r in registered] == [202, 202], [r.text for r in registered]
    assert subscribed.status_code in (202, 422), subscribed.text  # counted either way
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    assert over.json() == {"detail": "too many submissions; retry later"}
    assert form.status_code == 429 and "text/html" in form.headers["content-type"]
    assert "ច្រើនពេក" in form.text and form.headers["retry-after"]
    assert subscribe_form.status_code == 429
    submitted = [e for e in await drain(events) if e["type"] == "registration.submitted.v1"]
    assert len(submitted) == 2, "nothing past the limit was handed over"


async def test_the_registration_form_and_api_carry_the_discreet_choice(
    intake: str, events: Any, db: Any
) -> None:
    """Discreet messages (automatic, on, off) travel in the registrant; the API takes a boolean
    only (422 naming the field)."""
    await seed_session(db)
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get("/sessions/ss_seeded", params={"lang": "km"})
        token = await csrf(client, "/sessions/ss_seeded")
        by_form = await client.post("/sessions/ss_seeded/register", data={**FORM, **token, "discreet": "on"})
        api = {
            "name": "Chan Sophea", "country": "KH", "email": "sophea@example.org", "channels": ["email"],
            "consent": True,
        }  # fmt: skip
        chosen_off = await client.post(
            "/api/v1/sessions/ss_seeded/registrations", json={**api, "discreet": False}
        )
        unsaid = await client.post(
            "/api/v1/sessions/ss_seeded/registrations", json={**api, "email": "dara@example.org"}
        )
        not_boolean = await client.post(
            "/api/v1/sessions/ss_seeded/registrations", json={**api, "discreet": "on"}
        )
    assert 'id="discreet"' in page.text and "សារដោយសម្ងាត់" in page.text
    assert by_form.status_code == 200 and 'data-state="registered"' in by_form.text
    assert chosen_off.status_code == unsaid.status_code == 202
    assert not_boolean.status_code == 422
    assert [p["loc"][-1] for p in not_boolean.json()["detail"]] == ["discreet"]
    submitted = [e["data"] for e in await drain(events) if e["type"] == "registration.submitted.v1"]
    assert [d["registrant"]["discreet"] for d in submitted] == [True, False, None]
