"""event-scheduler: keeps sessions and registrations, and sends each registrant's messages on time.

Consumes `session.published.v1`, `registration.submitted.v1`, `session.plan_published.v1` and
`member.erased.v1`; publishes `reminder.due.v1` (to the dispatcher) and `registration.erased.v1`. Owns `sessions` (the documented read model
intake reads: the latest version of each session, the `Session` fields only), `registrations`,
`session_seats`, `session_plans` and `reminders` (durable due-time records; see store.py).

- session.published: kept if its version is not older than the stored one (older ones are
  ignored; the same version again redoes its effects, which are keyed, so nothing happens twice).
  Scheduled / rescheduled sessions: the pending reminders and join links of every registered
  person are recomputed (other start time or no longer wanted -> `cancelled`, reason
  `superseded`); when the start moved, each registrant (registered or waitlisted) gets a
  `rescheduled` message now; when only the join link changed after its release, each registered
  person gets the new link now (a `join-link` message). Cancelled: pending messages stop and each
  registrant gets a `cancelled` message. Completed: pending reminders and join links stop.
- registration.submitted: stored once per registration id; `registered` while the session has
  room (capacity counts registered people), else `waitlisted`. A confirmation now (it says
  which); for registered people the reminders still ahead and the join link at its release
  time (if that has passed, the confirmation carries the link).
- registration.cancelled: the registration is `cancelled` (unless submitted again since), its
  pending messages stop (`registration-cancelled`); a seat it held goes to the first person on
  the waiting list, who gets a `promoted` message and the reminders still ahead. Registering
  again after cancelling counts again (a new confirmation; the stopped reminders resume).
- session.plan_published: a `plan-of-action` message now to each registered person.

- member.erased / contact.erasure_requested: the registrations made with the erased member's
  contacts (or with the erased email or phone) are deleted, with their records in `reminders`,
  their seats (which go to the waiting list) and their data keys, each announced as
  `registration.erased.v1` (erasure.py).

Messages are records in `reminders` first; the due loop (due.py) publishes them, on every replica.

At rest: a registration's personal fields are sealed under its registration id with the process's
vault (`Resources.vault`; store.py), the records in `reminders` name the registration and copy
nothing of the person, and what an older version stored plain is sealed at start.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import aiormq
import structlog
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.scheduler import erasure
from services.scheduler.due import DueLoop, owner_id
from services.scheduler.journal import Journal
from services.scheduler.schedule import (
    Due,
    again,
    cancellation,
    changed_link,
    normalized,
    on_registration,
    plan_id_of,
    plan_of_action,
    promotion,
    rescheduling,
    times_changed,
    upcoming,
    withdrawal,
)
from services.scheduler.store import Store
from shared.contracts import Event, utcnow
from shared.contracts.erasure import (
    ContactErasureRequested,
    MemberErased,
    RegistrationErased,
    RegistrationErasedData,
)
from shared.contracts.session import (
    PlanOfActionPublished,
    RegistrationCancelled,
    RegistrationSubmitted,
    ReminderDue,
    Session,
    SessionPublished,
)
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import RetryableError, UnroutableMessage
from shared.messaging.topology import ConsumerGroup, declare_exchange, declare_group
from shared.personal_data import blind_index
from shared.service import Resources, Router
from shared.settings import ServiceSettings
from shared.storage import Document

router = Router("event-scheduler", description="Keeps sessions and registrations; sends reminders on time.")
router.publishing(ReminderDue, RegistrationErased)

ERASED_NAMESPACE = uuid.UUID("4c2e8b1a-7d3f-4a96-b0e5-8f1d2c6a9b37")

EVERYONE = ("registered", "waitlisted")


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", env_file=".env", extra="ignore")
    service_name: ClassVar[str] = "event-scheduler"

    tick_seconds: float = Field(
        default=0.25, gt=0, description="How often each replica looks for due records (and expired leases)."
    )
    lookahead_seconds: float = Field(
        default=15.0,
        ge=0,
        description="Records due within this many seconds are claimed ahead and sent on time.",
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claim holds; a replica that dies loses its records to the others after it.",
    )
    max_held: int = Field(
        default=2000,
        ge=1,
        description=(
            "Most records a replica holds (claimed, not yet sent). Claims are taken in slices up to "
            "this, so replicas share a large catch-up and a replica that dies strands at most this "
            "many until its lease runs out."
        ),
    )
    reminder_consumers: list[str] = Field(
        default=["alert-dispatcher"],
        description=(
            "Consumer groups of reminder.due.v1. Their queues are declared (or bound) at start, so a "
            "reminder published before its consumer first starts waits for it instead of being lost."
        ),
    )


@dataclass
class Deps:
    store: Store
    loop: DueLoop
    sealing: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        if self.sealing is not None:
            self.sealing.cancel()
            await asyncio.gather(self.sealing, return_exceptions=True)
        await self.loop.stop()


async def seal_plain(store: Store) -> None:
    """What an older version stored plain, sealed behind the start (it may be many registrations,
    each a data key to make; readers take both forms meanwhile). A failure is retried next start."""
    log = structlog.stdlib.get_logger("samleng.scheduler")
    try:
        sealed = await store.seal_plain()
    except Exception as error:
        log.warning("sealing plain registrations failed; retried at the next start", error=repr(error))
        return
    if sealed:
        log.info("plain registrations sealed", count=sealed)


@router.handles(SessionPublished)
async def on_session_published(event: SessionPublished, ctx: MessageContext[Deps]) -> None:
    deps, data = ctx.deps, event.data
    session = normalized(data.session)
    previous = await deps.store.session(session.session_id)
    if not await deps.store.save_session(session):
        ctx.log.info("older session version ignored", session_id=session.session_id, version=session.version)
        return
    cause, now = str(event.event_id), utcnow()
    store = deps.store
    if session.status == "cancelled":
        await store.cancel_pending(
            session.session_id, ("confirmation", "reminder", "join-link", "rescheduled"), "session-cancelled"
        )
        everyone = await store.registrations_of(session.session_id, EVERYONE)
        await store.add(
            session.session_id, [(r, cancellation(session, r["_id"], now)) for r in everyone], cause
        )
    elif session.status == "completed":
        await store.cancel_pending(session.session_id, ("reminder", "join-link"), "session-completed")
    else:
        current, cancelled = session, 0
        while True:  # versions are handled concurrently: whichever finishes last applies the newest
            registered = await store.registrations_of(current.session_id, ("registered",))
            wanted = [(r, due) for r in registered for due in upcoming(current, r["_id"], now)]
            cancelled += await store.reconcile(current, wanted, cause)
            latest = await store.session(current.session_id)
            if latest is None or latest.version <= current.version:
                break
            current = normalized(latest)
        if times_changed(data.change, data.previous_starts_at, session):
            everyone = await store.registrations_of(session.session_id, EVERYONE)
            notices = [(r, rescheduling(session, r["_id"], data.previous_starts_at, now)) for r in everyone]
            await store.add(session.session_id, notices, cause)  # they carry the current link
        elif previous is not None and previous.version < session.version:
            registered = await store.registrations_of(session.session_id, ("registered",))
            links = [(r, changed_link(previous, session, r["_id"], now)) for r in registered]
            await store.add(session.session_id, [(r, due) for r, due in links if due is not None], cause)
        if cancelled:
            ctx.log.info("superseded records cancelled", session_id=session.session_id, count=cancelled)
    deps.loop.wake()
    ctx.log.info("session stored", session_id=session.session_id, version=session.version, change=data.change)


@router.handles(RegistrationSubmitted)
async def on_registration_submitted(event: RegistrationSubmitted, ctx: MessageContext[Deps]) -> None:
    deps, data = ctx.deps, event.data
    store = deps.store
    session = await store.session(data.session_id)
    if session is None:
        raise RetryableError(f"session {data.session_id} not known yet", reason="session-unknown")
    known = await store.registrations.find_one({"_id": data.registration_id}, {"state": 1, "cancelled_at": 1})
    returning = known is not None and known["state"] == "cancelled"
    if returning and data.submitted_at <= known["cancelled_at"]:  # type: ignore[index]
        ctx.log.info("registration older than its cancellation ignored", session_id=data.session_id)
        return
    state = await store.take_seat(session, data.registration_id)
    if returning:
        registration = await store.reactivate(data, state, str(event.event_id))
        if registration is None:  # cancelled again meanwhile, or already reactivated by a redelivery
            registration = await store.save_registration(data, state, str(event.event_id))
    else:
        registration = await store.save_registration(data, state, str(event.event_id))
    if registration["state"] == "cancelled":
        await store.release_seat(session.session_id, data.registration_id)
        return
    cause = str(event.event_id)
    while True:  # a session that changed meanwhile is scheduled again with its new version
        dues = on_registration(session, data.registration_id, registration["state"], utcnow())
        if returning:
            dues = [again(due, registration["submitted_at"]) for due in dues]
        existing = await store.add(session.session_id, [(registration, due) for due in dues], cause)
        await store.revive(existing, "registration-cancelled")
        latest = await store.session(data.session_id)
        if latest is None or latest.version == session.version:
            break
        session = latest
    deps.loop.wake()
    ctx.log.info("registration recorded", session_id=data.session_id, state=registration["state"])


@router.handles(RegistrationCancelled)
async def on_registration_cancelled(event: RegistrationCancelled, ctx: MessageContext[Deps]) -> None:
    """No more messages to this registrant; a seat it held goes to the first on the waiting list."""
    deps, data = ctx.deps, event.data
    store = deps.store
    registration = await store.cancel_registration(data.registration_id, data.at)
    if registration is None:
        raise RetryableError(
            f"registration {data.registration_id} not known yet", reason="registration-unknown"
        )
    if registration["state"] != "cancelled":
        ctx.log.info("cancellation older than the registration ignored", session_id=data.session_id)
        return
    told = {**registration, "state": registration.get("cancelled_from") or "registered"}
    notice = withdrawal(data.registration_id, registration["cancelled_at"])
    await store.add(registration["session_id"], [(told, notice)], str(event.event_id))
    deps.loop.wake()
    session = await store.session(registration["session_id"])
    if session is None or session.capacity is None:
        return
    await store.release_seat(session.session_id, data.registration_id)
    promoted = await promote(store, session, str(event.event_id))
    deps.loop.wake()
    ctx.log.info("registration cancelled", session_id=session.session_id, promoted=promoted)


@router.handles(MemberErased)
async def on_member_erased(event: MemberErased, ctx: MessageContext[Deps]) -> None:
    """Forget the registrations made with an erased member's contacts (see erasure.py)."""
    data = event.data
    await erase_registrations(ctx, event, set(data.contact_digests), data.request_id, data.member_id)


