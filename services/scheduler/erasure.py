"""Erasing a member's registrations (`member.erased.v1`).

Registrations do not name a member: they are made with a contact (the registration id is an HMAC
of the session and the email or phone, by intake). The event carries keyed digests of every
contact the member held (shared/contracts/erasure.py `contact_digest`, under the same
SAMLENG_BLIND_INDEX_KEY every process has), and the registrations made with any of them are
found by computing the same digest of each registrant's contact. Each one found is deleted with
all its records in `reminders` (pending or sent: they copy the registrant) and its seat, and
announced as `registration.erased.v1` so the dispatcher erases the session messages it made.
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
    """Every registration (any session, any state) whose registrant's contact is one of `digests`.
    One pass over `registrations` (an erasure is rare; nothing stores the digests)."""
    if not digests:
        return []
    cursor = store.registrations.find({}, {"_id": 1, "session_id": 1, "state": 1, "registrant.contact": 1})
    return [doc async for doc in cursor if registrant_digests(doc, index) & digests]


async def erase_registration(store: Store, registration: Document) -> tuple[int, bool]:
    """Delete the registration and its records; (records deleted, whether it held a seat)."""
    registration_id = str(registration["_id"])
    reminders = await store.reminders.delete_many({"registration_id": registration_id})
    held_seat = await store.release_seat(str(registration["session_id"]), registration_id)
    await store.registrations.delete_one({"_id": registration_id})
    return reminders.deleted_count, held_seat
