"""bench/load.py counts what reached the SMTP sink the way its report says: open-loop slots at their
rates, duplicates and people not expected apart, each reminder matched to its due time."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.load import SETTLE_SECONDS, Mail, Run, downstream, health, timetable

T0 = 1_000_000.0


def mail(run: Run, kind: str, index: int, at: float, subject: str = "") -> Mail:
    return Mail(at, run.address(kind, index), subject, None)


def test_the_timetable_holds_each_route_at_its_share_of_the_rate_in_time_order() -> None:
    slots = timetable(rate=10, seconds=60, started=T0)
    counts = Counter(route for _, route, _ in slots)
    assert counts["POST /api/v1/pledges"] == 600
    assert counts["POST /api/v1/subscriptions"] == counts["POST /api/v1/sessions/{id}/registrations"] == 120
    assert counts["GET /a/{slug}"] == counts["GET /sessions"] == 60
    assert [at for at, _, _ in slots] == sorted(at for at, _, _ in slots)
    pledges = [at for at, route, _ in slots if route == "POST /api/v1/pledges"]
    assert pledges[0] == T0 and pledges[1] - pledges[0] == pytest.approx(0.1) and pledges[-1] < T0 + 60


def test_downstream_counts_duplicates_and_the_unexpected_apart_and_matches_reminders_to_due_times() -> None:
    run = Run("abc123", T0, 60, "ss_1", due=[T0 + 24, T0 + 48])
    run.pledged = {run.address("p", 0): T0, run.address("p", 1): T0 + 1, run.address("p", 2): T0 + 2}
    run.mail += [mail(run, "p", 0, T0 + 3), mail(run, "p", 0, T0 + 9), mail(run, "p", 1, T0 + 2)]
    number = "UA 900/26"
    run.alerts[number] = (T0 + 15, {run.address("s", 0)})  # s1 confirmed within SETTLE_SECONDS of it
    subject = f"Urgent Action {number}: Release the detained land activists"
    run.mail += [mail(run, "s", 0, T0 + 16, subject), mail(run, "s", 1, T0 + 17, subject)]
    run.registered = {run.address("r", 0): T0 + 1, run.address("r", 1): T0 + 48 - SETTLE_SECONDS / 2}
    reminder = "Reminder: Forum under load, 1 December 12:00"
    run.mail += [mail(run, "r", 0, T0 + 25, reminder), mail(run, "r", 0, T0 + 50, reminder)]
    run.mail += [mail(run, "r", 1, T0 + 50.5, reminder)]

    rows = {r["what"].split(" (")[0]: r for r in downstream(run)}
    certificates = rows["certificates"]
    assert (certificates["delivered"], certificates["expected"], certificates["duplicates"]) == (2, 3, 1)
    assert certificates["max"] == 3.0, "from the intended time, to the first copy"
    alert = rows[f"alert {number}"]
    assert (alert["delivered"], alert["expected"], alert["extra"], alert["duplicates"]) == (1, 1, 1, 0)
    first, second = rows["reminders due 24 s into the run"], rows["reminders due 48 s into the run"]
    assert (first["delivered"], first["expected"], first["max"]) == (1, 1, 1.0)
    assert (second["delivered"], second["expected"], second["extra"], second["max"]) == (1, 1, 1, 2.0)


def test_health_counts_restarts_and_what_each_service_logged() -> None:
    log = (
        "08:17:01 system                 | email.1 restarted (pid=12)\n"
        "08:17:02 email.1                | delivery failed: connection lost\n"
        "08:17:03 alert-dispatcher.1     | handler raised\n"
        "08:17:04 email.1                | retrying\n"
    )
    assert health(log) == (
        "The stack's log over the run: 1 process restarts; "
        "warning or error lines by process: email.1 2, alert-dispatcher.1 1."
    )
