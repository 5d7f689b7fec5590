from __future__ import annotations

import json
import logging

import pytest
import structlog

from shared.observability import REDACTED, configure_logging, redact_personal_data, scrub_text


def test_personal_keys_are_redacted_at_any_depth() -> None:
    event = redact_personal_data(
        None,
        "info",
        {
            "event": "pledge recorded",
            "name": "Sok Dara",
            "member": {"email": "dara@example.org", "country": "KH"},
            "recipients": ["+85512345678"],
        },
    )
    assert event["name"] == REDACTED
    assert event["member"] == {"email": REDACTED, "country": "KH"}
    assert event["recipients"] == REDACTED


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("failed for dara@example.org today", "dara@example.org"),
        ("signal send to +855 12 345 678 failed", "345 678"),
        ("connect amqp://samleng:s3cret@broker:5672/", "s3cret"),
        ("call 012 345 678 please", "345 678"),
        ("whatsapp +1-202-555-0143", "555-0143"),
    ],
)
def test_emails_phones_and_url_passwords_inside_text_are_masked(text: str, leak: str) -> None:
    assert leak not in scrub_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "event 5b0e8a52-6c2f-4d55-9f0b-6a1f0f5f9a10 attempt 3 of 5 took 1234 ms",
        "connect failed ('127.0.0.1', 5672) at 2026-11-22 22:06:23.084116",
        "listening on 127.0.0.1:27017 since 2026-11-22T22:06:23Z",
    ],
)
def test_addresses_dates_uuids_and_counts_are_left_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_configured_logging_redacts_structlog_and_stdlib_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit", "INFO", "json")
    structlog.stdlib.get_logger("t").info("signed", name="Sok Dara", email="dara@example.org", pledge_id="p1")
    logging.getLogger("aio_pika.fake").warning("could not reach dara@example.org")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    text = json.dumps(lines, ensure_ascii=False)
    assert "Sok Dara" not in text and "dara@example.org" not in text
    assert lines[0]["pledge_id"] == "p1" and lines[0]["service"] == "unit"
