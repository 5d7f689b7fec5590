"""Issue #14's "at rest" and "erase" acceptance, through the whole system as people use it.

Two people with unique name/email/phone strings sign the pledge on intake's API (email and
WhatsApp), get a certificate by email and on WhatsApp (sandbox), reply on WhatsApp, and register
for a session (scheduled on the console) with ideas of their own. Processes: intake, the console,
pledge-intake, certificate-renderer, alert-dispatcher, event-scheduler, email, whatsapp and
whatsapp-inbound, on the real broker and Mongo-wire server with the local SMTP sink and the
WhatsApp sandbox.

Then:
- every document of every collection (GridFS chunks included), read through a raw client, every
  message published on the exchange (a tap queue bound to `#` keeps a copy of each, as a dead
  letter would), every queue's resting messages and every process's log hold none of those
  strings in plain text;
- after `samleng member erase` of the first person, nothing stored or tapped that is encrypted
  decrypts to anything of theirs (a fresh vault, so no key is cached), their certificate is
  unknown, and the second person's data still decrypts and their certificate still verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import bson
import httpx
import pytest
from bson.binary import Binary

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.personal_data import PersonalDataUnreadable
from tests.integration.test_chat_channels import WA_SECRET
from tests.integration.test_personal_data_at_rest import every_queue, peek
from tests.service.conftest import SECRET
from tests.support.console import bearer
from tests.support.infra import MailSink, Sandbox
from tests.support.member_keys import member_key
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.sealed import Opener, is_sealed

pytestmark = pytest.mark.timeout(600)


def person(tag: str, n: int) -> dict[str, str]:
    digits = f"{int(tag[:6], 16) % 10_000:04d}"
    word = "".join(chr(ord("a") + int(c, 16)) for c in tag)  # names are letters only
    return {
        "name": f"Xandrelle{'ab'[n - 1]} Quorvath{word}{'xy'[n - 1]}",
        "email": f"xq{n}.{tag}@example.org",
        "phone": f"+8559{n}77{digits}",
        "reply": f"reply{n}-{word} the river is high",
        "ideas": f"ideas{n}-{word} for the forum",
    }


def strings_of(who: dict[str, str]) -> list[str]:
    return [
        who["name"],
        who["name"].split()[1],
        who["email"],
        who["phone"],
        who["phone"].lstrip("+"),
        who["reply"],
        who["ideas"],
    ]


@pytest.fixture
def whatsapp_port() -> int:
    return free_port()


@pytest.fixture
def sandbox(tmp_path: Path, whatsapp_port: int) -> Iterator[Sandbox]:
    box = Sandbox(
        tmp_path / "sandbox-run",
        SANDBOX_WHATSAPP_WEBHOOK_URL=f"http://127.0.0.1:{whatsapp_port}/webhooks/whatsapp",
        SANDBOX_WHATSAPP_APP_SECRET=WA_SECRET,
    ).start()
    yield box
    box.stop()


@pytest.fixture
def stack(
    service_env: dict[str, str], tmp_path: Path, sandbox: Sandbox, mail: MailSink, whatsapp_port: int
) -> Iterator[tuple[dict[str, str], str, str, list[ServiceProcess]]]:
    """The environment, intake's and the console's base URLs, the processes."""
    env = {
        **service_env,
        **mail.client_env(),
        **sandbox.client_env(),
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(free_port()),
        "CONSOLE_SECRET_KEY": SECRET,
        "CONSOLE_PORT": str(free_port()),
        "CONSOLE_PUBLIC_SITE_URL": "https://pledge.example.org",
        "WHATSAPP_WEBHOOK_PORT": str(whatsapp_port),
        "WHATSAPP_APP_SECRET": WA_SECRET,
        "WHATSAPP_ACCESS_TOKEN": "whatsapp-token",
        "DISPATCHER_PUBLIC_BASE_URL": "https://pledge.example.org",
    }
    procs: list[ServiceProcess] = []
    urls: dict[str, str] = {}
    try:
        for module, label in (
            ("services.intake", "intake.1"),
            ("services.console", "console.1"),
            ("services.pledge_intake", "pledge-intake.1"),
            ("services.certificates", "certificate-renderer.1"),
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.scheduler", "event-scheduler.1"),
            ("services.channels.email", "email.1"),
            ("services.channels.whatsapp", "whatsapp.1"),
            ("services.channels.whatsapp.inbound", "whatsapp-inbound.1"),
        ):
            proc = ServiceProcess(module, env, tmp_path / f"{label}.log", label).start()
            procs.append(proc)
            urls[module] = proc.wait_ready(90)
        yield env, urls["services.intake"], urls["services.console"], procs
    finally:
        for proc in reversed(procs):
            proc.terminate()


async def until(predicate: Any, what: str, timeout: float = 120.0) -> Any:
    """Waits while the system makes progress; `timeout` only bounds a stuck run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout}s")


