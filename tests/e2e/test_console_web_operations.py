"""Dead letters and chat replies handled in the browser, on the whole running system (issue #16's
acceptance): "a dead letter created by a test is replayed from the page and delivered once" and
"a reply on WhatsApp is answered from the inbox and reaches the sandbox once".

The dead letter is a real one: a member's certificate letter that the post channel gave up on
because the letters provider (the sandbox, told to answer 503) failed its last attempt. To get
there without waiting out the retry tiers (10 s, 1 min, 10 min, 1 h), the test takes the request
from the tier it waits in and puts it back on its work queue as its last attempt; the channel's
runner then dead-letters it itself (`retries-exhausted`, delivery `dead_lettered`). The provider
recovers, a publisher replays the letter from /dead-letters, and exactly one letter is printed.

The sandbox's fault rules are shared by the whole stack: the one injected here is removed before
the test ends, whatever happens (the sandbox clears its rules all at once; e2e tests run one after
another, so no other test's rule is there to lose)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aio_pika
import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page

from devstack.config import LocalStack
from shared.channels.queues import group_name
from shared.contracts.delivery import BANDS
from shared.messaging.consumer import ATTEMPT_HEADER, copy_message
from shared.messaging.topology import ConsumerGroup
from shared.settings import ServiceSettings
from tests.e2e.conftest import RunningStack
from tests.e2e.console_signin import new_operator, signed_in
from tests.e2e.test_certificate_delivery import operator_deliveries
from tests.e2e.test_pledge_form import SHOTS
from tests.e2e.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

T = TypeVar("T")

SIGNER = "Meas Sokunthea"
POST_PLEDGE: dict[str, Any] = {
    "name": SIGNER,
    "country": "US",
    "certificate_language": "en",
    "channels": ["post"],
    "postal_address": {
        "street_address": "2450 Pacific Avenue",
        "city": "Long Beach",
        "country_area": "CA",
        "postal_code": "90806",
    },
    "consent": True,
}
LETTERS_DOWN = {  # until removed; answered as Lob answers an outage
    "provider": "lob",
    "path_prefix": "/v1/letters",
    "method": "POST",
    "status": 503,
    "body": {"error": {"message": "Service unavailable", "status_code": 503}},
    "times": None,
}

CHAT_PHONE = "012 555 301"
CHAT_DIGITS = "85512555301"
QUESTION = "Where is the forum on Saturday?"
ANSWER = "ជំរាបសួរ! The forum is at the temple hall, Saturday 3 pm."


def run(work: Coroutine[Any, Any, T]) -> T:
    """Broker work (aio_pika) on a thread of its own: Playwright's sync API holds this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def sandbox_url(stack: RunningStack) -> str:
    return f"http://127.0.0.1:{stack.port('SAMLENG_SANDBOX_PORT')}"


def post_groups(stack: RunningStack) -> list[ConsumerGroup]:
    """The post channel's consumer groups, one a band, with the stack's retry tiers (as
    ServiceSettings reads them: the environment `make run` got, else the default)."""
    defaults = ServiceSettings.model_fields
    configured = stack.env.get("RETRY_DELAYS_MS")
    delays = json.loads(configured) if configured else defaults["retry_delays_ms"].default
    return [
        ConsumerGroup(
            exchange=defaults["amqp_exchange"].default,
            name=f"{group_name('post')}.{band}",
            routing_keys=(),
            retry_delays_ms=tuple(delays),
        )
        for band in BANDS
    ]


async def last_attempt(
    amqp_url: str, groups: list[ConsumerGroup], pledge_id: str, timeout: float
) -> tuple[ConsumerGroup, str]:
    """Take the pledge's request from the retry tier it waits in and put it back on its work queue
    as its last attempt (attempt counter = the group's maximum); its group and message id."""
    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        while time.monotonic() < deadline:
            for group in groups:
                for tier in group.retry_queues():
                    queue = await channel.declare_queue(tier, passive=True)
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        continue
                    if message.correlation_id != pledge_id:
                        await message.nack(requeue=True)
                        continue
                    copy = copy_message(message, {ATTEMPT_HEADER: group.max_attempts})
                    await channel.default_exchange.publish(copy, routing_key=group.queue)
                    await message.ack()
                    assert message.message_id is not None
                    return group, message.message_id
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise AssertionError(f"the request of {pledge_id} never reached a retry tier of the post channel")


