"""The event-scheduler on real components: its process(es), the broker, the Mongo-wire server.

Sessions use `reminder_seconds` (sub-minute reminders) so that schedules fall due within the test.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from services.scheduler.journal import JOURNAL_EXPIRES_MS
from services.scheduler.schedule import to_millis
from services.scheduler.store import EPOCH
from shared.contracts import utcnow
from shared.contracts.session import (
    PlanOfActionPublished,
    PlanOfActionPublishedData,
    RegistrationCancelled,
    RegistrationCancelledData,
)
from shared.personal_data import SEALED, Vault, open_fields
from tests.support.processes import ServiceProcess
from tests.support.sealed import Opener
from tests.support.sessions import (
    JOIN_LINK,
    DueListener,
    make_session,
    publish,
    published,
    registration,
    seed_registered,
    seed_registrations,
    seed_schedule,
)

pytestmark = pytest.mark.timeout(400)
ON_TIME = 1.0  # seconds: the goal for a due message's lateness
STALL_SECONDS = 60.0  # no new reminder for this long once they are due: stuck, not slow
FIRST_SECONDS = 180.0
"""Until the first of 10,000 reminders overdue at once: the replicas claim them in slices
(SCHEDULER_MAX_HELD) and open each slice's registrations before sending it; a busy machine may
start the replicas slowly. Slower, not stuck: once they flow, STALL_SECONDS."""


@pytest.fixture
def scheduler_env(service_env: dict[str, str]) -> dict[str, str]:
    return {
        **service_env,
        "SCHEDULER_TICK_SECONDS": "0.1",
        "SCHEDULER_LOOKAHEAD_SECONDS": "1",
        "SCHEDULER_LEASE_SECONDS": "3",
    }


class Schedulers:
    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp, self.procs = env, tmp, list[ServiceProcess]()

    def start(self, name: str = "event-scheduler.1") -> ServiceProcess:
        proc = ServiceProcess("services.scheduler", self.env, self.tmp / f"{name}.log", name).start()
        self.procs.append(proc)  # before waiting: one that never gets ready is still stopped afterwards
        proc.wait_ready(timeout=120)  # readiness, generously: a busy machine starts it slowly
        return proc


@pytest.fixture
def schedulers(scheduler_env: dict[str, str], tmp_path: Path) -> Iterator[Schedulers]:
    running = Schedulers(scheduler_env, tmp_path)
    yield running
    for proc in running.procs:
        proc.terminate()


@pytest.fixture
async def due(rabbit: Any, service_env: dict[str, str]) -> AsyncIterator[DueListener]:
    listener = await DueListener(rabbit.url, Opener(service_env)).start()
    yield listener
    await listener.close()


async def sealing(due: DueListener) -> Vault:
    """A vault on the processes' keys (the listener's), to seed registrations as they are stored."""
    assert due.opener is not None
    return await due.opener.vault()


async def wait_stored(
    db: Any, collection: str, query: dict[str, Any], count: int, timeout: float = 20
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await db[collection].count_documents(query) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{collection} {query}: fewer than {count}"
        await asyncio.sleep(0.1 if count < 100 else 1.0)  # counting is not free on the Mongo-wire server


async def test_confirmation_at_once_reminders_on_time_and_the_join_link_only_from_its_release(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    schedulers.start()
    start = utcnow() + timedelta(seconds=9)
    session = make_session(
        "ss_on_time",
        start,
        reminder_seconds=[7, 3],
        join_link_release_at=start - timedelta(seconds=5),
        capacity=1,
    )
    await publish(rabbit.url, [published(session)])
    await wait_stored(db, "sessions", {"_id": "ss_on_time"}, 1)
    seated, waiting = registration("ss_on_time", 1), registration("ss_on_time", 2)
    await publish(rabbit.url, [seated])
    # The scheduler handles messages concurrently: the first registration must be recorded before
    # the second arrives for "first come, first seated" to be this test's order (on a busy machine
    # the second was once handled first and took the seat).
    await wait_stored(db, "registrations", {"_id": seated.data.registration_id}, 1)
    await publish(rabbit.url, [seated, waiting])  # a repeated registration is the same registration

    confirmations = await due.wait_for(2, "confirmation", timeout=5)
    by_person = {r.event.data.registration_id: r.event.data for r in confirmations}
    assert by_person[seated.data.registration_id].registration_state == "registered"
    assert by_person[waiting.data.registration_id].registration_state == "waitlisted"
    assert all(r.lateness < ON_TIME and r.event.data.session.join_link is None for r in confirmations)
    stored = await db.registrations.find_one({"_id": seated.data.registration_id})
    assert stored["state"] == "registered" and "ideas" not in stored and SEALED in stored  # at rest
    assert due.opener is not None
    assert (await open_fields(await due.opener.vault(), stored))["ideas"] == seated.data.ideas

    await due.wait_for(2, "reminder", timeout=15)
    await due.wait_for(1, "join-link", timeout=5)
    await asyncio.sleep(0.5)
    reminders = sorted(due.of("reminder"), key=lambda r: r.event.data.due_at)
    assert [r.event.data.seconds_before for r in reminders] == [7, 3]
    assert {r.event.data.registration_id for r in due.received} - {seated.data.registration_id} == {
        waiting.data.registration_id
    }, "the waitlisted person gets the confirmation only"
    assert len(due.of(registration_id=waiting.data.registration_id)) == 1
    for received in due.received:
        assert -0.05 < received.lateness < ON_TIME, (received.event.data.kind, received.lateness)
        assert received.message_id == str(received.event.event_id)
    early, link, late = reminders[0], due.of("join-link")[0], reminders[1]
    assert early.event.data.session.join_link is None, "before the release the link stays secret"
    assert link.event.data.session.join_link == JOIN_LINK
    assert late.event.data.session.join_link == JOIN_LINK, "reminders after the release carry it"
    assert len(due.received) == 5  # 2 confirmations, 2 reminders, 1 join link: nothing twice
    states = {d["_id"]: d["state"] async for d in db.reminders.find({})}
    assert set(states.values()) == {"published"}, states

    # Registering after the release: the confirmation carries the link, no separate message.
    late_comer = registration("ss_on_time", 3)
    await db.session_seats.update_one({"_id": "ss_on_time"}, {"$set": {"count": 0}})  # room again
    await publish(rabbit.url, [late_comer])
    confirmation = (await due.wait_for(3, "confirmation", timeout=5))[-1].event.data
    assert confirmation.registration_id == late_comer.data.registration_id
    assert confirmation.session.join_link == JOIN_LINK
    assert await db.reminders.count_documents({"registration_id": late_comer.data.registration_id}) == 1


async def test_rescheduling_recomputes_and_tells_registrants_and_cancelling_stops_and_tells(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    schedulers.start()
    first_start = utcnow() + timedelta(seconds=40)
    moved = make_session("ss_moved", first_start, reminder_seconds=[30, 8])
    dropped = make_session("ss_dropped", utcnow() + timedelta(seconds=8), reminder_seconds=[4])
    await publish(rabbit.url, [published(moved), published(dropped)])
    await wait_stored(db, "sessions", {}, 2)
    await publish(rabbit.url, [registration(s, i) for s in ("ss_moved", "ss_dropped") for i in (1, 2)])
    await due.wait_for(4, "confirmation", timeout=5)
    await wait_stored(db, "reminders", {"kind": "reminder"}, 6)

    edited = moved.model_copy(update={"version": 2, "place": "Online and Phnom Penh office"})
    new_start = utcnow() + timedelta(seconds=14)
    rescheduled = edited.model_copy(update={"version": 3, "starts_at": new_start, "status": "rescheduled"})
    cancelled = dropped.model_copy(update={"version": 2, "status": "cancelled"})
    await publish(
        rabbit.url,
        [
            published(edited, "updated"),
            published(rescheduled, "rescheduled", previous_starts_at=first_start),
            published(cancelled, "cancelled"),
            published(moved, "created"),  # an old version arriving late changes nothing
        ],
    )
    notices = await due.wait_for(2, "rescheduled", timeout=5)
    assert all(r.lateness < ON_TIME for r in notices)
    assert {r.event.data.session.starts_at for r in notices} == {to_millis(new_start)}
    assert all(r.event.data.session.previous_starts_at is not None for r in notices)
    assert {r.event.data.registration_id for r in await due.wait_for(2, "cancelled", timeout=5)} == {
        "rg_ss_dropped_00001",
        "rg_ss_dropped_00002",
    }
    stored = await db.sessions.find_one({"_id": "ss_moved"})
    assert stored["version"] == 3 and stored["place"] == "Online and Phnom Penh office"
    assert set(stored) - {"_id"} == set(type(moved).model_fields), "sessions holds the Session fields only"

    # the 8 s reminder of the new start (the 30 s one has passed) and nothing of the old schedule
    reminders = await due.wait_for(2, "reminder", timeout=15)
    await asyncio.sleep(1.5)
    reminders = due.of("reminder")
    assert len(reminders) == 2 and {r.event.data.seconds_before for r in reminders} == {8}
    assert all(r.event.data.session.session_id == "ss_moved" for r in reminders)
    assert all(r.lateness < ON_TIME for r in reminders)
    old = await db.reminders.find(
        {
            "session_id": "ss_moved",
            "kind": {"$in": ["reminder", "join-link"]},
            "starts_at": {"$ne": stored["starts_at"]},
        }
    ).to_list(None)
    assert old and {(d["state"], d["reason"]) for d in old} == {("cancelled", "superseded")}
    dropped_reminders = await db.reminders.find({"session_id": "ss_dropped", "kind": "reminder"}).to_list(
        None
    )
    assert {(d["state"], d["reason"]) for d in dropped_reminders} == {("cancelled", "session-cancelled")}
    assert len(due.of("cancelled")) == 2 and len(due.of("rescheduled")) == 2, "told once each"


async def test_after_downtime_useful_overdue_messages_go_out_and_stale_reminders_are_skipped(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    proc = schedulers.start()
    now = utcnow()
    soon = make_session("ss_soon", now + timedelta(seconds=7), reminder_seconds=[5, 3], mode="in-person")
    later = make_session("ss_later", now + timedelta(seconds=60), reminder_seconds=[52], mode="in-person")
    await publish(rabbit.url, [published(soon), published(later)])
    await wait_stored(db, "sessions", {}, 2)
    await publish(rabbit.url, [registration("ss_soon", 1), registration("ss_later", 1)])
    await due.wait_for(2, "confirmation", timeout=5)
    await wait_stored(db, "reminders", {"kind": "reminder"}, 3)
    proc.terminate()

    await publish(rabbit.url, [registration("ss_later", 2)])  # arrives while the scheduler is down
    while utcnow() < now + timedelta(seconds=9.5):  # ss_soon has started; ss_later's reminder is due
        await asyncio.sleep(0.1)
    assert len(due.received) == 2
    schedulers.start("event-scheduler.2")

    reminder = (await due.wait_for(1, "reminder", timeout=5))[0]
    assert reminder.event.data.session.session_id == "ss_later" and reminder.lateness > 0.5
    await due.wait_for(3, "confirmation", timeout=5)
    await asyncio.sleep(1)
    assert len(due.of("reminder")) == 1, "no stale reminder was sent"
    stale = await db.reminders.find({"session_id": "ss_soon", "kind": "reminder"}).to_list(None)
    assert len(stale) == 2 and {(d["state"], d["reason"]) for d in stale} == {("skipped", "session-started")}
    # the registration that arrived during the downtime was scheduled: confirmation sent, no
    # reminder (its offset had passed when it was recorded)
    assert await db.reminders.count_documents({"registration_id": "rg_ss_later_00002"}) == 1


async def test_the_plan_of_action_reaches_every_registered_person_once(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    schedulers.start()
    session = make_session("ss_plan", utcnow() + timedelta(hours=2), capacity=3)
    await publish(rabbit.url, [published(session)])
    await wait_stored(db, "sessions", {}, 1)
    await publish(rabbit.url, [registration("ss_plan", i) for i in range(4)])
    await due.wait_for(4, "confirmation", timeout=5)
    completed = session.model_copy(update={"version": 2, "status": "completed"})
    await publish(rabbit.url, [published(completed, "completed")])
    await wait_stored(
        db, "reminders", {"session_id": "ss_plan", "state": "cancelled"}, 3
    )  # the 1-hour reminders
    plan = PlanOfActionPublished(
        correlation_id="ss_plan",
        data=PlanOfActionPublishedData(
            session_id="ss_plan",
            texts={"en": "1. Write to the UN Special Rapporteur.", "km": "១. សរសេរទៅអ្នករាយការណ៍ពិសេស។"},
            pdf_file_id="652f0c0e8e1b2c3d4e5f6a7b",
            pdf_bucket="session_files",
            at=utcnow(),
        ),
    )
    again = PlanOfActionPublished(correlation_id="ss_plan", data=plan.data)  # published twice
    await publish(rabbit.url, [plan, again])
    plans = await due.wait_for(3, "plan-of-action", timeout=5)
    await asyncio.sleep(1)
    assert len(due.of("plan-of-action")) == 3
    assert {r.event.data.registration_state for r in plans} == {"registered"}
    assert all(r.event.data.plan_of_action == dict(plan.data.texts) for r in plans)
    assert all(r.event.data.plan_pdf_file_id == plan.data.pdf_file_id for r in plans)
    assert all(r.event.data.plan_pdf_bucket == "session_files" for r in plans)  # where the file is
    assert all(r.event.data.session.join_link is None for r in plans)
    assert collections.Counter(r.event.data.kind for r in due.received) == {
        "confirmation": 4,
        "plan-of-action": 3,
    }


async def test_two_replicas_one_killed_mid_way_publish_every_one_of_10000_reminders_once(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    sessions, per_session = 40, 250
    count = sessions * per_session
    # 10,000 registered people whose reminders fall due within 10 s (60 s before each of 40
    # sessions), seeded as the scheduler keeps them (sealed, each under its own data key):
    # recording them through events is the other tests' subject and takes minutes on the local
    # Mongo-wire server. The registrations first (making 10,000 keys takes a while), then the
    # sessions and reminders, timed from then.
    await seed_registrations(
        db, [f"ss_many_{n:02d}" for n in range(sessions)], per_session, await sealing(due)
    )
    first_due = (utcnow() + timedelta(seconds=20)).replace(microsecond=0)
    originals = [
        make_session(
            f"ss_many_{n:02d}",
            first_due + timedelta(seconds=300 + n * 0.25),
            # useful until the session starts, 5 minutes later: longer than the lease (what the
            # victim held stays useful) and than a slow first claim (FIRST_SECONDS)
            reminder_seconds=[300],
            mode="in-person",
        )
        for n in range(sessions)
    ]
    assert await seed_schedule(db, originals, per_session) == count
    schedulers.env["SCHEDULER_LEASE_SECONDS"] = "10"  # a loaded Mongo-wire server marks slowly
    victim = schedulers.start("event-scheduler.1")
    schedulers.start("event-scheduler.2")
    # On a busy machine they may start after the first reminders are due: those are then caught
    # up (still useful until their sessions start, 5 minutes later), which changes nothing below.
    # Bound by progress, not by a wall clock tuned on an idle machine: fail only when no reminder
    # has arrived for STALL_SECONDS once they are due (a busy machine is slower, not stuck).
    seen, progress_at = 0, None
    while (seen_now := len(due.of("reminder"))) < count // 3:
        if utcnow() >= first_due:
            if progress_at is None or seen_now > seen:
                seen, progress_at = seen_now, time.monotonic()
            bound = STALL_SECONDS if seen_now else FIRST_SECONDS
            assert time.monotonic() - progress_at < bound, f"reminders stalled at {seen_now}"
        await asyncio.sleep(0.05)
    victim.kill()
    killed_after = len(due.of("reminder"))

    # The survivor takes the victim's claims once their lease ends and settles its sent journal
    # first: on a loaded Mongo-wire server that pause alone has exceeded 60 s without a new reminder.
    reminders = await due.wait_for(count, "reminder", timeout=150)
    await asyncio.sleep(3)  # anything sent late or twice would show now
    reminders = due.of("reminder")
    expected = {f"rg_{s.session_id}_{i:05d}" for s in originals for i in range(per_session)}
    assert {r.event.data.registration_id for r in reminders} == expected, "none missing"
    events = collections.defaultdict(set)
    for r in due.received:
        events[r.event.data.reminder_id].add(r.message_id)
    assert all(len(ids) == 1 for ids in events.values()), "a re-publish is the same event"
    twice = {
        rid: n
        for rid, n in collections.Counter(r.event.data.reminder_id for r in due.received).items()
        if n > 1
    }
    # What the victim published but had not marked is settled from its sent journal, not sent again.
    assert not twice, f"{len(twice)} reminders published twice"
    publishers = await db.reminders.distinct("published_by", {"kind": "reminder", "state": "published"})
    # Usually both replicas published. On a busy machine the victim may have claimed and published
    # every reminder before it was killed (the test's consumer had seen a third): the survivor then
    # only settles its journal, which "none missing, none twice" above already checks.
    assert 1 <= len(publishers) <= 2, publishers
    assert 0 < killed_after < count
    late = sorted(r.lateness for r in reminders)
    print(
        f"killed after {killed_after} reminders; late p50 {late[len(late) // 2]:.2f}s "
        f"p99 {late[len(late) * 99 // 100]:.2f}s max {late[-1]:.2f}s"
    )


async def hand_to_a_gone_replica(db: Any, rabbit: Any, journaled: int, replica: str) -> list[str]:
    """Make every pending reminder look held by `replica` whose lease ran out, with the first
    `journaled` of them in its sent journal (published, not yet marked, when it went away)."""
    from services.scheduler.journal import REMINDER_HEADER, queue_of

    owner = f"gone-host:1:{replica}"
    ids = sorted(await db.reminders.distinct("_id", {"state": "pending", "kind": "reminder"}))
    await db.reminders.update_many(
        {"_id": {"$in": ids}},
        {
            "$set": {
                "owner": owner,
                "claim": "gone",
                "lease_until": EPOCH,
                "due_at": utcnow() - timedelta(seconds=1),
            }
        },
    )
    connection = await aio_pika.connect(rabbit.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = queue_of("samleng", owner)
        await channel.declare_queue(queue, durable=True, arguments={"x-expires": JOURNAL_EXPIRES_MS})
        for reminder_id in ids[:journaled]:
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", headers={REMINDER_HEADER: reminder_id}), queue
            )
    return ids


async def test_what_a_killed_replica_published_but_had_not_marked_is_not_published_again(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    session = make_session("ss_gone", utcnow() + timedelta(minutes=10), reminder_seconds=[300])
    assert await seed_registered(db, [session], 40, await sealing(due)) == 40
    ids = await hand_to_a_gone_replica(db, rabbit, journaled=25, replica="a" * 32)

    schedulers.start()
    await due.wait_for(15, "reminder", timeout=30)
    await asyncio.sleep(2)
    sent = [r.event.data.reminder_id for r in due.of("reminder")]
    assert sorted(sent) == ids[25:], "only what the gone replica had not published, each once"
    stored = {d["_id"]: d async for d in db.reminders.find({"_id": {"$in": ids}})}
    assert all(d["state"] == "published" for d in stored.values())
    assert {stored[i]["published_by"] for i in ids[:25]} == {"gone-host:1:" + "a" * 32}


async def test_a_previous_holder_still_connected_marks_its_own_records_before_they_go_out_again(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    from services.scheduler.journal import queue_of

    session = make_session("ss_alive", utcnow() + timedelta(minutes=10), reminder_seconds=[300])
    assert await seed_registered(db, [session], 20, await sealing(due)) == 20
    owner = "alive-host:1:" + "b" * 32
    ids = await hand_to_a_gone_replica(db, rabbit, journaled=8, replica="b" * 32)
    connection = await aio_pika.connect(rabbit.url)  # the holder, still consuming its journal
    channel = await connection.channel()
    journal = await channel.declare_queue(
        queue_of("samleng", owner), durable=True, arguments={"x-expires": JOURNAL_EXPIRES_MS}
    )
    entries: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def hold(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        entries.append(message)

    await journal.consume(hold)

    schedulers.start()  # lease 3 s: it waits up to 1 s for the holder to mark its records
    await asyncio.sleep(0.3)
    assert due.of("reminder") == [], "nothing goes out while the holder may still mark"
    await db.reminders.update_many({"_id": {"$in": ids[:8]}}, {"$set": {"state": "published"}})
    await entries[-1].ack(multiple=True)
    await due.wait_for(12, "reminder", timeout=30)
    await asyncio.sleep(2)
    assert sorted(r.event.data.reminder_id for r in due.of("reminder")) == ids[8:]
    await connection.close()


async def test_a_join_link_changed_after_its_release_reaches_the_registered_once(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    schedulers.start()
    session = make_session(
        "ss_link", utcnow() + timedelta(hours=2), join_link_release_at=utcnow() - timedelta(minutes=5)
    )
    await publish(rabbit.url, [published(session)])
    await wait_stored(db, "sessions", {}, 1)
    await publish(rabbit.url, [registration("ss_link", i) for i in (1, 2)])
    confirmations = await due.wait_for(2, "confirmation", timeout=10)
    assert {r.event.data.session.join_link for r in confirmations} == {JOIN_LINK}, "released: included"

    new_link = "https://meet.example.org/j/new-room"
    moved_room = session.model_copy(update={"version": 2, "join_link": new_link})
    retitled = moved_room.model_copy(update={"version": 3, "place": "Online only"})
    await publish(rabbit.url, [published(moved_room, "updated")])
    links = await due.wait_for(2, "join-link", timeout=10)
    assert {r.event.data.session.join_link for r in links} == {new_link}
    assert all(r.lateness < ON_TIME for r in links)
    await publish(rabbit.url, [published(moved_room, "updated"), published(retitled, "updated")])
    await asyncio.sleep(2)
    assert len(due.of("join-link")) == 2, "the same change again, or another edit: no new message"


async def test_a_cancelled_registration_stops_its_messages_and_its_seat_goes_to_the_waiting_list(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    schedulers.start()
    session = make_session("ss_seat", utcnow() + timedelta(seconds=40), reminder_seconds=[15], capacity=1)
    await publish(rabbit.url, [published(session)])
    await wait_stored(db, "sessions", {}, 1)
    first, second, third = (f"rg_ss_seat_{i:05d}" for i in (1, 2, 3))
    for index in (1, 2, 3):  # first come, first served
        await publish(rabbit.url, [registration("ss_seat", index)])
        await wait_stored(db, "registrations", {"session_id": "ss_seat"}, index)
    confirmations = await due.wait_for(3, "confirmation", timeout=10)
    states = {r.event.data.registration_id: r.event.data.registration_state for r in confirmations}
    assert states == {first: "registered", second: "waitlisted", third: "waitlisted"}

    cancel = RegistrationCancelled(
        correlation_id="ss_seat",
        data=RegistrationCancelledData(registration_id=first, session_id="ss_seat", at=utcnow()),
    )
    await publish(rabbit.url, [cancel, cancel])  # a double click is one cancellation
    promoted = await due.wait_for(1, "promoted", timeout=10)
    assert [(r.event.data.registration_id, r.event.data.registration_state) for r in promoted] == [
        (second, "registered")
    ]
    stored = {r["_id"]: r["state"] async for r in db.registrations.find({"session_id": "ss_seat"})}
    assert stored == {first: "cancelled", second: "registered", third: "waitlisted"}
    [told] = await due.wait_for(1, "registration-cancelled", timeout=10)
    assert told.event.data.registration_id == first and told.event.data.session.join_link is None

    await publish(rabbit.url, [registration("ss_seat", 1)])  # registering again: the list is full now
    again = await due.wait_for(4, "confirmation", timeout=10)
    assert [r.event.data.registration_state for r in again if r.event.data.registration_id == first] == [
        "registered",
        "waitlisted",
    ]

    await due.wait_for(1, "reminder", timeout=40)
    await asyncio.sleep(1.5)
    assert [r.event.data.registration_id for r in due.of("reminder")] == [second], "only the seated"
    assert len(due.of("promoted")) == 1 and len(due.of("registration-cancelled")) == 1
    stopped = await db.reminders.find_one({"registration_id": first, "kind": "reminder"})
    assert (stopped["state"], stopped["reason"]) == ("cancelled", "registration-cancelled")


async def test_the_same_cancellation_again_keeps_the_notice_of_the_first(db: Any) -> None:
    """A double click is two events: the second must not stop the notice the first scheduled."""
    from services.scheduler.schedule import withdrawal
    from services.scheduler.store import Store

    store = Store.of(db)
    session = make_session("ss_twice", utcnow() + timedelta(hours=1), reminder_seconds=[60])
    await seed_registered(db, [session], 1)
    rid = "rg_ss_twice_00000"
    at = utcnow()
    registration = await store.cancel_registration(rid, at)
    assert registration is not None and registration["state"] == "cancelled"
    await store.add("ss_twice", [(registration, withdrawal(rid, registration["cancelled_at"]))], "first")
    again = await store.cancel_registration(rid, at)
    assert again is not None and again["cancelled_at"] == registration["cancelled_at"]
    states = {
        d["kind"]: (d["state"], d.get("reason")) async for d in db.reminders.find({"registration_id": rid})
    }
    assert states == {
        "reminder": ("cancelled", "registration-cancelled"),
        "registration-cancelled": ("pending", None),
    }


async def test_a_registrants_discreet_choice_survives_storage_into_each_message_due(
    rabbit: Any, schedulers: Schedulers, due: DueListener, db: Any
) -> None:
    """Discreet messages (issue #17): the registrant is stored sealed and comes back whole in
    `reminder.due.v1`, their choice (on, off, or none made) included, for the dispatcher."""
    schedulers.start()
    start = utcnow() + timedelta(seconds=5)
    await publish(rabbit.url, [published(make_session("ss_discreet", start, reminder_seconds=[2]))])
    await wait_stored(db, "sessions", {"_id": "ss_discreet"}, 1)
    chosen = {1: True, 2: False, 3: None}
    events = []
    for index, choice in chosen.items():
        event = registration("ss_discreet", index)
        registrant = event.data.registrant.model_copy(update={"discreet": choice})
        events.append(
            event.model_copy(update={"data": event.data.model_copy(update={"registrant": registrant})})
        )
    await publish(rabbit.url, events)
    await due.wait_for(3, "reminder", timeout=15)
    for kind in ("confirmation", "reminder"):
        got = {r.event.data.registration_id: r.event.data.registrant.discreet for r in due.of(kind)}
        assert got == {
            e.data.registration_id: choice for e, choice in zip(events, chosen.values(), strict=True)
        }
