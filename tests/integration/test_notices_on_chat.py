"""A member with only a phone on file is asked "was it you?" on their own chat channel.

Real components: intake, pledge-intake, certificate-renderer, alert-dispatcher and the Signal
channel as processes, on the real broker and Mongo-wire server; Signal is the sandbox's copy of
signal-cli-rest-api. Someone pledges with a Signal member's phone and another name: the member's
record stays as it was, the member gets the confirmation link on Signal, and using it applies the
change.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_delivery import Stack
from tests.integration.test_sealed_members import Members
from tests.service.conftest import SECRET
from tests.support.forms import post_form
from tests.support.infra import Sandbox
from tests.support.numbers import confirm_numbers
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(300)
PHONE = "+85512340777"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox-run").start()
    yield box
    box.stop()


@pytest.fixture
def stack(service_env: dict[str, str], tmp_path: Path, sandbox: Sandbox) -> Iterator[Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **service_env,
        **sandbox.client_env(),
        "DISPATCHER_PUBLIC_BASE_URL": base,
        "CERTIFICATES_PUBLIC_BASE_URL": base,
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(port),
        "INTAKE_PUBLIC_BASE_URL": base,
        "SIGNAL_RECONCILE_WAIT_SECONDS": "5",
    }
    running = Stack(env, tmp_path, [])
    running.start_together(
        (
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.pledge_intake", "pledge-intake.1"),
            ("services.certificates", "certificate-renderer.1"),
            ("services.intake", "intake.1"),
            ("services.channels.signal", "signal.1"),
        )
    )
    running.intake = base  # type: ignore[attr-defined]
    yield running
    ServiceProcess.stop_all(running.procs)


@pytest.fixture
async def members(db: Any, service_env: dict[str, str]) -> Any:
    opened = Members(db, service_env)
    yield opened
    await opened.aclose()


async def wait_for(predicate: Any, what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout}s")


def signal_texts(sandbox: Sandbox) -> list[str]:
    return [str(m.get("message", "")) for m in sandbox.get("/signal/_messages", recipient=PHONE)["messages"]]


async def test_a_phone_only_member_confirms_a_change_from_the_signal_message(
    stack: Any, sandbox: Sandbox, members: Members, db: Any
) -> None:
    await confirm_numbers(db, stack.env, PHONE)  # they wrote to us from it before
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        first = {"name": "Chanthou Signalonly", "phone": PHONE, "country": "KH", "channels": ["signal"],
                 "discreet": False}  # fmt: skip
        accepted = await client.post("/api/v1/pledges", json={"consent": True, **first})
        assert accepted.status_code == 202, accepted.text
        await wait_for(lambda: asyncio.to_thread(signal_texts, sandbox), "the certificate on Signal")
        member = await wait_for(lambda: members.one(name="Chanthou Signalonly"), "the member")
        assert not member.get("email")

        other = {"name": "Someone Else", "phone": PHONE, "country": "KH", "channels": ["signal"],
                 "discreet": False}  # fmt: skip
        accepted = await client.post("/api/v1/pledges", json={"consent": True, **other})
        assert accepted.status_code == 202, accepted.text

        async def notice() -> str | None:
            texts = await asyncio.to_thread(signal_texts, sandbox)
            return next((t for t in texts if "/m/confirm/" in t), None)

        text = await wait_for(notice, "the confirmation on Signal")
        assert (await members.get(member["_id"]) or {}).get("name") == "Chanthou Signalonly"
        found = re.search(r"http://127\.0\.0\.1:\d+/m/confirm/[A-Za-z0-9_\-]+", text)
        assert found, text
        done = await post_form(client, found.group(0))
        assert done.status_code == 200 and 'data-state="done"' in done.text
        await wait_for(lambda: members.one(_id=member["_id"], name="Someone Else"), "the change applied")
