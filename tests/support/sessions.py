"""Sessions, registrations and a listener for `reminder.due.v1`, for scheduler tests and the bench.

`reminder.due.v1` is sealed under the registration id when the scheduler has keys: give the
listener an `Opener` on the processes' keys (tests/support/sealed.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aio_pika

from shared.contracts import Event, utcnow
from shared.contracts.pledge import Consent, Contact
from shared.contracts.session import (
    Registrant,
    RegistrationSubmitted,
    RegistrationSubmittedData,
    ReminderDue,
    Session,
    SessionChange,
    SessionPublished,
    SessionPublishedData,
    SessionText,
)
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.personal_data import Vault
from tests.support.sealed import Opener

JOIN_LINK = "https://zoom.example/j/123456789?pwd=secret"


def make_session(session_id: str, starts_at: datetime, **changes: Any) -> Session:
    fields: dict[str, Any] = {
        "session_id": session_id,
        "kind": "forum",
        "texts": {
            "en": SessionText(title="Forum on land rights"),
            "km": SessionText(title="វេទិកាស្តីពីសិទ្ធិដីធ្លី"),
        },
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(hours=1),
        "mode": "online",
        "join_link": JOIN_LINK,
        "public_url": f"https://pledge.example.org/s/{session_id}",
        **changes,
    }
    return Session(**fields)


def published(
    session: Session, change: SessionChange = "created", previous_starts_at: datetime | None = None
) -> SessionPublished:
    return SessionPublished(
        correlation_id=session.session_id,
        data=SessionPublishedData(
            session=session, change=change, previous_starts_at=previous_starts_at, at=utcnow()
        ),
    )


def registration(session_id: str, index: int, language: str = "en") -> RegistrationSubmitted:
    now = utcnow()
    return RegistrationSubmitted(
        correlation_id=session_id,
        data=RegistrationSubmittedData(
            registration_id=f"rg_{session_id}_{index:05d}",
            session_id=session_id,
            registrant=Registrant(
                name=f"Sok Dara {index}",
                language=language,  # type: ignore[arg-type]
                country="US",
                time_zone="America/Los_Angeles",
                contact=Contact(email=f"dara{index}@example.org"),
                channels=["email"],
            ),
            ideas="Invite the land-rights lawyers." if index % 2 else "",
            consent=Consent(text_version="session-consent-2026-11", locale="en", accepted_at=now),
            submitted_at=now,
        ),
    )


async def publish(url: str, events: Sequence[Event[Any]], batch: int = 200) -> None:
    connection = await connect(url, "test")
    publisher = await Publisher.open(connection, "samleng")
    for start in range(0, len(events), batch):
        await publisher.publish_many(events[start : start + batch])
    await connection.close()


@dataclass
class Received:
    event: ReminderDue
    at: datetime
    message_id: str

    @property
    def lateness(self) -> float:
        return (self.at - self.event.data.due_at).total_seconds()


@dataclass
class DueListener:
    """Every `reminder.due.v1` on the exchange, with the time it arrived."""

    url: str
    opener: Opener | None = None
    """Opens sealed bodies (None: the bodies are plain, encryption off)."""
    received: list[Received] = field(default_factory=list)
    _connection: Any = None
    _queue: Any = None

    async def start(self) -> DueListener:
        self._connection = await aio_pika.connect(self.url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1000)
        exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
        self._queue = await channel.declare_queue(exclusive=True)
        await self._queue.bind(exchange, ReminderDue.event_type())
        await self._queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        at = utcnow()
        if self.opener is not None:
            event = await self.opener.open(ReminderDue, message.body)
        else:
            event = ReminderDue.model_validate_json(message.body)
        self.received.append(Received(event, at, str(message.message_id)))

    def of(self, kind: str | None = None, registration_id: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if (kind is None or r.event.data.kind == kind)
            and (registration_id is None or r.event.data.registration_id == registration_id)
        ]

    def distinct(self, kind: str | None = None) -> int:
        return len({r.event.data.reminder_id for r in self.of(kind)})

    async def wait_for(self, count: int, kind: str | None = None, timeout: float = 20.0) -> list[Received]:
        """Wait until `count` different messages (reminder ids) of `kind` arrived; give up only
        after `timeout` seconds without a new one (progress, not a wall clock: a busy machine
        delivers 10,000 reminders more slowly, not never)."""
        seen = self.distinct(kind)
        deadline = time.monotonic() + timeout
        while seen < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now_seen = self.distinct(kind)
            if now_seen > seen:
                seen, deadline = now_seen, time.monotonic() + timeout
        assert seen >= count, f"{seen} of {count} {kind or 'messages'}, none new for {timeout}s"
        return self.of(kind)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self.opener is not None:
            await self.opener.aclose()


async def seed_registrations(
    db: Any, session_ids: Sequence[str], per_session: int, vault: Vault | None = None
) -> None:
    """`per_session` registrations (`registration(session_id, index)`) of each session, registered,
    exactly as the event-scheduler keeps them, written in bulk. With a vault (the processes' keys)
    each is sealed under its own data key (made here, concurrently), as the scheduler stores it;
    without one they are plain (as stored with encryption off)."""
    from services.scheduler.store import PERSONAL
    from shared.contracts.erasure import contact_digests
    from shared.personal_data import seal_fields

    now = utcnow()
    for session_id in session_ids:
        documents: list[dict[str, Any]] = []
        for index in range(per_session):
            data = registration(session_id, index).data
            documents.append(
                {
                    "_id": data.registration_id,
                    "session_id": data.session_id,
                    "registrant": data.registrant.model_dump(mode="json"),
                    "ideas": data.ideas,
                    "consent": data.consent.model_dump(),
                    "submitted_at": data.submitted_at,
                    "state": "registered",
                    "recorded_at": now,
                    "event_id": "seeded",
                    "contact_digests": contact_digests(
                        data.registrant.contact, vault.blind if vault else None
                    ),
                }
            )
        if vault is not None:
            await asyncio.gather(*(vault.key_for(d["_id"]) for d in documents))
            documents = list(
                await asyncio.gather(*(seal_fields(vault, d["_id"], d, PERSONAL) for d in documents))
            )
        await db.registrations.insert_many(documents)


async def seed_schedule(db: Any, sessions: Sequence[Session], per_session: int) -> int:
    """The sessions and the reminder records of their registrations (`seed_registrations`), as
    the event-scheduler keeps them; returns the number of records."""
    from services.scheduler.schedule import normalized, upcoming
    from services.scheduler.store import reminder_document

    now = utcnow()
    records: list[dict[str, Any]] = []
    for session in sessions:
        stored = normalized(session)
        await db.sessions.insert_one({"_id": stored.session_id, **stored.model_dump()})
        for index in range(per_session):
            registration_id = registration(stored.session_id, index).data.registration_id
            seated = {"_id": registration_id, "state": "registered"}
            records += [
                reminder_document(stored.session_id, seated, due, "seeded", now)
                for due in upcoming(stored, registration_id, now)
            ]
    for start in range(0, len(records), 2000):
        await db.reminders.insert_many(records[start : start + 2000])
    return len(records)


async def seed_registered(
    db: Any, sessions: Sequence[Session], per_session: int, vault: Vault | None = None
) -> int:
    """Sessions, registrations and their reminder records exactly as the event-scheduler keeps
    them, written in bulk: for tests of the due loop, where recording 10,000 registrations one
    event at a time (its own tests' subject) would take minutes on the local Mongo-wire server.
    Returns the number of reminder records."""
    await seed_registrations(db, [s.session_id for s in sessions], per_session, vault)
    return await seed_schedule(db, sessions, per_session)
