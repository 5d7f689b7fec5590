"""Operator routes: the dashboard (dashboard.read).

    GET /dashboard?days=7|30   deliveries per channel, pledges and certificates per day, and the
                               broker's queues: what is waiting, for how long, and dead letters

The period is `[until - days, until]` where `until` is the time of the request, and a delivery
is in it when its `created_at` is (the dispatcher sets it once, when it records the delivery):
so the counts equal those of `GET /deliveries` restricted to the same `created_at` range.
Per channel, by the delivery's state now:

    requested    every delivery the dispatcher recorded for the channel
    sent         handed to the provider: `sent` or `delivered`
    delivered    `delivered` (the provider confirmed it)
    failed       `failed_permanent` or `dead_lettered`
    skipped      the channel could not serve the person (no address, unsubscribed, not installed)
    in_progress  the rest: `pending`, `waiting`, `retrying`, `unknown`
    failure_rate failed / (sent + failed): of the deliveries whose outcome is known, the share
                 that failed; 0 when none is known. `warning` when it is above 3%.

Per day (dates in the console's time zone, CONSOLE_TIME_ZONE; the first and the last day of the
period are partial): pledges by their `submitted_at`, certificates by their `issued_at`.

Queues (from the broker, on the console's own connection): each consumer group's work queue with
the messages ready in it and its consumers, and its dead-letter queue's count, by passive
declares — nothing is read. How long the oldest request has waited for a channel comes from the
deliveries, not the broker: the oldest `pending` delivery (requested, no outcome yet) by when it
became pending. Peeking at a work queue's head would hand its message back with one more
delivery counted, and a quorum queue dead-letters a message after `AMQP_DELIVERY_LIMIT` such
returns. When the broker does not answer the counts are absent (`broker: false`), the rest is
shown.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from services.console.auth import console_of, permit
from services.console.permissions import Permission
from services.console.read_models import CERTIFICATES_ISSUED, DELIVERIES_COUNTED, PLEDGES_RECEIVED
from services.console.routes.dead_letters import (
    BrokerAway,
    KnownQueue,
    QueueCount,
    broker,
    count,
    known_queues,
)
from services.console.settings import ConsoleSettings
from shared.contracts import utcnow
from shared.contracts.delivery import FINAL_FAILURES

router = APIRouter(tags=["dashboard"])

WARNING_ABOVE = 0.03
"""A failure rate above this shows a warning."""
SENT = frozenset({"sent", "delivered"})
SKIPPED = frozenset({"skipped"})


class Days(IntEnum):
    week = 7
    month = 30


class ChannelTotals(BaseModel):
    channel: str
    requested: int
    sent: int = Field(description="`sent` or `delivered`")
    delivered: int
    failed: int = Field(description="`failed_permanent` or `dead_lettered`")
    skipped: int
    in_progress: int = Field(description="`pending`, `waiting`, `retrying`, `unknown`")
    failure_rate: float = Field(description="failed / (sent + failed); 0 when both are 0", examples=[0.012])
    warning: bool = Field(description=f"The failure rate is above {WARNING_ABOVE:.0%}.")

    @classmethod
    def of(cls, channel: str, states: Counter[str]) -> ChannelTotals:
        sent = sum(states[s] for s in SENT)
        failed = sum(states[s] for s in FINAL_FAILURES)
        skipped = sum(states[s] for s in SKIPPED)
        requested = sum(states.values())
        rate = failed / (sent + failed) if sent + failed else 0.0
        return cls(
            channel=channel,
            requested=requested,
            sent=sent,
            delivered=states["delivered"],
            failed=failed,
            skipped=skipped,
            in_progress=requested - sent - failed - skipped,
            failure_rate=round(rate, 4),
            warning=rate > WARNING_ABOVE,
        )


class DayCounts(BaseModel):
    date: date
    pledges: int
    certificates: int


class QueueDepth(BaseModel):
    group: str = Field(examples=["channel-email.high"])
    queue: str = Field(examples=["samleng.channel-email.high"])
    channel: str | None = None
    band: str | None = None
    ready: int | None = Field(description="Messages waiting; None: the queue does not exist yet.")
    consumers: int | None
    dead_letter_queue: str
    dead_letters: int | None


class ChannelQueues(BaseModel):
    """A channel's queues together (its bands), and how long its oldest request has waited."""

    channel: str
    ready: int | None = Field(description="Messages waiting in its band queues.")
    consumers: int | None = Field(
        description="Consumers of its band queues (the fewest of any band: 0 when one band has none)."
    )
    dead_letters: int | None
    oldest_waiting_since: datetime | None = Field(
        description="When its oldest pending delivery became pending (the deliveries, not the broker)."
    )
    oldest_waiting_seconds: float | None


