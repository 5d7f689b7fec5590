"""Discreet messages (at-risk mode): what a person in discreet mode receives instead of a message.

Members in Cambodia can be harmed by what a message preview, a forwarded email or a seized phone
shows. A person in discreet mode (shared/contracts/pledge.py `is_discreet`: their own choice, else
on for residents of Cambodia) gets every message, on every channel, as one neutral notice (kind
`discreet`): "New message from your network" and a personal link that shows the details once and
nothing after `DISPATCHER_DETAIL_LINK_HOURS` (shared/message_details.py). Channels send it like
any notice; email under a neutral sender name and without the person's name; post never carries
it (its channel.toml declares `carries_discreet = false`).

The delivery keeps its purpose and source (an alert's progress still counts it); only its content
is replaced. The details are written before the deliveries that carry their link, so a link in a
sent message always leads somewhere until it expires. A message handled twice (a redelivery)
writes a second details document that no delivery carries: it is never linked and expires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.contracts import utcnow
from shared.contracts.delivery import NoticeRef, Recipient
from shared.message_details import (
    DETAILS_RETENTION,
    DISCREET_KIND,
    DetailContent,
    new_token,
    token_hash,
)
from shared.personal_data import Vault
from shared.retention import declare_retention
from shared.storage import Document

CONTENT_KEYS = ("alert", "reminder", "certificate", "notice")
AS_WRITTEN = frozenset({"reply"})
"""Purposes sent as they are even in discreet mode: an operator's answer goes into the
conversation the person started, on the channel they wrote on."""

NEUTRAL: Mapping[str, Mapping[str, str]] = {
    "en": {
        "subject": "New message",
        "body": "You have a new message from your network. The link works once and until {until}.",
        "label": "Open",
    },
    "km": {
        "subject": "សារថ្មី",
        "body": "អ្នកមានសារថ្មីពីបណ្ដាញរបស់អ្នក។ តំណនេះប្រើបានតែម្ដង និងរហូតដល់ {until}។",
        "label": "បើក",
    },
}


def neutral_notice(language: str, url: str, expires_at: datetime) -> NoticeRef:
    """The neutral notice: nothing of what it stands for, not even the network's name."""
    words = NEUTRAL.get(language, NEUTRAL["en"])
    until = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return NoticeRef(
        kind=DISCREET_KIND,
        subject=words["subject"],
        body=words["body"].format(until=until),
        link_url=url,
        link_label=words["label"],
    )


def details_link(recipient: Recipient, content: DetailContent, public_base_url: str) -> tuple[str, Document]:
    """(the personal link `<public site>/d/<token>`, the details document to write before it is
    sent): the token itself is never stored, only its hash; `store` seals the content."""
    token = new_token()
    detail: Document = {
        "_id": token_hash(token),
        "subject": recipient.member_id,
        "purpose": content.purpose,
        "created_at": utcnow(),
        "expires_at": content.expires_at,
        "content": content.model_dump(mode="json"),
    }
    return f"{public_base_url.rstrip('/')}/d/{token}", detail


def make_discreet(
    base: dict[str, Any], public_base_url: str, link_hours: float
) -> tuple[dict[str, Any], Document | None]:
    """(the delivery base a discreet recipient gets, the details document to write first) — or
    the base unchanged and None for anyone else. The details document holds its content plain;
    `store` seals it."""
    recipient: Recipient = base["recipient"]
    if not recipient.discreet or base["purpose"] in AS_WRITTEN:
        return base, None
    expires_at = utcnow() + timedelta(hours=link_hours)
    content = DetailContent(
        purpose=base["purpose"],
        language=recipient.language,
        expires_at=expires_at,
        **{key: base.get(key) for key in CONTENT_KEYS},
    )
    url, detail = details_link(recipient, content, public_base_url)
    neutral: dict[str, Any] = dict.fromkeys(CONTENT_KEYS)
    neutral["notice"] = neutral_notice(recipient.language, url, expires_at)
    return {**base, **neutral}, detail


async def store(details: AsyncCollection[Document], vault: Vault | None, docs: Iterable[Document]) -> None:
    """Write details documents, their content sealed with each subject's own data key (keys
    loaded at once). Already written (a retried batch): kept as it is."""
    batch = list(docs)
    if not batch:
        return
    if vault is not None:
        await vault.keys_for(doc["subject"] for doc in batch)
        sealed = []
        for doc in batch:
            doc = dict(doc)
            doc["sealed"] = await vault.seal(doc["subject"], doc.pop("content"))
            sealed.append(doc)
        batch = sealed
    try:
        await details.insert_many(batch, ordered=False)
    except BulkWriteError as error:
        if any(problem.get("code") != 11000 for problem in error.details.get("writeErrors", [])):
            raise


async def ensure_indexes(details: AsyncCollection[Document]) -> None:
    await details.create_index([("subject", ASCENDING)])
    await declare_retention(details, DETAILS_RETENTION)
