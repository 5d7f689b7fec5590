"""Checking an alert before and while it goes out, on the console (real Mongo-wire server and
broker): the preview built by the channels' own functions, the summary planned with the
dispatcher's rules, the per-recipient CSV without contact details, and the live progress."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.personal_data import contact_key
from tests.service.test_console_alerts import ALERTS, alert, keep_published, operator
from tests.support.handed_over import drain, watched


def member(member_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "_id": member_id,
        "name": f"Name of {member_id}",
        "country": "KH",
        "language": "en",
        "email": f"{member_id}@example.org",
        "email_confirmed": f"{member_id}@example.org",
        "phone": "+85512345678",
        "channels": ["email"],
        "alerts_opt_in": True,
        **extra,
    }


def quiet_now() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }


async def test_the_preview_shows_each_channels_text_in_both_languages_and_the_sensitive_variant(
    console: str, db: Any
) -> None:
    _, editor = await operator(console, db, Role.editor)
    _, viewer = await operator(console, db, Role.viewer)
    async with httpx.AsyncClient(base_url=console) as client:
        drafted = await client.post(ALERTS, headers=editor, params={"draft": "true"}, json=alert("UA 60/26"))
        alert_id = drafted.json()["alert_id"]
        shown = await client.get(f"{ALERTS}/{alert_id}/preview", headers=viewer)
        unknown = await client.get(f"{ALERTS}/al_nobody/preview", headers=viewer)
    assert shown.status_code == 200, shown.text
    assert unknown.status_code == 404
    preview = shown.json()
    assert preview["public_url"] == "http://intake.test/a/UA-60-26"
    en, km = preview["languages"]["en"], preview["languages"]["km"]
    assert en["email"]["subject"] == "Urgent Action UA 60/26: Release Sok Vanna"
    assert km["email"]["subject"].startswith("សកម្មភាពបន្ទាន់ UA 60/26")
    assert "Release Sok Vanna" in en["email"]["html"] and "Minister of Justice" in en["email"]["html"]
    assert "[member's name]" in en["email"]["text"]
    assert {"messenger", "signal", "whatsapp"} <= set(en["chat"])  # and any other chat channel installed
    assert en["chat"]["signal"].startswith("Urgent Action UA 60/26: Release Sok Vanna\n")
    assert km["chat"]["whatsapp"].startswith("សកម្មភាពបន្ទាន់ UA 60/26៖ ដោះលែង សុខ វណ្ណា")
    assert en["sensitive_chat"] == "New Urgent Action UA 60/26: http://intake.test/a/UA-60-26"
    assert "Sok Vanna" not in km["sensitive_chat"]
    assert en["public_page"] == "http://intake.test/a/UA-60-26?lang=en"


async def test_a_sensitive_alerts_chat_preview_names_nobody(console: str, db: Any) -> None:
    _, editor = await operator(console, db, Role.editor)
    async with httpx.AsyncClient(base_url=console, headers=editor) as client:
        body = {**alert("UA 61/26"), "sensitive": True}
        alert_id = (await client.post(ALERTS, params={"draft": "true"}, json=body)).json()["alert_id"]
        preview = (await client.get(f"{ALERTS}/{alert_id}/preview")).json()
    for language in ("en", "km"):
        chats = preview["languages"][language]["chat"]
        assert chats and all("Sok Vanna" not in text and "សុខ វណ្ណា" not in text for text in chats.values())


async def test_the_summary_counts_members_per_channel_and_who_quiet_hours_hold(console: str, db: Any) -> None:
    await db.members.insert_many(
        [
            member("mb_email"),
            member("mb_signal", channels=["signal", "email"]),
            # Signal first, but its owner never wrote to us from that number: by email
            member("mb_signal_unconfirmed", channels=["signal", "email"], phone="+85512345600"),
            member("mb_quiet", time_zone="UTC", quiet_hours=quiet_now(), language="km"),
            member("mb_unconfirmed", email_confirmed=None),  # double opt-in: never by email
            member("mb_other_topic", topics=["elections"]),
            member("mb_no_consent", alerts_opt_in=False),
            member("mb_stopped", unsubscribed=["all"]),
            member("mb_stopped_email", unsubscribed=["email"]),
        ]
    )
    # the dispatcher's record of numbers whose owners wrote to us (under the process's blind index)
    await db.confirmed_numbers.insert_one({"_id": contact_key("phone", "+85512345678")})
    _, editor = await operator(console, db, Role.editor)
    _, viewer = await operator(console, db, Role.viewer)
    async with httpx.AsyncClient(base_url=console) as client:
        normal = (
            await client.post(ALERTS, headers=editor, params={"draft": "true"}, json=alert("UA 62/26"))
        ).json()["alert_id"]
        urgent_body = {**alert("UA 63/26"), "urgent": True}
        urgent = (
            await client.post(ALERTS, headers=editor, params={"draft": "true"}, json=urgent_body)
        ).json()["alert_id"]
        held = (await client.get(f"{ALERTS}/{normal}/summary", headers=viewer)).json()
        at_once = (await client.get(f"{ALERTS}/{urgent}/summary", headers=viewer)).json()
    assert held["by_channel"] == {
        "email": {"members": 3, "in_quiet_hours": 1, "held": 1},
        "signal": {"members": 1, "in_quiet_hours": 0, "held": 0},
    }
    assert (held["members"], held["in_quiet_hours"], held["held"], held["unreachable"]) == (4, 1, 1, 2)
    assert held["by_language"] == {"en": 3, "km": 1}
    assert (at_once["members"], at_once["in_quiet_hours"], at_once["held"]) == (4, 1, 0)
    assert "mb_" not in str(held) and "example.org" not in str(held), "counts only"


async def test_progress_and_the_recipients_csv_carry_states_per_channel_and_never_a_contact(
    console: str, db: Any
) -> None:
    await keep_published(db, "al_progress", "UA 64/26")
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    rows = [
        ("dl_p1", "mb_1", "email", "sent", "#0"),
        ("dl_p2", "mb_2", "email", "delivered", "#0"),
        ("dl_p3", "mb_3", "signal", "failed_permanent", "#0"),
        ("dl_p4", "mb_4", "signal", "pending", "#0"),
        ("dl_p5", "mb_5", "email", "waiting", "#0"),
        ("dl_p6", "=cmd|' /C calc'!A0", "email", "sent", "#1"),
    ]
    await db.deliveries.insert_many(
        [
            {"_id": i, "purpose": "alert", "correlation_id": "al_progress", "source_id": f"al_progress{s}",
             "member_id": m, "channel": c, "state": state, "attempt": 1, "updated_at": now,
             "request": {"recipient": {"email": f"{m}@example.org"}}}
            for i, m, c, state, s in rows
        ]
        + [
            {"_id": "dl_test", "purpose": "alert_test", "correlation_id": "al_progress",
             "source_id": "al_progress#test", "member_id": "op_1", "channel": "email", "state": "sent",
             "attempt": 1, "updated_at": now}
        ]
    )  # fmt: skip
    _, viewer = await operator(console, db, Role.viewer)
    async with httpx.AsyncClient(base_url=console, headers=viewer) as client:
        shown = (await client.get(f"{ALERTS}/al_progress")).json()
        exported = await client.get(f"{ALERTS}/al_progress/recipients.csv")
        unknown = await client.get(f"{ALERTS}/al_nobody/recipients.csv")
    zero = dict.fromkeys(("requested", "waiting", "sending", "sent", "delivered", "failed", "skipped"), 0)
    assert shown["progress"]["0"] == {
        "total": {**zero, "requested": 5, "waiting": 1, "sending": 1, "sent": 1, "delivered": 1, "failed": 1},
        "channels": {
            "email": {**zero, "requested": 3, "waiting": 1, "sent": 1, "delivered": 1},
            "signal": {**zero, "requested": 2, "sending": 1, "failed": 1},
        },
    }
    assert shown["progress"]["1"]["total"]["sent"] == 1
    assert "alert_test" not in str(shown) and shown["deliveries_by_sequence"]["0"]["sent"] == 1
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert unknown.status_code == 404
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == ["version", "member_id", "channel", "state", "reason", "attempt", "updated_at"]
    assert [(r[1], r[2], r[3]) for r in table[1:6]] == [
        ("mb_1", "email", "sent"),
        ("mb_2", "email", "delivered"),
        ("mb_3", "signal", "failed_permanent"),
        ("mb_4", "signal", "pending"),
        ("mb_5", "email", "waiting"),
    ]
    assert table[6][:2] == ["1", "'=cmd|' /C calc'!A0"], "formula-safe"
    assert len(table) == 7, "a test sent to an operator is not a recipient"
    assert "example.org" not in exported.text and "op_1" not in exported.text


@pytest.fixture
async def tests_asked(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The dispatcher's side of `alert.test_requested.v1`, declared but not consumed."""
    async with watched(rabbit.url, "test-alert-tests", ("alert.test_requested.v1",)) as queue:
        yield queue


