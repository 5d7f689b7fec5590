"""Export and erase one member, through the real services (docs/operations.md, "Export and erase").

Driven through the services: two pledges (intake's API -> pledge-intake -> certificate-renderer,
each with a certificate; the alerts box makes a pending subscription), `samleng member export` and
`samleng member erase` as subprocesses through the console's operator API (an admin's token), the
member's own page on intake. Seeded as their owners store them
(they would take minutes or processes this test does not need): one registration and its
reminder record in event-scheduler's `registrations` / `reminders`, and one chat reply in
pledge-intake's `inbound_messages`. The dispatcher and the channels are not started (their
erasure modules are wired by the lead; their requests are sealed with the member's key anyway).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import json_util

from shared.contracts import utcnow
from shared.member_links import link_token
from shared.personal_data import open_fields
from tests.support.forms import post_form
from tests.support.processes import ServiceProcess
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(300)

A = {"name": "Vannak Erasewell", "email": "vannak.erasewell@example.org", "phone": "+14155550131"}
B = {"name": "Sophea Keepsake", "email": "sophea.keepsake@example.org", "phone": "+14155550177"}


@pytest.fixture
def renderer_and_scheduler(service_env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    procs = [
        ServiceProcess(module, service_env, tmp_path / f"{name}.log", name).start()
        for module, name in (
            ("services.certificates", "certificate-renderer.1"),
            ("services.scheduler", "event-scheduler.1"),
        )
    ]
    for proc in procs:
        proc.wait_ready(60)
    yield
    for proc in procs:
        proc.terminate()


def samleng(
    service_env: dict[str, str], console: str, token: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """The CLI against the console's operator API, as `token`'s operator."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args, "--url", console, "--token", token],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def until(predicate: Any, what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout}s")


def pledge(url: str, person: dict[str, str]) -> str:
    body = {
        **person,
        "country": "US",
        "channels": ["email"],
        "consent": True,
        "alerts_opt_in": True,
        "sessions_opt_in": True,
    }
    answer = httpx.post(f"{url}/api/v1/pledges", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["pledge_id"])


async def seed_registration(db: Any, person: dict[str, str], session_id: str) -> str:
    """A registration and one pending reminder, as event-scheduler stores them (store.py)."""
    registration_id = f"rg_{uuid.uuid4().hex[:24]}"
    registrant = {
        "name": person["name"],
        "language": "en",
        "country": "US",
        "time_zone": "UTC",
        "contact": {"email": person["email"], "phone": None, "postal_address": None},
        "channels": ["email"],
    }
    now = time.time()
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(now, UTC)
    await db.registrations.insert_one(
        {
            "_id": registration_id,
            "session_id": session_id,
            "registrant": registrant,
            "ideas": f"ideas from {person['name']}",
            "consent": {"text_version": "t", "locale": "en", "accepted_at": at},
            "submitted_at": at,
            "state": "registered",
            "recorded_at": at,
            "event_id": str(uuid.uuid4()),
            "cancel_url": f"http://x/sessions/cancel/{registration_id}.sig",
        }
    )
    await db.reminders.insert_one(
        {
            "_id": f"{registration_id}:reminder:1",
            "kind": "reminder",
            "session_id": session_id,
            "registration_id": registration_id,
            "registrant": registrant,
            "registration_state": "registered",
            "due_at": datetime(2099, 1, 1, tzinfo=UTC),
            "state": "pending",
            "owner": None,
        }
    )
    return registration_id


async def seed_reply(db: Any, member_id: str, person: dict[str, str]) -> None:
    """A chat reply, as pledge-intake keeps it (`inbound_messages`)."""
    from datetime import UTC, datetime

    await db.inbound_messages.insert_one(
        {
            "_id": str(uuid.uuid4()),
            "member_id": member_id,
            "channel": "signal",
            "sender_kind": "phone",
            "sender": person["phone"],
            "text": f"thank you, {person['name']} here",
            "stop": False,
            "received_at": datetime.now(UTC),
        }
    )


async def everything(db: Any) -> str:
    """Every document of every collection, as text (a raw scan)."""
    parts = []
    for name in sorted(await db.list_collection_names()):
        async for doc in db[name].find({}):
            parts.append(f"{name} {json_util.dumps(doc)}")
    return "\n".join(parts)


def strings_of(person: dict[str, str]) -> list[str]:
    return [person["name"], person["email"], person["phone"], person["name"].split()[1]]


