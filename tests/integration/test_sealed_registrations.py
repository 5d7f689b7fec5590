"""Registrations at rest (issue #14): what a person typed when registering for a session is
stored sealed by the event-scheduler, yet operators still read it and their messages still name
them. Real processes (intake, the console, event-scheduler) with random keys (`service_env`); the
database is read raw, as someone holding a copy of it (or a backup) would."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import bson
import httpx
import pytest
from pydantic import SecretStr

from shared.contracts import utcnow
from shared.contracts.erasure import MemberErased, MemberErasedData, contact_digest
from shared.personal_data import SEALED, BlindIndex
from tests.integration.test_delivery import Stack
from tests.service.conftest import SECRET
from tests.support.console import bearer
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.sealed import Opener
from tests.support.sessions import DueListener, make_session, publish, seed_registered

pytestmark = pytest.mark.timeout(240)
SCHEDULER_COLLECTIONS = ("sessions", "registrations", "session_seats", "session_plans", "reminders")


@pytest.fixture
def stack(service_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    port, console_port = free_port(), free_port()
    env = {
        **service_env,
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(port),
        "INTAKE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "CONSOLE_SECRET_KEY": SECRET,
        "CONSOLE_PORT": str(console_port),
        "CONSOLE_PUBLIC_SITE_URL": f"http://127.0.0.1:{port}",
        "SCHEDULER_TICK_SECONDS": "0.1",
        "SCHEDULER_LOOKAHEAD_SECONDS": "1",
    }
    running = Stack(env, tmp_path, [])
    running.start("services.scheduler", "event-scheduler.1")
    running.start("services.intake", "intake.1")
    running.start("services.console", "console.1")
    running.intake = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    running.console = f"http://127.0.0.1:{console_port}"  # type: ignore[attr-defined]
    yield running
    ServiceProcess.stop_all(running.procs)


@pytest.fixture
async def due(rabbit: Any, service_env: dict[str, str]) -> AsyncIterator[DueListener]:
    listener = await DueListener(rabbit.url, Opener(service_env)).start()
    yield listener
    await listener.close()


async def until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


async def raw_mentions(db: Any, secrets: dict[str, str]) -> list[str]:
    """`collection/_id: what` for each stored document holding one of `secrets` in clear."""
    found = []
    for name in SCHEDULER_COLLECTIONS:
        async for doc in db[name].find({}):
            raw = bson.encode(doc)
            found += [f"{name}/{doc['_id']}: {what}" for what, v in secrets.items() if v.encode() in raw]
    return found


async def test_a_registration_is_sealed_at_rest_and_still_read_by_operators_and_messages(
    stack: Any, db: Any, due: DueListener, rabbit: Any, service_env: dict[str, str], admin_token: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    letters = "".join(chr(ord("a") + int(digit, 16)) for digit in tag)  # names are letters only
    person = {
        "name": f"Chenda {letters.title()}",
        "email": f"chenda.{tag}@example.org",
        "ideas": f"Ask the commune about the well {tag}",
    }
    now = utcnow().replace(microsecond=0)
    starts = now + timedelta(seconds=25)
    session = {
        "kind": "forum",
        "texts": {"en": {"title": "Water forum"}, "km": {"title": "វេទិកាទឹក"}},
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "mode": "online",
        "join_link": "https://meet.example/j/42",
        "join_link_release_at": now.isoformat(),
        "capacity": 5,
        "reminder_seconds": [15],
    }
    async with (
        httpx.AsyncClient(base_url=stack.intake, timeout=30) as client,
        httpx.AsyncClient(base_url=stack.console, timeout=30, headers=bearer(admin_token)) as console,
    ):
        created = await console.post("/api/v1/operator/sessions", json=session)
        assert created.status_code == 202, created.text
        session_id = created.json()["session_id"]

        async def session_page() -> bool:
            return (await client.get(f"/sessions/{session_id}")).status_code == 200

        await until(session_page, "the session is published")
        registered = await client.post(
            f"/api/v1/sessions/{session_id}/registrations",
            json={"name": person["name"], "country": "KH", "email": person["email"], "channels": ["email"],
                  "language": "en", "time_zone": "Asia/Phnom_Penh", "ideas": person["ideas"], "consent": True},
        )  # fmt: skip
        assert registered.status_code == 202, registered.text
        registration_id = registered.json()["registration_id"]

        [confirmation] = await due.wait_for(1, "confirmation")
        assert confirmation.event.data.registrant.name == person["name"]
        assert confirmation.event.data.registrant.contact.email == person["email"]
        assert (
            confirmation.event.data.cancel_url and "/sessions/cancel/" in confirmation.event.data.cancel_url
        )

        stored = await db.registrations.find_one({"_id": registration_id})
        assert SEALED in stored and "registrant" not in stored and "ideas" not in stored
        assert stored["state"] == "registered" and stored["session_id"] == session_id
        assert stored["contact_digests"], "the keyed contact digest stays plain, for erasure"
        assert await raw_mentions(db, person) == []
        assert await db.reminders.count_documents({"registration_id": registration_id}) >= 2

        listing = await console.get(f"/api/v1/operator/sessions/{session_id}/registrations")
        assert listing.status_code == 200, listing.text
        [row] = listing.json()["registrations"]
        assert (row["registration_id"], row["name"], row["ideas"]) == (
            registration_id,
            person["name"],
            person["ideas"],
        )
        assert row["country"] == "KH" and row["channels"] == ["email"]
        spreadsheet = await console.get(f"/api/v1/operator/sessions/{session_id}/ideas.csv")
        assert person["ideas"] in spreadsheet.text and person["name"] in spreadsheet.text
        reads = [
            e async for e in db.audit_events.find({"action": {"$in": ["registrations.read", "ideas.read"]}})
        ]
        assert sorted((e["action"], e["detail"]["count"]) for e in reads) == [
            ("ideas.read", 1),
            ("registrations.read", 1),
        ]
        assert not [what for e in reads for what, v in person.items() if v in str(e)], (
            "the trail names nobody"
        )

        [reminder] = await due.wait_for(1, "reminder", timeout=40)
        assert reminder.event.data.registrant.name == person["name"]
        assert reminder.event.data.registration_id == registration_id
        assert await raw_mentions(db, person) == []

    # Erasure still finds the sealed registration by its plain keyed digest (erasure.py).
    index = BlindIndex(SecretStr(service_env["SAMLENG_BLIND_INDEX_KEY"]))
    erased = MemberErased(
        correlation_id="erasure-test",
        data=MemberErasedData(
            member_id=f"mb_{tag}",
            request_id=f"er_{tag}",
            member_ids=[f"mb_{tag}"],
            contact_digests=[contact_digest("email", person["email"].casefold(), index)],
            at=utcnow(),
        ),
    )
    await publish(rabbit.url, [erased])

    async def gone() -> bool:
        return await db.registrations.find_one({"_id": registration_id}) is None

    await until(gone, "the registration erased")
    assert await db.reminders.count_documents({"registration_id": registration_id}) == 0


async def test_what_an_older_version_stored_plain_is_sealed_at_start_and_still_sent(
    db: Any, due: DueListener, service_env: dict[str, str], tmp_path: Path
) -> None:
    session = make_session(
        "ss_plain", utcnow() + timedelta(seconds=12), reminder_seconds=[4], mode="in-person"
    )
    assert await seed_registered(db, [session], 3) == 3  # plain, as stored without keys
    await db.reminders.update_many(  # records of before copied the registrant
        {}, {"$set": {"registrant": {"name": "Sok Dara 0"}, "cancel_url": "https://x/cancel/1"}}
    )
    names = [f"Sok Dara {index}" for index in range(3)]
    assert await raw_mentions(db, {str(i): name for i, name in enumerate(names)}) != []

    running = Stack({**service_env, "SCHEDULER_TICK_SECONDS": "0.1"}, tmp_path, [])
    running.start("services.scheduler", "event-scheduler.1")
    try:

        async def all_sealed() -> bool:
            return await db.registrations.count_documents({SEALED: {"$exists": True}}) == 3

        await until(all_sealed, "the plain registrations sealed")
        assert await raw_mentions(db, {str(i): name for i, name in enumerate(names)}) == []
        assert await db.registrations.count_documents({"contact_digests.0": {"$exists": True}}) == 3
        reminders = await due.wait_for(3, "reminder", timeout=30)
        assert sorted(r.event.data.registrant.name for r in reminders) == names
    finally:
        for proc in running.procs:
            proc.terminate()
