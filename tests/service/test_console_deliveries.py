"""Deliveries and chat replies on the console (real broker and Mongo-wire server): filters and
pages, never an address or a name in the list; a viewer sees states without certificate numbers
and leaves no read event, a publisher sees them and the read is audited once as theirs; replies
only for roles that may read members' personal details, each read audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.console.permissions import Role
from tests.support.console import bearer, operator_token

DELIVERIES = "/api/v1/operator/deliveries"
REPLIES = "/api/v1/operator/replies"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def operator(console: str, db: Any, role: Role) -> tuple[str, dict[str, str]]:
    """A new operator with `role`: their id and the headers of their API token."""
    headers = bearer(await operator_token(db, role))
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        me = await client.get("/api/v1/operator/me")
    assert me.status_code == 200, me.text
    return me.json()["operator"]["id"], headers


async def audited(db: Any, action: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(operator_id, object_id, detail) of each audit event of `action`, oldest first."""
    events = await db.audit_events.find({"action": action}).sort("at", 1).to_list(None)
    return [(e["operator_id"], e["object_id"], e["detail"]) for e in events]


def delivery(index: int, channel: str, state: str, pledge_id: str = "pl_x", **extra: Any) -> dict[str, Any]:
    """A delivery as the dispatcher keeps it (its request names the recipient)."""
    return {
        "_id": f"dl_{index:024d}",
        "purpose": "certificate",
        "source_id": f"KCAP-2026-{index:06d}",
        "correlation_id": pledge_id,
        "member_id": f"mb_{index}",
        "channel": channel,
        "state": state,
        "attempt": 1,
        "reason": None,
        "created_at": T0 + timedelta(seconds=index),
        "updated_at": T0 + timedelta(seconds=index),
        "request": {"recipient": {"email": "secret@example.org", "name": "Secret Name"}},
        "history": [],
        **extra,
    }


async def test_operators_list_deliveries_with_filters_and_pages_and_without_addresses(
    console: str, db: Any, admin_token: str
) -> None:
    await db.deliveries.insert_many(
        [
            delivery(i, "email" if i % 2 else "post", "sent" if i % 3 else "failed_permanent")
            for i in range(1, 13)
        ]
    )
    auth = bearer(admin_token)
    async with httpx.AsyncClient(base_url=console) as client:
        anonymous = await client.get(DELIVERIES)
        wrong = await client.get(DELIVERIES, headers=bearer("sk_op_nope"))
        failed_email = await client.get(
            DELIVERIES, params={"state": "failed_permanent", "channel": "email"}, headers=auth
        )
        first = await client.get(DELIVERIES, params={"limit": 5}, headers=auth)
        second = await client.get(
            DELIVERIES, params={"limit": 5, "before": first.json()["next_before"]}, headers=auth
        )
        of_pledge = await client.get(DELIVERIES, params={"pledge_id": "pl_other"}, headers=auth)
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert [d["delivery_id"] for d in failed_email.json()["deliveries"]] == [f"dl_{i:024d}" for i in (9, 3)]
    assert "secret@example.org" not in failed_email.text and "Secret Name" not in failed_email.text
    page1 = [d["delivery_id"] for d in first.json()["deliveries"]]
    page2 = [d["delivery_id"] for d in second.json()["deliveries"]]
    assert page1 == [f"dl_{i:024d}" for i in range(12, 7, -1)]
    assert page2 == [f"dl_{i:024d}" for i in range(7, 2, -1)]
    assert of_pledge.json() == {"count": 0, "deliveries": [], "next_before": None}