async def test_export_then_erase_one_member_leaves_nothing_of_them_and_the_other_untouched(
    service_env: dict[str, str],
    pledge_intake: ServiceProcess,
    intake: str,
    console: str,
    admin_token: str,
    renderer_and_scheduler: None,
    db: Any,
) -> None:
    pledge_a, pledge_b = pledge(intake, A), pledge(intake, B)

    async def certificate(pledge_id: str) -> Any:
        return await db.certificates.find_one({"pledge_id": pledge_id})

    cert_a = await until(lambda: certificate(pledge_a), "certificate of A", 120)
    cert_b = await until(lambda: certificate(pledge_b), "certificate of B", 120)
    member_a, member_b = cert_a["member_id"], cert_b["member_id"]
    assert member_a != member_b
    await until(lambda: db.subscriptions.find_one({"_id": f"sb_{pledge_a}"}), "A's subscription (alerts box)")
    session_id = f"se_{uuid.uuid4().hex[:8]}"
    registration_a = await seed_registration(db, A, session_id)
    registration_b = await seed_registration(db, B, session_id)
    await seed_reply(db, member_a, A)
    await seed_reply(db, member_b, B)

    # ---- export ----
    exported = samleng(service_env, console, admin_token, "member", "export", member_a)
    assert exported.returncode == 0, exported.stderr
    data = json_util.loads(exported.stdout)
    assert [p["_id"] for p in data["pledges"]] == [pledge_a]
    assert {c["kind"] for c in data["consents"]} >= {"pledge", "alerts", "sessions"}
    assert [c["number"] for c in data["certificates"]] == [cert_a["number"]]
    assert [r["_id"] for r in data["registrations"]] == [registration_a]
    assert [m["text"] for m in data["inbound_messages"]] == [f"thank you, {A['name']} here"]
    assert data["member"]["email"] == A["email"]
    assert B["email"] not in exported.stdout

    async with httpx.AsyncClient(base_url=intake, timeout=30) as web:
        # ---- the member's own page: download with the token; erase only after confirming ----
        opener = Opener(service_env)  # the token is sealed with the member's details
        try:
            member_doc = await open_fields(await opener.vault(), await db.members.find_one({"_id": member_a}))
        finally:
            await opener.aclose()
        secret = member_doc["unsubscribe_token"]  # the page link is made from it, for this purpose
        token = link_token(secret, member_a, "preferences", utcnow() + timedelta(days=30))
        assert (await web.get(f"/p/{secret}")).status_code == 404, "the raw secret opens no page"
        page = await web.get(f"/p/{token}")
        assert 'id="download-data"' in page.text and 'id="erase-data"' in page.text
        download = await web.get(f"/p/{token}/export")
        assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
        assert download.json()["certificates"][0]["number"] == cert_a["number"]
        assert (await web.get("/p/not-the-token-of-anyone-at-all/export")).status_code == 404
        ask = await web.get(f"/p/{token}/erase?lang=km")
        assert ask.status_code == 200 and 'data-state="ask"' in ask.text and 'name="confirm"' in ask.text
        unconfirmed = await post_form(web, f"/p/{token}/erase")
        assert unconfirmed.status_code == 422 and 'data-state="needs-confirm"' in unconfirmed.text
        await asyncio.sleep(1.0)
        assert await db.erasures.find_one({"_id": member_a}) is None
        assert await db.members.find_one({"_id": member_a}) is not None

        # ---- erase (the CLI) ----
        erased = samleng(service_env, console, admin_token, "member", "erase", member_a, "--wait", "90")
        assert erased.returncode == 0, erased.stdout + erased.stderr
        assert f"erasure of {member_a} requested" in erased.stdout
        [requested] = await db.audit_events.find({"action": "member.erased"}).to_list(None)
        assert (requested["object_id"], requested["detail"]["state"]) == (member_a, "requested")
        assert await db.audit_events.count_documents({"action": "member.exported"}) >= 1
        await until(lambda: _none(db.certificates, {"member_id": member_a}), "A's certificates gone")
        await until(lambda: _none(db.registrations, {"_id": registration_a}), "A's registration gone")

        scan = await everything(db)
        for value in strings_of(A):
            assert value not in scan, f"{value!r} still stored"
        # B's details are stored sealed (not in a raw scan): B's export shows they are still there
        kept = samleng(service_env, console, admin_token, "member", "export", member_b)
        assert kept.returncode == 0, kept.stderr
        for value in strings_of(B):
            assert value in kept.stdout, f"{value!r} of the other member is gone"
        assert json_util.loads(kept.stdout)["member"]["email"] == B["email"]
        # sealed, A's pending subscription (alerts box) is found by its contact keys, not its email
        assert await db.subscriptions.count_documents({"_id": f"sb_{pledge_a}"}) == 0
        assert await db.certificate_files.files.count_documents({"metadata.pledge_id": pledge_a}) == 0
        assert (
            await db.certificate_files.files.count_documents({"metadata.pledge_id": pledge_b}) >= 1
        )  # its PDF
        assert await db.reminders.count_documents({"registration_id": registration_a}) == 0
        assert await db.registrations.find_one({"_id": registration_b}) is not None
        assert await db.key_vault.count_documents({"keyAltNames": f"member:{member_a}"}) == 0

        verify = await web.get(f"/v/{cert_a['number']}")
        assert verify.status_code == 404 and "We have no certificate with this number." in verify.text
        assert (await web.get(f"/v/{cert_b['number']}")).status_code == 200

        consents = await db.consents.find({"member_id": member_a}).to_list(None)
        assert consents and all(c.get("erased") is True for c in consents)
        assert all(
            set(c) <= {"_id", "member_id", "kind", "granted", "at", "erased", "erased_at"} for c in consents
        )
        assert all(
            c.get("erased") is None for c in await db.consents.find({"member_id": member_b}).to_list(None)
        )
        tombstone = await db.pledges.find_one({"_id": pledge_a})
        assert tombstone is not None and tombstone["erased"] is True and "country" not in tombstone

        # ---- again, and someone we never knew ----
        again = samleng(service_env, console, admin_token, "member", "erase", member_a)
        assert again.returncode == 0 and f"{member_a} was already erased" in again.stdout
        unknown = samleng(service_env, console, admin_token, "member", "erase", "mb_nobody")
        assert unknown.returncode == 0 and "mb_nobody is not known (nothing to erase)" in unknown.stdout
        assert (await web.get(f"/p/{token}/erase")).status_code == 404  # the page is gone with them


async def _none(collection: Any, query: dict[str, Any]) -> bool:
    return await collection.count_documents(query) == 0
