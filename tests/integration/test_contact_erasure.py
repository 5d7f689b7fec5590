"""Erasing someone who only registered for a session, by their email (`samleng contact erase`).

Real components: intake, the console and event-scheduler as processes, on the real broker and
Mongo-wire server; the session is created and the CLI run as a subprocess through the console's
operator API, with an admin's token. Two people who are not members
register for a session; erasing the first one's email deletes their registration, its reminders
and its data key, and leaves the other untouched.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from shared.contracts import utcnow
from shared.contracts.erasure import contact_digest
from shared.personal_data import BlindIndex, alt_name
from tests.service.conftest import SECRET
from tests.support.console import bearer
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(240)
GONE, KEPT = "only.registered@example.org", "also.registered@example.org"


@pytest.fixture
def stack(service_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    port = free_port()
    env = {
        **service_env,
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(port),
        "INTAKE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    procs = []
    url = ""
    for module, name in (("services.scheduler", "event-scheduler.1"), ("services.intake", "intake.1")):
        proc = ServiceProcess(module, env, tmp_path / f"{name}.log", name).start()
        procs.append(proc)
        url = proc.wait_ready(60)
    yield env, url
    for proc in reversed(procs):
        proc.terminate()


async def until(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout}s")


def samleng(env: dict[str, str], console: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI against the console's operator API, as `token`'s operator."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args, "--url", console, "--token", token],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_someone_who_only_registered_is_erased_by_their_email(
    stack: tuple[dict[str, str], str], console: str, admin_token: str, db: Any
) -> None:
    env, url = stack
    index = BlindIndex(SecretStr(env["SAMLENG_BLIND_INDEX_KEY"]))
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as web,
        httpx.AsyncClient(base_url=console, timeout=30) as operators,
    ):
        now = utcnow().replace(microsecond=0)
        created = await operators.post(
            "/api/v1/operator/sessions",
            headers=bearer(admin_token),
            json={
                "kind": "forum",
                "texts": {"en": {"title": "Forum"}, "km": {"title": "វេទិកា"}},
                "starts_at": (now + timedelta(days=3)).isoformat(),
                "ends_at": (now + timedelta(days=3, hours=1)).isoformat(),
                "mode": "online",
                "join_link": "https://meet.example.org/f",
                "reminder_minutes": [60],
            },
        )
        assert created.status_code == 202, created.text
        session_id = created.json()["session_id"]

        async def page() -> bool:
            return (await web.get(f"/sessions/{session_id}")).status_code == 200

        await until(page, "session published")
        for address, name in ((GONE, "Only Registered"), (KEPT, "Also Registered")):
            registered = await web.post(
                f"/api/v1/sessions/{session_id}/registrations",
                json={
                    "name": name,
                    "country": "US",
                    "email": address,
                    "channels": ["email"],
                    "consent": True,
                },
            )
            assert registered.status_code == 202, registered.text

        unauthenticated = await operators.post("/api/v1/operator/erasures", json={"email": GONE})
        assert unauthenticated.status_code == 401 and GONE not in unauthenticated.text

    def registration_of(address: str) -> Any:
        digest = contact_digest("email", address, index)
        return db.registrations.find_one({"contact_digests": digest})

    gone = await until(lambda: registration_of(GONE), "the first registration")
    kept = await until(lambda: registration_of(KEPT), "the second registration")
    assert await db.key_vault.count_documents({"keyAltNames": alt_name(gone["_id"])}) == 1
    assert await db.reminders.count_documents({"registration_id": gone["_id"]}) >= 1

    invalid = await asyncio.to_thread(samleng, env, console, admin_token, "contact", "erase", "--phone", "12")
    assert invalid.returncode == 2 and "phone" in invalid.stderr
    erased = await asyncio.to_thread(
        samleng, env, console, admin_token, "contact", "erase", "--email", GONE.upper()
    )
    assert erased.returncode == 0, erased.stderr
    assert "0 member(s)" in erased.stdout  # nobody is a member here
    [asked] = await db.audit_events.find({"action": "contact.erasure_requested"}).to_list(None)
    assert asked["detail"] == {"kinds": ["email"], "members": 0, "handed_over": 1}
    assert GONE.split("@")[0] not in str(asked), "the contact is not in the audit trail"

    async def deleted() -> bool:
        return await registration_of(GONE) is None

    await until(deleted, "the registration erased")
    assert await db.reminders.count_documents({"registration_id": gone["_id"]}) == 0
    assert await db.key_vault.count_documents({"keyAltNames": alt_name(gone["_id"])}) == 0
    assert await registration_of(KEPT) is not None
    assert await db.key_vault.count_documents({"keyAltNames": alt_name(kept["_id"])}) == 1
    assert await db.reminders.count_documents({"registration_id": kept["_id"]}) >= 1
