"""Post: the print-ready certificate (US Letter) as a letter, never to Cambodia.

Two modes (`POST_MODE`):

- `lob`: a print-and-mail letters API shaped like Lob's. The address is verified first
  (`/v1/us_verifications` or `/v1/intl_verifications`; undeliverable -> permanent failure, so
  the dispatcher falls back), then `POST /v1/letters` with the PDF, the address placed on an
  inserted blank page, and `Idempotency-Key` = the delivery id. Because Lob returns the same
  letter for a repeated key, a resend after an unknown outcome is safe (`resend_is_safe`).
  429 and 5xx -> retry (honouring Retry-After); other 4xx -> permanent; 401/403 -> retry (a
  configuration problem to fix, not the member's fault).
- `print-batch`: for organisations without such an account. Each letter is added to the day's
  print batch (`post_print_batch`); `samleng post batch --day YYYY-MM-DD` writes one merged PDF
  of the letters, an address-label sheet and a CSV for volunteers. A letter's name and address
  (`BATCH_SEALED_FIELDS`) are stored sealed under the member's data key (shared/personal_data.py,
  the process's keys); the day, member id, certificate number and file id stay plain.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from pymongo import AsyncMongoClient

from shared.channels import (
    ChannelSettings,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SendResult,
)
from shared.channels.http import HttpChannelAdapter
from shared.contracts import utcnow
from shared.contracts.delivery import DeliveryRequestedData, Recipient
from shared.contracts.pledge import PostalAddress
from shared.personal_data import Vault, open_vault, seal_fields
from shared.storage import Document, create_client, database, durable, insert_once

UNDELIVERABLE = frozenset({"undeliverable", "no_match"})
BATCH_COLLECTION = "post_print_batch"
BATCH_SEALED_FIELDS = ("name", "address")


class PostSettings(ChannelSettings):
    model_config = SettingsConfigDict(env_prefix="POST_", env_file=".env", extra="ignore")
    mode: Literal["lob", "print-batch"] = "lob"
    api_url: str | None = Field(
        default=None, description="Letters API base URL; unset = the local sandbox (`<SANDBOX_URL>/lob`)."
    )
    api_key: SecretStr | None = Field(default=None, description="Letters API key (HTTP Basic user name).")
    timeout_seconds: float = 30.0
    verify_addresses: bool = True
    color: bool = True
    from_name: str = "Samleng"
    from_address_line1: str = ""
    from_address_city: str = ""
    from_address_state: str = ""
    from_address_zip: str = ""
    from_address_country: str = "US"


def address_fields(prefix: str, name: str, address: PostalAddress) -> dict[str, str]:
    lines = [line.strip() for line in address.street_address.splitlines() if line.strip()] or [""]
    fields = {
        "name": name,
        "address_line1": lines[0],
        "address_line2": ", ".join(lines[1:]),
        "address_city": address.city,
        "address_state": address.country_area,
        "address_zip": address.postal_code,
        "address_country": address.country_code.upper(),
    }
    return {f"{prefix}[{key}]": value for key, value in fields.items() if value}


class PostAdapter(HttpChannelAdapter):
    name: ClassVar[str] = "post"
    settings_class = PostSettings

    def __init__(self, settings: ChannelSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings, transport)
        assert isinstance(settings, PostSettings)
        self.post_settings = settings
        self._mongo: AsyncMongoClient[Document] | None = None
        self._vault: Vault | None = None

    @property
    def api_url(self) -> str:
        return self.provider_url(self.post_settings.api_url)

    async def start(self) -> None:
        s = self.post_settings
        if s.mode == "print-batch":
            self._mongo = create_client(s)
            self._vault = await open_vault(database(self._mongo, s))
            return
        if s.api_key is None:
            raise RuntimeError("POST_API_KEY is required in lob mode")
        self.open_http(self.api_url, auth=(s.api_key.get_secret_value(), ""), timeout=s.timeout_seconds)

    async def close(self) -> None:
        await super().close()
        if self._vault is not None:
            await self._vault.close()
        if self._mongo is not None:
            await self._mongo.close()

    async def send(self, message: OutboundMessage) -> SendResult:
        recipient = message.recipient
        if recipient.postal_address is None:
            raise PermanentDeliveryError("no postal address", reason="no-postal-address")
        if not message.attachments:
            raise PermanentDeliveryError("no print-ready PDF", reason="missing-print_pdf")
        if self.post_settings.mode == "print-batch":
            return await self._add_to_batch(message)
        if self.post_settings.verify_addresses:
            await self._verify(recipient.postal_address)
        return await self._create_letter(message)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            if method == "POST" and path == "/v1/letters":
                raise OutcomeUnknown("letters API timed out", reason="provider-timeout") from error
            raise RetryableDeliveryError("letters API timed out", reason="provider-timeout") from error
        except httpx.TransportError as error:
            raise RetryableDeliveryError(
                f"letters API unreachable: {error}", reason="provider-unreachable"
            ) from error
        if response.status_code < 400:
            return response
        code = response.status_code
        detail = _error_message(response)
        if code == 429:
            retry_after = response.headers.get("retry-after")
            raise RetryableDeliveryError(
                f"rate limited: {detail}",
                reason="provider-429",
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if code >= 500 or code in (401, 403, 408):
            raise RetryableDeliveryError(f"letters API {code}: {detail}", reason=f"provider-{code}")
        raise PermanentDeliveryError(f"letters API {code}: {detail}", reason=f"provider-{code}")

    async def _verify(self, address: PostalAddress) -> None:
        lines = [line.strip() for line in address.street_address.splitlines() if line.strip()] or [""]
        if address.country_code.upper() == "US":
            path = "/v1/us_verifications"
            body = {
                "primary_line": lines[0],
                "secondary_line": ", ".join(lines[1:]),
                "city": address.city,
                "state": address.country_area,
                "zip_code": address.postal_code,
            }
        else:
            path = "/v1/intl_verifications"
            body = {
                "primary_line": lines[0],
                "secondary_line": ", ".join(lines[1:]),
                "city": address.city,
                "state": address.country_area,
                "postal_code": address.postal_code,
                "country": address.country_code.upper(),
            }
        verdict = (await self._call("POST", path, json=body)).json().get("deliverability")
        if verdict in UNDELIVERABLE:
            raise PermanentDeliveryError(f"address verification: {verdict}", reason="address-undeliverable")

    async def _create_letter(self, message: OutboundMessage) -> SendResult:
        s = self.post_settings
        delivery = message.delivery
        recipient = delivery.recipient
        assert recipient.postal_address is not None
        number = delivery.certificate.certificate_number if delivery.certificate else delivery.source_id
        form = {
            "description": f"Pledge certificate {number}",
            "color": "true" if s.color else "false",
            "double_sided": "false",
            "address_placement": "insert_blank_page",
            "use_type": "operational",
            "metadata[delivery_id]": delivery.delivery_id,
            **address_fields("to", recipient.name, recipient.postal_address),
        }
        if s.from_address_line1:
            sender = PostalAddress(
                street_address=s.from_address_line1,
                city=s.from_address_city,
                country_area=s.from_address_state,
                postal_code=s.from_address_zip,
                country_code=s.from_address_country,
            )
            form.update(address_fields("from", s.from_name, sender))
        pdf = message.attachments[0]
        response = await self._call(
            "POST",
            "/v1/letters",
            data=form,
            files={"file": (pdf.filename, pdf.data, pdf.content_type)},
            headers={"Idempotency-Key": delivery.delivery_id},
        )
        letter = response.json()
        return SendResult(
            provider_message_id=letter.get("id"), details={"expected": letter.get("expected_delivery_date")}
        )

    async def reconcile(self, delivery: DeliveryRequestedData) -> SendResult | None:
        if self.post_settings.mode == "print-batch":
            return None
        response = await self._call(
            "GET", "/v1/letters", params={"metadata[delivery_id]": delivery.delivery_id}
        )
        letters = response.json().get("data") or []
        if letters:
            return SendResult(provider_message_id=letters[0].get("id"))
        raise RetryableDeliveryError("no letter for this delivery", reason="not-sent")

    async def _add_to_batch(self, message: OutboundMessage) -> SendResult:
        assert self._mongo is not None
        delivery = message.delivery
        recipient: Recipient = delivery.recipient
        assert recipient.postal_address is not None and delivery.certificate is not None
        now = utcnow()
        batch = durable(database(self._mongo, self.post_settings)[BATCH_COLLECTION])
        letter = {
            "_id": delivery.delivery_id,
            "day": now.date().isoformat(),
            "member_id": recipient.member_id,
            "name": recipient.name,
            "address": recipient.postal_address.model_dump(),
            "certificate_number": delivery.certificate.certificate_number,
            "print_pdf_file_id": delivery.certificate.print_pdf_file_id,
            "added_at": now,
        }
        await insert_once(
            batch, await seal_fields(self._vault, recipient.member_id, letter, BATCH_SEALED_FIELDS)
        )
        return SendResult(provider_message_id=f"print-batch:{now.date().isoformat()}")


def _error_message(response: httpx.Response) -> str:
    """The provider's error text, whatever shape the body has (Lob's `{"error": {"message": …}}`,
    a bare string, a list, or no JSON at all): an odd body must never crash the classification."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:200]
    return str(error or "")[:200]
