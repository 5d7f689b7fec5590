"""The replies inbox on the console (real broker and Mongo-wire server): answering a chat reply
hands `reply.answer_requested.v1` to the bus with the operator as `actor`, once however often it
is submitted; an answer outside the channel's window (WhatsApp: 24 hours after the person's last
message there) is refused with 409 before anything is handed over, while Signal has no window;
marking handled and not handled is kept by the console and audited when it changes; only roles
with `replies.answer` may do either; the inbox is paged by (received_at, id), so replies of the
same instant are neither lost nor repeated between pages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.contracts import utcnow
from shared.contracts.reply import answer_id
from shared.personal_data import contact_key
from tests.service.test_console_deliveries import audited, operator
from tests.support.console import bearer, operator_token
from tests.support.handed_over import drain, watched

REPLIES = "/api/v1/operator/replies"
ANSWERED = "reply.answer_requested.v1"
PHONE = "+85512777001"


@pytest.fixture
async def bus(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """Answers handed over, declared but not consumed: what the console publishes stays readable."""
    async with watched(rabbit.url, "test-replies", (ANSWERED,)) as queue:
        yield queue


def reply(
    reply_id: str, channel: str, hours_ago: float, text: str = "Where is the forum?", **extra: Any
) -> dict[str, Any]:
    """A reply as pledge-intake keeps it (plain: no vault in this tier)."""
    sender = extra.pop("sender", PHONE)
    return {
        "_id": reply_id,
        "member_id": "mb_reply",
        "channel": channel,
        "sender_kind": "phone",
        "sender_key": contact_key("phone", sender),
        "sender": sender,
        "text": text,
        "stop": False,
        "received_at": utcnow() - timedelta(hours=hours_ago),
        **extra,
    }


async def test_an_answer_goes_to_the_bus_once_as_the_operators_and_is_audited(
    console: str, db: Any, bus: Any
) -> None:
    await db.inbound_messages.insert_one(reply("ev_wa_1", "whatsapp", hours_ago=1))
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        first = await client.post(f"{REPLIES}/ev_wa_1/answer", json={"text": "  At the temple, 3 pm.  "})
        again = await client.post(f"{REPLIES}/ev_wa_1/answer", json={"text": "At the temple, 3 pm."})
        listed = await client.get(REPLIES)
    assert first.status_code == 202, first.text
    assert first.json()["state"] == "requested"
    assert again.status_code == 200 and again.json()["state"] == "already-answered"
    assert (
        again.json()["answer_id"] == first.json()["answer_id"] == answer_id("ev_wa_1", "At the temple, 3 pm.")
    )

    [event] = await drain(bus, settle=0.3)
    assert event["type"] == ANSWERED and event["actor"] == publisher_id
    assert event["correlation_id"] == "ev_wa_1"
    data = event["data"]
    assert (data["channel"], data["sender"], data["member_id"], data["text"]) == (
        "whatsapp",
        PHONE,
        "mb_reply",
        "At the temple, 3 pm.",
    )
    [shown] = listed.json()["replies"]
    assert [(a["text"], a["operator_id"]) for a in shown["answers"]] == [
        ("At the temple, 3 pm.", publisher_id)
    ]
    assert shown["window"]["answerable"] is True and shown["window"]["closes_at"] is not None
    answers = await audited(db, "reply.answered")
    assert answers == [
        (publisher_id, "ev_wa_1", {"answer_id": first.json()["answer_id"], "channel": "whatsapp"})
    ]
    assert PHONE not in json.dumps([detail for *_, detail in answers])


async def test_outside_the_window_the_answer_is_refused_before_anything_is_handed_over(
    console: str, db: Any, bus: Any
) -> None:
    await db.inbound_messages.insert_many(
        [
            reply("ev_wa_old", "whatsapp", hours_ago=25),
            reply("ev_wa_other", "whatsapp", hours_ago=30, sender="+85512777002"),
            reply("ev_wa_again", "whatsapp", hours_ago=2, sender="+85512777002", text="Hello?"),
            reply("ev_sig_old", "signal", hours_ago=24 * 5),
        ]
    )
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        closed = await client.post(f"{REPLIES}/ev_wa_old/answer", json={"text": "Sorry for the delay"})
        reopened = await client.post(f"{REPLIES}/ev_wa_other/answer", json={"text": "Yes, welcome"})
        signal = await client.post(f"{REPLIES}/ev_sig_old/answer", json={"text": "Still there?"})
        listed = {r["reply_id"]: r for r in (await client.get(REPLIES)).json()["replies"]}
    assert closed.status_code == 409, closed.text
    assert "window closed" in closed.json()["detail"] and "24 hours" in closed.json()["detail"]
    assert reopened.status_code == 202, "the sender wrote again 2 hours ago: the window is open again"
    assert signal.status_code == 202, "Signal has no window"
    events = await drain(bus, settle=0.3)
    assert sorted(e["data"]["reply_id"] for e in events) == ["ev_sig_old", "ev_wa_other"]
    assert listed["ev_wa_old"]["window"]["answerable"] is False
    assert listed["ev_sig_old"]["window"] == {"answerable": True, "closes_at": None, "reason": None}
    refused = await db.audit_events.find_one({"action": "reply.answered", "outcome": "failed"})
    assert (
        refused is not None and refused["operator_id"] == publisher_id and refused["object_id"] == "ev_wa_old"
    )


async def test_who_may_answer_and_what_is_refused(console: str, db: Any, bus: Any) -> None:
    await db.inbound_messages.insert_one(reply("ev_wa_2", "whatsapp", hours_ago=1))
    _, editor = await operator(console, db, Role.editor)
    _, viewer = await operator(console, db, Role.viewer)
    _, admin = await operator(console, db, Role.admin)
    async with httpx.AsyncClient(base_url=console) as client:
        anonymous = await client.post(f"{REPLIES}/ev_wa_2/answer", json={"text": "hi"})
        refused = [
            await client.post(f"{REPLIES}/ev_wa_2/answer", json={"text": "hi"}, headers=h)
            for h in (editor, viewer)
        ]
        not_handled = await client.post(f"{REPLIES}/ev_wa_2/handled", headers=viewer)
        blank = await client.post(f"{REPLIES}/ev_wa_2/answer", json={"text": "   "}, headers=admin)
        too_long = await client.post(f"{REPLIES}/ev_wa_2/answer", json={"text": "x" * 1001}, headers=admin)
        unknown = await client.post(f"{REPLIES}/ev_nope/answer", json={"text": "hi"}, headers=admin)
    assert anonymous.status_code == 401
    assert [r.status_code for r in refused] == [403, 403] and not_handled.status_code == 403
    assert blank.status_code == too_long.status_code == 422
    assert "x" * 50 not in too_long.text, "the input is not echoed"
    assert unknown.status_code == 404
    assert await drain(bus, settle=0.3) == []


async def test_handled_and_not_handled_are_kept_filtered_and_audited_when_they_change(
    console: str, db: Any
) -> None:
    await db.inbound_messages.insert_many(
        [reply(f"ev_h_{i}", "signal", hours_ago=5 - i, text=f"message {i}") for i in range(3)]
    )
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        marked = await client.post(f"{REPLIES}/ev_h_1/handled")
        twice = await client.post(f"{REPLIES}/ev_h_1/handled")
        handled = await client.get(REPLIES, params={"handled": "true"})
        open_ones = await client.get(REPLIES, params={"handled": "false"})
        undone = await client.post(f"{REPLIES}/ev_h_1/unhandled")
        undone_twice = await client.post(f"{REPLIES}/ev_h_1/unhandled")
        after = await client.get(REPLIES, params={"handled": "false"})
        unknown = await client.post(f"{REPLIES}/ev_nope/handled")
    assert marked.json() == {"reply_id": "ev_h_1", "handled": True, "changed": True}
    assert twice.json()["changed"] is False
    [shown] = handled.json()["replies"]
    assert shown["reply_id"] == "ev_h_1" and shown["handled"] is True and shown["handled_by"] == publisher_id
    assert [r["reply_id"] for r in open_ones.json()["replies"]] == ["ev_h_2", "ev_h_0"]
    assert undone.json()["changed"] is True and undone_twice.json()["changed"] is False
    assert [r["reply_id"] for r in after.json()["replies"]] == ["ev_h_2", "ev_h_1", "ev_h_0"]
    assert unknown.status_code == 404
    assert await audited(db, "reply.handled") == [(publisher_id, "ev_h_1", {})]
    assert await audited(db, "reply.unhandled") == [(publisher_id, "ev_h_1", {})]


async def test_replies_of_the_same_instant_are_paged_with_none_lost_or_repeated(
    console: str, db: Any
) -> None:
    same = utcnow().replace(microsecond=0)  # a whole millisecond: as Mongo keeps it
    together = [{**reply(f"ev_same_{i}", "signal", 0), "received_at": same} for i in range(5)]
    newer = {**reply("ev_newer", "signal", 0), "received_at": same + timedelta(seconds=1)}
    older = {**reply("ev_older", "signal", 0), "received_at": same - timedelta(seconds=1)}
    await db.inbound_messages.insert_many(
        [together[2], older, together[4], newer, *together[:2], together[3]]
    )
    _, reader = await operator(console, db, Role.publisher)
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2}
    async with httpx.AsyncClient(base_url=console, headers=reader) as client:
        while True:
            answer = await client.get(REPLIES, params=params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            pages.append([r["reply_id"] for r in body["replies"]])
            if body["next_before"] is None:
                break
            params = {"limit": 2, "before": body["next_before"], "before_id": body["next_before_id"]}
            assert len(pages) < 10, pages
        alone = await client.get(REPLIES, params={"before_id": "ev_same_3"})
    same_ids = [f"ev_same_{i}" for i in (4, 3, 2, 1, 0)]
    assert pages == [["ev_newer", same_ids[0]], same_ids[1:3], same_ids[3:5], ["ev_older"]]
    assert alone.status_code == 422


async def test_while_the_broker_is_away_an_answer_answers_503_and_is_not_kept_as_given(
    make_console: Callable[..., Any], dead_broker_url: str, db: Any
) -> None:
    await db.inbound_messages.insert_one(reply("ev_wa_away", "whatsapp", hours_ago=1))
    token = await operator_token(db, Role.publisher)
    async with (
        make_console(wait_ready=False, amqp_url=dead_broker_url, submit_timeout_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(token)) as client,
    ):
        away = await client.post(f"{REPLIES}/ev_wa_away/answer", json={"text": "Soon"})
    assert away.status_code == 503 and away.headers["retry-after"] == "30", away.text
    assert await db.reply_states.count_documents({}) == 0, "not given: the same answer may be sent again"
    assert await db.audit_events.count_documents({"action": "reply.answered"}) == 0