async def tap(rabbit: RabbitNode) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"test-tap-{uuid.uuid4().hex[:8]}", exclusive=True)
    await queue.bind(exchange, "#")
    return connection, queue


async def drain(queue: aio_pika.abc.AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    found = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        found.append(message)
    return found


async def raw_documents(db: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(name, doc) for name in sorted(await db.list_collection_names()) async for doc in db[name].find()]


def encrypted_values(value: Any) -> Iterator[Binary]:
    if isinstance(value, Binary) and value.subtype == 6:
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from encrypted_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from encrypted_values(item)


async def sealed_files(db: Any) -> list[bytes]:
    """Each sealed GridFS file's stored bytes (its chunks in order)."""
    files = []
    for bucket in [n[: -len(".files")] for n in await db.list_collection_names() if n.endswith(".files")]:
        async for meta in db[f"{bucket}.files"].find({"metadata.sealed": True}):
            chunks = db[f"{bucket}.chunks"].find({"files_id": meta["_id"]}).sort("n", 1)
            files.append(b"".join([bytes(c["data"]) async for c in chunks]))
    return files


async def readable_for(opener: Opener, db: Any, taps: list[bytes], secrets: list[str]) -> list[str]:
    """Where anything encrypted still opens to one of `secrets`."""
    vault = await opener.vault()
    found = []
    for name, doc in await raw_documents(db):
        for value in encrypted_values(doc):
            with contextlib.suppress(PersonalDataUnreadable):
                opened = bson.encode({"v": await vault.decrypt(value)})
                found += [f"{name}:{s}" for s in secrets if s.encode() in opened]
    for data in await sealed_files(db):
        with contextlib.suppress(PersonalDataUnreadable):
            opened = bytes(await vault.decrypt(Binary(data, 6)))
            found += [f"file:{s}" for s in secrets if s.encode() in opened]
    for body in taps:
        if is_sealed(body):
            with contextlib.suppress(PersonalDataUnreadable):
                raw = json.loads(body)
                opened = bson.encode(await vault.unseal(raw["sealed"]))
                found += [f"queue:{s}" for s in secrets if s.encode() in opened]
    return found


def samleng(env: dict[str, str], url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args, "--url", url, "--token", token],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_nothing_personal_rests_in_plain_text_and_an_erased_person_cannot_be_read_back(
    rabbit: RabbitNode,
    stack: tuple[dict[str, str], str, str, list[ServiceProcess]],
    db: Any,
    mail: MailSink,
    sandbox: Sandbox,
    admin_token: str,
) -> None:
    env, url, console, procs = stack
    tag = uuid.uuid4().hex[:8]
    a, b = person(tag, 1), person(tag, 2)
    connection, tapped = await tap(rabbit)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as web:
            now = utcnow().replace(microsecond=0)
            session = await web.post(
                f"{console}/api/v1/operator/sessions",
                headers=bearer(admin_token),
                json={
                    "kind": "forum",
                    "texts": {"en": {"title": "Community forum"}, "km": {"title": "វេទិកាសហគមន៍"}},
                    "starts_at": (now + timedelta(days=2)).isoformat(),
                    "ends_at": (now + timedelta(days=2, hours=1)).isoformat(),
                    "mode": "online",
                    "join_link": "https://meet.example.org/forum",
                    "reminder_minutes": [60],
                },
            )
            assert session.status_code == 202, session.text
            session_id = session.json()["session_id"]
            await until(lambda: _ok(web, f"/sessions/{session_id}"), "session page")
            for who in (a, b):
                pledged = await web.post(
                    "/api/v1/pledges",
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                    json={
                        "name": who["name"],
                        "email": who["email"],
                        "phone": who["phone"],
                        "country": "KH",
                        "channels": ["email", "whatsapp"],
                        "consent": True,
                        "alerts_opt_in": True,
                    },
                )
                assert pledged.status_code == 202, pledged.text
                registered = await web.post(
                    f"/api/v1/sessions/{session_id}/registrations",
                    json={
                        "name": who["name"],
                        "country": "KH",
                        "email": who["email"],
                        "channels": ["email"],
                        "language": "en",
                        "ideas": who["ideas"],
                        "consent": True,
                    },
                )
                assert registered.status_code == 202, registered.text

        def mails_to(address: str) -> list[Any]:
            return [m for m in mail.messages() if address in str(m)]

        for who in (a, b):
            await until(lambda w=who: asyncio.to_thread(mails_to, w["email"]), "emails", 180)
            # Their writing to us confirms the number (services/dispatcher/numbers.py): only then
            # does the certificate (a discreet message: they live in Cambodia) go on WhatsApp.
            wa = who["phone"].lstrip("+")
            sandbox.post("/whatsapp/_inbound", {"from": wa, "text": who["reply"]})
            await until(
                lambda wa=wa: asyncio.to_thread(
                    lambda: sandbox.get("/whatsapp/_messages", to=wa)["messages"]
                ),
                "the certificate on WhatsApp",
                180,
            )

        member_of = {}
        for who in (a, b):
            key = member_key(env, "email", who["email"])
            doc = await until(lambda k=key: db.member_keys.find_one({"_id": k}), "member")
            member_of[who["email"]] = str(doc["member_id"])
        await until(lambda: _count_at_least(db.inbound_messages, 2), "both replies kept", 60)
        await until(lambda: _count_at_least(db.registrations, 2), "both registrations", 60)
        await until(  # their certificates and registration confirmations (discreet: neutral)
            lambda: asyncio.to_thread(lambda: all(len(mails_to(w["email"])) >= 2 for w in (a, b))),
            "registration confirmations",
            120,
        )
        assert await db.message_details.count_documents({}) >= 6, "details kept apart, sealed"

        # ---- at rest: nothing plain anywhere ----
        secrets = strings_of(a) + strings_of(b)
        plain = [
            f"{name}:{s}"
            for name, doc in await raw_documents(db)
            for s in secrets
            if s.encode() in bson.encode(doc)
        ]
        assert plain == []
        taps = [m.body for m in await drain(tapped)]
        assert len(taps) > 10
        assert [s for body in taps for s in secrets if s.encode() in body] == []
        resting = await peek(rabbit.url, every_queue(env))
        assert [(q, s) for q, body, headers in resting for s in secrets if s in body.decode() + headers] == []
        for proc in procs:
            assert not [s for s in secrets if s in proc.logs()], proc.name
        opener = Opener(env)
        try:
            readable = await readable_for(opener, db, taps, strings_of(a))
            assert readable, "before the erasure their data is there, encrypted"
        finally:
            await opener.aclose()

        # ---- erase A ----
        member_a, member_b = member_of[a["email"]], member_of[b["email"]]
        number_a = (await db.certificates.find_one({"member_id": member_a}))["number"]
        number_b = (await db.certificates.find_one({"member_id": member_b}))["number"]
        erased = await asyncio.to_thread(samleng, env, console, admin_token, "member", "erase", member_a)
        assert erased.returncode == 0, erased.stderr
        await until(
            lambda: db.erasures.find_one({"_id": member_a, "state": "erased"}), "erasure recorded", 60
        )
        await until(lambda: _none(db.certificates, {"member_id": member_a}), "their certificate deleted", 60)
        await until(lambda: _count_at_most(db.registrations, 1), "their registration deleted", 60)

        fresh = Opener(env)  # a new vault: nothing cached from before the erasure
        try:
            assert await readable_for(fresh, db, taps, strings_of(a)) == []
            assert await readable_for(fresh, db, taps, strings_of(b)), "the other person is untouched"
        finally:
            await fresh.aclose()
        async with httpx.AsyncClient(base_url=url, timeout=30) as web:
            assert (await web.get(f"/v/{number_a}")).status_code == 404
            assert (await web.get(f"/v/{number_b}")).status_code == 200
        exported = await asyncio.to_thread(samleng, env, console, admin_token, "member", "export", member_b)
        assert exported.returncode == 0, exported.stderr
        assert b["email"] in exported.stdout and b["reply"] in exported.stdout
    finally:
        await connection.close()


async def _count_at_least(collection: Any, n: int) -> bool:
    return bool(await collection.count_documents({}) >= n)


async def _count_at_most(collection: Any, n: int) -> bool:
    return bool(await collection.count_documents({}) <= n)


async def _none(collection: Any, query: dict[str, Any]) -> bool:
    return await collection.find_one(query) is None


async def _ok(web: httpx.AsyncClient, path: str) -> bool:
    return (await web.get(path)).status_code == 200
