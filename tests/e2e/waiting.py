"""Waiting on the running system as its tests do: a check asked again until it answers, and the
messages the SMTP sink (Mailpit) holds for an address."""

from __future__ import annotations

import email
import email.message
import email.policy
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from tests.e2e.conftest import RunningStack

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 60.0, what: str = "condition", every: float = 0.5) -> T:
    """`check`'s first true answer, asked every `every` seconds for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not reached in {timeout}s; last: {last}")


def inbox(stack: RunningStack, address: str, subject: str) -> list[email.message.EmailMessage]:
    """The messages to `address` in the SMTP sink whose subject starts with `subject`."""
    base = f"http://127.0.0.1:{stack.port('SAMLENG_MAIL_UI_PORT')}/api/v1"
    found = []
    for item in httpx.get(f"{base}/messages").json()["messages"]:
        if item["To"][0]["Address"] == address and item["Subject"].startswith(subject):
            raw = httpx.get(f"{base}/message/{item['ID']}/raw").content
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            found.append(message)
    return found


def write_to_us(stack: RunningStack, phone: str, text: str = "Hello") -> None:
    """The owner of `phone` sends the network's Signal number a message (the sandbox's inbound):
    that confirms the number for chat messages (services/dispatcher/numbers.py)."""
    ours = stack.env.get("SIGNAL_NUMBER", "+15550001234")
    sandbox = f"http://127.0.0.1:{stack.port('SAMLENG_SANDBOX_PORT')}"
    sent = httpx.post(
        f"{sandbox}/signal/_inbound", json={"from": phone, "to": ours, "text": text}, timeout=10
    )
    assert sent.status_code in (200, 201), sent.text