def delivery_states(stack: RunningStack, pledge_id: str) -> list[tuple[str, str, str | None]]:
    return [(d["channel"], d["state"], d.get("reason")) for d in operator_deliveries(stack, pledge_id)]


def letters_to(stack: RunningStack, name: str) -> list[dict[str, Any]]:
    letters = httpx.get(f"{sandbox_url(stack)}/lob/v1/letters", auth=("test_e2e_check", "")).json()["data"]
    return [letter for letter in letters if letter["to"]["name"] == name]


def queue_row(page: Page, queue: str) -> Locator:
    return page.locator(f'tr[data-queue="{queue}"]')


def test_a_dead_letter_created_by_a_test_is_replayed_from_the_page_and_delivered_once(
    stack: RunningStack, browser: Browser
) -> None:
    sandbox = sandbox_url(stack)
    amqp_url = LocalStack.from_env(stack.env).amqp_url
    operator = new_operator(stack, "organiser.dead-letters@samleng.test", "Organiser")
    assert httpx.post(f"{sandbox}/_sandbox/faults", json=LETTERS_DOWN).status_code == 201
    try:
        created = httpx.post(
            f"{stack.intake_url}/api/v1/pledges",
            json=POST_PLEDGE,
            headers={"Idempotency-Key": "e2e-console-dlq"},
        )
        assert created.status_code == 202, created.text
        pledge_id = created.json()["pledge_id"]
        group, message_id = run(last_attempt(amqp_url, post_groups(stack), pledge_id, timeout=60))
        wait_for(
            lambda: delivery_states(stack, pledge_id) == [("post", "dead_lettered", "provider-503")],
            what="the post delivery dead-lettered",
        )
    finally:
        assert httpx.delete(f"{sandbox}/_sandbox/faults").status_code == 200  # the provider is back
    assert letters_to(stack, SIGNER) == [], "nothing was printed while the provider was down"

    # A publisher finds the letter on /dead-letters: its queue, reason and attempts, nothing personal.
    page = signed_in(browser, stack, operator, "/dead-letters")
    queue = group.dead_letter_queue
    assert queue_row(page, queue).locator('[data-count="letters"]').inner_text() == "1"
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "console-e2e-dead-letters-en.png"), full_page=True)
    queue_row(page, queue).get_by_role("link", name=queue).click()
    page.wait_for_url(f"**/dead-letters/{queue}")
    letter = page.locator(f'#letters tr[data-message-id="{message_id}"]')
    assert "retries-exhausted" in letter.inner_text() and "letters API 503" in letter.inner_text()
    assert letter.locator("td.number").inner_text() == str(group.max_attempts)
    content = page.content()
    assert SIGNER not in content and "Pacific Avenue" not in content and pledge_id not in content
    page.screenshot(path=str(SHOTS / "console-e2e-dead-letter-queue-en.png"), full_page=True)

    # Replay it from the page: it goes back to the channel, which prints it, once.
    letter.get_by_role("button", name=f"Replay {message_id}").click()
    page.wait_for_url(re.compile(r"\?done=replayed&count=1$"))
    assert "1 replayed onto" in page.locator("#outcome").inner_text()
    wait_for(
        lambda: [state[:2] for state in delivery_states(stack, pledge_id)] == [("post", "sent")],
        what="the post delivery sent",
    )
    [printed] = letters_to(stack, SIGNER)
    assert printed["to"]["address_zip"] == "90806"

    # The queue is empty again, and the dead-letter page says so.
    def emptied() -> bool:
        page.goto("/dead-letters")
        return queue_row(page, queue).locator('[data-count="letters"]').inner_text() == "0"

    wait_for(emptied, what="the dead-letter queue emptied")
    page.goto(f"/dead-letters/{queue}")
    assert page.locator("#no-letters").is_visible()
    page.goto(f"/dead-letters/{queue}?lang=km")
    page.screenshot(path=str(SHOTS / "console-e2e-dead-letter-queue-km.png"), full_page=True)
    assert len(letters_to(stack, SIGNER)) == 1, "printed once"
    page.context.close()


