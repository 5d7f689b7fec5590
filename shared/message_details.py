"""Discreet messages (at-risk mode, issue #17): the details behind a neutral message's link.

A person in discreet mode (shared/contracts/pledge.py `is_discreet`: their choice, else on for
residents of Cambodia) gets, on every channel, only a neutral line and a link

    <public site>/d/<token>

`token` is random (DETAIL_TOKEN_BYTES, base64url); it is the only way to the details and is
stored only hashed. The dispatcher writes one `message_details` document per delivery (a
certificate sent by email and Signal has two links, each shown once) before the delivery that
carries its link (a fallback to another channel carries the same link):

    _id         token_hash(token)
    subject     whose data key seals it (the member, or the registration for a session message)
    purpose     alert, reminder, certificate or notice (plain: counted, never shown)
    created_at, expires_at
    sealed      DetailContent, sealed with the subject's data key (shared/personal_data.py
                `Vault.seal`); plain `content` instead with encryption off

The public site (intake) shows the details once: a GET shows only a button (link scanners and
previews fetch GETs), the POST spends the token (`spent_details`, kept until the link's expiry)
and shows the message with `Cache-Control: no-store`. An unknown, spent or expired token shows
the same neutral page: nothing tells whether a link ever existed. Erasing the person's data key
makes the details unreadable at once; the retention sweeper removes expired documents.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from pydantic import AwareDatetime, Field

from shared.contracts.delivery import AlertRef, CertificateRef, NoticeRef, ReminderRef
from shared.contracts.envelope import Payload
from shared.contracts.pledge import Language
from shared.retention import RetentionRule

MESSAGE_DETAILS = "message_details"
SPENT_DETAILS = "spent_details"
DETAILS_RETENTION = RetentionRule.after("expires_at", 0)
DETAIL_TOKEN_BYTES = 24
DISCREET_KIND = "discreet"
"""NoticeRef.kind of the neutral message that replaces a discreet person's message."""


class DetailContent(Payload):
    """What the neutral message stands for, as the person would have received it."""

    purpose: str
    language: Language
    alert: AlertRef | None = None
    reminder: ReminderRef | None = None
    certificate: CertificateRef | None = None
    notice: NoticeRef | None = None
    expires_at: AwareDatetime = Field(description="When the link stops showing anything.")


def new_token() -> str:
    return secrets.token_urlsafe(DETAIL_TOKEN_BYTES)


def token_hash(token: str) -> str:
    """How a token is stored and looked up (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def plausible(token: str) -> bool:
    """Shaped like a token (anything else is refused unread)."""
    return 16 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


def expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at