@router.handles(ContactErasureRequested)
async def on_contact_erasure_requested(event: ContactErasureRequested, ctx: MessageContext[Deps]) -> None:
    """Forget the registrations made with an email or phone (someone who only registered for a
    session is no member: an operator erases them by their contact)."""
    data = event.data
    await erase_registrations(ctx, event, set(data.contact_digests), data.request_id, None)


async def erase_registrations(
    ctx: MessageContext[Deps], event: Event[Any], digests: set[str], request_id: str, member_id: str | None
) -> None:
    deps = ctx.deps
    found = await erasure.registrations_made_with(deps.store, digests, blind_index())
    if not found:
        ctx.log.info("erasure: no registrations held", member_id=member_id, request_id=request_id)
        return
    records = 0
    for registration in found:
        deleted, held_seat = await erasure.erase_registration(deps.store, registration)
        records += deleted
        session = await deps.store.session(str(registration["session_id"])) if held_seat else None
        if session is not None and session.capacity is not None:
            await promote(deps.store, session, str(event.event_id))
        await publish_erased(
            ctx,
            event.caused(
                RegistrationErased,
                RegistrationErasedData(
                    registration_id=str(registration["_id"]),
                    session_id=str(registration["session_id"]),
                    member_id=member_id,
                    request_id=request_id,
                    at=utcnow(),
                ),
                event_id=uuid.uuid5(ERASED_NAMESPACE, f"{registration['_id']}:{member_id or request_id}"),
            ),
        )
    deps.loop.wake()
    ctx.log.info(
        "erasure: registrations deleted",
        member_id=member_id,
        request_id=request_id,
        registrations=len(found),
        records=records,
    )


