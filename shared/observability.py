"""Structured logging (structlog, JSON) that keeps personal data out of logs, and metrics.

Redaction happens in one processor that every log line passes through, including the stdlib
loggers of libraries (aio-pika, uvicorn): values under personal-data keys are replaced, and
e-mail addresses and phone numbers inside any string are masked. Secrets are `SecretStr` and
print as `**********` wherever they end up.

Exceptions never reach a log line, a message header or an operator's listing as their text:
`describe_error()` gives their type plus safe fields (a validation error's field paths and error
kinds, a database error's code and key NAMES, an HTTP status), because library messages echo input
values (pydantic's `input_value=...`, pymongo's `dup key: { email: "..." }`). Only the messages of
our own errors (classes in `shared.*`/`services.*`, written by us without personal data) are kept,
and scrubbed too. Tracebacks keep their frames (code, not data) and end in that description.

PERSONAL_KEYS is checked against every field name of the message contracts
(tests/unit/test_redaction.py): a new contract field is either listed here or declared not
personal in that test.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, get_args

import structlog
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError
from pydantic_core.core_schema import ErrorType

PERSONAL_KEYS = frozenset(
    {
        # names
        "name",
        "full_name",
        "first_name",
        "last_name",
        "display_name",
        "signer_name",
        "corrected_name",
        "salutation",
        # contact details and who a message is for or from
        "email",
        "email_address",
        "phone",
        "phone_number",
        "msisdn",
        "psid",
        "psids",
        "contact",
        "contact_card",
        "recipient",
        "recipients",
        "registrant",
        "sender",
        "to",
        # postal addresses (shared.contracts.pledge.PostalAddress and older spellings)
        "address",
        "postal_address",
        "street",
        "street_address",
        "address_line1",
        "address_line2",
        "city_address",
        "city",
        "city_area",
        "country_area",
        "postal_code",
        "sorting_code",
        # what people wrote or are sent
        "text",
        "body",
        "message_text",
        "ideas",
        "detail",
        # links that act for one person (they carry a token)
        "link_url",
        "link_path",
        "action_url",
        "cancel_url",
        "unsubscribe_url",
        "preferences_url",
        "download_url",
        "join_link",
        # secrets
        "password",
        "token",
        "action_token",
        "confirm_token",
        "secret",
    }
)
REDACTED = "[redacted]"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w/.:+-])(?!\d{4}-\d{2}-\d{2}(?!\d))\+?\(?\d(?:[ -]?\(?\d\)?){7,14}(?![\w/.:-])")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_OWN_PACKAGES = frozenset({"shared", "services"})
# Built-in pydantic error kinds word their message from the schema (expected type, limits,
# allowed values), never from the input; custom ones (a validator's ValueError) may quote it.
_SCHEMA_WORDED_ERRORS = frozenset(get_args(ErrorType)) - {"value_error", "assertion_error"}


def scrub_text(text: str) -> str:
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***:***@", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


def describe_validation_error(error: ValidationError) -> str:
    """Field paths and what was wrong with them; never the offending values."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: "
        + (e["msg"] if e["type"] in _SCHEMA_WORDED_ERRORS else e["type"])
        for e in error.errors(include_input=False, include_url=False, include_context=False)
    )


def _safe_fields(error: BaseException) -> list[str]:
    fields = []
    code = getattr(error, "code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        fields.append(f"code={code}")
    details = getattr(error, "details", None)
    if isinstance(details, Mapping) and isinstance(details.get("keyPattern"), Mapping):
        fields.append("key=" + ",".join(str(k) for k in details["keyPattern"]))  # names, not values
    if isinstance(error, OSError) and error.errno is not None:
        fields.append(f"errno={error.errno}")
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        fields.append(f"status={status}")
    return fields


def describe_error(error: BaseException) -> str:
    """An exception as logs, headers and listings may show it: type plus safe fields only."""
    kind = type(error).__name__
    if isinstance(error, ValidationError):
        return f"{kind}: {describe_validation_error(error)}"
    if type(error).__module__.split(".")[0] in _OWN_PACKAGES:
        return f"{kind}: {scrub_text(str(error))}"
    fields = _safe_fields(error)
    return f"{kind}({', '.join(fields)})" if fields else kind


_CAUSE = "\n\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\n\nDuring handling of the above exception, another exception occurred:\n\n"


def safe_traceback(error: BaseException) -> str:
    """A traceback whose frames are kept and whose exception lines are `describe_error()`."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None:
        seen.add(id(current))
        frames = "".join(traceback.StackSummary.extract(traceback.walk_tb(current.__traceback__)).format())
        parts.append(f"Traceback (most recent call last):\n{frames}{describe_error(current)}")
        following, link = (
            (current.__cause__, _CAUSE)
            if current.__cause__ is not None
            else (None if current.__suppress_context__ else current.__context__, _CONTEXT)
        )
        if following is None or id(following) in seen:
            break
        parts.append(link)
        current = following
    return "".join(reversed(parts))


def format_exc_info_safely(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog's `format_exc_info`, but the exception's text never reaches the line."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if isinstance(exc_info, BaseException):
        error: BaseException | None = exc_info
    elif isinstance(exc_info, tuple):
        error = exc_info[1]
    else:
        error = sys.exc_info()[1]
    if error is not None:
        event_dict["exception"] = safe_traceback(error)
    return event_dict


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
            format_exc_info_safely,
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
