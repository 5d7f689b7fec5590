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

A reference links once, and only until it expires (`MESSENGER_REF_MAX_AGE_DAYS`): its first use
spends it (shared/channels/inbound.py `spend`, under a keyed hash of the reference). Because the
pledge page signs a fresh reference at each view, the pledge is spent too, for the account that
linked first, until the last reference used for it expires. A refused use spends nothing, links
nothing and publishes nothing; it is logged and counted by reason:

    reference-bad-signature   not signed with MESSENGER_REF_SECRET (or none is set)
    reference-expired         signed more than MESSENGER_REF_MAX_AGE_DAYS ago
    reference-spent           another account used this reference first
    pledge-linked-elsewhere   another account linked this pledge first (from another page view)

The same account bringing the same reference again (Messenger resends referral webhooks, or the
person opens the thread twice) is a no-op success: the same `contact.linked.v1` (same event id).

The certificate goes as an uploaded image (the verification URL is printed on it) with
messaging_type RESPONSE inside the 24-hour window. Outside it, only a fitting message tag may be
used: `MESSENGER_CERTIFICATE_TAG` (unset by default: no tag fits a certificate, so it fails
permanently and falls back). An operator's answer (purpose `reply`) goes as RESPONSE inside the
window only: no tag fits free text. Replies (STOP) become inbound messages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.channels.messenger.webhook import Notification
from shared.channels import (
    ChannelSettings,
    OutboundMessage,
    PermanentDeliveryError,
    SendResult,
)
from shared.channels.meta import (
    BAD_SIGNATURE,
    HANDSHAKE,
    HANDSHAKE_ANSWERS,
    HUB_SIGNATURE,
    NOT_UNDERSTOOD,
    GraphChannelAdapter,
    MetaSettings,
    handshake,
    signed_notification,
)
from shared.channels.texts import chat_text, is_discreet
from shared.contracts.reply import answer_text
from shared.http_errors import refusals
from shared.openapi import documented_body

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
    retry_codes = RETRY_CODES
    settings_class = MessengerSettings

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
        answer = answer_text(message.delivery)
        # A discreet message is a neutral notice, but the platform's tags go by what it stands for
        discreet = is_discreet(message.delivery)
        purpose = message.delivery.purpose if discreet else None
        if self.window_open(message):
            kind: dict[str, str] = {"messaging_type": "RESPONSE"}
        elif answer is not None:  # an operator's free-text answer: no tag fits it
            raise PermanentDeliveryError(
                "an answer needs an open 24-hour window", reason="outside-24h-window"
            )
        elif message.delivery.alert is not None or purpose == "alert":  # no tag fits a broadcast
            raise PermanentDeliveryError("alerts need an open 24-hour window", reason="outside-24h-window")
        elif purpose == "reminder":  # (its kind is behind the link: a Plan of Action goes tagged too)
            kind = {"messaging_type": "MESSAGE_TAG", "tag": "CONFIRMED_EVENT_UPDATE"}
        elif purpose == "certificate" and self.own.certificate_tag:
            kind = {"messaging_type": "MESSAGE_TAG", "tag": self.own.certificate_tag}
        elif purpose == "certificate":
            raise PermanentDeliveryError(
                "outside the 24-hour window and no tag fits", reason="outside-24h-window"
            )
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
        words = answer if answer is not None else chat_text(message.delivery)
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

    def reference(self, ref: str) -> tuple[str, datetime]:
        """The pledge an m.me reference names and when the reference expires; BadSignature if
        it is not ours, SignatureExpired (a BadSignature) if it has expired."""
        if self.own.ref_secret is None:
            raise BadSignature("MESSENGER_REF_SECRET is not set")
        max_age = timedelta(days=self.own.ref_max_age_days)
        value, signed_at = URLSafeTimedSerializer(
            self.own.ref_secret.get_secret_value(), salt="messenger-ref"
        ).loads(ref, max_age=int(max_age.total_seconds()), return_timestamp=True)
        if not isinstance(value, str):
            raise BadSignature("not a pledge reference")
        return value, signed_at + max_age

    def pledge_of(self, ref: str) -> str | None:
        try:
            return self.reference(ref)[0]
        except BadSignature:
            return None

    def spent_key(self, *parts: str) -> str:
        """A keyed hash (under MESSENGER_REF_SECRET) naming a spent reference or its holder: the
        store holds neither the reference nor the PSID, nor anything to guess them from."""
        assert self.own.ref_secret is not None
        secret = self.own.ref_secret.get_secret_value().encode()
        return hmac.new(
            secret, "\0".join(("messenger-ref-spent", *parts)).encode(), hashlib.sha256
        ).hexdigest()

    async def link(self, inbound: Any, psid: str, ref: str) -> None:
        """Link `psid` to the pledge `ref` names, if the reference is valid and not spent by
        another account (module docstring); otherwise refuse it with a reason code."""
        try:
            pledge_id, expires_at = self.reference(ref)
        except SignatureExpired:
            inbound.refuse_link("reference-expired")
            return
        except BadSignature:
            inbound.refuse_link("reference-bad-signature")
            return
        reference, pledge = self.spent_key("ref", ref), self.spent_key("pledge", pledge_id)
        if not await inbound.spend(pledge, self.spent_key(pledge, psid), expires_at):
            spent = await inbound.spent(reference)
            inbound.refuse_link("reference-spent" if spent else "pledge-linked-elsewhere")
            return
        if not await inbound.spend(reference, self.spent_key(reference, psid), expires_at):
            inbound.refuse_link("reference-spent")  # only if the pledge's record was swept first
            return
        await inbound.linked("psid", psid, pledge_id)

    def inbound_router(self, inbound: Any) -> APIRouter:
        router = APIRouter()
        settings = self.own

        @router.get(
            "", response_class=PlainTextResponse, openapi_extra=HANDSHAKE, responses=HANDSHAKE_ANSWERS
        )
        async def subscribe(request: Request) -> Response:
            return handshake(request.query_params, settings.verify_token)

        @router.post(
            "",
            response_class=PlainTextResponse,
            openapi_extra=documented_body(Notification, signed_by=HUB_SIGNATURE),
            responses={**refusals({401: BAD_SIGNATURE}), 422: {"description": NOT_UNDERSTOOD}},
        )
        async def webhook(request: Request) -> Response:
            notification = await signed_notification(request, settings.app_secret, Notification)
            for entry in notification.entry:
                for event in entry.messaging:
                    psid, ref = event.psid, event.ref
                    if psid and ref:
                        await self.link(inbound, psid, ref)
                    if psid and event.message is not None and event.message.text:
                        await inbound.message("psid", psid, event.message.text, event.message.mid, event.at)
            return PlainTextResponse("EVENT_RECEIVED")

        return router