async def publish_erased(ctx: MessageContext[Deps], event: RegistrationErased) -> None:
    try:
        await ctx.publish(event)
    except UnroutableMessage:  # nobody consumes it (yet): the registration itself is gone anyway
        ctx.log.warning("registration.erased.v1 has no consumer", session_id=event.data.session_id)


async def promote(store: Store, session: Session, cause: str) -> int:
    """Seats that came free go to the waiting list, first come first served: each promoted
    person is told (`promoted`) and gets the reminders still ahead. Safe to repeat: a person who
    took a seat is found holding it and is told once (the message id names the registration)."""
    now, promoted = utcnow(), 0
    if session.status not in ("scheduled", "rescheduled") or session.starts_at <= now:
        return 0
    while (waiting := await store.first_waitlisted(session.session_id)) is not None:
        if await store.take_seat(session, waiting["_id"]) != "registered":
            break
        seated = {**waiting, "state": "registered"}
        dues = [
            promotion(waiting["_id"], waiting["submitted_at"], now),
            *upcoming(session, waiting["_id"], now),
        ]
        await store.add(session.session_id, [(seated, due) for due in dues], cause)
        await store.registrations.update_one(
            {"_id": waiting["_id"], "state": "waitlisted"},
            {"$set": {"state": "registered", "promoted_at": now}},
        )
        promoted += 1
    return promoted


