"""An operator's answer to a chat reply (`reply.answer_requested.v1`, shared/contracts/reply.py):
one delivery, purpose `reply`, on the channel the person wrote on, to the address they wrote from.

- The delivery's id comes from the answer's id (the reply and the text), so the same answer
  handed over twice is one delivery; it goes through the channel's queue like any other (retries,
  dead letters, the deliveries list).
- It never falls back: the "no other channel" decision is stored with it when it is made, so a
  failure (e.g. the window closed while it waited) ends there, on that one channel.
- The recipient is the member (name, language, country, their reply windows) with the sender's
  address; a sender we hold for no member is named by their contact key, as their reply is.
- A member erased since the answer was given: nothing is sent.
- A channel that cannot carry answers (its declared `purposes`), or that is not installed: the
  delivery is recorded as `skipped` with the reason. The window itself is the console's check
  (before it hands over) and the adapter's (at the send).

Wiring (services/dispatcher/app.py): `router.handles(ReplyAnswerRequested)(replies.on_reply_answer_requested)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.dispatcher import erasure
from services.dispatcher.deliveries import create_delivery, publish_request
from services.dispatcher.routing import why_not
from shared.contracts import utcnow
from shared.contracts.delivery import Recipient
from shared.contracts.reply import REPLY_KIND, ReplyAnswerRequested, reply_notice
from shared.messaging.consumer import MessageContext
from shared.personal_data import contact_key
from shared.storage import Document

REPLY_PRIORITY = 8  # a person asked and waits for the answer
UNKNOWN_COUNTRY = "ZZ"
NO_FALLBACK = "an answer goes back only where the person wrote"
KHMER = ("\u1780", "\u17ff")


def written_in(text: str) -> str:
    """The language of a sender we hold for no member: Khmer if the answer is written in it."""
    return "km" if any(KHMER[0] <= ch <= KHMER[1] for ch in text) else "en"


def answer_recipient(event: ReplyAnswerRequested, member: Document | None) -> Recipient:
    """The member (or, for an unknown sender, their contact key) at the address they wrote from."""
    data = event.data
    windows: dict[str, datetime] = dict((member or {}).get("last_inbound") or {})
    known = windows.get(data.channel)
    windows[data.channel] = max(known, data.last_message_at) if known else data.last_message_at
    address = {"email": "email", "phone": "phone", "psid": "psid"}[data.sender_kind]
    return Recipient(
        member_id=data.member_id or contact_key(data.sender_kind, data.sender),
        name=str((member or {}).get("name") or ""),
        language=(member or {}).get("language") or written_in(data.text),
        country=str((member or {}).get("country") or UNKNOWN_COUNTRY),
        last_inbound_at=windows,
        phone_confirmed=data.sender_kind == "phone",  # they wrote to us from it
        **{address: data.sender},
    )


async def on_reply_answer_requested(event: ReplyAnswerRequested, ctx: MessageContext[Any]) -> None:

    deps, data = ctx.deps, event.data
    member = None
    if data.member_id is not None:
        member = await deps.member(data.member_id)
        if member is None and await erasure.erased(deps.db, data.member_id):
            ctx.log.info("answer to an erased member: nothing to send", answer_id=data.answer_id)
            return
    recipient = answer_recipient(event, member)
    reason = why_not(data.channel, recipient, REPLY_KIND, deps.channels, ())
    base = {
        "purpose": REPLY_KIND,
        "source_id": data.answer_id,
        "correlation_id": data.reply_id,
        "priority": REPLY_PRIORITY,
        "recipient": recipient,
        "notice": reply_notice(data.text),
        "extra": {
            "reply_id": data.reply_id,
            "fallback": {"channel": None, "reason": NO_FALLBACK, "at": utcnow()},
        },
    }
    doc = await create_delivery(deps, base, data.channel, reason, None)
    if doc["state"] == "pending":
        await publish_request(ctx.publisher, doc)
    ctx.log.info(
        "answer routed",
        answer_id=data.answer_id,
        channel=data.channel,
        delivery_id=doc["_id"],
        state=doc["state"],
    )