async def test_a_viewer_sees_states_without_certificate_numbers_and_leaves_no_read_event(
    console: str, db: Any
) -> None:
    await db.deliveries.insert_many(
        [
            delivery(1, "email", "failed_permanent", reason="smtp-550", fallback={"channel": "post"}),
            delivery(2, "post", "sent", fallback_from="dl_" + "0" * 23 + "1"),
            delivery(3, "signal", "sent", purpose="alert", source_id="al_1#0"),
        ]
    )
    viewer_id, viewer = await operator(console, db, Role.viewer)
    editor_id, editor = await operator(console, db, Role.editor)
    async with httpx.AsyncClient(base_url=console) as client:
        seen = await client.get(DELIVERIES, headers=viewer)
        by_editor = await client.get(DELIVERIES, headers=editor)
    assert seen.status_code == by_editor.status_code == 200, seen.text
    assert seen.json() == by_editor.json()
    listed = {d["delivery_id"][-1]: d for d in seen.json()["deliveries"]}
    assert [listed[i]["source_id"] for i in "123"] == [None, None, "al_1#0"], "no certificate number"
    assert (listed["1"]["state"], listed["1"]["reason"], listed["1"]["fallback_to"]) == (
        "failed_permanent",
        "smtp-550",
        "post",
    )
    for secret in ("secret@example.org", "Secret Name", "KCAP-2026-", "mb_1", "pl_x"):
        assert secret not in seen.text
    assert await db.audit_events.count_documents({"operator_id": {"$in": [viewer_id, editor_id]}}) == 0


async def test_a_publisher_sees_certificate_numbers_and_the_read_is_audited_once_as_theirs(
    console: str, db: Any
) -> None:
    await db.deliveries.insert_many([delivery(1, "email", "sent"), delivery(2, "post", "sent")])
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console) as client:
        seen = await client.get(DELIVERIES, headers=publisher)
    assert seen.status_code == 200, seen.text
    assert [d["source_id"] for d in seen.json()["deliveries"]] == ["KCAP-2026-000002", "KCAP-2026-000001"]
    assert "secret@example.org" not in seen.text and "Secret Name" not in seen.text
    assert await audited(db, "deliveries.read_personal") == [(publisher_id, None, {"count": 2})]


async def test_publishers_read_chat_replies_newest_first_each_read_audited_and_editors_do_not(
    console: str, db: Any
) -> None:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    await db.inbound_messages.insert_many(
        [
            {
                "_id": f"ev_{i}",
                "member_id": None if i == 4 else f"mb_{i % 2}",
                "channel": "whatsapp" if i % 2 else "signal",
                "sender_kind": "phone",
                "sender": f"+85512000{i:03d}",
                "text": ["DONE", "Where is the forum?", "STOP", "ចប់", "hello?"][i],
                "stop": i == 2,
                "received_at": start + timedelta(minutes=i),
            }
            for i in range(5)
        ]
    )
    publisher_id, publisher = await operator(console, db, Role.publisher)
    _, editor = await operator(console, db, Role.editor)
    _, viewer = await operator(console, db, Role.viewer)
    async with httpx.AsyncClient(base_url=console) as client:
        assert (await client.get(REPLIES)).status_code == 401
        refused = [await client.get(REPLIES, headers=h) for h in (editor, viewer)]
        newest = await client.get(REPLIES, params={"limit": 2}, headers=publisher)
        older = await client.get(REPLIES, params={"before": newest.json()["next_before"]}, headers=publisher)
        whatsapp = await client.get(REPLIES, params={"channel": "whatsapp"}, headers=publisher)
        strangers = await client.get(REPLIES, params={"unknown_sender": "true"}, headers=publisher)
    assert [r.status_code for r in refused] == [403, 403]
    assert all("DONE" not in r.text and "+855" not in r.text for r in refused)
    assert [r["text"] for r in newest.json()["replies"]] == ["hello?", "ចប់"]
    assert [r["reply_id"] for r in older.json()["replies"]] == ["ev_2", "ev_1", "ev_0"]
    assert older.json()["replies"][0]["stop"] is True and older.json()["next_before"] is None
    assert {r["channel"] for r in whatsapp.json()["replies"]} == {"whatsapp"}
    assert [r["sender"] for r in strangers.json()["replies"]] == ["+85512000004"]
    assert await audited(db, "replies.read") == [(publisher_id, None, {"count": n}) for n in (2, 3, 2, 1)]
    assert await db.audit_events.count_documents({"action": "permission.denied"}) == 2
