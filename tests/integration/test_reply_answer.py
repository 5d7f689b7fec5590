"""A reply on WhatsApp answered from the console reaches the WhatsApp sandbox once (issue #16's
acceptance): the person writes in the sandbox, the WhatsApp inbound process and pledge-intake keep
the reply (sealed), an operator answers it through the console API (twice: a double click), and
the dispatcher's one `reply` delivery goes through the WhatsApp channel as free text inside the
24-hour window. Every process is real (console, dispatcher, pledge-intake, the WhatsApp sender and
inbound receiver) on the real broker and Mongo-wire server; only WhatsApp itself is the sandbox."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from services.console.permissions import Role
from shared.contracts.reply import answer_id
from tests.integration.test_chat_channels import ports, sandbox, stack, start_all  # noqa: F401 - fixtures
from tests.integration.test_delivery import Stack, wait_for_states
from tests.support.console import bearer, operator_token
from tests.support.infra import Sandbox
from tests.support.member_keys import member_key

pytestmark = pytest.mark.timeout(300)

PHONE = "+85512399001"
ANSWER = "ជំរាបសួរ! The forum is at the temple hall, Saturday 3 pm."


async def reply_kept(db: Any, member_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await db.inbound_messages.find_one({"member_id": member_id})
        if found is not None:
            return dict(found)
        await asyncio.sleep(0.2)
    raise AssertionError("the WhatsApp reply never reached pledge-intake")


async def test_a_whatsapp_reply_answered_from_the_console_reaches_the_sandbox_once(
    stack: Stack,  # noqa: F811 - the fixture imported above
    db: Any,
    sandbox: Sandbox,  # noqa: F811
    console: str,
) -> None:
    start_all(stack, "whatsapp")
    await db.members.insert_one(
        {"_id": "mb_answer", "name": "Sok Dara", "country": "KH", "language": "km", "phone": PHONE,
         "phones": [PHONE], "channels": ["whatsapp"]}
    )  # fmt: skip
    await db.member_keys.insert_one({"_id": member_key(stack.env, "phone", PHONE), "member_id": "mb_answer"})
    sandbox.post("/whatsapp/_inbound", {"from": PHONE.lstrip("+"), "text": "Where is the forum?"})
    reply = await reply_kept(db, "mb_answer")
    assert "sealed" in reply and "Where is the forum?" not in str(reply), "kept sealed"

    publisher = bearer(await operator_token(db, Role.publisher, env=stack.env))
    async with httpx.AsyncClient(base_url=console, headers=publisher, timeout=30) as client:
        [listed] = (await client.get("/api/v1/operator/replies")).json()["replies"]
        assert listed["text"] == "Where is the forum?" and listed["window"]["answerable"] is True
        answered = await client.post(f"/api/v1/operator/replies/{reply['_id']}/answer", json={"text": ANSWER})
        double = await client.post(f"/api/v1/operator/replies/{reply['_id']}/answer", json={"text": ANSWER})
    assert answered.status_code == 202, answered.text
    assert double.status_code == 200 and double.json()["state"] == "already-answered"

    [delivery] = await wait_for_states(db, {"purpose": "reply"}, {"delivered"}, 1, timeout=60)
    assert (delivery["channel"], delivery["source_id"]) == ("whatsapp", answer_id(reply["_id"], ANSWER))
    assert ANSWER not in str(delivery["request"]), "the answer rests sealed"
    [message] = sandbox.get("/whatsapp/_messages", to=PHONE.lstrip("+"))["messages"]
    assert message["type"] == "text" and message["text"] == ANSWER
    await asyncio.sleep(2)  # nothing more arrives later either
    assert sandbox.get("/whatsapp/_messages", to=PHONE.lstrip("+"))["count"] == 1
    assert await db.deliveries.count_documents({"purpose": "reply"}) == 1
