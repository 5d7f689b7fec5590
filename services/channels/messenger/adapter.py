"""Facebook Messenger through the Send API (`POST /{version}/me/messages`).

Messenger only lets a page write to people who wrote to it first, and gives their page-scoped id
(PSID) only by webhook. The pledge page offers an m.me link whose `ref` is the pledge id signed by
intake (`INTAKE_SECRET_KEY`, salt `messenger-ref`; set `MESSENGER_REF_SECRET` to the same value).
When the person opens it and presses Send, the webhook (`python -m services.channels.messenger.inbound`,
route `/webhooks/messenger`, GET handshake with `MESSENGER_VERIFY_TOKEN`, POSTs signed with
`MESSENGER_APP_SECRET`) checks the signature and the reference and reports `contact.linked.v1`:
pledge-intake stores the PSID, the dispatcher releases the certificate delivery, which waited for
it (`address_wait_seconds`, default one day, `MESSENGER_ADDRESS_WAIT_SECONDS`) and otherwise
falls back to the member's next channel.

The certificate goes as an uploaded image (the verification URL is printed on it) with
messaging_type RESPONSE inside the 24-hour window. Outside it, only a fitting message tag may be
used: `MESSENGER_CERTIFICATE_TAG` (unset by default: no tag fits a certificate, so it fails
permanently and falls back). Replies (STOP) become inbound messages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
from fastapi import APIRouter, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.channels import (
    ChannelSettings,
    OutboundMessage,
    PermanentDeliveryError,
    SendResult,
)
from shared.channels.meta import GraphChannelAdapter, MetaSettings, handshake, signed
from shared.channels.texts import chat_text

RETRY_CODES = frozenset({1, 2, 4, 17, 32, 190, 368, 613, 1200})
MessageTag = Literal["CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT"]


class MessengerSettings(MetaSettings):
    model_config = SettingsConfigDict(env_prefix="MESSENGER_", env_file=".env", extra="ignore")
    page_access_token: SecretStr | None = Field(default=None, description="The page's access token.")
    ref_secret: SecretStr | None = Field(
        default=None, description="Verifies m.me references: the same value as INTAKE_SECRET_KEY."
    )
    ref_max_age_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="How long an m.me reference from a pledge page links a Messenger account.",
    )
    certificate_tag: MessageTag | None = Field(
        default=None, description="Tag for certificates outside the 24 h window; unset = fall back instead."
    )


class MessengerAdapter(GraphChannelAdapter):
    name: ClassVar[str] = "messenger"
    description: ClassVar[str] = "Facebook Messenger (Send API) to people who opted in through m.me."
    address_kind = "psid"
    attachments = ("png",)
    max_attachment_bytes = 8_000_000
    rate_per_second = 20.0
    address_wait_seconds = 86_400.0
    purposes = frozenset({"certificate", "alert", "reminder", "notice"})
    resend_is_safe = False
    retry_codes = RETRY_CODES
    settings_class = MessengerSettings
    sandbox_provider = "messenger"

    def __init__(self, settings: ChannelSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings, transport)
        assert isinstance(settings, MessengerSettings)
        self.own = settings

    @property
    def api_url(self) -> str:
        return self.provider_url(self.own.api_url)

    async def start(self) -> None:
        token = self.own.page_access_token.get_secret_value() if self.own.page_access_token else ""
        self.open_http(
            f"{self.api_url}/{self.own.api_version}/me",
            headers={"Authorization": f"Bearer {token}"},  # never in the URL, where logs would keep it
            timeout=self.own.timeout_seconds,
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        psid = message.recipient.psid
        assert psid is not None
        if self.window_open(message):
            kind: dict[str, str] = {"messaging_type": "RESPONSE"}
        elif message.delivery.alert is not None:  # no message tag fits a broadcast (platform policy)
            raise PermanentDeliveryError("alerts need an open 24-hour window", reason="outside-24h-window")
        elif message.delivery.reminder is not None and message.delivery.reminder.kind != "plan-of-action":
            # the platform's tag for updates about an event the person registered for
            kind = {"messaging_type": "MESSAGE_TAG", "tag": "CONFIRMED_EVENT_UPDATE"}
        elif message.delivery.reminder is not None:
            raise PermanentDeliveryError("no tag fits a Plan of Action", reason="outside-24h-window")
        elif message.delivery.notice is not None:  # the platform's tag for changes to their account
            kind = {"messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"}
        elif self.own.certificate_tag:
            kind = {"messaging_type": "MESSAGE_TAG", "tag": self.own.certificate_tag}
        else:
            raise PermanentDeliveryError(
                "outside the 24-hour window and no tag fits", reason="outside-24h-window"
            )
        words = chat_text(message.delivery)
        if words is not None:
            text = {
                "recipient": {"id": psid},
                **kind,
                "message": {"text": words[:2000]},
            }
            sent = await self.graph_post("/messages", json=text)
            return SendResult(provider_message_id=str(sent.get("message_id")))
        image = message.attachments[0]
        upload = await self.graph_post(
            "/message_attachments",
            data={"message": json.dumps({"attachment": {"type": "image", "payload": {"is_reusable": True}}})},
            files={"filedata": (image.filename, image.data, image.content_type)},
        )
        body = {
            "recipient": {"id": psid},
            **kind,
            "message": {
                "attachment": {"type": "image", "payload": {"attachment_id": upload["attachment_id"]}}
            },
        }
        sent = await self.graph_post("/messages", json=body)
        return SendResult(provider_message_id=str(sent.get("message_id")))

    # ---- webhook ---------------------------------------------------------------------------------

    def pledge_of(self, ref: str) -> str | None:
        if self.own.ref_secret is None:
            return None
        try:
            value = URLSafeTimedSerializer(
                self.own.ref_secret.get_secret_value(), salt="messenger-ref"
            ).loads(ref, max_age=self.own.ref_max_age_days * 86_400)
        except BadSignature:  # also an expired reference (SignatureExpired)
            return None
        return value if isinstance(value, str) else None

    def inbound_router(self, inbound: Any) -> APIRouter:
        router = APIRouter()
        settings = self.own

        @router.get("")
        async def subscribe(request: Request) -> Response:
            return handshake(request.query_params, settings.verify_token)

        @router.post("")
        async def webhook(request: Request) -> Response:
            raw = await request.body()
            if not signed(raw, request.headers.get("x-hub-signature-256", ""), settings.app_secret):
                return Response("bad signature", status_code=401)
            for entry in (await request.json()).get("entry", []):
                for event in entry.get("messaging", []):
                    psid = str((event.get("sender") or {}).get("id", ""))
                    at = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, UTC)
                    referral = event.get("referral") or (event.get("postback") or {}).get("referral") or {}
                    ref = referral.get("ref") or (event.get("optin") or {}).get("ref")
                    if psid and ref:
                        pledge_id = self.pledge_of(str(ref))
                        if pledge_id is None:
                            inbound.log.warning("m.me reference with a bad signature ignored")
                        else:
                            await inbound.linked("psid", psid, pledge_id)
                    text = (event.get("message") or {}).get("text")
                    if psid and text:
                        await inbound.message("psid", psid, text, (event.get("message") or {}).get("mid"), at)
            return Response("EVENT_RECEIVED")

        return router
