"""Erasure in the dispatcher: what it holds about an erased member, and not making it again.

- `member.erased.v1` (pledge-intake): the member's `deliveries` and `message_details` (and those
  of records merged into them) are deleted; their `action_reports` and `official_actions` become anonymous (the
  alert's counts stay, nobody is named: a random id replaces the member's).
- `registration.erased.v1` (event-scheduler): the session messages made for that registration
  (their deliveries name the registration id as the recipient) and their details are deleted.
- `erased(db, member_id)`: whether pledge-intake erased this member (its `erasures`, read_models.py,
  nothing personal in it): work that arrives late for them (a certificate issued just before the
  erasure, a status for a delivery already deleted) is dropped, not made again.

Their data key is gone already (pledge-intake deletes it first), so whatever is still sealed for
them — a request in a channel's queue, a retry, a dead letter — is unreadable: the channel runner
fails it permanently (`personal-data-erased`), and nothing here can fall back to another channel.

Wiring (services/dispatcher/app.py, one line each):

    router.handles(MemberErased)(erasure.on_member_erased)
    router.handles(RegistrationErased)(erasure.on_registration_erased)
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.dispatcher.read_models import ERASURES
from shared.contracts.erasure import MemberErased, RegistrationErased
from shared.messaging.consumer import MessageContext
from shared.storage import Document


async def erased(db: AsyncDatabase[Document], member_id: str) -> bool:
    """Whether this member (or a record merged into one) was erased."""
    return await ERASURES.exists(db, {"_id": member_id})


async def delete_deliveries(deliveries: Any, recipients: list[str]) -> int:
    result = await deliveries.delete_many({"member_id": {"$in": recipients}})
    return int(result.deleted_count)


async def delete_details(deps: Any, subjects: list[str]) -> None:
    """What their discreet messages stood for (unreadable already: sealed with the erased key)."""
    if deps.details is not None:
        await deps.details.delete_many({"subject": {"$in": subjects}})


async def anonymise_actions(deps: Any, member_ids: list[str]) -> int:
    """Keep each report and official counted, under a random id that names nobody."""
    if deps.action_reports is None:
        return 0
    reports = await deps.action_reports.find({"member_id": {"$in": member_ids}}).to_list(None)
    for report in reports:
        alert_id, member_id = report["alert_id"], report["member_id"]
        anonymous = f"erased-{uuid.uuid4().hex}"
        if deps.official_actions is not None:
            prefix = f"{alert_id}:{member_id}:"
            officials = await deps.official_actions.find(
                {"alert_id": alert_id, "_id": {"$regex": f"^{_escape(prefix)}"}}
            ).to_list(None)
            for official in officials:
                await deps.official_actions.insert_one(
                    {**official, "_id": f"{alert_id}:{anonymous}:{official['official']}"}
                )
                await deps.official_actions.delete_one({"_id": official["_id"]})
        await deps.action_reports.insert_one(
            {**report, "_id": f"{alert_id}:{anonymous}", "member_id": anonymous, "erased": True}
        )
        await deps.action_reports.delete_one({"_id": report["_id"]})
    return len(reports)


def _escape(text: str) -> str:
    return "".join(f"\\{ch}" if not ch.isalnum() and ch not in "_-" else ch for ch in text)


async def on_member_erased(event: MemberErased, ctx: MessageContext[Any]) -> None:
    deps, data = ctx.deps, event.data
    deliveries = await delete_deliveries(deps.deliveries, list(data.member_ids))
    await delete_details(deps, list(data.member_ids))
    reports = await anonymise_actions(deps, list(data.member_ids))
    ctx.log.info(
        "erasure: deliveries deleted", member_id=data.member_id, deliveries=deliveries, reports=reports
    )


async def on_registration_erased(event: RegistrationErased, ctx: MessageContext[Any]) -> None:
    deps, data = ctx.deps, event.data
    deliveries = await delete_deliveries(deps.deliveries, [data.registration_id])
    await delete_details(deps, [data.registration_id])
    ctx.log.info(
        "erasure: session messages deleted",
        member_id=data.member_id,
        session_id=data.session_id,
        deliveries=deliveries,
    )
