from __future__ import annotations

import os
import re
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.channels.catalogue import channel_names, spec
from shared.rate_limit import parse_networks
from shared.settings import ServiceSettings

E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class IntakeSettings(ServiceSettings):
    """The public pledge form and JSON API (`INTAKE_` prefix)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", env_file=".env", extra="ignore")
    service_name: ClassVar[str] = "intake"

    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: SecretStr = Field(
        description="Signs pledge ids, CSRF tokens and Messenger references. Required; `make run` "
        "generates one into .run/secrets.env.",
    )
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="Where people reach this site.")
    hsts: bool = Field(
        default=False,
        description="Send Strict-Transport-Security (one year, subdomains). Production behind TLS sets it.",
    )
    messenger_page: str = Field(
        default="", description="Facebook page username for m.me links; empty = Messenger not offered."
    )
    channel_numbers: dict[str, str] = Field(
        default_factory=dict,
        description="Our own number on each phone channel, by channel name (E.164, e.g. "
        "+15550001234), shown to people who chose that channel: they must write to it before we send "
        "there (services/intake/confirm_number.py); none = the page names no number. Set one per "
        "channel as INTAKE_<NAME>_NUMBER (INTAKE_SIGNAL_NUMBER, INTAKE_WHATSAPP_NUMBER, ...).",
    )
    consent_text_version: str = "pledge-consent-2026-11"
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest body of public routes (forms, JSON); larger get 413."
    )
    rate_limit_per_minute: int = Field(
        default=20,
        ge=1,
        description="Submissions (pledges, subscriptions, session registrations) per client address "
        "per minute, counted across all replicas (services/intake/limits.py).",
    )
    rate_limit_links_per_minute: int = Field(
        default=30,
        ge=1,
        description="Posts from a member's links (I took action, confirm, preferences, erase, cancel a "
        "registration) per client address per minute.",
    )
    rate_limit_unsubscribe_per_minute: int = Field(
        default=600,
        ge=1,
        description="Unsubscribes per client address per minute; high, because mail providers send "
        "their members' one-click unsubscribes from a few shared servers.",
    )
    rate_limit_verify_per_minute: int = Field(
        default=30, ge=1, description="Certificate checks (page and API) per client address per minute."
    )
    action_link_grace_days: float = Field(
        default=7,
        gt=0,
        description='How long an "I took action" link keeps working after its alert\'s deadline or '
        "closure (whichever comes first).",
    )
    action_link_days: float = Field(
        default=30,
        gt=0,
        description='How long an "I took action" link works after it was sent, for an alert with no '
        "deadline that is still open.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or "
        "CIDRs); empty = none, the socket peer is the client.",
    )
    partner_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long a looked-up partner key is reused before it is read again: a revoked "
        "key is refused at most this long after its revocation.",
    )
    submit_timeout_seconds: float = Field(
        default=3.0, description="How long a submission waits for the broker before answering 503."
    )

    @model_validator(mode="before")
    @classmethod
    def _number_per_channel(cls, data: Any) -> Any:
        """INTAKE_<NAME>_NUMBER of every phone channel the catalogue lists (from the environment,
        else .env or a `<name>_number` argument): a channel added later needs no new field."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        numbers = dict(data.get("channel_numbers") or {})
        for name in channel_names():
            given = data.pop(f"{name}_number", None)
            if spec(name).address_kind != "phone":
                continue
            value = os.environ.get(f"INTAKE_{name.upper()}_NUMBER") or given
            if value and str(value).strip():
                numbers[name] = str(value)
        data["channel_numbers"] = numbers
        return data

    @field_validator("channel_numbers")
    @classmethod
    def _e164(cls, numbers: dict[str, str]) -> dict[str, str]:
        cleaned = {name: number.strip() for name, number in numbers.items()}
        for name, number in cleaned.items():
            if not E164.fullmatch(number):
                raise ValueError(
                    f"INTAKE_{name.upper()}_NUMBER: give the number in E.164 form: + and country code, "
                    "digits only (+15550001234)"
                )
        return cleaned

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a typo fails at start, not silently trusting nobody
        return value
