"""No personal value reaches a log line: personal keys, exception texts, tracebacks.

Every field name of every message contract is either redacted (shared.observability.PERSONAL_KEYS)
or declared not personal below, so a new personal field cannot be forgotten: adding one fails
here until it is classified.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import pkgutil

import pytest
import structlog
from pydantic import BaseModel, ValidationError, field_validator
from pymongo.errors import DuplicateKeyError

import shared.contracts
from shared.messaging.errors import PermanentError
from shared.observability import (
    PERSONAL_KEYS,
    REDACTED,
    configure_logging,
    describe_error,
    redact_personal_data,
)

NOT_PERSONAL = frozenset(
    [
        "actor",  # an operator id (op_…), never a name or an email
        "operator_id",  # the same, on an alert's test send
        "answer_id",  # an answer to a chat reply: a hash of the reply id and the text's digest
        "reply_id",  # an inbound message's id (its text and sender are sealed elsewhere)
        "test_id",  # a test send's id
        "last_message_at",  # when the person last wrote: opens the reply window, says nothing of who
        "code",  # a field error's code, its field name and its generated message
        "field",  # (shared/contracts/pledge_input.py): never the submitted value
        "message",
        "accepted_at",
        "change_id",
        "contact_digests",  # keyed digests (HMAC under the blind-index key), no contact itself
        "member_ids",
        "request_id",
        "encrypted",
        "link_label",
        "actions",
        "address_kind",
        "alert",
        "alert_id",
        "alerts",
        "alerts_opt_in",
        "phone_confirmed",  # whether the number's owner wrote to us: a flag, not the number
        "discreet",  # whether messages go discreetly: a choice, like alerts_opt_in (no contact, no name)
        "at",
        "attempt",
        "background",
        "batch_id",
        "bucket",  # the GridFS bucket a message's files are in (file references)
        "capacity",
        "causation_id",
        "certificate",
        "certificate_language",
        "certificate_number",
        "change",
        "channel",
        "channels",
        "confirmed",
        "consent",
        "correlation_id",
        "country",
        "country_code",
        "data",
        "deadline",
        "delivery_id",
        "description",
        "due_at",
        "end",
        "ends_at",
        "event_id",
        "fallback_from",
        "ics_url",
        "interface_language",
        "issued_at",
        "join_link_release_at",
        "kind",
        "language",
        "last_inbound_at",
        "letter",
        "letter_subject",
        "linked_at",
        "locale",
        "member_id",
        "minutes_before",
        "mode",
        "notice",
        "notice_id",
        "number",
        "occurred_at",
        "officials",
        "organisation",
        "pdf_bucket",
        "pdf_file_id",
        "place",
        "plan_of_action",
        "plan_pdf_bucket",
        "plan_pdf_file_id",
        "pledge_id",
        "png_file_id",
        "preferences",
        "previous_starts_at",
        "previous_when",
        "print_pdf_file_id",
        "priority",
        "provider_message_id",
        "public_url",
        "published_at",
        "purpose",
        "quiet_end",
        "quiet_hours",
        "quiet_start",
        "reason",
        "received_at",
        "recorded_at",
        "registration_closes_at",
        "registration_id",
        "registration_opens_at",
        "registration_state",
        "reminder",
        "reminder_id",
        "reminder_minutes",
        "reminder_seconds",
        "replaces",
        "reported_at",
        "requested_at",
        "resume_all",
        "row",
        "scope",
        "seconds_before",
        "sender_kind",
        "sensitive",
        "sequence",
        "session",
        "session_id",
        "sessions_opt_in",
        "show_name_publicly",
        "source",
        "source_id",
        "start",
        "starts_at",
        "state",
        "status",
        "stopped_channels",
        "subject",
        "submitted_at",
        "subscription_id",
        "summary",
        "table",
        "text_version",
        "texts",
        "time_zone",
        "title",
        "topics",
        "type",
        "until",
        "urgent",
        "verify_url",
        "version",
        "waitlisted",
        "when",
    ]
)
NAME, EMAIL, PHONE = "Sok Dara", "dara@example.org", "+85512345678"


def contract_field_names() -> set[str]:
    names: set[str] = set()
    for module_info in pkgutil.iter_modules(shared.contracts.__path__):
        module = importlib.import_module(f"shared.contracts.{module_info.name}")
        for model in vars(module).values():
            if inspect.isclass(model) and issubclass(model, BaseModel):
                for name, info in model.model_fields.items():
                    names.add(info.alias or name)
    return names


def test_every_contract_field_is_redacted_unless_declared_not_personal() -> None:
    fields = contract_field_names()
    unclassified = sorted(n for n in fields - NOT_PERSONAL if n.lower() not in PERSONAL_KEYS)
    assert not unclassified, f"add to PERSONAL_KEYS or to NOT_PERSONAL: {unclassified}"
    assert not NOT_PERSONAL & PERSONAL_KEYS
    for name in fields - NOT_PERSONAL:
        line = redact_personal_data(None, "info", {"event": "x", name: NAME, "nested": {name: NAME}})
        assert line[name] == REDACTED and line["nested"][name] == REDACTED, name


@pytest.mark.parametrize(
    "personal",
    [
        *("text", "sender", "street_address", "city", "city_area", "country_area", "postal_code"),
        *("ideas", "psid", "display_name", "contact", "registrant", "corrected_name", "cancel_url"),
    ],
)
def test_the_issues_personal_keys_are_redacted(personal: str) -> None:
    assert personal in PERSONAL_KEYS


def test_a_log_line_built_from_each_personal_key_shows_none_of_the_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("unit", "INFO", "json")
    values = {key: f"value-of-{key}-{NAME}" for key in PERSONAL_KEYS}
    structlog.stdlib.get_logger("t").info("everything", **values, nested={"member": dict(values)})
    logging.getLogger("aio_pika.fake").warning("failed for %s at %s", EMAIL, PHONE)
    out = capsys.readouterr().out
    assert out.count("everything") == 1
    for value in (*values.values(), EMAIL, PHONE):
        assert value not in out


class Signup(BaseModel):
    email: int
    name: str

    @field_validator("name")
    @classmethod
    def echo(cls, value: str) -> str:
        raise ValueError(f"{value!r} is not allowed")


def validation_error() -> ValidationError:
    try:
        Signup.model_validate({"email": EMAIL, "name": NAME})
    except ValidationError as error:
        return error
    raise AssertionError("expected a validation error")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError(f"{NAME} <{EMAIL}> {PHONE}"), "ValueError"),
        (KeyError(EMAIL), "KeyError"),
        (
            DuplicateKeyError(f'E11000 dup key: {{ email: "{EMAIL}" }}', 11000, {"keyPattern": {"email": 1}}),
            "DuplicateKeyError(code=11000, key=email)",
        ),
        (PermanentError(f"mailbox {EMAIL} refused, call {PHONE}"), "PermanentError: mailbox [email] refused"),
    ],
)
def test_an_exception_is_described_by_its_type_and_safe_fields(error: Exception, expected: str) -> None:
    described = describe_error(error)
    assert described.startswith(expected)
    for value in (NAME, EMAIL, PHONE, "345678"):
        assert value not in described


def test_a_validation_error_gives_field_paths_and_error_kinds_only() -> None:
    described = describe_error(validation_error())
    assert described.startswith("ValidationError: email: Input should be a valid integer")
    assert "name: value_error" in described
    assert NAME not in described and EMAIL not in described


def test_a_logged_traceback_keeps_its_frames_and_drops_the_exception_texts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("unit", "INFO", "json")
    log = structlog.stdlib.get_logger("t")
    try:
        try:
            raise LookupError(f"no member {NAME}")
        except LookupError as cause:
            raise RuntimeError(f"{NAME} <{EMAIL}> {PHONE}") from cause
    except RuntimeError:
        log.exception("handler crashed")
        logging.getLogger("aio_pika.fake").exception("library crashed")
    try:
        Signup.model_validate({"email": EMAIL, "name": NAME})
    except ValidationError:
        log.exception("invalid")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert "Traceback (most recent call last)" in line["exception"]
        assert "test_redaction.py" in line["exception"]
        for value in (NAME, EMAIL, PHONE, "12345678"):
            assert value not in json.dumps(line, ensure_ascii=False)
    assert "LookupError" in lines[0]["exception"] and "RuntimeError" in lines[0]["exception"]
