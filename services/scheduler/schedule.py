"""What is due when, for whom: pure decisions about sessions and registrations (no I/O).

A `Due` is one message to one registrant at one time. Its id is deterministic (registration x
kind x what it is for), so recomputing a schedule meets the records already stored instead of
making new ones, and the event published for it has a deterministic id too:

    confirmation   <registration>/confirmation                  due when registered
    reminder       <registration>/reminder/<start>/<seconds>s    due `seconds` before that start
    join-link      <registration>/join-link/<start>/<release>    due at the release time
                   <registration>/join-link/<start>/link-<hash>  due when the link changed after
                                                                 its release (the new link)
    rescheduled    <registration>/rescheduled/v<version>         due when the session moved
    cancelled      <registration>/cancelled/v<version>           due when it was cancelled
    plan-of-action <registration>/plan-of-action/<plan id>       due when the plan was published
    promoted       <registration>/promoted/<submitted>           due when a seat came free for a
                                                                 waitlisted registration
    confirmation   <registration>/confirmation/<submitted>       (registering again after cancelling)
    registration-cancelled <registration>/registration-cancelled/<cancelled>  due when they cancelled

A reminder or join-link record belongs to one start time (`starts_at`): after a reschedule the
old ones are superseded, the new ones have new ids.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.contracts.session import ReminderKind, Session, details_release_time
from shared.contracts.session import has_join_link as link_mode
from shared.contracts.session import reminder_offsets as offsets

EVENT_NAMESPACE = uuid.UUID("0b7f3c52-8d1e-4a6b-9c2f-5e4d3a2b1c0d")
PRESENCE_KINDS: frozenset[str] = frozenset({"reminder", "join-link"})
"""Kinds that are only worth sending before the session starts (stale afterwards: skipped)."""
ACTIVE_STATUSES = frozenset({"scheduled", "rescheduled"})


@dataclass(frozen=True)
class Due:
    reminder_id: str
    kind: ReminderKind
    due_at: datetime
    starts_at: datetime | None = None
    seconds_before: int | None = None
    previous_starts_at: datetime | None = None
    plan_id: str | None = None


def stamp(moment: datetime) -> str:
    millis = moment.microsecond // 1000
    return moment.strftime("%Y%m%dT%H%M%S") + (f".{millis:03d}Z" if millis else "Z")


def to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def normalized(session: Session) -> Session:
    """The session with its times at the millisecond precision Mongo stores, so a schedule computed
    from an event and one computed from the stored session agree (ids, comparisons)."""
    times = {
        name: to_millis(value) for name, value in session.__dict__.items() if isinstance(value, datetime)
    }
    return session.model_copy(update=times)


def event_id_of(reminder_id: str) -> uuid.UUID:
    """The `reminder.due.v1` event id of a record: a re-publish is the same event."""
    return uuid.uuid5(EVENT_NAMESPACE, reminder_id)


def release_time(session: Session) -> datetime:
    """When the join link and the place reach registrants (the public pages follow the same rule)."""
    return details_release_time(session.starts_at, session.join_link_release_at)


def carries_place(due_at: datetime, session: Session) -> bool:
    """The venue of an in-person or hybrid session is released like the join link: a message due
    before the release time does not carry it (the session page does not show it either)."""
    return due_at >= release_time(session)


def reminder_offsets(session: Session) -> list[int]:
    """Seconds before the start, largest first, without duplicates."""
    return offsets(session.reminder_seconds, session.reminder_minutes)


def has_join_link(session: Session) -> bool:
    return link_mode(session.mode)


def upcoming(session: Session, registration_id: str, now: datetime) -> list[Due]:
    """The reminders and the join-link message of one registered person that are still ahead.

    Offsets whose time has already passed are not sent (registering an hour before the start
    gets no 1-day reminder). When the release time has passed, there is no join-link record:
    every message due from then on carries the link (see `carries_join_link`).
    """
    if session.status not in ACTIVE_STATUSES or session.starts_at <= now:
        return []
    start = stamp(session.starts_at)
    records = [
        Due(
            reminder_id=f"{registration_id}/reminder/{start}/{seconds}s",
            kind="reminder",
            due_at=session.starts_at - timedelta(seconds=seconds),
            starts_at=session.starts_at,
            seconds_before=seconds,
        )
        for seconds in reminder_offsets(session)
        if session.starts_at - timedelta(seconds=seconds) > now
    ]
    release = release_time(session)
    if has_join_link(session) and release > now:
        records.append(
            Due(
                reminder_id=f"{registration_id}/join-link/{start}/{stamp(release)}",
                kind="join-link",
                due_at=release,
                starts_at=session.starts_at,
            )
        )
    return records


def changed_link(
    previous: Session | None, session: Session, registration_id: str, now: datetime
) -> Due | None:
    """The new join link, now, for a registered person who may already hold the old one: the
    link changed after its release time and the session has not started. Its id names the link,
    so the same change handled twice is one message."""
    if previous is None or previous.join_link == session.join_link or not session.join_link:
        return None
    if session.status not in ACTIVE_STATUSES or not has_join_link(session) or session.starts_at <= now:
        return None
    if release_time(session) > now:
        return None  # the link goes out at its release time anyway
    digest = hashlib.sha256(session.join_link.encode()).hexdigest()[:12]
    return Due(
        f"{registration_id}/join-link/{stamp(session.starts_at)}/link-{digest}",
        "join-link",
        now,
        starts_at=session.starts_at,
    )


def on_registration(session: Session, registration_id: str, state: str, now: datetime) -> list[Due]:
    """A new registration: its confirmation now, and (if it has a seat) what is ahead of it.

    A registration for a session that is already cancelled gets the cancellation instead (the
    same record the cancellation sent to everyone else, so never twice)."""
    if session.status == "cancelled":
        return [cancellation(session, registration_id, now)]
    confirmation = Due(f"{registration_id}/confirmation", "confirmation", now)
    if state != "registered":
        return [confirmation]
    return [confirmation, *upcoming(session, registration_id, now)]


def promotion(registration_id: str, submitted_at: datetime, now: datetime) -> Due:
    return Due(f"{registration_id}/promoted/{stamp(submitted_at)}", "promoted", now)


def withdrawal(registration_id: str, cancelled_at: datetime) -> Due:
    """The registrant is told their registration is cancelled (if someone else used their link,
    they learn it). One per cancellation: the id names when it was cancelled."""
    return Due(
        f"{registration_id}/registration-cancelled/{stamp(cancelled_at)}",
        "registration-cancelled",
        cancelled_at,
    )


def again(due: Due, submitted_at: datetime) -> Due:
    """A registration's confirmation when it registers again after cancelling: a new message."""
    if due.kind != "confirmation":
        return due
    return Due(f"{due.reminder_id}/{stamp(submitted_at)}", due.kind, due.due_at)