def whatsapp_messages(stack: RunningStack, kind: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{sandbox_url(stack)}/whatsapp/_messages", params={"to": CHAT_DIGITS}).json()[
        "messages"
    ]
    return [m for m in found if m["type"] == kind]


def test_a_reply_on_whatsapp_is_answered_from_the_inbox_and_reaches_the_sandbox_once(
    stack: RunningStack, browser: Browser
) -> None:
    created = httpx.post(
        f"{stack.intake_url}/api/v1/pledges",
        json={
            "name": "Sam Bopha",
            "country": "KH",
            "certificate_language": "km",
            "channels": ["whatsapp"],
            "phone": CHAT_PHONE,
            "consent": True,
            "discreet": False,
        },
        headers={"Idempotency-Key": "e2e-console-reply"},
    )
    assert created.status_code == 202, created.text
    pledge_id = created.json()["pledge_id"]
    wait_for(  # until its owner writes to us from that number
        lambda: [state for _, state, _ in delivery_states(stack, pledge_id)] == ["waiting"],
        what="the certificate waiting for the number (the member is known)",
    )

    # The member writes to us on WhatsApp (the sandbox signs the webhook, as Meta does): that
    # confirms their number, and the certificate goes.
    written = httpx.post(
        f"{sandbox_url(stack)}/whatsapp/_inbound", json={"from": CHAT_DIGITS, "text": QUESTION}
    )
    assert written.status_code == 201, written.text
    wait_for(
        lambda: [state for _, state, _ in delivery_states(stack, pledge_id)] == ["delivered"],
        what="the certificate on WhatsApp",
    )

    operator = new_operator(stack, "organiser.replies@samleng.test", "Organiser")
    page = signed_in(browser, stack, operator, "/replies")

    def listed() -> Locator | None:
        page.goto("/replies")
        item = page.locator("li.reply", has_text=QUESTION)
        return item if item.count() == 1 else None

    item = wait_for(listed, what="the reply in the inbox")
    assert item is not None
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "console-e2e-replies-en.png"), full_page=True)
    item.get_by_role("link", name=re.compile("^Open and answer")).click()
    page.wait_for_url(re.compile(r"/replies/[^/?]+$"))
    reply_url = page.url
    assert page.locator("#reply-text").inner_text() == QUESTION
    assert whatsapp_messages(stack, "text") == [], "nothing answered yet"

    page.get_by_label("Your answer").fill(ANSWER)
    page.get_by_role("button", name="Send answer").click()
    page.wait_for_url(re.compile(r"\?done=answered$"))

    # The answer goes through the dispatcher and the WhatsApp channel; the page shows its delivery.
    def delivered() -> bool:
        page.goto(reply_url)
        return "Delivery: delivered" in page.locator("#answers").inner_text()

    wait_for(delivered, what="the answer delivered")
    [sent] = whatsapp_messages(stack, "text")
    assert sent["text"] == ANSWER
    page.screenshot(path=str(SHOTS / "console-e2e-reply-en.png"), full_page=True)

    # Handled: it leaves the list of replies waiting for someone, and shows among the handled ones.
    page.get_by_role("button", name="Mark handled").click()
    page.wait_for_url(re.compile(r"\?done=handled$"))
    page.goto("/replies")
    assert page.locator("li.reply", has_text=QUESTION).count() == 0
    page.goto("/replies?show=handled")
    assert page.locator("li.reply", has_text=QUESTION).count() == 1
    page.goto(f"{reply_url}?lang=km")
    page.screenshot(path=str(SHOTS / "console-e2e-reply-km.png"), full_page=True)
    assert len(whatsapp_messages(stack, "text")) == 1, "answered once"
    page.context.close()
