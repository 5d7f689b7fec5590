"""WhatsApp through the Business Cloud API (`POST /{phone-number-id}/messages`).

The certificate PNG is uploaded as media first. Inside the 24-hour customer-service window (the
member wrote to us on WhatsApp in the last 24 h) it goes as an image with a caption; outside it,
only an approved template may be sent: `WHATSAPP_TEMPLATE` (default `pledge_certificate`, IMAGE
header) with the image and the member's name. An operator's answer to a reply (purpose `reply`,
shared/contracts/reply.py) is free text: sent inside the window only, outside it it fails
permanently (no template fits it; the console refuses it before that). Errors: 130429/131056
(throughput) and 5xx -> retry; 190 (token) -> retry, a configuration problem; other 4xx
(131026 undeliverable, 132001 template, ...) -> permanent, so the dispatcher falls back. A timeout
is an unknown outcome; the API cannot be asked afterwards, so it is held for an operator.

Statuses arrive by webhook (`python -m services.channels.whatsapp.inbound`, route
`/webhooks/whatsapp`), possibly out of order: `sent`, `delivered`/`read` -> delivered, `failed` ->
failed_permanent (e.g. 131047 re-engagement) with its code as reason. A message still `sent`
after `receipt_wait_seconds` (WHATSAPP_RECEIPT_WAIT_SECONDS, read by the dispatcher) falls back to
the member's next channel. Every POST must carry a valid `X-Hub-Signature-256` (HMAC of the raw
body with `WHATSAPP_APP_SECRET`); the GET handshake answers `hub.challenge` only for
`WHATSAPP_VERIFY_TOKEN`. Inbound texts become replies (STOP).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.channels.whatsapp.webhook import Notification
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
from shared.channels.texts import alert_text, is_discreet, notice_text, reminder_text
from shared.contracts.reply import answer_text
from shared.http_errors import refusals
from shared.openapi import documented_body

CAPTIONS = {
    "en": "Dear {name}, thank you for signing the Khmer Community Advocacy Pledge. Your certificate "
    "{number}: verify it at {url}",
    "km": "ជូនចំពោះ {name}, សូមអរគុណសម្រាប់ការចុះហត្ថលេខាលើសេចក្តីសន្យាតស៊ូមតិសហគមន៍ខ្មែរ។ វិញ្ញាបនបត្រ {number}៖ ពិនិត្យនៅ {url}",
}
RETRY_CODES = frozenset({130429, 131056, 131000, 131016, 190, 2, 4, 80007})
STATUS = {"sent": "sent", "delivered": "delivered", "read": "delivered", "failed": "failed_permanent"}


class WhatsAppSettings(MetaSettings):
    model_config = SettingsConfigDict(env_prefix="WHATSAPP_", env_file=".env", extra="ignore")
    phone_number_id: str = "100000000000001"
    access_token: SecretStr | None = Field(default=None, description="System-user access token.")
    template: str = "pledge_certificate"
    session_template: str = Field(
        default="samleng_session",
        description="Approved template for session messages outside the 24 h window (title, time).",
    )
    notice_template: str = Field(
        default="samleng_account_notice",
        description='Approved utility template for account notices ("was it you?") outside the 24 h '
        "window; its one body parameter is the link.",
    )
    update_template: str = Field(
        default="samleng_update", description="Approved template for alerts outside the 24 h window."
    )
    discreet_template: str = Field(
        default="neutral_notice",
        description="Approved template for discreet messages (at-risk mode) outside the 24 h window: "
        'a neutral body such as "New message from your network: {{1}}" (nothing of the network; '
        "its template name is not shown); its one body parameter is the link.",
    )


class WhatsAppAdapter(GraphChannelAdapter):
    name: ClassVar[str] = "whatsapp"
    retry_codes = RETRY_CODES
    settings_class = WhatsAppSettings

    def __init__(self, settings: ChannelSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings, transport)
        assert isinstance(settings, WhatsAppSettings)
        self.own = settings

    @property
    def api_url(self) -> str:
        return self.provider_url(self.own.api_url)

    async def start(self) -> None:
        token = self.own.access_token.get_secret_value() if self.own.access_token else ""
        self.open_http(
            f"{self.api_url}/{self.own.api_version}/{self.own.phone_number_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=self.own.timeout_seconds,
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        answer = answer_text(message.delivery)
        if answer is not None:  # an operator's answer: free text, so only inside the window
            if not self.window_open(message):
                raise PermanentDeliveryError(
                    "an answer needs an open 24-hour window", reason="outside-24h-window"
                )
            return await self._text_or_template(message, answer, "", [], preview=False)
        if message.delivery.alert is not None:
            return await self._send_alert(message)
        if message.delivery.reminder is not None:
            return await self._send_reminder(message)
        if message.delivery.notice is not None:
            return await self._send_notice(message)
        delivery = message.delivery
        recipient = delivery.recipient
        assert recipient.phone is not None
        image = message.attachments[0]
        media = await self.graph_post(
            "/media",
            data={"messaging_product": "whatsapp", "type": image.content_type},
            files={"file": (image.filename, image.data, image.content_type)},
        )
        certificate = delivery.certificate
        number = certificate.certificate_number if certificate else delivery.source_id
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient.phone.lstrip("+"),
        }
        if self.window_open(message):
            caption = CAPTIONS[recipient.language].format(
                name=recipient.name, number=number, url=certificate.verify_url if certificate else ""
            )
            body.update(type="image", image={"id": media["id"], "caption": caption})
        else:
            body.update(
                type="template",
                template={
                    "name": self.own.template,
                    "language": {"code": recipient.language},
                    "components": [
                        {"type": "header", "parameters": [{"type": "image", "image": {"id": media["id"]}}]},
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": recipient.name},
                                {"type": "text", "text": number},
                            ],
                        },
                    ],
                },
            )
        sent = await self.graph_post("/messages", json=body)
        return SendResult(provider_message_id=str(sent["messages"][0]["id"]))

    async def _send_alert(self, message: OutboundMessage) -> SendResult:
        """Inside the window: the alert text; outside it: the approved update template."""
        alert = message.delivery.alert
        assert alert is not None
        return await self._text_or_template(
            message, alert_text(message.delivery), self.own.update_template, [alert.number]
        )

    async def _send_notice(self, message: OutboundMessage) -> SendResult:
        """Inside the window: the notice text; outside it: the approved account-notice template
        (a utility template; its one parameter is the link)."""
        notice = message.delivery.notice
        assert notice is not None
        template = self.own.discreet_template if is_discreet(message.delivery) else self.own.notice_template
        return await self._text_or_template(
            message, notice_text(message.delivery), template, [notice.link_url], preview=False
        )

    async def _send_reminder(self, message: OutboundMessage) -> SendResult:
        """Inside the window: the session text; outside it: the approved session template
        (title and local time as parameters)."""
        reminder = message.delivery.reminder
        assert reminder is not None
        return await self._text_or_template(
            message,
            reminder_text(message.delivery),
            self.own.session_template,
            [reminder.title, reminder.when],
        )

    async def _text_or_template(
        self, message: OutboundMessage, text: str, template: str, parameters: list[str], preview: bool = True
    ) -> SendResult:
        """A text message inside the 24 h window; outside it the approved `template` with its body
        `parameters` (free text is refused there)."""
        recipient = message.delivery.recipient
        assert recipient.phone is not None
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient.phone.lstrip("+"),
        }
        if self.window_open(message):
            body.update(type="text", text={"body": text, "preview_url": preview})
        else:
            body.update(
                type="template",
                template={
                    "name": template,
                    "language": {"code": recipient.language},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
                    ],
                },
            )
        sent = await self.graph_post("/messages", json=body)
        return SendResult(provider_message_id=str(sent["messages"][0]["id"]))

    # ---- webhooks --------------------------------------------------------------------------------

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
                for change in entry.changes:
                    for status in change.value.statuses:
                        state = STATUS.get(status.status)
                        if state is None:
                            continue
                        reason = f"whatsapp-{status.errors[0].code}" if status.errors else None
                        await inbound.status(status.id, state, reason, status.at)
                    for item in change.value.messages:
                        if item.text is not None and item.text.body:
                            sender = "+" + item.sender.lstrip("+")
                            await inbound.message("phone", sender, item.text.body, item.id, item.at)
            return PlainTextResponse("ok")

        return router
