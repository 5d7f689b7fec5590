"""A session's whole life on real components: the operator API on the console, registration on
intake, the event-scheduler, the dispatcher and the email channel to the SMTP sink. The join link
is absent before its release and arrives at release; the reminder carries it; a waitlisted
registrant gets neither; a new time and the cancellation reach everyone; the Plan of Action
reaches the registered."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts import utcnow
from shared.personal_data import open_fields
from tests.integration.test_delivery import Stack
from tests.service.conftest import SECRET
from tests.support.console import bearer
from tests.support.forms import post_form
from tests.support.infra import MailSink
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(300)
LINK = "https://zoom.example/j/777?pwd=flow"


@pytest.fixture
def stack(service_env: dict[str, str], tmp_path: Path, mail: MailSink) -> Iterator[Any]:
    intake_port, console_port = free_port(), free_port()
    env = {
        **service_env,
        **mail.client_env(),
        "DISPATCHER_PUBLIC_BASE_URL": f"http://127.0.0.1:{intake_port}",
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(intake_port),
        "INTAKE_PUBLIC_BASE_URL": f"http://127.0.0.1:{intake_port}",
        "CONSOLE_SECRET_KEY": SECRET,
        "CONSOLE_PORT": str(console_port),
        "CONSOLE_PUBLIC_SITE_URL": f"http://127.0.0.1:{intake_port}",
        "EMAIL_RATE_PER_SECOND": "1000",
    }
    running = Stack(env, tmp_path, [])
    running.start_together(
        (
            ("services.scheduler", "event-scheduler.1"),
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.intake", "intake.1"),
            ("services.console", "console.1"),
            ("services.channels.email", "email.1"),
        )
    )
    running.intake = f"http://127.0.0.1:{intake_port}"  # type: ignore[attr-defined]
    running.console = f"http://127.0.0.1:{console_port}"  # type: ignore[attr-defined]
    yield running
    ServiceProcess.stop_all(running.procs)


def inbox(mail: MailSink, address: str) -> list[tuple[str, str]]:
    found = []
    for item in mail.messages():
        if item["To"][0]["Address"] == address:
            parsed = email.message_from_bytes(mail.raw(item["ID"]), policy=email.policy.default)
            text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found.append((str(parsed["Subject"]), text))
    return sorted(found, key=lambda pair: pair[0])


async def until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.3)
    raise AssertionError("condition not met in time")


PLAN_PDF = b"%PDF-1.4\n% a small plan\n%%EOF\n"


def attachments(mail: MailSink, address: str, start: str) -> list[tuple[str, bytes]]:
    found = []
    for item in mail.messages():
        if item["To"][0]["Address"] == address and item["Subject"].startswith(start):
            parsed = email.message_from_bytes(mail.raw(item["ID"]), policy=email.policy.default)
            found += [(str(p.get_filename()), p.get_content()) for p in parsed.iter_attachments()]  # type: ignore[attr-defined]
    return found


def subjects(mail: MailSink, address: str, start: str) -> list[tuple[str, str]]:
    return [pair for pair in inbox(mail, address) if pair[0].startswith(start)]


async def create_session(stack: Any, token: str, body: dict[str, Any]) -> str:
    """Schedule it on the console (with an operator's API token); its id."""
    async with httpx.AsyncClient(base_url=stack.console, timeout=30, headers=bearer(token)) as console:
        created = await console.post("/api/v1/operator/sessions", json=body)
    assert created.status_code == 202, created.text
    session_id: str = created.json()["session_id"]
    assert created.json()["public_url"] == f"{stack.intake}/sessions/{session_id}", "links go to the site"
    return session_id


async def register_by_email(client: httpx.AsyncClient, mail: MailSink, session_id: str, address: str) -> None:
    """Register (in English, New York time) and wait for the confirmation email."""
    registered = await client.post(
        f"/api/v1/sessions/{session_id}/registrations",
        json={"name": address.split("@")[0].title(), "country": "US", "email": address,
              "channels": ["email"], "language": "en", "time_zone": "America/New_York", "consent": True},
    )  # fmt: skip
    assert registered.status_code == 202, registered.text
    await until(lambda: subjects(mail, address, "Registered"), 20)


async def test_a_session_from_registration_to_plan_of_action(
    stack: Any, db: Any, mail: MailSink, admin_token: str
) -> None:
    now = utcnow().replace(microsecond=0)
    starts = now + timedelta(seconds=45)
    body = {
        "kind": "planning",
        "texts": {"en": {"title": "Strategic planning"}, "km": {"title": "វគ្គរៀបចំផែនការយុទ្ធសាស្ត្រ"}},
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "mode": "online",
        "join_link": LINK,
        "join_link_release_at": (now + timedelta(seconds=15)).isoformat(),
        "capacity": 1,
        "reminder_seconds": [20],
    }
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        session_id = await create_session(stack, admin_token, body)
        await until(lambda: httpx.get(f"{stack.intake}/sessions/{session_id}").status_code == 200, 20)
        for address in ("first@example.org", "second@example.org"):
            await register_by_email(client, mail, session_id, address)

    [(_, first)] = subjects(mail, "first@example.org", "Registered")
    [(_, second)] = subjects(mail, "second@example.org", "Registered")
    assert "You are registered for" in first and LINK not in first, "no join link before its release"
    assert "waiting list" in second

    [(_, join)] = await until(lambda: subjects(mail, "first@example.org", "How to join"), 40)
    assert LINK in join
    [(_, reminder)] = await until(lambda: subjects(mail, "first@example.org", "Reminder"), 40)
    assert LINK in reminder
    assert not subjects(mail, "second@example.org", "How to join"), "the waiting list gets no join link"

    async with httpx.AsyncClient(base_url=stack.console, timeout=30, headers=bearer(admin_token)) as client:
        later = starts + timedelta(days=1)
        moved = await client.patch(
            f"/api/v1/operator/sessions/{session_id}",
            json={"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=1)).isoformat()},
        )
        assert moved.status_code == 202, moved.text
        for address in ("first@example.org", "second@example.org"):
            [(_, text)] = await until(lambda a=address: subjects(mail, a, "New time"), 30)
            assert "It was planned for" in text
        plan = await client.post(
            f"/api/v1/operator/sessions/{session_id}/plan-of-action",
            json={
                "texts": {"en": "We will write to the UN.", "km": "យើងនឹងសរសេរទៅអង្គការសហប្រជាជាតិ។"},
                "pdf_base64": base64.b64encode(PLAN_PDF).decode(),
            },
        )
        assert plan.status_code == 202, plan.text
        [(_, text)] = await until(lambda: subjects(mail, "first@example.org", "Plan of Action"), 30)
        assert "We will write to the UN." in text and "attached as a PDF" in text
        assert attachments(mail, "first@example.org", "Plan of Action") == [("plan-of-action.pdf", PLAN_PDF)]
        cancelled = await client.post(f"/api/v1/operator/sessions/{session_id}/cancel")
        assert cancelled.status_code == 202
        for address in ("first@example.org", "second@example.org"):
            await until(lambda a=address: subjects(mail, a, "Cancelled"), 30)
    await asyncio.sleep(1)
    assert not subjects(mail, "second@example.org", "Plan of Action"), "only the registered get the plan"
    for address in ("first@example.org", "second@example.org"):
        names = [s for s, _ in inbox(mail, address)]
        assert len(names) == len(set(names)), f"a message went twice to {address}: {names}"


async def test_a_registrant_cancels_from_their_email_and_the_waiting_list_gets_the_seat(
    stack: Any, db: Any, mail: MailSink, service_env: dict[str, str], admin_token: str
) -> None:
    starts = utcnow().replace(microsecond=0) + timedelta(hours=2)
    body = {
        "kind": "forum",
        "texts": {"en": {"title": "Forum on land rights"}, "km": {"title": "វេទិកាស្តីពីសិទ្ធិដីធ្លី"}},
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "mode": "online",
        "join_link": LINK,
        "capacity": 1,
    }
    first, second = "cancels@example.org", "waits@example.org"
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        session_id = await create_session(stack, admin_token, body)
        await until(lambda: httpx.get(f"{stack.intake}/sessions/{session_id}").status_code == 200, 20)
        for address in (first, second):
            await register_by_email(client, mail, session_id, address)
        [(_, text)] = subjects(mail, first, "Registered")
        link = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Cannot come?"))
        path = link[link.index("/sessions/cancel/") :]
        asked = await client.get(path)
        assert 'data-state="ask"' in asked.text and "Forum on land rights" in asked.text
        done = await post_form(client, path)
        assert done.status_code == 200 and 'data-state="cancelled"' in done.text

    [(_, seat)] = await until(lambda: subjects(mail, second, "You have a seat"), 30)
    assert "A seat came free" in seat and LINK in seat, "released already: the seat comes with the link"
    assert "Cannot come? Cancel your registration:" in seat
    [(_, told)] = await until(lambda: subjects(mail, first, "Registration cancelled"), 30)
    assert "If you did not ask for this, register again" in told and "Cannot come?" not in told
    opener = Opener(service_env)  # registrations are sealed at rest (store.py)
    try:
        vault = await opener.vault()
        stored = {
            (await open_fields(vault, r))["registrant"]["contact"]["email"]: r["state"]
            async for r in db.registrations.find({})
        }
    finally:
        await opener.aclose()
    assert stored == {first: "cancelled", second: "registered"}
    again = await asyncio.to_thread(httpx.get, f"{stack.intake}{path}")
    assert 'data-state="cancelled"' in again.text and 'id="cancel-button"' not in again.text
