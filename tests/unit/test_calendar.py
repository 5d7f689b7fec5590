"""iCalendar output: times written in UTC whatever zone the operator used, so each calendar shows
them in its owner's zone; cancelled sessions say so; the join link only when asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from shared.calendar import calendar, session_event


def session(starts: datetime, **change: object) -> dict[str, object]:
    return {
        "session_id": "ss_cal",
        "texts": {"en": {"title": "Hearing", "description": "Line one\nLine two, with; punctuation"},
                  "km": {"title": "សវនាការ", "description": ""}},
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "mode": "hybrid",
        "place": "Phnom Penh, Cambodia",
        "public_url": "https://pledge.example.org/sessions/ss_cal",
        "version": 3,
        "status": "scheduled",
        **change,
    }  # fmt: skip


def parse(body: bytes) -> list[object]:
    return list(Calendar.from_ical(body).walk("VEVENT"))


def test_times_given_in_any_zone_come_out_in_utc_and_read_back_in_every_zone() -> None:
    same_moment = [
        datetime(2027, 3, 6, 19, 0, tzinfo=ZoneInfo("Asia/Phnom_Penh")),
        datetime(2027, 3, 6, 4, 0, tzinfo=ZoneInfo("America/Los_Angeles")),
        datetime(2027, 3, 6, 23, 0, tzinfo=ZoneInfo("Australia/Melbourne")),
        datetime(2027, 3, 6, 12, 0, tzinfo=UTC),
    ]
    for moment in same_moment:
        body = calendar([session_event(session(moment), "en")], "Samleng")
        assert b"DTSTART:20270306T120000Z" in body and b"DTEND:20270306T140000Z" in body
        [event] = parse(body)
        start = event.decoded("dtstart")  # type: ignore[attr-defined]
        assert start.astimezone(ZoneInfo("Asia/Phnom_Penh")).hour == 19
        assert start.astimezone(ZoneInfo("America/New_York")).hour == 7
        assert start.astimezone(ZoneInfo("Europe/Paris")).hour == 13


def test_each_session_is_one_event_with_its_version_and_status() -> None:
    body = calendar(
        [
            session_event(session(datetime(2027, 3, 6, 12, tzinfo=UTC)), "km"),
            session_event(session(datetime(2027, 4, 1, 12, tzinfo=UTC), session_id="ss_off", status="cancelled"), "en"),
        ],
        "Samleng",
    )  # fmt: skip
    first, second = parse(body)
    assert str(first["summary"]) == "សវនាការ" and int(first["sequence"]) == 3  # type: ignore[index]
    assert str(first["location"]) == "Phnom Penh, Cambodia"  # type: ignore[index]
    assert str(second["status"]) == "CANCELLED" and str(second["uid"]) == "ss_off@samleng"  # type: ignore[index]
    english = parse(calendar([session_event(session(datetime(2027, 3, 6, 12, tzinfo=UTC)), "en")], "x"))
    assert str(english[0]["description"]) == "Line one\nLine two, with; punctuation"  # type: ignore[index]
    assert b"zoom" not in body


def test_the_join_link_is_included_only_when_given() -> None:
    with_link = calendar([session_event(session(datetime(2027, 3, 6, 12, tzinfo=UTC)), "en", join_link="https://zoom.example/j/1")], "x")  # fmt: skip
    assert "https://zoom.example/j/1" in str(parse(with_link)[0]["description"])  # type: ignore[index]
