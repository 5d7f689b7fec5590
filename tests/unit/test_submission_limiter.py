"""The per-address submission limiter (services/intake/limits.py) counts a sliding minute and
forgets addresses that were quiet for a minute, so its table never grows without bound."""

from __future__ import annotations

import pytest

from services.intake import limits


def test_a_sliding_minute_per_address_and_quiet_addresses_are_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(limits.time, "monotonic", lambda: now[0])
    limiter = limits.RateLimiter(per_minute=2)
    assert [limiter.retry_after("198.51.100.7") for _ in range(3)][:2] == [0, 0]
    assert limiter.retry_after("198.51.100.7") > 0
    assert limiter.retry_after("203.0.113.9") == 0  # another address has its own count
    for n in range(5000):
        limiter.retry_after(f"10.0.{n // 250}.{n % 250}")
    assert len(limiter) == 5002
    now[0] += 61
    assert limiter.retry_after("198.51.100.7") == 0  # the minute has passed
    assert len(limiter) == 1, "every address quiet for a minute is forgotten"
