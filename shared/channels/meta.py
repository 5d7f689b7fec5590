"""What Meta's platforms (WhatsApp Cloud API, Messenger) require of every webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from fastapi import Response
from pydantic import SecretStr


def signed(raw: bytes, header: str, secret: SecretStr | None) -> bool:
    """`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the app secret>`."""
    if secret is None or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.get_secret_value().encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


def handshake(params: Mapping[str, str], verify_token: SecretStr | None) -> Response:
    """The subscription GET: echo `hub.challenge` only for our verify token."""
    expected = verify_token.get_secret_value() if verify_token else None
    given = params.get("hub.verify_token", "")
    if params.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(given, expected):
        return Response(params.get("hub.challenge", ""), media_type="text/plain")
    return Response("forbidden", status_code=403)
