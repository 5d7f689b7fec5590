from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

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
    signal_number: str = Field(
        default="",
        description="Our Signal account's number (E.164, e.g. +15550001234), shown to people who chose "
        "Signal: they must write to it before we send there (services/intake/confirm_number.py); "
        'empty = the page names no number ("the number the network gave you").',
    )
    whatsapp_number: str = Field(
        default="", description="Our WhatsApp Business number (E.164), shown as `signal_number` is."
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

    @field_validator("signal_number", "whatsapp_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        value = value.strip()
        if value and not E164.fullmatch(value):
            raise ValueError("give the number in E.164 form: + and country code, digits only (+15550001234)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a typo fails at start, not silently trusting nobody
        return value
