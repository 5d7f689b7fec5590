"""pledge-intake's collections at rest: a pledge, a second pledge with the same email (a pending
change), a subscription and two chat replies (one from the member's phone, one from a number we
hold for nobody), each with unique strings, through intake and pledge-intake as processes on the
real broker and Mongo-wire server with encryption on (`service_env` gives a random master key);
operators read through the console (a process with the same keys).

Every document of `members`, `pledges`, `subscriptions`, `pending_changes`, `inbound_messages`,
`signatures` and `consents` is then read through a raw client: none holds those strings in plain
text, while what operators and the member see (the export, the member's own download, the list of
replies) still shows them as they were given."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aio_pika
import bson
import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.inbound import InboundMessage, InboundMessageData
from shared.member_links import link_token
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.personal_data import SEALED, open_fields
from tests.support.console import bearer
from tests.support.forms import post_form
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(240)

COLLECTIONS = (
    *("members", "pledges", "subscriptions", "pending_changes", "inbound_messages", "signatures"),
    "consents",
)
UNIQUE = uuid.uuid4().hex[:8]
WORD = "".join(chr(ord("a") + int(c, 16)) for c in UNIQUE).capitalize()  # names have no digits
NAME = f"Sealed Dara {WORD}"
EMAIL = f"sealed-{UNIQUE}@example.org"
PHONE_DIGITS = f"20255{int(UNIQUE, 16) % 100000:05d}"  # E.164 +1 <this>; both forms searched
STREET = f"{UNIQUE} Sealed Street"
SECOND_NAME = f"Second Signer {WORD}"
SUBSCRIBER = f"Subscriber Chanthy {WORD}"
SUBSCRIBER_EMAIL = f"subscriber-{UNIQUE}@example.org"
REPLY = f"thank you from {UNIQUE}"
STRANGER = f"+85517{int(UNIQUE, 16) % 1000000:06d}"
STRANGER_REPLY = f"who is this {UNIQUE}"
SECRETS = [
    *(NAME, EMAIL, PHONE_DIGITS, STREET, SECOND_NAME, SUBSCRIBER, SUBSCRIBER_EMAIL),
    *(REPLY, STRANGER.lstrip("+"), STRANGER_REPLY),
]


class Members:
    """pledge-intake's `members` as the services read them: opened (their personal fields are
    sealed, so a test cannot query them by name or contact). Other tests use it too."""

    def __init__(self, db: Any, env: dict[str, str]) -> None:
        self.db = db
        self.opener = Opener(env)

    async def get(self, member_id: str) -> dict[str, Any] | None:
        found = await self.db.members.find_one({"_id": member_id})
        return await open_fields(await self.opener.vault(), found) if found is not None else None

    async def where(self, **fields: Any) -> list[dict[str, Any]]:
        vault = await self.opener.vault()
        opened = [await open_fields(vault, doc) async for doc in self.db.members.find()]
        return [doc for doc in opened if all(doc.get(k) == v for k, v in fields.items())]

    async def one(self, **fields: Any) -> dict[str, Any] | None:
        found = await self.where(**fields)
        return found[0] if found else None

    async def aclose(self) -> None:
        await self.opener.aclose()


@pytest.fixture
async def notices(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """A queue for `notice.requested.v1`, so the confirmations pledge-intake asks for are routable
    (no dispatcher runs here)."""
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "notice.requested.v1")
    yield queue
    await connection.close()


async def until(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


async def publish(rabbit: RabbitNode, *events: InboundMessage) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    await publisher.publish_many(list(events))
    await connection.close()


def reply(sender: str, text: str) -> InboundMessage:
    return InboundMessage(
        correlation_id=f"reply-{UNIQUE}",
        data=InboundMessageData(
            channel="whatsapp", sender_kind="phone", sender=sender, text=text, received_at=utcnow()
        ),
    )


async def plain_hits(db: Any) -> list[str]:
    hits = []
    for name in COLLECTIONS:
        async for doc in db[name].find():
            raw = bson.encode(doc)
            hits += [f"{name}:{doc['_id']}:{s}" for s in SECRETS if s.encode() in raw]
    return hits


async def test_personal_data_in_pledge_intakes_collections_is_sealed_and_still_shown_to_its_owners(
    rabbit: RabbitNode,
    pledge_intake: Any,
    intake: str,
    console: str,
    admin_token: str,
    notices: Any,
    db: Any,
    service_env: dict[str, str],
) -> None:
    pledge = {
        "name": NAME,
        "country": "US",
        "channels": ["email", "post"],
        "email": EMAIL,
        "phone": f"+1 {PHONE_DIGITS}",
        "postal_address": {
            "street_address": STREET,
            "city": "Washington",
            "country_area": "DC",
            "postal_code": "20500",
        },
        "alerts_opt_in": True,
        "consent": True,
    }
    operators = httpx.AsyncClient(base_url=console, headers=bearer(admin_token), timeout=30)
    async with httpx.AsyncClient(base_url=intake, timeout=30) as client, operators:
        accepted = await client.post("/api/v1/pledges", json=pledge)
        assert accepted.status_code == 202, accepted.text
        pledge_id = accepted.json()["pledge_id"]
        recorded = await until(
            lambda: db.pledges.find_one({"_id": pledge_id, "member_id": {"$exists": True}}), "pledge"
        )
        member_id = recorded["member_id"]
        again = await client.post("/api/v1/pledges", json={**pledge, "name": SECOND_NAME, "phone": None})
        assert again.status_code == 202, again.text
        await until(lambda: db.pending_changes.find_one({"holder_id": member_id}), "pending change")
        subscribed = await client.post(
            "/api/v1/subscriptions",
            json={
                "name": SUBSCRIBER,
                "country": "US",
                "email": SUBSCRIBER_EMAIL,
                "channels": ["email"],
                "consent": True,
            },
        )
        assert subscribed.status_code in (200, 202), subscribed.text
        await publish(rabbit, reply(f"+1{PHONE_DIGITS}", REPLY), reply(STRANGER, STRANGER_REPLY))
        await until(
            lambda: db.subscriptions.count_documents({"state": "pending"}), "subscriptions", timeout=30
        )
        await until(
            lambda: db.inbound_messages.find_one({"member_id": member_id}), "the member's reply", timeout=30
        )
        await until(lambda: db.inbound_messages.find_one({"member_id": None}), "the stranger's reply")
        pending = await until(
            lambda: db.subscriptions.find_one(
                {"_id": {"$nin": [f"sb_{pledge_id}", f"sb_{again.json()['pledge_id']}"]}, "state": "pending"}
            ),
            "the subscription",
        )
        confirmed = await post_form(client, f"/c/{pending['confirm_token']}")
        assert confirmed.status_code == 200, confirmed.text
        subscriber = await until(
            lambda: db.subscriptions.find_one({"_id": pending["_id"], "state": "confirmed"}), "confirmed"
        )

        assert await plain_hits(db) == []
        member = await db.members.find_one({"_id": member_id})
        assert SEALED in member and {"name", "email", "emails", "phone", "postal_address"}.isdisjoint(member)
        assert member["country"] == "US" and member["channels"] == ["email", "post"], "plain: queried"
        assert "unsubscribe_token" not in member and member["unsubscribe_key"], "the token is blinded"
        members = Members(db, service_env)
        try:
            opened = await members.get(member_id)
        finally:
            await members.aclose()
        assert opened is not None and opened["name"] == NAME
        secret = opened["unsubscribe_token"]
        assert secret.encode() not in bson.encode(member)
        token = link_token(secret, member_id, "preferences", utcnow() + timedelta(days=30))
        for name in ("subscriptions", "pending_changes", "inbound_messages"):
            async for doc in db[name].find():
                assert SEALED in doc, f"{name} {doc['_id']} is not sealed"

        export = await operators.get(f"/api/v1/operator/members/{member_id}/export")
        assert export.status_code == 200, export.text
        data = export.json()
        assert data["member"]["name"] == NAME and data["member"]["emails"] == [EMAIL]
        assert data["member"]["phones"] == [f"+1{PHONE_DIGITS}"]
        assert data["member"]["postal_address"]["street_address"] == STREET
        assert [m["text"] for m in data["inbound_messages"]] == [REPLY]
        # both pledges' alerts boxes: pending subscriptions made with the member's email
        requests = [s["request"] for s in data["subscriptions"]]
        assert sorted(r["name"] for r in requests) == sorted([NAME, SECOND_NAME])
        assert {r["contact"]["email"] for r in requests} == {EMAIL}

        download = await client.get(f"/p/{token}/export")
        assert download.status_code == 200 and NAME in download.text and STREET in download.text
        page = await client.get(f"/p/{token}")
        assert page.status_code == 200, "the member's page finds them by their link"
        assert (await client.get(f"/p/{secret}")).status_code == 404, "the raw secret opens no page"
        assert (await client.get(f"/u/{secret}")).status_code == 200, "old unsubscribe links: blind index"
        assert (await client.get(f"/u/{link_token(secret, member_id, 'unsubscribe')}")).status_code == 200

        theirs = await operators.get(f"/api/v1/operator/members/{subscriber['member_id']}/export")
        assert theirs.status_code == 200, theirs.text
        assert theirs.json()["member"]["name"] == SUBSCRIBER
        assert theirs.json()["member"]["email_confirmed"] == SUBSCRIBER_EMAIL
        assert theirs.json()["subscriptions"][0]["request"]["contact"]["email"] == SUBSCRIBER_EMAIL

        replies = await operators.get("/api/v1/operator/replies")
        shown = {(r["sender"], r["text"]) for r in replies.json()["replies"]}
        assert shown == {(f"+1{PHONE_DIGITS}", REPLY), (STRANGER, STRANGER_REPLY)}
        trail = await db.audit_events.find().to_list(None)
        assert sorted(e["action"] for e in trail) == ["member.exported", "member.exported", "replies.read"]
        assert not [s for e in trail for s in SECRETS if s.encode() in bson.encode(e)], "names nobody"
