"""The event-scheduler's collections and the writes it makes to them.

    sessions       the latest version of each session: the `Session` fields at top level and
                   `_id` = session_id, nothing else (intake reads it as a read model)
    registrations  one per registration_id: `state` (`registered` / `waitlisted` /
                   `cancelled`), `submitted_at`, `recorded_at`, `contact_digests` (keyed digests
                   of the contact, for erasure), and the person's data — registrant, ideas,
                   consent, `cancel_url` — sealed (below)
    session_seats  one per session with a capacity: the registrations holding a seat
    session_plans  each Plan of Action published (texts, PDF id), under its plan id
    reminders      the durable due-time records (see due.py for how they are claimed):
                   `state` pending -> published | skipped (with `reason`) | cancelled (`reason`);
                   they name their registration and copy nothing of the person

At rest (shared/personal_data.py): a registration's PERSONAL fields are one encrypted value,
`sealed`, under the registration's own data key (a registrant need not be a member), when the
process has a vault; plain without one, and plain documents of before are read as they are. The
event handlers need only ids and states, so they never decrypt; the due loop opens each
registration once per claimed batch (`registrants`). A registration whose key was erased reads
as absent: its messages are skipped (`registration-unknown`).

Writes are batched (insert_many / update_many over `_id` lists of at most ID_CHUNK ids: the
Mongo-wire server used locally slows down on long `$in` lists) and never use
find_one_and_update (it scans the collection there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.scheduler.schedule import PRESENCE_KINDS, Due
from shared.contracts import utcnow
from shared.contracts.erasure import contact_digest, contact_digests
from shared.contracts.session import Registrant, RegistrationSubmittedData, Session
from shared.personal_data import (
    SEALED,
    BlindIndex,
    PersonalDataUnreadable,
    Vault,
    blind_index,
    normalise_contact,
    open_fields,
    seal_fields,
)
from shared.storage import Document, durable, insert_once

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_CHUNK = 50
SEAL_CHUNK = 100  # plain registrations sealed concurrently (each may make a data key)
INSERT_CHUNK = 1000
BY_SESSION = [("session_id", ASCENDING), ("state", ASCENDING)]  # not (state, due_at): pending is large
# The due loop's claims are ranges of due_at. A single-field index serves a range by reading just
# that range; the compound (state, due_at) made the local Mongo-wire server read every pending
# record for each claim (364 ms per claim at 10,000 pending, even when nothing was due).
BY_DUE = [("due_at", ASCENDING)]
PERSONAL = ("registrant", "ideas", "consent", "cancel_url")
"""A registration's fields about the person, sealed under its registration id."""
PLAIN_PERSONAL = {"registrant": "", "cancel_url": ""}
"""What reminders of before copied of the registration: removed when the store is opened."""
STATES = {"_id": 1, "session_id": 1, "state": 1, "submitted_at": 1, "recorded_at": 1}
"""What the event handlers read of registrations (no personal field: nothing to open)."""


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Store:
    sessions: AsyncCollection[Document]
    registrations: AsyncCollection[Document]
    seats: AsyncCollection[Document]
    plans: AsyncCollection[Document]
    reminders: AsyncCollection[Document]
    vault: Vault | None = None
    """Seals the registrations' personal fields; None: encryption off (stored plain)."""
    index: BlindIndex | None = None
    """The keyed digest of `contact_digests` (None: SHA-256, as erasure events then carry)."""

    @classmethod
    def of(cls, db: AsyncDatabase[Document], vault: Vault | None = None) -> Store:
        return cls(
            sessions=durable(db.sessions),
            registrations=durable(db.registrations),
            seats=durable(db.session_seats),
            plans=durable(db.session_plans),
            reminders=durable(db.reminders),
            vault=vault,
            index=vault.blind if vault is not None else blind_index(),
        )

    async def ensure_indexes(self) -> None:
        await self.registrations.create_index([("session_id", ASCENDING), ("state", ASCENDING)])
        await self.registrations.create_index([("contact_digests", ASCENDING)])
        await self.reminders.create_index(BY_DUE)
        await self.reminders.create_index(BY_SESSION)
        await self.reminders.create_index([("registration_id", ASCENDING)])

    # --- sessions -----------------------------------------------------------------------------

    async def session(self, session_id: str) -> Session | None:
        doc = await self.sessions.find_one({"_id": session_id})
        return session_of(doc) if doc else None

    async def save_session(self, session: Session) -> bool:
        """Keep `session` unless a newer version is stored; True if it is (now) the stored one.
        The same version again (a redelivery) counts as stored, so its effects are redone."""
        doc = {"_id": session.session_id, **session.model_dump()}
        if await insert_once(self.sessions, doc):
            return True
        result = await self.sessions.replace_one(
            {"_id": session.session_id, "version": {"$lte": session.version}}, doc
        )
        return result.matched_count > 0

    # --- registrations ------------------------------------------------------------------------

    async def take_seat(self, session: Session, registration_id: str) -> str:
        """`registered` while the session has room (capacity counts registered people), else
        `waitlisted`. Atomic across replicas, and asking again for the same registration gives the
        same answer."""
        if session.capacity is None:
            return "registered"
        await insert_once(self.seats, {"_id": session.session_id, "holders": [], "count": 0})
        taken = await self.seats.update_one(
            {
                "_id": session.session_id,
                "count": {"$lt": session.capacity},
                "holders": {"$ne": registration_id},
            },
            {"$push": {"holders": registration_id}, "$inc": {"count": 1}},
        )
        if taken.modified_count:
            return "registered"
        holder = await self.seats.find_one(
            {"_id": session.session_id, "holders": registration_id}, {"_id": 1}
        )
        return "registered" if holder else "waitlisted"

    async def save_registration(self, data: RegistrationSubmittedData, state: str, event_id: str) -> Document:
        """Store the registration once; a repeated one returns what is stored (its state stays)."""
        doc: Document = {
            "_id": data.registration_id,
            "session_id": data.session_id,
            **await self.sealed_fields(data, state, event_id),
        }
        if await insert_once(self.registrations, doc):
            return {k: v for k, v in doc.items() if k in STATES}
        existing = await self.registrations.find_one({"_id": data.registration_id}, STATES)
        assert existing is not None
        return existing

    async def reactivate(self, data: RegistrationSubmittedData, state: str, event_id: str) -> Document | None:
        """Someone who cancelled registers again (a submission newer than the cancellation)."""
        fields = await self.sealed_fields(data, state, event_id)
        update: Document = {"$set": fields}
        if SEALED in fields:  # a registration stored plain before: its plain fields go
            update["$unset"] = {name: "" for name in PERSONAL}
        result = await self.registrations.update_one(
            {"_id": data.registration_id, "state": "cancelled", "cancelled_at": {"$lt": data.submitted_at}},
            update,
        )
        if not result.modified_count:
            return None
        return await self.registrations.find_one({"_id": data.registration_id}, STATES)

    async def sealed_fields(self, data: RegistrationSubmittedData, state: str, event_id: str) -> Document:
        """What a registration stores of a submission, its personal fields sealed."""
        fields = registration_fields(data, state, event_id, self.index)
        return await seal_fields(self.vault, data.registration_id, fields, PERSONAL)

    async def cancel_registration(self, registration_id: str, at: datetime) -> Document | None:
        """Mark it cancelled (unless it was submitted again after `at`); its pending messages stop.
        Returns the registration as it is now (None: not known yet)."""
        await self.registrations.update_one(
            {
                "_id": registration_id,
                "state": {"$in": ["registered", "waitlisted"]},
                "submitted_at": {"$lte": at},
            },
            [{"$set": {"cancelled_from": "$state", "state": "cancelled", "cancelled_at": at}}],
        )
        registration = await self.registrations.find_one(
            {"_id": registration_id}, {**STATES, "cancelled_at": 1, "cancelled_from": 1}
        )
        if registration is not None and registration["state"] == "cancelled":
            await self.reminders.update_many(
                # not the notice of this cancellation itself (the same cancellation again)
                {
                    "registration_id": registration_id,
                    "state": "pending",
                    "kind": {"$ne": "registration-cancelled"},
                },
                {
                    "$set": {
                        "state": "cancelled",
                        "reason": "registration-cancelled",
                        "cancelled_at": utcnow(),
                    }
                },
            )
        return registration

    async def release_seat(self, session_id: str, registration_id: str) -> bool:
        """Give back the seat a registration held (once: the next call finds it gone)."""
        result = await self.seats.update_one(
            {"_id": session_id, "holders": registration_id},
            {"$pull": {"holders": registration_id}, "$inc": {"count": -1}},
        )
        return result.modified_count > 0

    async def first_waitlisted(self, session_id: str) -> Document | None:
        """The waiting list is first come, first served (by when the registration was recorded)."""
        found = await self.registrations.find(
            {"session_id": session_id, "state": "waitlisted"}, STATES
        ).to_list(None)
        return min(found, key=lambda r: (r["recorded_at"], r["_id"])) if found else None

    async def revive(self, ids: Sequence[str], reason: str) -> None:
        """Records cancelled for `reason` that are wanted again."""
        await self.update_ids(
            ids,
            {"state": "cancelled", "reason": reason},
            {"$set": {"state": "pending", "reason": None, "lease_until": EPOCH, "owner": None}},
        )

    async def registrations_of(self, session_id: str, states: Sequence[str]) -> list[Document]:
        """Ids and states only: what a reminder record takes of its registration."""
        return await self.registrations.find(
            {"session_id": session_id, "state": {"$in": list(states)}}, {"_id": 1, "state": 1}
        ).to_list(None)

    async def registrants(self, ids: Iterable[str]) -> dict[str, Document]:
        """The registrations of `ids`, opened (each once): for the messages of a claimed batch.
        One whose data key was erased is left out, as one that is gone."""
        wanted = sorted(set(ids))
        found: list[Document] = []
        reads = [
            self.registrations.find(
                {"_id": {"$in": list(chunk)}}, {"_id": 1, "state": 1, SEALED: 1, **dict.fromkeys(PERSONAL, 1)}
            ).to_list(None)
            for chunk in chunks(wanted, ID_CHUNK)
        ]
        for docs in await asyncio.gather(*reads):
            found += docs
        opened = await asyncio.gather(*(self._open(doc) for doc in found))
        return {doc["_id"]: doc for doc in opened if doc is not None}

    async def _open(self, doc: Document) -> Document | None:
        try:
            return await open_fields(self.vault, doc)
        except PersonalDataUnreadable:
            return None

    async def registrations_made_with(self, digests: set[str]) -> list[Document]:
        """The registrations whose contact is one of `digests` (`contact_digests`, kept plain
        for this: the erasure of a member)."""
        if not digests:
            return []
        return await self.registrations.find(
            {"contact_digests": {"$in": sorted(digests)}}, {"_id": 1, "session_id": 1, "state": 1}
        ).to_list(None)

    async def seal_plain(self) -> int:
        """Seal what was stored plain before the process had a vault (idempotent, safe to run on
        every replica at once): registrations get `sealed` (and `contact_digests`), reminders
        lose the registrant they used to copy. Returns the registrations sealed."""
        await self.reminders.update_many({"registrant": {"$exists": True}}, {"$unset": PLAIN_PERSONAL})
        if self.vault is None:
            return 0
        plain = await self.registrations.find(
            {SEALED: {"$exists": False}, "registrant": {"$exists": True}}
        ).to_list(None)
        sealed = 0
        for chunk in chunks(plain, SEAL_CHUNK):
            sealed += sum(await asyncio.gather(*(self._seal_plain_one(doc) for doc in chunk)))
        return sealed

    async def _seal_plain_one(self, doc: Document) -> int:
        personal = {name: doc[name] for name in PERSONAL if name in doc}
        fields = await seal_fields(self.vault, str(doc["_id"]), personal, PERSONAL)
        fields["contact_digests"] = digests_of(doc["registrant"], self.index)
        result = await self.registrations.update_one(  # unless submitted again meanwhile
            {"_id": doc["_id"], SEALED: {"$exists": False}, "event_id": doc.get("event_id")},
            {"$set": fields, "$unset": dict.fromkeys(personal, "")},
        )
        return result.modified_count

    # --- plans --------------------------------------------------------------------------------

    async def save_plan(
        self, plan_id: str, session_id: str, texts: dict[str, str], pdf: str | None, pdf_bucket: str | None
    ) -> None:
        await insert_once(
            self.plans,
            {
                "_id": plan_id,
                "session_id": session_id,
                "texts": texts,
                "pdf_file_id": pdf,
                "pdf_bucket": pdf_bucket,
                "at": utcnow(),
            },
        )

    # --- reminders ----------------------------------------------------------------------------

    async def add(self, session_id: str, entries: Sequence[tuple[Document, Due]], cause: str) -> list[str]:
        """Insert the records of (registration, due) pairs; ones already stored stay as they are.
        Returns the ids that were already stored."""
        now = utcnow()
        docs = [reminder_document(session_id, registration, due, cause, now) for registration, due in entries]
        existing: list[str] = []
        for chunk in chunks(docs, INSERT_CHUNK):
            try:
                await self.reminders.insert_many(list(chunk), ordered=False)
            except BulkWriteError as error:
                problems = error.details.get("writeErrors", [])
                if any(problem.get("code") != 11000 for problem in problems):
                    raise
                existing.extend(chunk[problem["index"]]["_id"] for problem in problems)
        return existing

    async def cancel_pending(self, session_id: str, kinds: Sequence[str], reason: str) -> int:
        result = await self.reminders.update_many(
            {"session_id": session_id, "state": "pending", "kind": {"$in": list(kinds)}},
            {"$set": {"state": "cancelled", "reason": reason, "cancelled_at": utcnow()}},
            hint=BY_SESSION,
        )
        return result.modified_count

    async def reconcile(self, session: Session, wanted: Sequence[tuple[Document, Due]], cause: str) -> int:
        """Make the pending reminders and join links of a session what `wanted` says: the ones of
        another start time, or ahead but no longer wanted, are cancelled (`superseded`); wanted ones
        are added, or revived if an earlier change had cancelled them (moved back). Overdue ones of
        the current start are left to the due loop (it sends or skips them). Returns the number
        cancelled."""
        now = utcnow()
        wanted_ids = {due.reminder_id for _, due in wanted}
        presence = sorted(PRESENCE_KINDS)
        moved = await self.reminders.update_many(  # the records of another start time, in one write
            {
                "session_id": session.session_id,
                "state": "pending",
                "kind": {"$in": presence},
                "starts_at": {"$ne": session.starts_at},
            },
            {"$set": {"state": "cancelled", "reason": "superseded", "cancelled_at": now}},
            hint=BY_SESSION,
        )
        ahead = await self.reminders.find(
            {
                "session_id": session.session_id,
                "state": "pending",
                "kind": {"$in": presence},
                "due_at": {"$gt": now},
            },
            {"_id": 1},
            hint=BY_SESSION,
        ).to_list(None)
        unwanted = [doc["_id"] for doc in ahead if doc["_id"] not in wanted_ids]  # e.g. an offset removed
        await self.update_ids(
            unwanted,
            {"state": "pending"},
            {"$set": {"state": "cancelled", "reason": "superseded", "cancelled_at": now}},
        )
        existing = await self.add(session.session_id, wanted, cause)
        await self.update_ids(  # wanted again after an earlier change cancelled them (moved back)
            existing,
            {"state": "cancelled"},
            {"$set": {"state": "pending", "reason": None, "lease_until": EPOCH, "owner": None}},
        )
        return moved.modified_count + len(unwanted)

    async def find_ids(self, ids: Sequence[str], match: Document) -> list[Document]:
        """The records of an `_id` list that also match `match`, read in chunks."""
        found: list[Document] = []
        for chunk in chunks(ids, ID_CHUNK):
            found += await self.reminders.find({"_id": {"$in": list(chunk)}, **match}).to_list(None)
        return found

    async def still_claimed(self, ids: Sequence[str], match: Document) -> set[str]:
        """The ids of an `_id` list that also match `match` (ids only), read in chunks."""
        found = await asyncio.gather(
            *(
                self.reminders.find({"_id": {"$in": list(chunk)}, **match}, {"_id": 1}).to_list(None)
                for chunk in chunks(ids, ID_CHUNK)
            )
        )
        return {doc["_id"] for docs in found for doc in docs}

    async def mark_published(self, ids: Sequence[str], by: str) -> None:
        """Records whose `reminder.due.v1` the broker holds (read from `by`'s sent journal)."""
        await self.update_ids(
            ids,
            {"state": "pending"},
            {"$set": {"state": "published", "published_at": utcnow(), "published_by": by}},
        )

    async def update_ids(
        self, ids: Sequence[str], match: Document, update: Document | list[Document]
    ) -> None:
        """`update_many` over an `_id` list, in chunks, concurrently."""
        await asyncio.gather(
            *(
                self.reminders.update_many({"_id": {"$in": list(chunk)}, **match}, update)
                for chunk in chunks(ids, ID_CHUNK)
            )
        )


