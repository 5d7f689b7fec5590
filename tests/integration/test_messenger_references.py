"""An m.me reference from a pledge page links one Messenger account, once, until it expires: the
messenger inbound process, pledge-intake and the dispatcher as processes, on the real broker and
Mongo-wire server, with the sandbox playing Messenger (it calls our webhook back, signed).

Each step waits for the sandbox's webhook call to be answered (the inbound process answers after
it decided) and reads the refusal counters from the inbound process's /metrics."""

from __future__ import annotations

import re
import time
from typing import Any
from unittest import mock

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from devstack.broker import RabbitNode
from shared.personal_data import open_fields
from tests.integration.test_chat_channels import (  # noqa: F401 - fixtures
    INTAKE_SECRET,
    ports,
    sandbox,
    seed,
    stack,
    start_all,
)
from tests.integration.test_delivery import Stack, publish, store_files, wait_for_states
from tests.support.infra import Sandbox
from tests.support.member_keys import member_key
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(300)

SIGNER = URLSafeTimedSerializer(INTAKE_SECRET, salt="messenger-ref")  # as intake signs the pledge page
OTHER_PSID = "9009000800070006"


def opt_in(box: Sandbox, ref: str, psid: str | None = None) -> str:
    """A person opens the m.me link and presses Send; returns their PSID once our webhook answered."""
    answer = box.post("/messenger/_optin", {"ref": ref, **({"psid": psid} if psid else {})})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [hook] = [w for w in box.get("/messenger/_webhooks")["webhooks"] if w["id"] == answer["webhook"]]
        if hook["status"] != "pending":
            assert hook["status"] == "delivered", hook["attempts"]
            return str(answer["psid"])
        time.sleep(0.1)
    raise AssertionError("the webhook was not answered")


def refused(webhook_ports: dict[str, int]) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{webhook_ports['messenger']}/metrics", timeout=10).text
    found = re.findall(
        r'samleng_channel_links_refused_total\{channel="messenger",reason="([^"]+)"\} (\S+)', text
    )
    return {reason: float(value) for reason, value in found}


async def linked_psid(running: Stack, db: Any, member_id: str) -> str | None:
    opener = Opener(running.env)  # the linked PSID is stored sealed with the member's details
    try:
        member = await open_fields(await opener.vault(), await db.members.find_one({"_id": member_id}))
    finally:
        await opener.aclose()
    return member.get("psid")


async def test_a_used_or_expired_messenger_reference_links_nothing(
    rabbit: RabbitNode,
    stack: Stack,  # noqa: F811 - the fixtures imported above
    db: Any,
    sandbox: Sandbox,  # noqa: F811
    ports: dict[str, int],  # noqa: F811
) -> None:
    start_all(stack, "messenger")
    files = await store_files(db, "KCAP-2026-MREF")
    await publish(rabbit, [await seed(db, stack.env, 40, ["messenger"], files=files)])
    await wait_for_states(db, {"correlation_id": "pl_chat_0040"}, {"waiting"}, 1, timeout=60)
    ref = SIGNER.dumps("pl_chat_0040")

    # 1. The signer opens their link: linked, and the waiting certificate goes to them.
    psid = opt_in(sandbox, ref)
    await wait_for_states(db, {"correlation_id": "pl_chat_0040"}, {"sent"}, 1, timeout=60)
    assert await linked_psid(stack, db, "mb_chat_0040") == psid
    assert len(sandbox.get("/messenger/_messages", psid=psid)["messages"]) == 1

    # 2. Someone else with the same (leaked) link: refused, nothing linked.
    opt_in(sandbox, ref, OTHER_PSID)
    assert refused(ports) == {"reference-spent": 1.0}

    # 3. The signer's thread opened again (Messenger resends the referral): no refusal, no change.
    opt_in(sandbox, ref, psid)
    assert refused(ports) == {"reference-spent": 1.0}

    # 4. Another account with a fresh reference from another view of the pledge page: refused.
    with mock.patch("time.time", return_value=time.time() - 86_400):  # itsdangerous stamps time.time()
        other_view = SIGNER.dumps("pl_chat_0040")
    opt_in(sandbox, other_view, "9009000800070007")
    assert refused(ports) == {"reference-spent": 1.0, "pledge-linked-elsewhere": 1.0}

    # 5. An expired reference (signed before MESSENGER_REF_MAX_AGE_DAYS, 30 by default): refused.
    with mock.patch("time.time", return_value=time.time() - 31 * 86_400):
        old = SIGNER.dumps("pl_chat_0041")
    opt_in(sandbox, old, "9009000800070008")
    assert refused(ports) == {
        "reference-spent": 1.0,
        "pledge-linked-elsewhere": 1.0,
        "reference-expired": 1.0,
    }

    assert await linked_psid(stack, db, "mb_chat_0040") == psid, "the first account stays"
    for other in (OTHER_PSID, "9009000800070007", "9009000800070008"):
        assert await db.member_keys.find_one({"_id": member_key(stack.env, "psid", other)}) is None
        assert sandbox.get("/messenger/_messages", psid=other)["messages"] == []
    assert len(sandbox.get("/messenger/_messages", psid=psid)["messages"]) == 1
    stored = str(await db.spent_references.find({}).to_list(None))
    assert ref not in stored and psid not in stored and "pl_chat_0040" not in stored