class Dashboard(BaseModel):
    days: int
    since: datetime
    until: datetime
    channels: list[ChannelTotals]
    time_zone: str = Field(description="The zone of `daily`'s dates (CONSOLE_TIME_ZONE).")
    daily: list[DayCounts]
    broker: bool = Field(description="Whether the broker answered (the queue counts are None if not).")
    channel_queues: list[ChannelQueues]
    queues: list[QueueDepth]


def day_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


async def channel_totals(
    db: Any, since: datetime, until: datetime, installed: list[str]
) -> list[ChannelTotals]:
    states: dict[str, Counter[str]] = {name: Counter() for name in installed}
    period = {"created_at": {"$gte": since, "$lte": until}}
    async for found in DELIVERIES_COUNTED.find(db, period):
        states.setdefault(found.channel, Counter())[found.state] += 1
    return [ChannelTotals.of(channel, states[channel]) for channel in sorted(states)]


async def daily(db: Any, since: datetime, until: datetime, zone: ZoneInfo) -> list[DayCounts]:
    pledges: Counter[date] = Counter()
    async for pledge in PLEDGES_RECEIVED.find(db, {"submitted_at": {"$gte": since, "$lte": until}}):
        if pledge.submitted_at is not None:
            pledges[day_of(pledge.submitted_at, zone)] += 1
    certificates: Counter[date] = Counter()
    async for issued in CERTIFICATES_ISSUED.find(db, {"issued_at": {"$gte": since, "$lte": until}}):
        if issued.issued_at is not None:
            certificates[day_of(issued.issued_at, zone)] += 1
    first, last = day_of(since, zone), day_of(until, zone)
    dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [DayCounts(date=d, pledges=pledges[d], certificates=certificates[d]) for d in dates]


async def queue_depths(settings: ConsoleSettings, queues: list[KnownQueue]) -> tuple[list[QueueDepth], bool]:
    """Every known queue's counts, and whether the broker answered (if not, the counts are None)."""
    names = [name for known in queues for name in (known.queue, known.dead_letter_queue)]
    try:
        async with broker(settings) as connection:
            counts = await count(connection, names)
    except BrokerAway:
        counts, reachable = {name: QueueCount(None, None) for name in names}, False
    else:
        reachable = True
    depths = [
        QueueDepth(
            group=known.group.name,
            queue=known.queue,
            channel=known.channel,
            band=known.band,
            ready=counts[known.queue].messages,
            consumers=counts[known.queue].consumers,
            dead_letter_queue=known.dead_letter_queue,
            dead_letters=counts[known.dead_letter_queue].messages,
        )
        for known in queues
    ]
    return depths, reachable


def _total(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


async def channel_queues(
    db: Any, channels: list[str], depths: list[QueueDepth], now: datetime
) -> list[ChannelQueues]:
    found: list[ChannelQueues] = []
    for channel in channels:
        bands = [q for q in depths if q.channel == channel]
        oldest = await DELIVERIES_COUNTED.find_one(
            db, {"channel": channel, "state": "pending"}, sort=[("updated_at", 1)]
        )
        since = oldest.updated_at if oldest is not None else None
        consumers = [q.consumers for q in bands if q.consumers is not None]
        found.append(
            ChannelQueues(
                channel=channel,
                ready=_total([q.ready for q in bands]),
                consumers=min(consumers) if consumers else None,
                dead_letters=_total([q.dead_letters for q in bands]),
                oldest_waiting_since=since,
                oldest_waiting_seconds=max(0.0, (now - since).total_seconds()) if since is not None else None,
            )
        )
    return found


async def dashboard(settings: ConsoleSettings, db: Any, days: Days, now: datetime | None = None) -> Dashboard:
    """The dashboard of the `days` up to `now` (the request's time)."""
    until = now or utcnow()
    since = until - timedelta(days=int(days))
    queues = await known_queues(settings)
    installed = sorted({known.channel for known in queues if known.channel is not None})
    totals = await channel_totals(db, since, until, installed)
    depths, reachable = await queue_depths(settings, queues)
    return Dashboard(
        days=int(days),
        since=since,
        until=until,
        channels=totals,
        time_zone=settings.time_zone,
        daily=await daily(db, since, until, ZoneInfo(settings.time_zone)),
        broker=reachable,
        channel_queues=await channel_queues(db, [t.channel for t in totals], depths, until),
        queues=depths,
    )


@router.get(
    "/dashboard",
    response_model=Dashboard,
    dependencies=[permit(Permission.dashboard_read)],
    summary="Deliveries per channel, pledges and certificates per day, queues and dead letters",
)
async def read_dashboard(
    request: Request,
    days: Annotated[Days, Query(description="The period: the last 7 or 30 days.")] = Days.week,
) -> Dashboard:
    console = console_of(request)
    return await dashboard(console.settings, console.db, days)
