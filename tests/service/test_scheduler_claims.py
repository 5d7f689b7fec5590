"""The due loop claims in slices and holds at most `max_held` records (services/scheduler/due.py).

Seen in fresh-clone runs of the 10,000-reminder test: one replica claimed every overdue record in
one write and opened all of them before sending any; the Mongo-wire server was busy with that for
so long that the second replica did not start within two minutes, and a replica killed while
holding them stranded all of them for its lease.

Real: the due loop of the event-scheduler (in this process) on the real Mongo-wire server. The
publisher is held back until the test lets it go (then it marks what it publishes, as the sent
journal does), so what each replica holds can be read while nothing leaves.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from services.scheduler.due import DueLoop
from services.scheduler.store import Store
from shared.contracts import utcnow
from tests.support.sessions import make_session, seed_registered

pytestmark = pytest.mark.timeout(180)
SESSIONS, PER_SESSION = 4, 250
MOST = 100


class HeldBack:
    """Publishes nothing until `go` is set; then records and marks each publish."""

    def __init__(self, store: Store, owner: str) -> None:
        self.store, self.owner = store, owner
        self.go = asyncio.Event()
        self.sent: list[str] = []

    async def publish(self, event: Any, headers: dict[str, Any]) -> None:
        await self.go.wait()
        self.sent.append(event.data.reminder_id)
        await self.store.mark_published([event.data.reminder_id], self.owner)


class Journal:
    """What the due loop uses of its sent journal (HeldBack marks instead)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.unmarked: set[str] = set()

    def headers(self, reminder_id: str) -> dict[str, Any]:
        return {}

    async def close(self, timeout: float) -> None:
        return None

    async def settle(self, previous: str, patience: float) -> str:
        return "settled"


class Replicas:
    def __init__(self, db: Any) -> None:
        self.store = Store.of(db)
        self.loops: list[DueLoop] = []
        self.publishers: list[HeldBack] = []

    def start(self, name: str) -> DueLoop:
        owner = f"test-host:1:{name}"
        publisher = HeldBack(self.store, owner)
        loop = DueLoop(
            self.store,
            publisher,  # type: ignore[arg-type]
            Journal(owner),  # type: ignore[arg-type]
            tick=0.05,
            lookahead=1,
            lease=60,
            max_held=MOST,
        )
        loop.start()
        self.loops.append(loop)
        self.publishers.append(publisher)
        return loop

    async def claimed_by(self, loop: DueLoop) -> int:
        return await self.store.reminders.count_documents({"owner": loop.owner, "state": "pending"})


@pytest.fixture
async def replicas(db: Any) -> AsyncIterator[Replicas]:
    await Store.of(db).ensure_indexes()
    due = utcnow() + timedelta(seconds=1)
    sessions = [
        make_session(f"ss_slice_{n}", due + timedelta(seconds=300), reminder_seconds=[300])
        for n in range(SESSIONS)
    ]
    assert await seed_registered(db, sessions, PER_SESSION) == SESSIONS * PER_SESSION
    running = Replicas(db)
    yield running
    for publisher in running.publishers:
        publisher.go.set()
    await asyncio.gather(*(loop.stop() for loop in running.loops))


async def holds(loop: DueLoop, count: int, timeout: float = 120) -> None:
    """Until `loop` holds `count` records (bounded generously: claiming is the busy server's work)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while loop.holding < count:
        assert asyncio.get_running_loop().time() < deadline, f"holds {loop.holding}, not {count}"
        await asyncio.sleep(0.05)


async def test_a_replica_holds_at_most_max_held_and_two_share_a_catch_up_each_record_sent_once(
    replicas: Replicas,
) -> None:
    first = replicas.start("first")
    await holds(first, MOST)
    await asyncio.sleep(1.0)  # many ticks: it claims no more while nothing leaves
    assert first.holding == MOST
    assert await replicas.claimed_by(first) == MOST, "claimed beyond what it may hold"

    second = replicas.start("second")  # the rest is free for it: a share of the catch-up
    await holds(second, MOST)
    assert await replicas.claimed_by(second) == MOST

    for publisher in replicas.publishers:
        publisher.go.set()
    count = SESSIONS * PER_SESSION
    deadline = asyncio.get_running_loop().time() + 150
    while sum(len(p.sent) for p in replicas.publishers) < count:  # claimed again as room is made
        assert asyncio.get_running_loop().time() < deadline, "stopped claiming once room was made"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    sent = collections.Counter(rid for p in replicas.publishers for rid in p.sent)
    assert len(sent) == count and set(sent.values()) == {1}, "each record once"
    assert all(p.sent for p in replicas.publishers), "both replicas sent a share"