def registration_fields(
    data: RegistrationSubmittedData, state: str, event_id: str, index: BlindIndex | None
) -> Document:
    """What a registration stores of its (latest) submission (PERSONAL ones to be sealed)."""
    return {
        "contact_digests": contact_digests(data.registrant.contact, index),
        "registrant": data.registrant.model_dump(mode="json"),
        "ideas": data.ideas,
        "consent": data.consent.model_dump(),
        "submitted_at": data.submitted_at,
        "state": state,
        "recorded_at": utcnow(),
        "event_id": event_id,
        "cancel_url": data.cancel_url,
    }


def session_of(doc: Document) -> Session:
    return Session.model_validate({k: v for k, v in doc.items() if k != "_id"})


def reminder_document(
    session_id: str, registration: Document, due: Due, cause: str, now: datetime
) -> Document:
    return {
        "_id": due.reminder_id,
        "kind": due.kind,
        "session_id": session_id,
        "registration_id": registration["_id"],
        "registration_state": registration["state"],
        "due_at": due.due_at,
        "starts_at": due.starts_at,
        "seconds_before": due.seconds_before,
        "previous_starts_at": due.previous_starts_at,
        "plan_id": due.plan_id,
        "cause": cause,
        "state": "pending",
        "owner": None,
        "claim": None,
        "lease_until": EPOCH,
        "created_at": now,
    }


def registrant_of(doc: Document) -> Registrant:
    """The registrant of an opened registration."""
    return Registrant.model_validate(doc["registrant"])


def digests_of(registrant: Document, index: BlindIndex | None) -> list[str]:
    """`contact_digests` of a stored registrant (its contact as erasure events name it)."""
    contact = registrant.get("contact") or {}
    return [
        contact_digest(kind, normalise_contact(kind, str(contact[kind])), index)
        for kind in ("email", "phone")
        if contact.get(kind)
    ]
