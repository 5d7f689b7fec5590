"""The due loop: every replica claims due records with a lease and publishes each at its time.

Claiming (every tick, and at once when this process added something due now): the earliest
free records of a range, at most CLAIM_SLICE and never more than `max_held` held at once, are
found by `_id` and claimed with

    update_many({_id: {$in: ids}, state: pending, due_at: <range>, lease_until < now},
                {$set: {owner: me, claim: <token>, lease_until: now + lease}})

Each document is updated atomically, so of several replicas running the same update only one
takes a given record; the records a claim took are read back by its token. Two ranges are
claimed: everything overdue (catch-up after downtime, records due "now", records whose holder
died and whose lease ran out), and the slice entering the look-ahead window (records due in the
next `lookahead` seconds). A claim that filled its slice is followed at once by the next; one
that stopped at `max_held` by the next once sending has halved what is held. So replicas share a
large catch-up, no single write takes thousands of records, and a replica that dies strands at
most `max_held` records for its lease. Claimed records wait in memory, their `reminder.due.v1` already
built (each registration of the batch read and opened once: records copy nothing of the person,
store.py), and go out at their due time with a publisher confirm and a copy in this replica's
sent journal (journal.py), from which they are marked `published`. Skips are marked from memory.
A large batch is opened in parts (OPEN_CHUNK), each handed to the sender while the next is
opened; should the opening eat into the lease (many data keys to fetch), the part is re-claimed
under a new claim with a fresh lease before it is held (never a longer lease for parts held before:
another replica may have claimed them once theirs ran out). A lease is renewed only while it still
holds by our clock.

A replica publishes a record only while its lease holds (by its own clock, with a margin of a
quarter lease). What a killed replica held is free again once its lease runs out; the claim
keeps the previous holder (`prev_owner`), and the next holder settles that holder's journal
before sending: records it had published but not marked are marked then, not published again.
So each record is published once, unless a holder that is still connected to the broker cannot
reach the database for longer than the settling patience (a third of the lease) — then the
record goes out again, as the same event (its id derives from the record id), which the
dispatcher's deterministic delivery ids turn into one delivery.

A session that changes while its records are held (cancelled, moved) is seen at the next tick:
the held records are rebuilt against the new version (a moved or cancelled session's reminders
are skipped). Within one tick of the change, a held record may still go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

from services.scheduler.journal import Journal
from services.scheduler.schedule import carries_join_link, carries_place, event_id_of, skip_reason
from services.scheduler.store import BY_DUE, EPOCH, Store, chunks, registrant_of, session_of
from shared.contracts import utcnow
from shared.contracts.session import ReminderDue, ReminderDueData, Session, SessionRef
from shared.messaging.publisher import Publisher
from shared.storage import Document

log = structlog.stdlib.get_logger("samleng.scheduler")

PUBLISHED = Counter(
    "samleng_scheduler_reminders_published_total", "reminder.due.v1 published and confirmed.", ["kind"]
)
SKIPPED = Counter(
    "samleng_scheduler_reminders_skipped_total",
    "Due records not sent (e.g. reminders overdue after the session started).",
    ["kind", "reason"],
)
PUBLISH_FAILURES = Counter(
    "samleng_scheduler_publish_failures_total", "Publishes that failed; the record is released and retried."
)
LATENESS = Histogram(
    "samleng_scheduler_lateness_seconds",
    "From a record's due time to its reminder.due.v1 being confirmed by the broker.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 3600, 86400),
)
PENDING = Gauge("samleng_scheduler_reminders_pending", "Records waiting for their due time (all replicas).")
HELD = Gauge("samleng_scheduler_reminders_held", "Records this replica has claimed and not yet sent.")
PENDING_GAUGE_SECONDS = 30.0
STOP_WRITES_SECONDS = 5.0
OPEN_CHUNK = 500  # registrations opened (decrypted) before their records are handed to the sender
CLAIM_SLICE = 1000  # records claimed at most at once (a replica holds at most `max_held`)


def owner_id() -> str:
    """`host:pid:replica`; the last part names the replica's sent journal."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


@dataclass(order=True)
class Held:
    due_at: datetime
    reminder_id: str
    kind: str = field(compare=False)
    session_id: str = field(compare=False)
    claim: str = field(compare=False)
    record: Document = field(compare=False, repr=False)
    registration: Document | None = field(compare=False, default=None, repr=False)
    event: ReminderDue | None = field(compare=False, default=None, repr=False)
    skip: str | None = field(compare=False, default=None)
    version: int = field(compare=False, default=0)


