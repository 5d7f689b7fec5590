"""Structured logging (structlog, JSON) that keeps personal data out of logs, and metrics.

Redaction happens in one processor that every log line passes through, including the stdlib
loggers of libraries (aio-pika, uvicorn): values under personal-data keys are replaced, and
e-mail addresses and phone numbers inside any string are masked. Secrets are `SecretStr` and
print as `**********` wherever they end up.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

PERSONAL_KEYS = frozenset(
    {
        "name",
        "full_name",
        "first_name",
        "last_name",
        "display_name",
        "signer_name",
        "email",
        "email_address",
        "phone",
        "phone_number",
        "msisdn",
        "recipient",
        "recipients",
        "address",
        "postal_address",
        "street",
        "address_line1",
        "address_line2",
        "city_address",
        "psid",
        "contact",
        "to",
        "body",
        "message_text",
        "password",
        "token",
        "secret",
    }
)
REDACTED = "[redacted]"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w/.:+-])(?!\d{4}-\d{2}-\d{2}(?!\d))\+?\(?\d(?:[ -]?\(?\d\)?){7,14}(?![\w/.:-])")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")


def scrub_text(text: str) -> str:
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***:***@", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if str(key).lower() in PERSONAL_KEYS else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [_scrub(item, depth + 1) for item in value]
    return value


def redact_personal_data(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging through one redacting pipeline to stdout."""
    # Applied to every record, ours and the libraries'; redaction runs last, in the formatter, so
    # nothing reaches the renderer without passing it.
    enrich: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *enrich,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=enrich,
        processors=[
            structlog.processors.format_exc_info,
            redact_personal_data,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiormq", "aio_pika", "pymongo", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> Any:
    return structlog.stdlib.get_logger(name)


MESSAGES_CONSUMED = Counter(
    "samleng_messages_consumed_total",
    "Messages a consumer finished, by outcome (ack, retry, dead_letter).",
    ["queue", "type", "outcome"],
)
HANDLER_SECONDS = Histogram("samleng_handler_seconds", "Time spent in a message handler.", ["queue", "type"])
MESSAGES_PUBLISHED = Counter(
    "samleng_messages_published_total", "Messages published and confirmed by the broker.", ["type"]
)
IN_FLIGHT = Gauge("samleng_messages_in_flight", "Messages being handled right now.", ["queue"])
