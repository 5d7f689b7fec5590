"""Urgent Action alerts on real components: the operator API on the console (a publisher's API
token), the public pages on intake, the dispatcher's fan-out, email / Signal / WhatsApp channels
with WhatsApp's inbound process, the SMTP sink and sandbox."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pytest

from services.console.permissions import Role
from shared.contracts.alert import action_token_hash
from tests.integration.test_chat_channels import MS_SECRET, WA_SECRET
from tests.integration.test_delivery import Stack, wait_for_states
from tests.service.conftest import SECRET
from tests.support.console import bearer, operator_token
from tests.support.forms import post_form
from tests.support.infra import MailSink, Sandbox
from tests.support.member_keys import member_key
from tests.support.numbers import confirm_numbers
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(420)

ALERT: dict[str, Any] = {
    "number": "UA 12/26",
    "urgent": False,
    "topics": ["political-prisoners"],
    "texts": {
        "en": {
            "title": "Release Sok Vanna",
            "summary": "Opposition activist Sok Vanna was sentenced in a mass trial.",
            "actions": ["Write to the Minister of Justice", "Share this alert"],
            "letter": "{salutation},\n\nI am {name} and I call for the release of Sok Vanna.",
            "letter_subject": "Release Sok Vanna",
        },
        "km": {
            "title": "ដោះលែង សុខ វណ្ណា",
            "summary": "សកម្មជន សុខ វណ្ណា ត្រូវបានកាត់ទោសក្នុងការកាត់ក្តីជាក្រុម។",
            "actions": ["សរសេរទៅរដ្ឋមន្ត្រីក្រសួងយុត្តិធម៌"],
            "letter": "{salutation},\n\nខ្ញុំឈ្មោះ {name} សូមអំពាវនាវឱ្យដោះលែង សុខ វណ្ណា។",
            "letter_subject": "ដោះលែង សុខ វណ្ណា",
        },
    },
    "officials": [
        {
            "name": "Minister of Justice",
            "title": "Minister",
            "organisation": "Ministry of Justice",
            "email": "minister@justice.example",
            "salutation": "Your Excellency",
        }
    ],
}


@pytest.fixture
def webhook_port() -> int:
    return free_port()


@pytest.fixture
def sandbox(tmp_path: Path, webhook_port: int) -> Iterator[Sandbox]:
    box = Sandbox(
        tmp_path / "sandbox-run",
        SANDBOX_WHATSAPP_WEBHOOK_URL=f"http://127.0.0.1:{webhook_port}/webhooks/whatsapp",
        SANDBOX_WHATSAPP_APP_SECRET=WA_SECRET,
        SANDBOX_MESSENGER_APP_SECRET=MS_SECRET,
    ).start()
    yield box
    box.stop()


@pytest.fixture
async def publisher_token(db: Any, service_env: dict[str, str]) -> str:
    """A publisher's API token for the console process (drafts, publishes, reads the totals)."""
    return await operator_token(db, Role.publisher, env=service_env)


@pytest.fixture
async def approver_token(db: Any, service_env: dict[str, str]) -> str:
    """A second publisher's API token: approves urgent and sensitive alerts (the two-person rule)."""
    return await operator_token(db, Role.publisher, env=service_env)


def console_env(intake_port: int, console_port: int) -> dict[str, str]:
    """The console of a stack: what it publishes links to the stack's intake."""
    return {
        "CONSOLE_SECRET_KEY": SECRET,
        "CONSOLE_PORT": str(console_port),
        "CONSOLE_PUBLIC_SITE_URL": f"http://127.0.0.1:{intake_port}",
    }


