"""What Meta's platforms (WhatsApp Cloud API, Messenger) require of every webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import httpx
import structlog
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, SecretStr, ValidationError

from shared.channels.adapter import (
    ChannelSettings,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from shared.channels.http import HttpChannelAdapter
from shared.contracts import utcnow

REPLY_WINDOW = timedelta(hours=24)
Notification = TypeVar("Notification", bound=BaseModel)
HUB_SIGNATURE: dict[str, Any] = {
    "name": "X-Hub-Signature-256",
    "description": "`sha256=` and the hex HMAC-SHA256 of the raw body under the app secret: Meta signs "
    "every post; anything else is refused (401).",
    "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
}
BAD_SIGNATURE = "Not signed with our app secret (X-Hub-Signature-256): nothing is read"
NOT_UNDERSTOOD = "Signed, but not a notification we can read: each problem names its field (nothing is read)"
HANDSHAKE: dict[str, Any] = {
    "parameters": [
        {
            "in": "query",
            "name": "hub.mode",
            "required": True,
            "schema": {"type": "string", "enum": ["subscribe"]},
        },
        {"in": "query", "name": "hub.verify_token", "required": True, "schema": {"type": "string"}},
        {"in": "query", "name": "hub.challenge", "required": True, "schema": {"type": "string"}},
    ]
}
"""The subscription GET's query, for the OpenAPI document (`handshake` reads it itself)."""
HANDSHAKE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Our verify token: `hub.challenge`, echoed as plain text"},
    403: {
        "description": "Not our verify token, or not a subscription",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
}
log = structlog.stdlib.get_logger("samleng.inbound")


def signed(raw: bytes, header: str, secret: SecretStr | None) -> bool:
    """`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the app secret>`."""
    if secret is None or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.get_secret_value().encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


async def signed_notification(
    request: Request, secret: SecretStr | None, model: type[Notification]
) -> Notification:
    """A webhook post's body as `model`, once it is signed with our app secret: 401 if it is
    not (nothing is read), 422 naming each field of a signed body that is not `model` (logged
    by field names only: Meta retries it, and someone should look)."""
    raw = await request.body()
    if not signed(raw, request.headers.get("x-hub-signature-256", ""), secret):
        raise HTTPException(401, "bad signature")
    try:
        return model.model_validate_json(raw)
    except ValidationError as invalid:
        errors = invalid.errors(include_input=False, include_url=False, include_context=False)
        log.warning(
            "signed webhook body not understood",
            fields=[".".join(map(str, e["loc"]))[:100] or "body" for e in errors[:5]],
        )
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def handshake(params: Mapping[str, str], verify_token: SecretStr | None) -> Response:
    """The subscription GET: echo `hub.challenge` only for our verify token."""
    expected = verify_token.get_secret_value() if verify_token else None
    given = params.get("hub.verify_token", "")
    if params.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(given, expected):
        return Response(params.get("hub.challenge", ""), media_type="text/plain")
    return PlainTextResponse("forbidden", status_code=403)


class MetaSettings(ChannelSettings):
    """What a channel on Meta's Graph API is configured with (the subclass sets the env prefix)."""

    api_url: str | None = Field(
        default=None, description="Graph API base URL; unset = <SANDBOX_URL>/<channel>."
    )
    api_version: str = "v21.0"
    app_secret: SecretStr | None = Field(default=None, description="App secret: verifies webhook signatures.")
    verify_token: SecretStr | None = Field(default=None, description="Token for the webhook GET handshake.")
    timeout_seconds: float = 20.0


class GraphChannelAdapter(HttpChannelAdapter):
    """Calls to the Graph API mapped onto the delivery error tree, and the 24-hour reply window."""

    retry_codes: ClassVar[frozenset[int]] = frozenset()
    """Graph error codes that mean "try again later" (throughput, token, temporary)."""

    def window_open(self, message: OutboundMessage) -> bool:
        """Whether the person wrote to us on this channel in the last 24 hours."""
        last = message.recipient.last_inbound_at.get(self.name)
        return last is not None and utcnow() - last < REPLY_WINDOW

    async def graph_post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """POST to the Graph API. A timeout on `/messages` may have sent: unknown outcome."""
        try:
            response = await self.http.post(path, **kwargs)
        except httpx.TimeoutException as error:
            if path == "/messages":
                raise OutcomeUnknown(f"{self.name} API timed out", reason=f"{self.name}-timeout") from error
            raise RetryableDeliveryError(
                f"{self.name} upload timed out", reason=f"{self.name}-timeout"
            ) from error
        except httpx.TransportError as error:
            raise RetryableDeliveryError(
                f"{self.name} API unreachable: {error}", reason=f"{self.name}-unreachable"
            ) from error
        if response.status_code < 300:
            body: dict[str, Any] = response.json()
            return body
        try:
            problem = response.json().get("error", {})
        except ValueError:
            problem = {}
        code = int(problem.get("code") or 0)
        subcode = problem.get("error_subcode")
        reason = f"{self.name}-{code or response.status_code}" + (f"-{subcode}" if subcode else "")
        detail = f"{self.name} API {response.status_code} ({code}): {str(problem.get('message', ''))[:200]}"
        if response.status_code >= 500 or response.status_code == 429 or code in self.retry_codes:
            raise RetryableDeliveryError(detail, reason=reason)
        raise PermanentDeliveryError(detail, reason=reason)