def build(
    record: Document,
    registration: Document | None,
    session: Session | None,
    plan: Document | None,
    now: datetime,
) -> Held:
    """The message for one record to its (opened) registration, or why it is skipped (see
    schedule.skip_reason; `registration-unknown`: gone, or its data key erased)."""
    held = Held(
        due_at=record["due_at"],
        reminder_id=record["_id"],
        kind=record["kind"],
        session_id=record["session_id"],
        claim=record.get("claim") or "",
        record=record,
        registration=registration,
        version=session.version if session else 0,
    )
    held.skip = skip_reason(record["kind"], record.get("starts_at"), session, max(now, record["due_at"]))
    if held.skip is None and registration is None:
        held.skip = "registration-unknown"
    if held.skip is None and record["kind"] == "plan-of-action" and plan is None:
        held.skip = "plan-unknown"
    if held.skip is not None or session is None or registration is None:
        return held
    ref = SessionRef(
        session_id=session.session_id,
        kind=session.kind,
        texts=session.texts,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        mode=session.mode,
        place=session.place if carries_place(record["due_at"], session) else "",
        join_link=session.join_link if carries_join_link(record["kind"], record["due_at"], session) else None,
        status=session.status,
        public_url=session.public_url,
        previous_starts_at=record.get("previous_starts_at"),
        version=session.version,
    )
    seconds = record.get("seconds_before")
    held.event = ReminderDue(
        event_id=event_id_of(record["_id"]),
        occurred_at=record["due_at"],
        correlation_id=session.session_id,
        data=ReminderDueData(
            reminder_id=record["_id"],
            kind=record["kind"],
            session=ref,
            registration_id=record["registration_id"],
            registrant=registrant_of(registration),
            minutes_before=seconds // 60 if seconds is not None else None,
            seconds_before=seconds,
            due_at=record["due_at"],
            registration_state=record.get("registration_state") or "registered",
            plan_of_action=plan["texts"] if plan else None,
            plan_pdf_file_id=plan.get("pdf_file_id") if plan else None,
            plan_pdf_bucket=plan.get("pdf_bucket") if plan else None,
            cancel_url=registration.get("cancel_url"),
        ),
    )
    return held


@dataclass
class _Marks:
    skipped: dict[str, list[str]] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.skipped or self.released)


