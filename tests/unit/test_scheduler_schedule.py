"""The scheduler's decisions: what a registration schedules, what a change does, what catch-up sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scheduler.due import build
from services.scheduler.schedule import (
    carries_join_link,
    carries_place,
    event_id_of,
    normalized,
    on_registration,
    plan_id_of,
    skip_reason,
    times_changed,
    upcoming,
)
from tests.support.sessions import JOIN_LINK, make_session

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
START = NOW + timedelta(days=10)


def test_a_registration_gets_a_confirmation_now_then_each_reminder_and_the_join_link_at_its_release() -> None:
    session = make_session("ss_1", START)
    dues = on_registration(session, "rg_1", "registered", NOW)
    assert [(d.kind, d.due_at) for d in dues] == [
        ("confirmation", NOW),
        ("reminder", START - timedelta(days=7)),
        ("reminder", START - timedelta(days=1)),
        ("reminder", START - timedelta(hours=1)),
        ("join-link", START - timedelta(hours=24)),
    ]
    assert len({d.reminder_id for d in dues}) == len(dues)
    assert dues == on_registration(session, "rg_1", "registered", NOW), "recomputing meets the same records"


def test_offsets_already_passed_are_not_sent_and_a_passed_release_puts_the_link_in_the_confirmation() -> None:
    session = make_session("ss_1", NOW + timedelta(hours=3))
    dues = on_registration(session, "rg_1", "registered", NOW)
    assert [(d.kind, d.seconds_before) for d in dues] == [("confirmation", None), ("reminder", 3600)]
    assert carries_join_link("confirmation", NOW, session)
    assert not carries_join_link("confirmation", NOW, session.model_copy(update={"join_link": None}))


def test_the_join_link_stays_out_of_messages_due_before_its_release_and_out_of_in_person_sessions() -> None:
    session = make_session("ss_1", START, join_link_release_at=START - timedelta(hours=2))
    assert not carries_join_link("reminder", START - timedelta(days=1), session)
    assert carries_join_link("reminder", START - timedelta(hours=1), session)
    assert not carries_join_link("cancelled", START, session)
    in_person = make_session("ss_2", START, mode="in-person")
    assert [d.kind for d in upcoming(in_person, "rg_1", NOW)] == ["reminder"] * 3
    assert not carries_join_link("reminder", START - timedelta(hours=1), in_person)


def test_the_place_is_released_like_the_join_link() -> None:
    session = make_session("ss_3", START, mode="in-person", place="Hall 2, Long Beach")
    assert not carries_place(NOW, session), "a confirmation now does not carry it"
    assert not carries_place(START - timedelta(days=7), session)
    assert carries_place(START - timedelta(hours=1), session), "24 h before the start it does"
    early = session.model_copy(update={"join_link_release_at": START - timedelta(days=8)})
    assert carries_place(START - timedelta(days=7), early)


def test_a_waitlisted_person_gets_the_confirmation_only_and_a_cancelled_session_its_cancellation() -> None:
    session = make_session("ss_1", START, capacity=1)
    assert [d.kind for d in on_registration(session, "rg_2", "waitlisted", NOW)] == ["confirmation"]
    cancelled = session.model_copy(update={"status": "cancelled", "version": 4})
    [due] = on_registration(cancelled, "rg_2", "registered", NOW)
    assert (due.kind, due.reminder_id) == ("cancelled", "rg_2/cancelled/v4")


def test_a_reschedule_makes_new_records_for_the_new_start_and_tells_only_when_times_moved() -> None:
    session = make_session("ss_1", START, reminder_seconds=[600, 60])
    moved = session.model_copy(update={"starts_at": START + timedelta(days=1), "version": 2})
    before = {d.reminder_id for d in upcoming(session, "rg_1", NOW)}
    after = {d.reminder_id for d in upcoming(moved, "rg_1", NOW)}
    assert before.isdisjoint(after)
    assert [d.seconds_before for d in upcoming(moved, "rg_1", NOW) if d.kind == "reminder"] == [600, 60]
    assert times_changed("rescheduled", START, moved)
    assert times_changed("updated", START, moved)
    assert not times_changed("updated", None, moved)


def test_catch_up_sends_what_is_still_useful_and_skips_stale_reminders() -> None:
    session = make_session("ss_1", START)
    late = START + timedelta(minutes=5)
    assert skip_reason("reminder", START, session, late) == "session-started"
    assert skip_reason("join-link", START, session, late) == "session-started"
    assert skip_reason("reminder", START, session, START - timedelta(minutes=5)) is None
    assert skip_reason("confirmation", None, session, late) is None
    assert skip_reason("plan-of-action", None, session, late) is None
    assert skip_reason("reminder", START - timedelta(days=1), session, NOW) == "superseded"
    assert skip_reason("reminder", START, session.model_copy(update={"status": "cancelled"}), NOW) == (
        "session-cancelled"
    )
    assert skip_reason("reminder", START, None, NOW) == "session-unknown"


def test_the_same_plan_is_one_plan_and_a_corrected_one_is_another() -> None:
    texts = {"en": "Write to the rapporteur.", "km": "សរសេរ"}
    assert plan_id_of("ss_1", texts, None) == plan_id_of("ss_1", dict(reversed(texts.items())), None)
    assert plan_id_of("ss_1", texts, None) != plan_id_of("ss_1", {**texts, "en": "Corrected."}, None)


def test_a_record_builds_a_deterministic_event_with_the_link_only_after_its_release() -> None:
    session = normalized(make_session("ss_1", START + timedelta(microseconds=123_456)))
    assert session.starts_at.microsecond == 123_000
    dues = {d.kind: d for d in upcoming(session, "rg_1", NOW)}
    registrant = {
        "name": "Sok Dara",
        "language": "km",
        "country": "US",
        "contact": {"email": "dara@example.org"},
        "channels": ["email"],
    }
    registration = {  # as the due loop opens it (store.registrants): records copy nothing of it
        "_id": "rg_1",
        "state": "registered",
        "registrant": registrant,
        "cancel_url": "https://pledge.example.org/sessions/cancel/rg_1.sig",
    }
    for kind, with_link in (("reminder", False), ("join-link", True)):
        due = dues[kind] if kind == "join-link" else upcoming(session, "rg_1", NOW)[0]
        record = {
            "_id": due.reminder_id,
            "kind": due.kind,
            "session_id": "ss_1",
            "registration_id": "rg_1",
            "registration_state": "registered",
            "due_at": due.due_at,
            "starts_at": due.starts_at,
            "seconds_before": due.seconds_before,
        }
        held = build(record, registration, session, None, NOW)
        assert held.skip is None and held.event is not None
        assert held.event.data.registrant.name == "Sok Dara"
        assert held.event.data.cancel_url == registration["cancel_url"]
        assert held.event.event_id == event_id_of(due.reminder_id)
        assert (held.event.data.session.join_link == JOIN_LINK) is with_link
    stale = build(
        {**record, "due_at": START - timedelta(hours=1)},
        registration,
        session,
        None,
        START + timedelta(seconds=1),
    )
    assert stale.event is None and stale.skip == "session-started"
    forgotten = build(record, None, session, None, NOW)  # gone, or its data key erased
    assert forgotten.event is None and forgotten.skip == "registration-unknown"