@pytest.fixture
def stack(
    service_env: dict[str, str],
    tmp_path: Path,
    sandbox: Sandbox,
    mail: MailSink,
    webhook_port: int,
    publisher_token: str,
    approver_token: str,
) -> Iterator[Any]:
    intake_port, console_port = free_port(), free_port()
    env = {
        **service_env,
        **mail.client_env(),
        **sandbox.client_env(),
        "RETRY_DELAYS_MS": "[400, 800, 1600]",
        "WHATSAPP_WEBHOOK_PORT": str(webhook_port),
        "WHATSAPP_APP_SECRET": WA_SECRET,
        "WHATSAPP_ACCESS_TOKEN": "whatsapp-token",
        "DISPATCHER_PUBLIC_BASE_URL": f"http://127.0.0.1:{intake_port}",
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(intake_port),
        "INTAKE_PUBLIC_BASE_URL": f"http://127.0.0.1:{intake_port}",
        **console_env(intake_port, console_port),
    }
    running = Stack(env, tmp_path, [])
    running.start_together(
        (
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.intake", "intake.1"),
            ("services.console", "console.1"),
            ("services.channels.email", "email.1"),
            ("services.channels.signal", "signal.1"),
            ("services.channels.whatsapp", "whatsapp.1"),
            ("services.channels.whatsapp.inbound", "whatsapp-inbound.1"),
        )
    )
    running.intake = f"http://127.0.0.1:{intake_port}"  # type: ignore[attr-defined]
    running.console = f"http://127.0.0.1:{console_port}"  # type: ignore[attr-defined]
    running.operator_token = publisher_token  # type: ignore[attr-defined]
    running.approver_token = approver_token  # type: ignore[attr-defined]
    yield running
    ServiceProcess.stop_all(running.procs)


MEMBERS: dict[str, dict[str, Any]] = {
    "mb_a_email": {"channels": ["email"]},
    "mb_a_signal": {"channels": ["signal", "email"]},
    "mb_a_whatsapp": {"channels": ["whatsapp"], "language": "km"},
    "mb_a_messenger": {"channels": ["messenger", "email"]},  # no PSID yet: email carries it
    "mb_a_no_consent": {"channels": ["email"], "alerts_opt_in": False},
    "mb_a_unsubscribed": {"channels": ["email"], "unsubscribed": ["all"]},
    "mb_a_other_topic": {"channels": ["email"], "topics": ["elections"]},
    "mb_a_post_only": {"channels": ["post"]},
    "mb_a_unconfirmed": {"channels": ["email"], "email_confirmed": None},  # never confirmed its email
}


async def seed_members(db: Any, env: dict[str, str]) -> None:
    for index, (member_id, extra) in enumerate(MEMBERS.items()):
        phone = f"+8551200{index:04d}"
        await db.members.insert_one(
            {
                "_id": member_id,
                "name": f"Member {index}",
                "country": "KH",
                "language": "en",
                "email": f"{member_id}@example.org",
                "email_confirmed": f"{member_id}@example.org",
                "phone": phone,
                "alerts_opt_in": True,
                "unsubscribe_token": f"tok_{member_id}_" + "z" * 16,
                "discreet": False,  # chose ordinary messages (test_discreet_messages.py: the others)
                **extra,
            }
        )
        await db.member_keys.insert_one({"_id": member_key(env, "phone", phone), "member_id": member_id})
        await confirm_numbers(db, env, phone)  # they wrote to us from it


def operator(stack: Any, method: str, path: str, body: Any = None) -> httpx.Response:
    """An operator API call to the stack's console, with the stack's operator token."""
    return httpx.request(
        method, f"{stack.console}{path}", json=body, headers=bearer(stack.operator_token), timeout=30
    )


def publish_approved(stack: Any, body: dict[str, Any]) -> httpx.Response:
    """An urgent or sensitive alert as it must be published: drafted by the stack's operator,
    approved by a second publisher (`stack.approver_token`), then published."""
    drafted = operator(stack, "POST", "/api/v1/operator/alerts?draft=true", body)
    assert drafted.status_code == 201, drafted.text
    alert_id = drafted.json()["alert_id"]
    approved = httpx.post(
        f"{stack.console}/api/v1/operator/alerts/{alert_id}/approve",
        headers=bearer(stack.approver_token),
        timeout=30,
    )
    assert approved.status_code == 200, approved.text
    return operator(stack, "POST", f"/api/v1/operator/alerts/{alert_id}/publish")


