"""Session reminders falling due while one of the two scheduler replicas is paused (SIGSTOP) past
its lease and then resumed: each registrant gets their reminder email once, counted at the SMTP
sink."""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.chaos.system import (
    CHAOS_SETTINGS,
    SIZE,
    Figures,
    arrived_so_far,
    database,
    registrations,
    seed_registrants,
    settle,
    wait_for,
)
from tests.support.stack import RunningStack

pytestmark = pytest.mark.timeout(1800 if SIZE > 1_000 else 600)
LEASE_SECONDS = float(CHAOS_SETTINGS["SCHEDULER_LEASE_SECONDS"])
PAUSE_SECONDS = 2 * LEASE_SECONDS + 5
"""Well past the lease: the other replica takes the paused one's claims over meanwhile."""
SESSIONS = 10
DUE_SPREAD_SECONDS = 40
"""The sessions' reminders fall due over this window, so both replicas claim in several rounds."""
LEAD_SECONDS = 30
"""The first reminder falls due this long after seeding (the replicas claim 15 s ahead)."""


def held_by(stack: RunningStack, pid: int) -> int:
    """Trigger only: reminder records a replica (by its pid in the claim owner) has claimed and
    not yet sent — still pending, due later, its lease alive."""
    now = datetime.now(UTC)
    owner = f"^{socket.gethostname()}:{pid}:"
    return int(
        database(stack).reminders.count_documents(
            {
                "owner": {"$regex": owner},
                "state": "pending",
                "due_at": {"$gt": now},
                "lease_until": {"$gt": now},
            }
        )
    )


def test_a_scheduler_replica_paused_past_its_lease_sends_no_reminder_twice_and_loses_none(
    chaos_stack: RunningStack,
) -> None:
    """event-scheduler.1 is SIGSTOPped while it holds claimed reminders and some have gone out,
    for twice its lease, then SIGCONTed. Relies on: claims with a lease (the other replica takes
    over what the paused one held once the lease ends), the claim's fencing (the resumed replica's
    stale claim can no longer mark or publish what it held) and the sent journal (what it had
    published but not marked is settled, not sent again); downstream, deterministic delivery ids
    and the email send log. Two layers: with either one disabled no reminder arrives twice; with
    both (docs/reliability.md) the paused replica's held records arrive twice."""
    stack = chaos_stack
    first_due = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
    due = [first_due + timedelta(seconds=n * DUE_SPREAD_SECONDS / SESSIONS) for n in range(SESSIONS)]
    members, due_at = seed_registrants(stack, "reminders", due)
    victim = int(registrations(stack)["event-scheduler.1"]["pid"])

    wait_for(
        "event-scheduler.1 to hold claimed reminders while some have gone out",
        lambda: held_by(stack, victim) > 0 and arrived_so_far(stack, members) > 0,
        lambda: (arrived_so_far(stack, members), datetime.now(UTC) < first_due),
        every=0.1,
    )
    held, at_pause = held_by(stack, victim), arrived_so_far(stack, members)
    os.kill(victim, signal.SIGSTOP)
    try:
        time.sleep(PAUSE_SECONDS)  # the fault's length, not a wait for the system
        during = arrived_so_far(stack, members)
    finally:
        os.kill(victim, signal.SIGCONT)

    got = settle(stack, members)
    figures = Figures.of(
        "scheduler-sigstop",
        f"event-scheduler.1 SIGSTOPped {PAUSE_SECONDS:.0f} s (lease {LEASE_SECONDS:.0f} s) mid reminders, resumed",
        f"{SIZE:,} reminders due over {DUE_SPREAD_SECONDS} s, 2 scheduler replicas",
        members,
        got,
        due_at,
    )
    figures.notes.update(
        held_by_paused_replica=held,
        emails_at_pause=at_pause,
        emails_while_paused=during - at_pause,
        latency_is="lateness: arrival minus the reminder's due time",
    )
    figures.record(stack)
    assert at_pause < SIZE, "the pause came after every reminder went out"
    figures.assert_exactly_once(got)