class DueLoop:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        journal: Journal,
        *,
        tick: float,
        lookahead: float,
        lease: float,
        max_held: int = 2000,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.journal = journal
        self.tick = tick
        self.lookahead = timedelta(seconds=lookahead)
        self.lease = timedelta(seconds=lease)
        self.margin = lease / 4  # of our own lease: never publish this close to its end
        self.patience = lease / 3  # for a previous holder still connected to mark its own records
        self.owner = journal.owner
        self.max_held = max_held
        self._taking = 0  # records claimed from a previous holder, its journal being settled
        self._room_wanted = False  # a claim stopped at max_held: claim again once sending made room
        self._heap: list[Held] = []
        self._held: dict[str, Held] = {}
        self._claims: dict[str, float] = {}  # token -> when claimed (monotonic), while records held
        self._deadlines: dict[str, float] = {}  # token -> monotonic time after which we must not send
        self._takeovers: set[asyncio.Task[None]] = set()
        self._claimed_upto = EPOCH
        self._wake = asyncio.Event()
        self._new_claims = asyncio.Event()
        self._marks = _Marks()
        self._marks_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._pending_counted = 0.0

    def wake(self) -> None:
        """Something became due now (a confirmation, a change notice): claim without waiting."""
        self._wake.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="scheduler-claim"),
            asyncio.create_task(self._fire_loop(), name="scheduler-fire"),
            asyncio.create_task(self._mark_loop(), name="scheduler-mark"),
        ]

    async def stop(self) -> None:
        """Finish what is being sent, write its marks, and free what is held for the others."""
        self._stopping = True
        claim, fire, mark = self._tasks
        for task in (claim, fire, *self._takeovers):
            task.cancel()
        await asyncio.gather(claim, fire, *self._takeovers, return_exceptions=True)
        await self.journal.close(STOP_WRITES_SECONDS)
        self._marks_ready.set()
        # With the database away each write would wait for pymongo's server selection (30 s):
        # give up after a few seconds; unmarked records go out again from the next holder, as
        # the same events (see the module docstring).
        try:
            await asyncio.wait_for(asyncio.gather(mark, return_exceptions=True), STOP_WRITES_SECONDS)
        except TimeoutError:
            log.warning("marks not written before stopping; the next holder republishes them")
        held = list(self._held)
        self._held.clear()
        self._heap.clear()
        with contextlib.suppress(Exception):  # the lease runs out anyway
            await asyncio.wait_for(self._write(_Marks(released=held)), STOP_WRITES_SECONDS)

    def sendable(self, held: Held) -> bool:
        """Our lease on it still holds (by our clock, with the margin)."""
        return time.monotonic() < self._deadlines.get(held.claim, 0.0)

    # --- claiming -----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            try:
                await self._claim_once()
                await self._watch_sessions()
                await self._renew_leases()
                await self._count_pending()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database or broker is away: try again next tick
                log.warning("claim failed", error=repr(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick)
            self._wake.clear()

    async def _claim_once(self) -> None:
        now = utcnow()
        horizon = now + self.lookahead
        ranges: list[Document] = [{"$lt": now}]
        if horizon > max(now, self._claimed_upto):
            ranges.append({"$gte": max(now, self._claimed_upto), "$lt": horizon})
        complete = True
        for due_range in ranges:  # the overdue first: the look-ahead waits while they fill us up
            room = min(self.max_held - self.holding, CLAIM_SLICE)
            if room <= 0 or await self._claim(due_range, now, room) >= room:
                complete = False  # more may be free: claim again at once, or once room is made
                break
        if complete:
            self._claimed_upto = horizon
        elif self.holding < self.max_held:
            self._wake.set()
        else:
            self._room_wanted = True

    @property
    def holding(self) -> int:
        """Records claimed and not yet sent (held, or being taken over)."""
        return len(self._held) + self._taking

    async def _claim(self, due_range: Document, now: datetime, most: int) -> int:
        """Claim up to `most` free records due in `due_range`, the earliest first. Returns how many
        were free when looked for (another replica may have taken some of them meanwhile)."""
        free: Document = {"due_at": due_range, "state": "pending", "lease_until": {"$lt": now}}
        found = (
            await self.store.reminders.find(free, {"_id": 1}, hint=BY_DUE)
            .sort("due_at", 1)
            .limit(most)
            .to_list(None)
        )
        ids = [doc["_id"] for doc in found]
        if not ids:
            return 0
        token = uuid.uuid4().hex
        # the lease runs from the end of the claimed slice, so the marks may wait out a burst
        until = max(now, due_range.get("$lt", now)) + self.lease
        claimed_at = time.monotonic()
        await self.store.update_ids(
            ids,
            free,
            [
                {
                    "$set": {
                        "prev_owner": "$owner",
                        "owner": {"$literal": self.owner},
                        "claim": {"$literal": token},
                        "lease_until": until,
                    }
                }
            ],
        )
        self._deadlines[token] = claimed_at + (until - now).total_seconds() - self.margin
        records = await self.store.find_ids(ids, {"state": "pending", "claim": token})
        if records:
            await self._take(records, token)
        else:
            del self._deadlines[token]
        return len(ids)

    async def _take(self, records: Sequence[Document], token: str) -> None:
        """Hold records nobody held before at once; the others after settling the journal of the
        replica that held them (it may have published some without marking them)."""
        fresh: list[Document] = []
        held_before: dict[str, list[str]] = {}
        for record in records:
            previous = record.get("prev_owner")
            if previous:
                held_before.setdefault(previous, []).append(record["_id"])
            else:
                fresh.append(record)
        if fresh:
            await self._hold(fresh, token)
        for previous, ids in held_before.items():
            self._taking += len(ids)
            task = asyncio.create_task(self._take_over(previous, ids, token), name="scheduler-take-over")
            self._takeovers.add(task)
            task.add_done_callback(self._takeovers.discard)

    async def _take_over(self, previous: str, ids: list[str], token: str) -> None:
        try:
            await self._settle_and_hold(previous, ids, token)
        finally:
            self._taking -= len(ids)

    async def _settle_and_hold(self, previous: str, ids: list[str], token: str) -> None:
        try:
            outcome = await self.journal.settle(previous, self.patience)
            records = await self.store.find_ids(ids, {"state": "pending", "claim": token})
            if len(records) < len(ids) or outcome != "settled":
                log.info(
                    "took over records",
                    outcome=outcome,
                    claimed=len(ids),
                    already_published=len(ids) - len(records),
                )
            if records:
                await self._hold(records, token)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Hand them back as the previous holder's, free to claim: whoever takes them next
            # settles that holder's journal (else its lease runs out with us as the holder).
            log.warning("taking over records failed", error=repr(error), count=len(ids))
            with contextlib.suppress(Exception):
                await self.store.update_ids(
                    ids,
                    {"claim": token, "state": "pending"},
                    {"$set": {"owner": previous, "lease_until": EPOCH}},
                )

    async def _hold(self, records: Sequence[Document], token: str) -> None:
        sessions = await self._sessions({r["session_id"] for r in records})
        plan_ids = {r["plan_id"] for r in records if r.get("plan_id")}
        plans = {p["_id"]: p async for p in self.store.plans.find({"_id": {"$in": sorted(plan_ids)}})}
        fresh = [r for r in records if r["_id"] not in self._held]
        for part in chunks(fresh, OPEN_CHUNK):  # a large batch goes out while the rest is opened
            registrations = await self.store.registrants(r["registration_id"] for r in part)
            if self._deadlines.get(token, 0.0) - time.monotonic() < self.lease.total_seconds() / 2:
                part = await self._extend(part, token)  # opening ate into the lease
            now = utcnow()
            for record in part:
                held = build(
                    record,
                    registrations.get(record["registration_id"]),
                    sessions.get(record["session_id"]),
                    plans.get(record.get("plan_id")),
                    now,
                )
                self._held[held.reminder_id] = held
                heapq.heappush(self._heap, held)
            self._claims[token] = time.monotonic()
            HELD.set(len(self._held))
            self._new_claims.set()
        self._claims[token] = time.monotonic()

    async def _extend(self, records: Sequence[Document], token: str) -> list[Document]:
        """Re-claim the records of a part still claimed by `token` under a new claim with a fresh
        lease (the others were claimed by another replica once the lease ran out) before they are
        held: else a batch that takes longer to open than its lease (a large catch-up with many
        data keys to fetch) would never be sent. A new claim, not a longer one: the parts of
        `token` held earlier keep their own deadline, so records another replica may have claimed
        since are never made sendable again."""
        renewed = uuid.uuid4().hex
        now, renewed_at = utcnow(), time.monotonic()
        ids = [r["_id"] for r in records]
        await self.store.update_ids(
            ids,
            {"owner": self.owner, "claim": token, "state": "pending"},
            {"$set": {"claim": renewed, "lease_until": now + self.lease}},
        )
        self._deadlines[renewed] = renewed_at + self.lease.total_seconds() - self.margin
        self._claims[renewed] = renewed_at
        kept = await self.store.still_claimed(
            ids, {"owner": self.owner, "claim": renewed, "state": "pending"}
        )
        if len(kept) < len(ids):
            log.info("records claimed by another replica while opening", count=len(ids) - len(kept))
        return [{**r, "claim": renewed} for r in records if r["_id"] in kept]

    async def _sessions(self, ids: set[str]) -> dict[str, Session]:
        if not ids:
            return {}
        docs = self.store.sessions.find({"_id": {"$in": sorted(ids)}})
        return {doc["_id"]: session_of(doc) async for doc in docs}

    async def _watch_sessions(self) -> None:
        """Rebuild held records whose session changed since they were claimed."""
        versions: dict[str, int] = {}
        for held in self._held.values():
            versions.setdefault(held.session_id, held.version)
        if not versions:
            return
        current = {
            doc["_id"]: doc["version"]
            async for doc in self.store.sessions.find({"_id": {"$in": sorted(versions)}}, {"version": 1})
        }
        changed = {sid for sid, version in versions.items() if current.get(sid, version) != version}
        if not changed:
            return
        sessions = await self._sessions(changed)
        now = utcnow()
        for reminder_id, held in list(self._held.items()):
            if held.session_id in changed:
                plan = None
                if held.record.get("plan_id"):
                    plan = await self.store.plans.find_one({"_id": held.record["plan_id"]})
                rebuilt = build(held.record, held.registration, sessions.get(held.session_id), plan, now)
                held.event, held.skip, held.version = rebuilt.event, rebuilt.skip, rebuilt.version
                self._held[reminder_id] = held
        log.info("held records rebuilt for changed sessions", sessions=sorted(changed))

    async def _renew_leases(self) -> None:
        """Keep the lease of records held for long (e.g. publishing while the broker is away)."""
        half = self.lease.total_seconds() / 2
        old = [token for token, since in self._claims.items() if time.monotonic() - since > half]
        if not old:
            return
        live = {held.claim for held in self._held.values()}
        for token in old:
            if token not in live:
                del self._claims[token]
                self._deadlines.pop(token, None)
                continue
            now, renewed_at = utcnow(), time.monotonic()
            if renewed_at >= self._deadlines.get(token, 0.0):
                # too late (a busy loop): the lease may have run out and another replica claimed
                # some of them; what we hold stays unsendable and is claimed anew when free
                del self._claims[token]
                continue
            ids = [h.reminder_id for h in self._held.values() if h.claim == token]
            await self.store.update_ids(
                ids,
                {"owner": self.owner, "claim": token, "state": "pending"},
                {"$set": {"lease_until": now + self.lease}},
            )
            self._claims[token] = renewed_at
            self._deadlines[token] = max(
                self._deadlines.get(token, 0.0), renewed_at + self.lease.total_seconds() - self.margin
            )

    async def _count_pending(self) -> None:
        if time.monotonic() - self._pending_counted > PENDING_GAUGE_SECONDS:
            self._pending_counted = time.monotonic()
            PENDING.set(await self.store.reminders.count_documents({"state": "pending"}))

    # --- sending ------------------------------------------------------------------------------

    async def _fire_loop(self) -> None:
        while True:
            if not self._heap:
                self._new_claims.clear()
                await self._new_claims.wait()
                continue
            delay = (self._heap[0].due_at - utcnow()).total_seconds()
            if delay > 0:
                self._new_claims.clear()  # an earlier record may arrive while we wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_claims.wait(), delay)
                continue
            now = utcnow()
            group: list[Held] = []
            while self._heap and self._heap[0].due_at <= now:
                held = heapq.heappop(self._heap)
                if self._held.get(held.reminder_id) is held:
                    group.append(held)
            await self._send(group)

    async def _send(self, group: list[Held]) -> None:
        expired = [h for h in group if not self.sendable(h)]
        if expired:  # someone else may hold them by now: leave them to the next claim
            log.warning("lease ran out before sending; records left to the next claim", count=len(expired))
            for held in expired:
                self._held.pop(held.reminder_id, None)
            group = [h for h in group if self.sendable(h)]
        sending = [h for h in group if h.event is not None]
        journal, unmarked = self.journal, self.journal.unmarked
        unmarked.update(h.reminder_id for h in sending)
        results = await asyncio.gather(
            *(self.publisher.publish(h.event, journal.headers(h.reminder_id)) for h in sending if h.event),
            return_exceptions=True,
        )
        confirmed = utcnow()
        marks = self._marks
        for held, result in zip(sending, results, strict=True):
            if isinstance(result, BaseException):
                # It may still have reached the broker: then our journal has it and marks it; the
                # record keeps us as owner, so whoever claims it next settles our journal first.
                PUBLISH_FAILURES.inc()
                marks.released.append(held.reminder_id)
                unmarked.discard(held.reminder_id)
                log.warning(
                    "publish failed; record released", reminder_id=held.reminder_id, error=repr(result)
                )
            else:
                PUBLISHED.labels(held.kind).inc()
                LATENESS.labels(held.kind).observe(max(0.0, (confirmed - held.due_at).total_seconds()))
        for held in group:
            if held.event is None:
                reason = held.skip or "unbuildable"
                marks.skipped.setdefault(reason, []).append(held.reminder_id)
                SKIPPED.labels(held.kind, reason).inc()
            self._held.pop(held.reminder_id, None)
        HELD.set(len(self._held))
        self._marks_ready.set()
        if self._room_wanted and self.holding <= self.max_held // 2:
            self._room_wanted = False
            self.wake()

    async def _mark_loop(self) -> None:
        """Skips and releases are written right behind the sending (published records are marked
        from the journal)."""
        while True:
            if not self._stopping:
                await self._marks_ready.wait()
            self._marks_ready.clear()
            marks, self._marks = self._marks, _Marks()
            if marks:
                try:
                    await self._write(marks)
                except Exception as error:  # keep them for the next round
                    log.warning("marking failed; will retry", error=repr(error))
                    if self._stopping:
                        return  # the next holder decides again: skips again, sends released ones
                    self._marks.released.extend(marks.released)
                    for reason, ids in marks.skipped.items():
                        self._marks.skipped.setdefault(reason, []).extend(ids)
                    await asyncio.sleep(0.5)
                    self._marks_ready.set()
            elif self._stopping:
                return

    async def _write(self, marks: _Marks) -> None:
        now = utcnow()
        mine: Document = {"state": "pending", "owner": self.owner}
        writes: list[Any] = []
        for reason, ids in marks.skipped.items():
            writes.append(
                self.store.update_ids(
                    ids, mine, {"$set": {"state": "skipped", "reason": reason, "skipped_at": now}}
                )
            )
        if marks.released:  # the owner stays: the next holder settles our journal before sending
            writes.append(self.store.update_ids(marks.released, mine, {"$set": {"lease_until": EPOCH}}))
        await asyncio.gather(*writes)
        if marks.skipped:
            log.info("skipped", counts={reason: len(ids) for reason, ids in marks.skipped.items()})
