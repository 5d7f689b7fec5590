"""What we hold about one member, read through its declared read models (read_models.py here): their export (everything, as one
JSON document), the sealed documents opened, and asking for their erasure. The public site (a
member's own download) and the operator console (an operator's export) both read it here.

The export reads pledge-intake's `members`, `pledges`, `consents`, `inbound_messages`,
`subscriptions`, `erasures`; certificate-renderer's `certificates` (metadata and links, never the
files); the dispatcher's `deliveries` (ids, channel, purpose, states: never the sealed request);
event-scheduler's `registrations` made with the member's email or phone; read-only.
pledge-intake's documents are opened with the reader's vault (their personal fields are stored
sealed: services/pledge_intake/store.py), so the export shows them as the member gave them, and
one whose subject was erased is left out. Erasure is handed to pledge-intake as
`member.erasure_requested.v1` (shared/contracts/erasure.py), which erases and tells the others.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.binary import Binary

from shared.contracts import utcnow
from shared.contracts.erasure import ErasureRequested, ErasureRequestedData, ErasureSource, contact_digest
from shared.member_data import read_models as models
from shared.personal_data import (
    CONTACT_KEY_VERSION,
    Vault,
    blind_index,
    normalise_contact,
    opened_document,
)
from shared.read_models import WholeDocument

DELIVERY_FIELDS = ("_id", "channel", "purpose", "source_id", "state", "reason", "created_at", "updated_at")
INTERNAL_MEMBER_FIELDS = ("unsubscribe_token", "unsubscribe_key", "personal_rev")
REGISTRATION_INTERNAL = ("consent", "event_id", "cancel_url", "contact_digests")
SUBSCRIPTION_INTERNAL = ("confirm_token", "personal_rev")
CERTIFICATE_FIELDS = (
    *("number", "state", "name", "language", "signed_on", "issued_at", "verify_url"),
    *("replaced_by", "replaces", "pledge_id"),
)


def plain(value: Any) -> Any:
    """A stored value as JSON can carry it (encrypted values as base64, marked)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Binary | bytes):
        return {"encrypted": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def opened(vault: Vault | None, doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A document of pledge-intake's with its sealed personal fields in place; None when absent
    or unreadable (its subject was erased)."""
    return await opened_document(vault, doc)


async def opened_all(vault: Vault | None, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`opened` for many, the unreadable left out."""
    found = [await opened(vault, doc) for doc in docs]
    return [doc for doc in found if doc is not None]


async def member_export(db: Any, member_id: str, vault: Vault | None = None) -> dict[str, Any] | None:
    """Everything held about one member across the services; None if we never knew them."""
    found = await models.MEMBERS.find_one(db, {"_id": member_id})
    erasure = await models.ERASURES.find_one(db, {"_id": member_id})
    if found is None and erasure is None:
        return None
    member = await opened(vault, whole_or_none(found)) or {}
    merged = await models.MERGED.all(db, {"merged_into": member_id})
    ids = [member_id, *[m.id for m in merged]]
    emails = sorted({e for e in [member.get("email"), *(member.get("emails") or [])] if e})
    phones = sorted({p for p in [member.get("phone"), *(member.get("phones") or [])] if p})
    keys = [k.id for k in await models.MEMBER_KEYS.all(db, {"member_id": {"$in": ids}})]
    index = vault.blind if vault is not None else blind_index()
    digests = sorted(
        {key.split(":", 1)[1] for key in keys if key.startswith(f"{CONTACT_KEY_VERSION}:")}
        | {contact_digest("email", normalise_contact("email", e), index) for e in emails}
        | {contact_digest("phone", normalise_contact("phone", p), index) for p in phones}
    )
    contacts: list[dict[str, Any]] = [
        {"contact_digests": {"$in": digests}},  # sealed registrations keep their contact's digests
        {"registrant.contact.email": {"$in": emails + [e.casefold() for e in emails]}},  # and plain,
        {"registrant.contact.phone": {"$in": phones}},  # as stored before
    ]
    requested: list[dict[str, Any]] = [
        {"contact_keys": {"$in": keys}},  # pending ones made with their contacts (sealed requests)
        {"request.contact.email": {"$in": emails}},  # and stored plain, before
        {"request.contact.phone": {"$in": phones}},
    ]
    mine = {"member_id": {"$in": ids}}
    deliveries = await models.DELIVERIES.all(db, mine, sort=[("created_at", 1)])
    certificates = await models.CERTIFICATES.all(db, mine)
    subscriptions = await models.SUBSCRIPTIONS.all(db, {"$or": [mine, *requested]})
    registrations = await models.REGISTRATIONS.all(db, {"$or": contacts}) if digests else []
    document = {
        "member_id": member_id,
        "exported_at": utcnow(),
        "erasure": whole_or_none(erasure),
        "member": {k: v for k, v in member.items() if k not in INTERNAL_MEMBER_FIELDS} or None,
        "merged_records": ids[1:],
        "pledges": [whole(p) for p in await models.PLEDGES.all(db, mine)],
        "consents": [whole(c) for c in await models.CONSENTS.all(db, mine, sort=[("at", 1)])],
        "certificates": [
            {k: v for k, v in c.items() if k in CERTIFICATE_FIELDS}
            for c in await opened_all(vault, [whole(c) for c in certificates])
        ],
        "deliveries": [{k: v for k, v in whole(d).items() if k in DELIVERY_FIELDS} for d in deliveries],
        "registrations": [
            {k: v for k, v in registration.items() if k not in REGISTRATION_INTERNAL}
            for registration in await opened_all(vault, [whole(r) for r in registrations])
        ],
        "inbound_messages": await opened_all(
            vault, [whole(m) for m in await models.INBOUND_MESSAGES.all(db, mine)]
        ),
        "subscriptions": [
            {k: v for k, v in s.items() if k not in SUBSCRIPTION_INTERNAL}
            for s in await opened_all(vault, [whole(s) for s in subscriptions])
        ],
    }
    exported: dict[str, Any] = plain(document)
    return exported


def whole(view: WholeDocument) -> dict[str, Any]:
    """A whole document read through a read model, as stored (`_id` back in place)."""
    document = view.model_dump()
    if "id" in document:
        document["_id"] = document.pop("id")
    return document


def whole_or_none(view: WholeDocument | None) -> dict[str, Any] | None:
    return None if view is None else whole(view)


def erasure_request(member_id: str, source: ErasureSource) -> ErasureRequested:
    request_id = f"er_{uuid.uuid4().hex}"
    return ErasureRequested(
        correlation_id=member_id,
        data=ErasureRequestedData(request_id=request_id, member_id=member_id, source=source, at=utcnow()),
    )
