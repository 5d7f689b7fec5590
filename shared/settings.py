"""Configuration as data: one pydantic-settings class per service, secrets as SecretStr.

Connection settings every service shares (`AMQP_URL`, `MONGODB_URI`, ...) are read without a
prefix, so one `.env` serves all services; anything a single service owns uses that service's
prefix (`INTAKE_PORT`, `EMAIL_SMTP_HOST`, ...). Every variable is listed in `.env.example`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class ServiceSettings(BaseSettings):
    """Settings every Samleng process has. Subclass it once per service with its own env_prefix."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    service_name: ClassVar[str] = "samleng"

    amqp_url: SecretStr = Field(
        default=SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
        validation_alias=_shared("AMQP_URL"),
        description="RabbitMQ URL; holds credentials, so it is a secret and never logged.",
    )
    amqp_exchange: str = Field(
        default="samleng", validation_alias=_shared("AMQP_EXCHANGE"), description="The one topic exchange."
    )
    mongodb_uri: SecretStr = Field(
        default=SecretStr("mongodb://127.0.0.1:27017/?retryWrites=false"),
        validation_alias=_shared("MONGODB_URI"),
        description="MongoDB (or Mongo-wire) URI; may hold credentials.",
    )
    mongodb_database: str = Field(default="samleng", validation_alias=_shared("MONGODB_DATABASE"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_shared("LOG_LEVEL")
    )
    log_format: Literal["json", "console"] = Field(default="json", validation_alias=_shared("LOG_FORMAT"))
    health_host: str = Field(default="127.0.0.1", validation_alias=_shared("HEALTH_HOST"))
    health_port: int = Field(
        default=0,
        validation_alias=_shared("HEALTH_PORT"),
        description="Port of /health/live, /health/ready and /metrics; 0 picks a free one "
        "(`make run` announces each replica's port in SAMLENG_HEALTH_DIR; containers set 8080).",
    )
    health_registry_dir: str | None = Field(
        default=None,
        validation_alias=_shared("SAMLENG_HEALTH_DIR"),
        description="Local runs only: each process writes its health URL here so `make run` can "
        "wait for every replica to be ready.",
    )
    prefetch: int = Field(
        default=64,
        ge=1,
        validation_alias=_shared("AMQP_PREFETCH"),
        description="Messages a consumer handles at once; channels prefetch twice their send slots per band.",
    )
    retry_delays_ms: list[int] = Field(
        default=[10_000, 60_000, 600_000, 3_600_000],
        validation_alias=_shared("RETRY_DELAYS_MS"),
        description="Retry tiers (TTL queues) a failed message waits in, one per retry; "
        "after the last one it goes to the dead-letter queue.",
    )
    delivery_limit: int = Field(
        default=5,
        ge=1,
        validation_alias=_shared("AMQP_DELIVERY_LIMIT"),
        description="Redeliveries after consumer crashes before the broker dead-letters a message.",
    )
    shutdown_grace_seconds: float = Field(default=20.0, validation_alias=_shared("SHUTDOWN_GRACE_SECONDS"))
    publish_timeout_seconds: float = Field(
        default=15.0,
        validation_alias=_shared("PUBLISH_TIMEOUT_SECONDS"),
        description="How long a publish waits for the broker (e.g. during a restart) before failing.",
    )