@router.handles(PlanOfActionPublished)
async def on_plan_published(event: PlanOfActionPublished, ctx: MessageContext[Deps]) -> None:
    deps, data = ctx.deps, event.data
    texts: dict[str, str] = {str(language): text for language, text in data.texts.items()}
    plan_id = plan_id_of(data.session_id, texts, data.pdf_file_id)
    await deps.store.save_plan(plan_id, data.session_id, texts, data.pdf_file_id, data.pdf_bucket)
    registered = await deps.store.registrations_of(data.session_id, ("registered",))
    now = utcnow()
    entries: list[tuple[Document, Due]] = [(r, plan_of_action(r["_id"], plan_id, now)) for r in registered]
    existing = await deps.store.add(data.session_id, entries, str(event.event_id))
    deps.loop.wake()
    ctx.log.info(
        "plan of action scheduled",
        session_id=data.session_id,
        registrants=len(entries),
        new=len(entries) - len(existing),
    )


async def declare_consumers(resources: Resources, settings: SchedulerSettings) -> None:
    """Every reminder also goes to our sent journal (journal.py), so the broker no longer tells us
    when nobody consumes reminder.due.v1: its consumers' queues must exist before we publish.
    Each is declared as its consumer group declares it (the same arguments, so declaring an
    existing one changes nothing and a missing one is made); only if its owner declared it with
    other arguments is the existing queue just bound. (Not a passive probe first: the broker logs
    every probe of a missing queue as an error, which on a normal start is no error at all.)"""
    key = ReminderDue.event_type()
    channel = await resources.connection.channel()
    try:
        exchange = await declare_exchange(channel, settings.amqp_exchange)
        for name in settings.reminder_consumers:
            group = ConsumerGroup(
                exchange=settings.amqp_exchange,
                name=name,
                routing_keys=(key,),
                retry_delays_ms=tuple(settings.retry_delays_ms),
                delivery_limit=settings.delivery_limit,
            )
            probe = await resources.connection.channel()
            try:
                await declare_group(probe, group)
            except aiormq.exceptions.ChannelPreconditionFailed:
                probe = await resources.connection.channel()
                queue = await probe.declare_queue(group.queue, passive=True)
                await queue.bind(exchange, key)
            finally:
                if not probe.is_closed:
                    await probe.close()
    finally:
        await channel.close()


async def bootstrap(resources: Resources) -> Deps:
    assert resources.db is not None
    settings = resources.settings
    assert isinstance(settings, SchedulerSettings)
    store = Store.of(resources.db, resources.vault)
    await store.ensure_indexes()
    await declare_consumers(resources, settings)
    journal = Journal(
        resources.connection, resources.publisher, settings.amqp_exchange, owner_id(), store.mark_published
    )
    await journal.open()
    loop = DueLoop(
        store,
        resources.publisher,
        journal,
        tick=settings.tick_seconds,
        lookahead=settings.lookahead_seconds,
        lease=settings.lease_seconds,
        max_held=settings.max_held,
    )
    loop.start()
    sealing = asyncio.create_task(seal_plain(store), name="scheduler-seal-plain")
    return Deps(store=store, loop=loop, sealing=sealing)