def rescheduling(session: Session, registration_id: str, previous: datetime | None, now: datetime) -> Due:
    return Due(
        f"{registration_id}/rescheduled/v{session.version}",
        "rescheduled",
        now,
        starts_at=session.starts_at,
        previous_starts_at=previous,
    )


def cancellation(session: Session, registration_id: str, now: datetime) -> Due:
    return Due(f"{registration_id}/cancelled/v{session.version}", "cancelled", now)


def plan_id_of(session_id: str, texts: dict[str, str], pdf_file_id: str | None) -> str:
    """The same plan published twice is one plan (sent once); a corrected plan is a new one."""
    digest = hashlib.sha256(repr((sorted(texts.items()), pdf_file_id)).encode()).hexdigest()[:16]
    return f"{session_id}/{digest}"


def plan_of_action(registration_id: str, plan_id: str, now: datetime) -> Due:
    return Due(
        f"{registration_id}/plan-of-action/{plan_id.rsplit('/', 1)[1]}",
        "plan-of-action",
        now,
        plan_id=plan_id,
    )


def times_changed(change: str, previous_starts_at: datetime | None, session: Session) -> bool:
    """Registrants are told when the session moved; an edit of its texts tells nobody."""
    if change == "rescheduled":
        return True
    return previous_starts_at is not None and previous_starts_at != session.starts_at


def skip_reason(
    kind: str, record_starts_at: datetime | None, session: Session | None, now: datetime
) -> str | None:
    """Why a due record must not be sent (None: send it). Decided when it is sent, so it covers
    catch-up after downtime as well as a session that changed after the record was made:

    - reminders and join links are stale once the session has started (`session-started`),
      or when the session was cancelled / completed / moved since they were computed;
    - everything else (confirmation, change notices, Plan of Action) is still worth sending late.
    """
    if session is None:
        return "session-unknown"
    if kind not in PRESENCE_KINDS:
        return None
    if session.status == "cancelled":
        return "session-cancelled"
    if session.status == "completed":
        return "session-completed"
    if record_starts_at is not None and record_starts_at != session.starts_at:
        return "superseded"
    if now >= session.starts_at:
        return "session-started"
    return None


def carries_join_link(kind: str, due_at: datetime, session: Session) -> bool:
    """The link goes only in messages due at or after its release time, and never in a
    cancellation or the Plan of Action (the session is off or over)."""
    if (
        kind in ("cancelled", "plan-of-action", "registration-cancelled")
        or not has_join_link(session)
        or not session.join_link
    ):
        return False
    return due_at >= release_time(session)
