from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """The operator console's API (`CONSOLE_` prefix). Operators, their sessions and tokens, and
    the audit trail live in the console's own collections (session and API tokens are random and
    stored hashed; TOTP secrets are sealed with the process's vault). Operator actions that change
    something are handed to the bus as events carrying the operator (`actor`)."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", env_file=".env", extra="ignore")
    service_name: ClassVar[str] = "console"

    host: str = "127.0.0.1"
    port: int = 8001
    session_hours: float = Field(default=12, gt=0, description="How long a sign-in session lasts.")
    max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins in a row after which the account is locked."
    )
    lockout_minutes: float = Field(default=15, gt=0, description="How long a locked account stays locked.")
    sign_in_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed sign-ins from one address (whatever the accounts) within "
        "CONSOLE_LOCKOUT_MINUTES after which that address is refused with 429 until the window ends: "
        "password spraying across many accounts is slowed like guessing one.",
    )
    insecure_cookies: bool = Field(
        default=False,
        description="Local plain-http runs only: the session cookie without `Secure` (never in production).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body; larger get 413."
    )
    secret_key: SecretStr = Field(
        description="Derives the pledge ids of imported paper sign-up rows (the same row gives the "
        "same id) and signs the web console's form tokens (CSRF). Required; `make run` generates "
        "one into .run/secrets.env.",
    )
    hsts: bool = Field(
        default=False,
        description="Send Strict-Transport-Security: on in production, where the console is only "
        "reached over TLS.",
    )
    time_zone: str = Field(
        default="UTC",
        description="The time zone the web console shows times in (an IANA name, e.g. "
        "Asia/Phnom_Penh); every time is labelled with it.",
    )
    public_site_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where people reach the public site (alert pages, session pages): links in "
        "what operators publish point there.",
    )
    submit_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        description="How long an operator action waits for the broker before answering 503.",
    )
    consent_text_version: str = Field(
        default="pledge-consent-2026-11",
        description="The consent text imported paper sign-up sheets were signed under.",
    )
    table_import_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest CSV the table import accepts."
    )
    subscriber_import_max_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Largest subscriber import (JSON, up to 5,000 rows of up to ~1.6 KB each).",
    )
    plan_of_action_max_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="Largest Plan of Action request: a 5 MB PDF is 6.7 MB in base64, plus its texts.",
    )

    @field_validator("time_zone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not a time zone: {value!r} (an IANA name like Asia/Phnom_Penh)") from None
        return value
