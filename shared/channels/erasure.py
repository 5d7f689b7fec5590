"""Channels and erasure: a request for a member who was erased is dropped, never sent.

A channel's send log holds no personal data (delivery id, state, owner, lease, reasons), and only
the dispatcher's `deliveries` tie a delivery id to a member: once those are deleted, nothing here
names the member any more, and the send log's own retention removes the rest.

What may still be waiting is work: requests in the channel's band queues, retry tiers and
dead-letter queue. A queue cannot be searched, so each request is checked as it comes:
- sealed requests (encryption on) cannot be opened once the member's data key is deleted: the
  runner fails them `personal-data-erased` (shared/channels/runner.py);
- every request (sealed or not) is checked against pledge-intake's `erasures` (member ids only,
  read through shared/channels/read_models.py) with `drop_if_erased`, which acks it without a
  send and without a status (the dispatcher deleted the delivery already) and removes its
  send-log entry.

Wiring (the lead adds; shared/channels/service.py and runner.py):

    # channel_bootstrap: ChannelRunner(..., erased=ErasedMembers(resources.db))
    # ChannelRunner.handle, first line:
    if await drop_if_erased(self.erased, self.send_log, event.data, ctx.log):
        return

and `erasures` in each channel's `read` list in deploy/access.yml.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.channels.read_models import ERASURES
from shared.contracts.delivery import DeliveryRequestedData
from shared.storage import Document

REMEMBERED = 10_000


class ErasedMembers:
    """Which members were erased (pledge-intake's `erasures`: `_id` = member id). An erasure is
    never undone, so a positive answer is remembered; a negative one is asked again each time."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._known: OrderedDict[str, None] = OrderedDict()

    async def includes(self, member_id: str) -> bool:
        if member_id in self._known:
            return True
        if not await ERASURES.exists(self._db, {"_id": member_id}):
            return False
        self._known[member_id] = None
        while len(self._known) > REMEMBERED:
            self._known.popitem(last=False)
        return True


async def drop_if_erased(
    erased: ErasedMembers | None, send_log: Any, request: DeliveryRequestedData, log: Any
) -> bool:
    """True (and the request's send-log entry removed) if its member was erased: ack, do nothing."""
    if erased is None or not await erased.includes(request.recipient.member_id):
        return False
    await send_log.collection.delete_one({"_id": request.delivery_id})
    log.info("request for an erased member dropped", delivery_id=request.delivery_id)
    return True
