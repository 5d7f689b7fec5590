"""Session contracts: hearings, UN review milestones, planning sessions and forums; people
register; reminders, the join link, changes and the Plan of Action reach every registrant.

    session.published.v1     an operator created or changed a session (full state, versioned);
                             the event-scheduler keeps it (`sessions`, read by intake and the
                             console) and (re)computes the reminders of every registration
    registration.submitted.v1 someone registered (one registration per person and session: the
                             id derives from both); the event-scheduler keeps it
                             (`registrations`) and schedules its messages
    registration.cancelled.v1 the registrant cancelled (the signed link in their messages), or an
                             operator for them; a seat it held goes to the first person on the
                             waiting list
    session.plan_published.v1 the operator attached the Plan of Action after the session
    reminder.due.v1          a message to one registrant is due now (confirmation, reminder,
                             join link, rescheduled, cancelled, Plan of Action, promoted from the
                             waiting list, registration cancelled); the dispatcher
                             delivers it in the registrant's language and local time

Times are UTC (aware datetimes); each registrant's time zone travels with the registration.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Event, Payload
from shared.contracts.pledge import DISCREET_DESCRIPTION, Channel, Consent, Contact, Language

SessionKind = Literal["hearing", "un-review", "planning", "forum"]
SessionMode = Literal["online", "in-person", "hybrid"]
SessionStatus = Literal["scheduled", "rescheduled", "cancelled", "completed"]
SessionChange = Literal["created", "updated", "rescheduled", "cancelled", "completed"]
ReminderKind = Literal[
    "confirmation",
    "reminder",
    "join-link",
    "rescheduled",
    "cancelled",
    "plan-of-action",
    "promoted",
    "registration-cancelled",
]
RegistrationState = Literal["registered", "waitlisted"]
DEFAULT_REMINDER_MINUTES: tuple[int, ...] = (7 * 24 * 60, 24 * 60, 60)
SESSION_ID_PREFIX = "ss_"


def new_session_id() -> str:
    return f"{SESSION_ID_PREFIX}{uuid.uuid4().hex[:20]}"


def is_session_id(value: str) -> bool:
    """Whether `value` has a session id's shape (worth looking up)."""
    return value.startswith(SESSION_ID_PREFIX) and len(value) <= 40


class SessionText(Payload):
    title: str = Field(max_length=300)
    description: str = Field(default="", max_length=20_000)


DETAILS_RELEASE_BEFORE_START = timedelta(hours=24)
TIME_ZONES: tuple[str, ...] = (
    "Asia/Phnom_Penh", "Asia/Bangkok", "Asia/Ho_Chi_Minh", "Asia/Seoul", "Asia/Tokyo",
    "Australia/Perth", "Australia/Melbourne", "Australia/Sydney", "Pacific/Auckland",
    "Europe/London", "Europe/Paris", "Europe/Berlin", "America/Toronto", "America/New_York",
    "America/Chicago", "America/Denver", "America/Vancouver", "America/Los_Angeles", "UTC",
)  # fmt: skip
"""The time zones offered where a person or an operator picks one (where the network lives)."""


def details_release_time(starts_at: datetime, join_link_release_at: datetime | None) -> datetime:
    """When a session's join link and place reach registrants and the public pages show the place:
    `join_link_release_at`, or 24 h before the start."""
    return join_link_release_at or starts_at - DETAILS_RELEASE_BEFORE_START


def reminder_offsets(reminder_seconds: list[int] | None, reminder_minutes: list[int] | None) -> list[int]:
    """The reminders' seconds before the start, largest first, without duplicates: the seconds if
    given (rehearsals), else the minutes (the event-scheduler and the console's schedule page)."""
    seconds = reminder_seconds if reminder_seconds is not None else [m * 60 for m in reminder_minutes or []]
    return sorted({s for s in seconds if s > 0}, reverse=True)


def has_join_link(mode: str) -> bool:
    """Online and hybrid sessions have a join link (and its own message); in-person ones do not."""
    return mode != "in-person"