async def test_an_alert_reaches_each_eligible_member_once_and_actions_count_once(
    stack: Any, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    await seed_members(db, stack.env)
    anonymous = await asyncio.to_thread(httpx.post, f"{stack.console}/api/v1/operator/alerts", json=ALERT)
    assert anonymous.status_code == 401
    published = await asyncio.to_thread(operator, stack, "POST", "/api/v1/operator/alerts", ALERT)
    assert published.status_code == 202, published.text
    alert_id = published.json()["alert_id"]

    docs = await wait_for_states(
        db, {"purpose": "alert", "source_id": f"{alert_id}#0"}, {"sent", "delivered"}, 4
    )
    await asyncio.sleep(1.5)  # nobody else gets one later either
    docs = await db.deliveries.find({"purpose": "alert", "source_id": f"{alert_id}#0"}).to_list(None)
    assert {d["member_id"]: d["channel"] for d in docs} == {
        "mb_a_email": "email",
        "mb_a_signal": "signal",
        "mb_a_whatsapp": "whatsapp",
        "mb_a_messenger": "email",
    }

    emails = mail.messages()
    assert sorted(m["To"][0]["Address"] for m in emails) == [
        "mb_a_email@example.org",
        "mb_a_messenger@example.org",
    ]
    raw = mail.raw(next(m["ID"] for m in emails if m["To"][0]["Address"] == "mb_a_email@example.org"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Urgent Action UA 12/26: Release Sok Vanna"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    mailto = next(part.split('"')[0] for part in html.split('href="')[1:] if part.startswith("mailto:"))
    query = parse_qs(urlparse(mailto.replace("&amp;", "&")).query)
    assert query["subject"] == ["Release Sok Vanna"]
    assert unquote(query["body"][0]).startswith("Your Excellency,\n\nI am Member 0 and I call")
    [signal] = sandbox.get("/signal/_messages", recipient="+85512000001")["messages"]
    assert "Release Sok Vanna" in signal["message"] and "/a/done/" in signal["message"]
    [whatsapp] = sandbox.get("/whatsapp/_messages", to="85512000002")["messages"]
    assert whatsapp["type"] == "template" and whatsapp["template"]["name"] == "samleng_update"

    page = await asyncio.to_thread(httpx.get, f"{stack.intake}/a/UA-12-26", params={"lang": "km"})
    assert (
        page.status_code == 200
        and "ដោះលែង សុខ វណ្ណា" in page.text
        and "mailto:minister@justice.example" in page.text
    )

    # "I took action": by the member's link (twice) and by a DONE reply (twice) -> counted once each
    token = re.search(r"/a/done/([A-Za-z0-9_.-]+)", html).group(1)  # type: ignore[union-attr]
    [own_delivery] = [d for d in docs if d["member_id"] == "mb_a_email"]
    assert own_delivery["action_token_hash"] == action_token_hash(token), "only the token's hash is kept"
    assert "action_token" not in own_delivery
    asked = await asyncio.to_thread(httpx.get, f"{stack.intake}/a/done/{token}")
    assert 'id="official-0"' in asked.text and "Minister of Justice" in asked.text
    delivery, _, secret = token.partition(".")
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as web:
        own = f"/a/done/{token}"  # the form (and its CSRF token) a member's browser loaded
        for forged in (f"{delivery}.{secret[::-1]}", f"{delivery}.", secret, f"dl_{'0' * 24}.{secret}"):
            refused = await post_form(web, f"/a/done/{forged}", {"official": ["0"]}, page=own)
            assert refused.status_code == 404, forged
        for _ in range(2):  # saying twice that they wrote to the minister counts once, for the minister
            done = await post_form(web, own, {"official": ["0", "7"]})
            assert done.status_code == 200 and 'data-state="thanks"' in done.text
    for _ in range(2):
        sandbox.post("/whatsapp/_inbound", {"from": "85512000002", "text": "DONE"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and await db.action_reports.count_documents({"alert_id": alert_id}) < 2:
        await asyncio.sleep(0.3)
    await asyncio.sleep(1)
    reports = await db.action_reports.find({"alert_id": alert_id}).to_list(None)
    assert sorted((r["member_id"], r["source"]) for r in reports) == [
        ("mb_a_email", "link"),
        ("mb_a_whatsapp", "chat-reply"),
    ]
    totals = (await asyncio.to_thread(operator, stack, "GET", f"/api/v1/operator/alerts/{alert_id}")).json()
    assert totals["actions"] == {
        "total": 2,
        "by_source": {"link": 1, "chat-reply": 1},
        "by_official": [{"official": 0, "name": "Minister of Justice", "members": 1}],  # 7: no such
    }

    # An update reaches exactly the original recipients, on the channel that reached them
    changed = await asyncio.to_thread(
        operator, stack, "POST", f"/api/v1/operator/alerts/{alert_id}/updates", {"kind": "update"}
    )
    assert changed.status_code == 202, changed.text
    updates = await wait_for_states(
        db, {"purpose": "alert", "source_id": f"{alert_id}#1"}, {"sent", "delivered"}, 4
    )
    assert {d["member_id"]: d["channel"] for d in updates} == {d["member_id"]: d["channel"] for d in docs}
    subjects = [m["Subject"] for m in mail.messages()]
    assert subjects.count("Update on Urgent Action UA 12/26: Release Sok Vanna") == 2


async def test_a_sensitive_alert_names_nobody_in_chat(stack: Any, db: Any, sandbox: Sandbox) -> None:
    await seed_members(db, stack.env)
    sensitive = {**ALERT, "number": "UA 13/26", "sensitive": True}
    refused = await asyncio.to_thread(operator, stack, "POST", "/api/v1/operator/alerts", sensitive)
    assert refused.status_code == 409, "a sensitive alert needs a second publisher's approval"
    published = await asyncio.to_thread(publish_approved, stack, sensitive)
    assert published.status_code == 202, published.text
    alert_id = published.json()["alert_id"]
    await wait_for_states(db, {"purpose": "alert", "source_id": f"{alert_id}#0"}, {"sent", "delivered"}, 4)
    [signal] = sandbox.get("/signal/_messages", recipient="+85512000001")["messages"]
    assert "Sok Vanna" not in signal["message"]
    assert signal["message"].endswith("/a/UA-13-26")


async def test_a_dispatcher_killed_mid_fan_out_resumes_and_every_member_has_exactly_one_delivery(
    rabbit: Any, service_env: dict[str, str], tmp_path: Path, db: Any
) -> None:
    from shared.contracts import utcnow
    from shared.contracts.alert import AlertPublished, AlertPublishedData
    from tests.integration.test_delivery import publish

    count = 10_000
    await db.members.insert_many(
        [
            {
                "_id": f"mb_fan_{i:05d}",
                "name": f"Member {i}",
                "country": "US",
                "language": "en",
                "email": f"fan{i}@example.org",
                "email_confirmed": f"fan{i}@example.org",
                "channels": ["email"],
                "alerts_opt_in": True,
            }
            for i in range(count)
        ]
    )
    stack = Stack({**service_env, "DISPATCHER_PUBLIC_BASE_URL": "http://pledge.example.org"}, tmp_path, [])
    victim = stack.start("services.dispatcher", "alert-dispatcher.1")
    data = AlertPublishedData(
        alert_id="al_fanout_kill",
        number="UA 99/26",
        topics=["political-prisoners"],
        texts={"en": ALERT["texts"]["en"], "km": ALERT["texts"]["km"]},
        public_url="http://pledge.example.org/a/UA-99-26",
        published_at=utcnow(),
    )
    await publish(rabbit, [AlertPublished(correlation_id="al_fanout_kill", data=data)])  # type: ignore[list-item]
    query = {"purpose": "alert", "source_id": "al_fanout_kill#0"}
    deadline = time.monotonic() + 120
    while await db.deliveries.count_documents(query) < count // 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    victim.kill()
    partial = await db.deliveries.count_documents(query)
    assert 0 < partial < count, partial
    try:
        stack.start("services.dispatcher", "alert-dispatcher.2")
        deadline = time.monotonic() + 300
        while await db.deliveries.count_documents(query) < count and time.monotonic() < deadline:
            await asyncio.sleep(2)  # counting 10,000 holds the Mongo-wire server's lock: not too often
        members = await db.deliveries.distinct("member_id", query)
        assert len(members) == count
        assert await db.deliveries.count_documents(query) == count, "exactly one delivery per member"
    finally:
        for proc in stack.procs:
            proc.terminate()
        await purge(rabbit.url, "samleng.channel-email.high")  # no email worker ran: leave no work behind


async def purge(url: str, queue: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await (await channel.declare_queue(queue, passive=True)).purge()
    await connection.close()


async def test_quiet_hours_hold_a_normal_alert_until_they_end_and_an_urgent_one_goes_at_once(
    stack: Any, db: Any, mail: MailSink
) -> None:
    from datetime import timedelta

    from shared.contracts import utcnow

    now = utcnow()
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M:%S"),
        "end": (now + timedelta(seconds=5)).strftime("%H:%M:%S"),
    }
    await db.members.insert_one(
        {
            "_id": "mb_sleeping",
            "name": "Sleeping Member",
            "country": "US",
            "language": "en",
            "email": "sleeping@example.org",
            "email_confirmed": "sleeping@example.org",
            "channels": ["email"],
            "alerts_opt_in": True,
            "time_zone": "UTC",
            "quiet_hours": quiet,
        }
    )
    normal = await asyncio.to_thread(
        operator, stack, "POST", "/api/v1/operator/alerts", {**ALERT, "number": "UA 20/26"}
    )
    urgent = await asyncio.to_thread(publish_approved, stack, {**ALERT, "number": "UA 21/26", "urgent": True})
    normal_id, urgent_id = normal.json()["alert_id"], urgent.json()["alert_id"]

    await wait_for_states(db, {"source_id": f"{urgent_id}#0"}, {"sent"}, 1, timeout=30)
    held = await db.deliveries.find_one({"source_id": f"{normal_id}#0"})
    assert held["state"] == "waiting" and held["reason"] == "quiet-hours"
    assert [m["Subject"] for m in mail.messages()] == ["URGENT: Urgent Action UA 21/26: Release Sok Vanna"]

    [released] = await wait_for_states(db, {"source_id": f"{normal_id}#0"}, {"sent"}, 1, timeout=60)
    assert released["updated_at"] >= held["wait_until"] - timedelta(seconds=1)
    assert len(mail.messages()) == 2


async def test_an_operator_sends_a_draft_to_themself_and_it_is_never_counted_as_the_alerts(
    stack: Any, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    await seed_members(db, stack.env)
    body = {**ALERT, "number": "UA 22/26", "urgent": True}
    drafted = await asyncio.to_thread(operator, stack, "POST", "/api/v1/operator/alerts?draft=true", body)
    alert_id = drafted.json()["alert_id"]
    path = f"/api/v1/operator/alerts/{alert_id}/test-send"
    by_email = await asyncio.to_thread(operator, stack, "POST", path, {"channel": "email", "language": "km"})
    by_signal = await asyncio.to_thread(
        operator, stack, "POST", path, {"channel": "signal", "to": "+85512999001"}
    )
    assert by_email.status_code == by_signal.status_code == 202, by_email.text

    tests = await wait_for_states(db, {"purpose": "alert_test", "correlation_id": alert_id}, {"sent"}, 2)
    assert sorted(d["channel"] for d in tests) == ["email", "signal"]
    me = (await asyncio.to_thread(operator, stack, "GET", "/api/v1/operator/me")).json()["operator"]
    [message] = mail.messages()
    assert message["To"][0]["Address"] == me["email"]
    assert message["Subject"] == "URGENT: សកម្មភាពបន្ទាន់ UA 22/26៖ ដោះលែង សុខ វណ្ណា"
    [signal] = sandbox.get("/signal/_messages", recipient="+85512999001")["messages"]
    assert signal["message"].startswith("Urgent Action UA 22/26: Release Sok Vanna")
    await asyncio.sleep(1)
    assert await db.deliveries.count_documents({"purpose": "alert"}) == 0, "a draft reaches no member"
    shown = (await asyncio.to_thread(operator, stack, "GET", f"/api/v1/operator/alerts/{alert_id}")).json()
    assert shown["deliveries_by_sequence"] == {} and shown["progress"] == {}
