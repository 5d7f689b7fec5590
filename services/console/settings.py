from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """The operator console's API (`CONSOLE_` prefix). Operators, their sessions and tokens, and
    the audit trail live in the console's own collections; nothing here is a secret (session and
    API tokens are random and stored hashed; TOTP secrets are sealed with the process's vault)."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", env_file=".env", extra="ignore")
    service_name: ClassVar[str] = "console"

    host: str = "127.0.0.1"
    port: int = 8001
    session_hours: float = Field(default=12, gt=0, description="How long a sign-in session lasts.")
    max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins in a row after which the account is locked."
    )
    lockout_minutes: float = Field(default=15, gt=0, description="How long a locked account stays locked.")
    insecure_cookies: bool = Field(
        default=False,
        description="Local plain-http runs only: the session cookie without `Secure` (never in production).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body; larger get 413."
    )