class Session(Payload):
    """A session as operators define it. `join_link` is secret until `join_link_release_at`."""

    session_id: str
    kind: SessionKind
    texts: dict[Language, SessionText] = Field(description="English and Khmer.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    mode: SessionMode
    place: str = Field(
        default="", max_length=1000, description="Venue (in person / hybrid); released like the join link."
    )
    join_link: str | None = Field(default=None, max_length=2000, description="Secret until released.")
    join_link_release_at: AwareDatetime | None = Field(
        default=None, description="When registrants receive the join link (unset: 24 h before the start)."
    )
    registration_opens_at: AwareDatetime | None = None
    registration_closes_at: AwareDatetime | None = Field(default=None, description="Unset: at the start.")
    capacity: int | None = Field(default=None, ge=1)
    reminder_minutes: list[int] = Field(
        default_factory=lambda: list(DEFAULT_REMINDER_MINUTES),
        max_length=10,
        description="Reminders, in minutes before the start (default 7 days, 1 day, 1 hour).",
    )
    reminder_seconds: list[int] | None = Field(
        default=None,
        max_length=10,
        description="Reminders in seconds before the start; when set it replaces `reminder_minutes` "
        "(sub-minute schedules: tests, rehearsals).",
    )
    status: SessionStatus = "scheduled"
    version: int = Field(default=1, ge=1, description="Grows with every change; older versions are ignored.")
    public_url: str


class SessionPublishedData(Payload):
    session: Session
    change: SessionChange
    previous_starts_at: AwareDatetime | None = Field(default=None, description="Set when rescheduled.")
    at: AwareDatetime


class SessionPublished(Event[SessionPublishedData]):
    """A session was created or changed (rescheduled, cancelled, completed, edited)."""

    type: Literal["session.published.v1"] = "session.published.v1"


class Registrant(Payload):
    name: str
    language: Language
    country: str = Field(min_length=2, max_length=2)
    time_zone: str = Field(default="UTC", description="IANA time zone of the registrant.")
    contact: Contact
    channels: list[Channel] = Field(min_length=1, description="In order of preference.")
    discreet: bool | None = Field(default=None, description=DISCREET_DESCRIPTION)


class RegistrationSubmittedData(Payload):
    registration_id: str = Field(description="Derived from the session and the person's contact.")
    session_id: str
    registrant: Registrant
    ideas: str = Field(default="", max_length=5000, description="Ideas or suggestions sent in advance.")
    consent: Consent
    submitted_at: AwareDatetime
    cancel_url: str | None = Field(
        default=None, description="The registrant's own link to cancel (signed by intake); in every message."
    )


class RegistrationSubmitted(Event[RegistrationSubmittedData]):
    """Someone registered for a session (a repeated registration is the same registration)."""

    type: Literal["registration.submitted.v1"] = "registration.submitted.v1"
    sealed_by: ClassVar[str | None] = "registration_id"


class RegistrationCancelledData(Payload):
    registration_id: str
    session_id: str
    at: AwareDatetime


class RegistrationCancelled(Event[RegistrationCancelledData]):
    """The registrant cancelled: no more messages; their seat goes to the waiting list."""

    type: Literal["registration.cancelled.v1"] = "registration.cancelled.v1"


class PlanOfActionPublishedData(Payload):
    session_id: str
    texts: dict[Language, str] = Field(description="The Plan of Action, English and Khmer.")
    pdf_file_id: str | None = Field(
        default=None, description="GridFS id (in `pdf_bucket`) of the plan's PDF."
    )
    pdf_bucket: str | None = Field(
        default=None, description="The GridFS bucket the console stored the PDF in."
    )
    at: AwareDatetime


class PlanOfActionPublished(Event[PlanOfActionPublishedData]):
    """After the session: the Plan of Action goes to every registrant."""

    type: Literal["session.plan_published.v1"] = "session.plan_published.v1"


class SessionRef(Payload):
    """What a registrant's message needs to know about the session (join link only once released)."""

    session_id: str
    kind: SessionKind
    texts: dict[Language, SessionText]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    mode: SessionMode
    place: str = ""
    join_link: str | None = None
    status: SessionStatus
    public_url: str
    previous_starts_at: AwareDatetime | None = None
    version: int = Field(default=1, ge=1, description="The session's version (calendar SEQUENCE).")


class ReminderDueData(Payload):
    reminder_id: str = Field(description="Deterministic: registration x kind x what it is for.")
    kind: ReminderKind
    session: SessionRef
    registration_id: str
    registrant: Registrant
    minutes_before: int | None = Field(default=None, description="For `reminder`: how long before the start.")
    seconds_before: int | None = Field(
        default=None,
        description="For `reminder`: the same in seconds (exact when the offset is not whole minutes).",
    )
    registration_state: RegistrationState = Field(
        default="registered",
        description="`waitlisted`: the session was full; only the confirmation, changes and cancellation go out.",
    )
    due_at: AwareDatetime
    plan_of_action: dict[Language, str] | None = None
    plan_pdf_file_id: str | None = None
    plan_pdf_bucket: str | None = Field(default=None, description="The GridFS bucket of `plan_pdf_file_id`.")
    cancel_url: str | None = Field(default=None, description="The registrant's link to cancel.")


class ReminderDue(Event[ReminderDueData]):
    """A message to one registrant is due: the dispatcher delivers it."""

    type: Literal["reminder.due.v1"] = "reminder.due.v1"
    sealed_by: ClassVar[str | None] = "registration_id"
