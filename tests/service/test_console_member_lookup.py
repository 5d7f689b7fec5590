"""Looking a member up on the console (real broker and Mongo-wire server): only by an exact email or
phone, through the contact's blind index; the answer shows channels, consents, subscriptions and
recent deliveries; an unknown contact answers the same shape, empty; the lookup is audited without
the contact; a role without `members.read_personal` gets nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.console.permissions import Role
from shared.personal_data import contact_key
from tests.service.test_console_deliveries import audited, operator

LOOKUP = "/api/v1/operator/members/lookup"
AT = datetime(2026, 11, 1, tzinfo=UTC)


async def seed(db: Any) -> None:
    """A member as pledge-intake keeps one (plain: no vault in this tier), with contact keys,
    consents, a subscription and 25 deliveries."""
    await db.members.insert_one(
        {"_id": "mb_look", "name": "Chan Sophea", "email": "sophea@example.org", "emails": ["sophea@example.org"],
         "phone": "+85512888001", "phones": ["+85512888001"], "country": "KH", "language": "km",
         "channels": ["whatsapp", "email"], "alerts_opt_in": True, "topics": ["land"],
         "unsubscribed": ["signal"], "last_inbound": {"whatsapp": AT}}
    )  # fmt: skip
    await db.member_keys.insert_many(
        [
            {"_id": contact_key("email", "sophea@example.org"), "member_id": "mb_look"},
            {"_id": contact_key("phone", "+85512888001"), "member_id": "mb_look"},
        ]
    )
    await db.consents.insert_many(
        [
            {"_id": "c1", "member_id": "mb_look", "kind": "pledge", "granted": True, "source": "web",
             "text_version": "2026-10", "at": AT},
            {"_id": "c2", "member_id": "mb_look", "kind": "signal", "granted": False, "source": "chat-reply",
             "at": AT + timedelta(days=1)},
        ]
    )  # fmt: skip
    await db.subscriptions.insert_one(
        {"_id": "sub_look", "member_id": "mb_look", "state": "confirmed", "created_at": AT,
         "confirmed_at": AT, "request": {"source": "subscribe-page"}}
    )  # fmt: skip
    await db.deliveries.insert_many(
        [
            {"_id": f"dl_look_{i:02d}", "member_id": "mb_look", "channel": "whatsapp", "purpose": "alert",
             "source_id": f"al_{i}#0", "state": "sent", "created_at": AT + timedelta(minutes=i),
             "updated_at": AT + timedelta(minutes=i), "request": {"recipient": {"phone": "+85512888001"}}}
            for i in range(25)
        ]
    )  # fmt: skip


async def test_an_exact_email_or_phone_finds_the_member_with_what_an_operator_works_with(
    console: str, db: Any
) -> None:
    await seed(db)
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        by_email = await client.get(LOOKUP, params={"email": "  Sophea@Example.org "})
        by_phone = await client.get(LOOKUP, params={"phone": "+85512888001"})
        unknown = await client.get(LOOKUP, params={"email": "nobody@example.org"})
        partial = await client.get(LOOKUP, params={"email": "sophea"})
        nothing = await client.get(LOOKUP)
    assert by_email.status_code == by_phone.status_code == 200, by_email.text
    assert by_email.json() == by_phone.json()
    [member] = by_email.json()["members"]
    assert (member["member_id"], member["state"], member["name"]) == ("mb_look", "known", "Chan Sophea")
    assert member["emails"] == ["sophea@example.org"] and member["phones"] == ["+85512888001"]
    assert member["channels"] == ["whatsapp", "email"] and member["unsubscribed"] == ["signal"]
    assert [(c["kind"], c["granted"]) for c in member["consents"]] == [("pledge", True), ("signal", False)]
    assert member["subscriptions"] == [
        {
            "subscription_id": "sub_look",
            "state": "confirmed",
            "source": "subscribe-page",
            "created_at": "2026-11-01T00:00:00Z",
            "confirmed_at": "2026-11-01T00:00:00Z",
        }
    ]
    deliveries = [d["delivery_id"] for d in member["deliveries"]]
    assert deliveries == [f"dl_look_{i:02d}" for i in range(24, 4, -1)], "the newest 20, newest first"
    assert unknown.status_code == 200 and unknown.json() == {"members": []}
    assert partial.status_code == nothing.status_code == 422
    looked = await audited(db, "members.looked_up")
    assert looked == [
        (publisher_id, "mb_look", {"kinds": ["email"], "found": 1}),
        (publisher_id, "mb_look", {"kinds": ["phone"], "found": 1}),
        (publisher_id, None, {"kinds": ["email"], "found": 0}),
    ]
    assert "sophea" not in json.dumps(looked).casefold() and "888001" not in json.dumps(looked)


async def test_roles_without_personal_reads_get_nothing(console: str, db: Any) -> None:
    await seed(db)
    _, editor = await operator(console, db, Role.editor)
    _, viewer = await operator(console, db, Role.viewer)
    async with httpx.AsyncClient(base_url=console) as client:
        answers = [
            await client.get(LOOKUP, params={"email": "sophea@example.org"}, headers=h)
            for h in (editor, viewer)
        ]
        anonymous = await client.get(LOOKUP, params={"email": "sophea@example.org"})
    assert [a.status_code for a in answers] == [403, 403] and anonymous.status_code == 401
    assert all("Sophea" not in a.text and "mb_look" not in a.text for a in [*answers, anonymous])
    assert await audited(db, "members.looked_up") == []
