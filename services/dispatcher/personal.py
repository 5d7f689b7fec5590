"""What the dispatcher keeps and sends encrypted (shared/personal_data.py), and how it reads it back.

A delivery's `request` is stored and published sealed: the personal fields (the contract's
`PERSONAL_FIELDS`) are blank in it and encrypted, with the member's own data key, in its
`encrypted` field; a session message's `contact_card` (the registrant's name and contact) is
stored encrypted as a whole. Nothing the dispatcher queries on (ids, state, channel, purpose,
correlation) is personal. Without a vault (encryption off) both stay plain, and sealed ones
written earlier cannot be read: that is a configuration error, retried until it is fixed.

pledge-intake's `members` keep their personal fields sealed too (services/pledge_intake/store.py):
every member the dispatcher reads (read_models.py `Member`) is opened (`open_member`,
`open_members` for a fan-out, keys loaded at once); a member whose data key was erased reads as
absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from bson.binary import Binary

from services.dispatcher.read_models import Member
from shared.contracts.delivery import DeliveryRequestedData
from shared.messaging.errors import RetryableError
from shared.personal_data import PersonalDataUnreadable, Vault, open_fields
from shared.storage import Document


async def sealed(vault: Vault | None, request: DeliveryRequestedData) -> DeliveryRequestedData:
    """The request as it is stored and published."""
    if vault is None or request.encrypted is not None:
        return request
    personal, blank = request.split_personal()
    secret = await vault.seal(request.recipient.member_id, personal)
    return blank.model_copy(update={"encrypted": secret})


async def sealed_delivery(
    vault: Vault | None, doc: Document, request: DeliveryRequestedData
) -> tuple[Document, DeliveryRequestedData]:
    """A new delivery document (and its request) with everything personal in it encrypted."""
    if vault is None:
        return doc, request
    request = await sealed(vault, request)
    doc = {**doc, "request": request.model_dump(mode="json")}
    card = doc.get("contact_card")
    if isinstance(card, dict):
        doc["contact_card"] = await vault.encrypt(request.recipient.member_id, card)
    return doc, request


async def opened(vault: Vault | None, request: DeliveryRequestedData) -> DeliveryRequestedData:
    """The request with its personal fields back (raises PersonalDataUnreadable if forgotten)."""
    if request.encrypted is None:
        return request
    if vault is None:
        raise RetryableError("a sealed request but no master key here", reason="no-master-key")
    return request.with_personal(await vault.unseal(request.encrypted))


async def opened_request(vault: Vault | None, doc: Document) -> DeliveryRequestedData:
    return await opened(vault, DeliveryRequestedData.model_validate(doc["request"]))


async def contact_card(vault: Vault | None, doc: Document) -> Document | None:
    """A session message's registrant as a member-shaped record, if the delivery keeps one."""
    card: Any = doc.get("contact_card")
    if isinstance(card, Binary | bytes):
        if vault is None:
            raise RetryableError("an encrypted contact card but no master key here", reason="no-master-key")
        card = await vault.decrypt(Binary(bytes(card), 6))
    return card if isinstance(card, dict) else None


async def open_member(vault: Vault | None, member: Member | None) -> Document | None:
    """A member (pledge-intake's `members`, read_models.py `Member`) as a document with their
    personal fields in place; None when absent or erased (their data key is gone). Sealed but no
    master key here: retried until configured."""
    if member is None:
        return None
    if member.sealed is not None and vault is None:
        raise RetryableError("a sealed member but no master key here", reason="no-master-key")
    try:
        return await open_fields(vault, member.stored())
    except PersonalDataUnreadable:
        return None


async def open_members(
    vault: Vault | None, members: AsyncIterable[Member], batch: int = 500
) -> AsyncIterator[Document]:
    """`open_member` for a stream of members (a fan-out): their data keys are loaded a batch at a
    time with one query (`Vault.keys_for`) before they are opened; erased ones are left out."""
    chunk: list[Member] = []

    async def opened_chunk() -> list[Document]:
        if vault is not None:
            await vault.keys_for(m.id for m in chunk if m.sealed is not None)
        found = [await open_member(vault, member) for member in chunk]
        return [member for member in found if member is not None]

    async for member in members:
        chunk.append(member)
        if len(chunk) >= batch:
            for done in await opened_chunk():
                yield done
            chunk = []
    for done in await opened_chunk():
        yield done
