"""Erasing a member's registrations (`member.erased.v1`).

Registrations do not name a member: they are made with a contact (the registration id is an HMAC
of the session and the email or phone, by intake). The event carries keyed digests of every
contact the member held (shared/contracts/erasure.py `contact_digest`, under the same
SAMLENG_BLIND_INDEX_KEY every process has); a registration keeps the digests of its registrant's
contact plain (`contact_digests`: the registrant is sealed), and one stored plain by an older
version is matched by computing the same digest of its registrant's contact. Each one found is
deleted with its records in `reminders` and its seat, its data key is forgotten (whatever is still
sealed under the registration — a reminder or confirmation waiting in a queue, a dead letter —
becomes unreadable, and the dispatcher drops it), and it is announced as `registration.erased.v1`
so the dispatcher erases the session messages it made.
"""

from __future__ import annotations

from collections.abc import Callable

from services.scheduler.store import Store
from shared.contracts.erasure import contact_digest
from shared.personal_data import normalise_contact
from shared.storage import Document


def registrant_digests(registration: Document, index: Callable[[str, str], str] | None) -> set[str]:
    contact = (registration.get("registrant") or {}).get("contact") or {}
    found = set()
    if contact.get("email"):
        found.add(contact_digest("email", normalise_contact("email", str(contact["email"])), index))
    if contact.get("phone"):
        found.add(contact_digest("phone", normalise_contact("phone", str(contact["phone"])), index))
    return found


async def registrations_made_with(
    store: Store, digests: set[str], index: Callable[[str, str], str] | None
) -> list[Document]:
    """Every registration (any session, any state) whose registrant's contact is one of `digests`:
    by their `contact_digests`, and, for ones stored plain before, one pass over those without it
    (an erasure is rare)."""
    if not digests:
        return []
    found = await store.registrations_made_with(digests)
    known = {doc["_id"] for doc in found}
    cursor = store.registrations.find(
        {"contact_digests": {"$exists": False}, "registrant": {"$exists": True}},
        {"_id": 1, "session_id": 1, "state": 1, "registrant.contact": 1},
    )
    found += [
        doc async for doc in cursor if doc["_id"] not in known and registrant_digests(doc, index) & digests
    ]
    return found


async def erase_registration(store: Store, registration: Document) -> tuple[int, bool]:
    """Delete the registration and its records; (records deleted, whether it held a seat)."""
    registration_id = str(registration["_id"])
    reminders = await store.reminders.delete_many({"registration_id": registration_id})
    held_seat = await store.release_seat(str(registration["session_id"]), registration_id)
    await store.registrations.delete_one({"_id": registration_id})
    if store.vault is not None:
        await store.vault.forget(registration_id)
    return reminders.deleted_count, held_seat