async def test_send_to_myself_hands_one_test_to_the_dispatcher_by_email_or_to_a_typed_number(
    console: str, db: Any, tests_asked: Any
) -> None:
    editor_id, editor = await operator(console, db, Role.editor)
    _, viewer = await operator(console, db, Role.viewer)
    async with httpx.AsyncClient(base_url=console, headers=editor) as client:
        body = {**alert("UA 65/26"), "urgent": True}
        alert_id = (await client.post(ALERTS, params={"draft": "true"}, json=body)).json()["alert_id"]
        url = f"{ALERTS}/{alert_id}/test-send"
        by_email = await client.post(url, json={"channel": "email", "language": "km"})
        by_signal = await client.post(url, json={"channel": "signal", "to": "+855 12 345 678"})
        problems = [
            await client.post(url, json={"channel": "signal"}),
            await client.post(url, json={"channel": "signal", "to": "not-a-number-123"}),
            await client.post(url, json={"channel": "pigeon"}),
            await client.post(url, json={"channel": "messenger"}),
        ]
        unknown = await client.post(f"{ALERTS}/al_nobody/test-send", json={"channel": "email"})
        refused = await client.post(url, headers=viewer, json={"channel": "email"})
    assert by_email.status_code == by_signal.status_code == 202, by_email.text
    assert [p.status_code for p in problems] == [422] * 4
    assert [p.json()["detail"][0].get("field") or p.json()["detail"][0]["loc"][-1] for p in problems] == [
        "to",
        "to",
        "channel",
        "channel",
    ]
    assert "not-a-number-123" not in problems[1].text
    assert unknown.status_code == 404 and refused.status_code == 403
    events = await drain(tests_asked)
    assert [(e["data"]["channel"], e["data"]["email"], e["data"]["phone"]) for e in events] == [
        ("email", (await db.operators.find_one({"_id": editor_id}))["email"], None),
        ("signal", None, "+85512345678"),
    ]
    first = events[0]
    assert first["actor"] == editor_id and first["data"]["operator_id"] == editor_id
    assert first["data"]["language"] == "km" and first["data"]["alert"]["alert_id"] == alert_id
    assert first["data"]["alert"]["urgent"] is True
    assert first["data"]["alert"]["public_url"] == "http://intake.test/a/UA-65-26"
    audited = await db.audit_events.find({"action": "alert.test_sent"}).to_list(None)
    assert [(a["operator_id"], a["detail"]) for a in audited] == [
        (editor_id, {"channel": "email", "language": "km"}),
        (editor_id, {"channel": "signal", "language": "en"}),
    ]
    assert "345678" not in str(audited), "the typed number is not kept"
    assert await db.deliveries.count_documents({}) == 0, "the dispatcher makes the delivery"
