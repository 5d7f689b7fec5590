"""Sessions as iCalendar (RFC 5545): the public feed, one session's `.ics`, and the invitation
attached to confirmation emails. Times are written in UTC (`...Z`), so every calendar shows them
in its owner's own time zone; `SEQUENCE` is the session's version, so a rescheduled or cancelled
session replaces the copy people already imported (same `UID`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar, Event

PRODID = "-//Samleng//Khmer community sessions//EN"
LOCATIONS = {"online": {"en": "Online", "km": "តាមអនឡាញ"}}


def session_event(session: dict[str, Any], language: str, *, join_link: str | None = None) -> Event:
    """One session as a VEVENT. `session` has the Session contract's fields (a dict or model dump)."""
    texts = session["texts"].get(language) or session["texts"]["en"]
    event = Event()
    event.add("uid", f"{session['session_id']}@samleng")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", _utc(session["starts_at"]))
    event.add("dtend", _utc(session["ends_at"]))
    event.add("summary", texts["title"])
    description = texts.get("description") or ""
    if join_link:
        description = f"{description}\n\n{join_link}".strip()
    if description:
        event.add("description", description)
    place = session.get("place") or ""
    if not place and session.get("mode") == "online":
        place = LOCATIONS["online"].get(language, "Online")
    if place:  # an in-person place not released yet is no place, not "Online"
        event.add("location", place)
    event.add("url", session["public_url"])
    event.add("sequence", int(session.get("version", 1)))
    event.add("status", "CANCELLED" if session.get("status") == "cancelled" else "CONFIRMED")
    return event


def calendar(events: Iterable[Event], name: str, *, method: str = "PUBLISH") -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(event)
    return bytes(cal.to_ical())


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # Mongo hands back naive UTC unless the client is tz-aware
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
