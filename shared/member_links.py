"""A member's links, each good for one purpose: derived from the member's secret, never stored.

    <member_id>.<purpose>.<expires>.<mac>

    purpose   `unsubscribe` (the unsubscribe action only; never expires, so mail providers'
              one-click keeps working) or `preferences` (the personal page, its export and erase;
              expires)
    expires   Unix seconds; 0 = never
    mac       HMAC-SHA256(the member's secret, "purpose|member_id|expires"), its first 16 bytes
              (128 bits), base64url without padding

The secret is the member's `unsubscribe_token` (pledge-intake's, sealed with the member). The
dispatcher, which reads it already, makes the links; intake finds the member by the id the link
names, opens the secret and checks the link with `verified`. A link made for one purpose opens
nothing else; a forged or expired one reads like a random string. Replacing the secret (the
member's "end all my old links") ends every link made from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Purpose = Literal["unsubscribe", "preferences"]
PURPOSES: tuple[Purpose, ...] = ("unsubscribe", "preferences")
MAC_BYTES = 16
LONGEST = 200
"""No link is longer (a member id of up to ~150 characters); longer paths are refused unread."""

__all__ = ["PURPOSES", "MemberLink", "Purpose", "expiry_of", "link_token", "parse_link", "verified"]


@dataclass(frozen=True)
class MemberLink:
    """What a link says of itself, before it is checked."""

    member_id: str
    purpose: Purpose
    expires: int
    mac: str


def _mac(secret: str, member_id: str, purpose: str, expires: int) -> str:
    message = f"{purpose}|{member_id}|{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_token(secret: str, member_id: str, purpose: Purpose, expires: datetime | None = None) -> str:
    """The member's link for `purpose`, valid until `expires` (None: forever)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    until = int(expires.timestamp()) if expires is not None else 0
    return f"{member_id}.{purpose}.{until}.{_mac(secret, member_id, purpose, until)}"


def expiry_of(link: MemberLink) -> datetime | None:
    """When `link` stops working (None: never)."""
    return datetime.fromtimestamp(link.expires, UTC) if link.expires else None


def parse_link(token: str) -> MemberLink | None:
    """The parts of a link, unchecked; None if `token` is not shaped like one (e.g. an old link
    that carried the raw secret)."""
    if not token or len(token) > LONGEST:
        return None
    parts = token.rsplit(".", 3)
    if len(parts) != 4:
        return None
    member_id, purpose, expires, mac = parts
    if not member_id or purpose not in PURPOSES or not expires.isdigit() or len(expires) > 12 or not mac:
        return None
    kind: Purpose = "unsubscribe" if purpose == "unsubscribe" else "preferences"
    return MemberLink(member_id, kind, int(expires), mac)


def verified(link: MemberLink, secret: str | None, purpose: Purpose, now: datetime) -> bool:
    """True if `link` was made from `secret` for `purpose` and has not expired (the mac compared
    in constant time)."""
    if not secret or link.purpose != purpose:
        return False
    expected = _mac(secret, link.member_id, link.purpose, link.expires)
    if not hmac.compare_digest(expected.encode(), link.mac.encode()):
        return False
    return link.expires == 0 or now.timestamp() < link.expires
