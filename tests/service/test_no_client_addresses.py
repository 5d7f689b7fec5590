"""Members' IP addresses are never logged (issue 17, point 5): intake served as the services serve
it (shared/health.py `server_config`), with our logging pipeline at DEBUG and uvicorn's own loggers
opened up, answers form, API, error and rate-limited requests from a distinct loopback address
that then appears in no log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from shared.observability import configure_logging
from tests.service.test_intake_api import VALID

CLIENT = "127.0.0.77"  # the caller's address: the server listens on 127.0.0.1
LOUD = ("uvicorn", "uvicorn.access", "uvicorn.error", "samleng")


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Every line our logging pipeline writes, as the services configure it, at DEBUG."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level for name in LOUD})
    configure_logging("intake", "DEBUG", "json")
    lines = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(lines)
    for name in LOUD:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield lines
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


async def test_no_log_line_carries_the_callers_address(
    make_intake: Callable[..., Any],
    submitted_queue: Any,
    logged: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT)
    async with (
        make_intake(rate_limit_per_minute=3) as url,
        httpx.AsyncClient(base_url=url, transport=transport) as client,
    ):
        statuses = [
            (await client.get("/", params={"lang": "en"})).status_code,
            (await client.get("/sessions", params={"lang": "km"})).status_code,
            (await client.get("/a/UA-99-26")).status_code,
            (await client.get("/no/such/page")).status_code,
            (await client.post("/api/v1/pledges", json={"name": ""})).status_code,
        ]
        statuses += [(await client.post("/api/v1/pledges", json=VALID)).status_code for _ in range(4)]
    assert 202 in statuses and 404 in statuses and 422 in statuses and 429 in statuses, statuses
    text = logged.getvalue()
    assert "pledge submitted" in text and "Uvicorn running" in text, "the pipeline was capturing"
    assert CLIENT not in text
    assert all(CLIENT not in record.getMessage() for record in caplog.records)
