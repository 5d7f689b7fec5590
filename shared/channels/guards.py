"""Per-channel protection of the provider: a rate limit and a circuit breaker (one per process)."""

from __future__ import annotations

import asyncio
import time
from typing import Literal


class RateLimiter:
    """Token bucket: at most `rate` sends per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Opens after `threshold` consecutive retryable failures; while open, sends are not tried
    (messages go straight to their next retry tier). After `cooldown` one trial send is let
    through (half-open): success closes it, failure opens it again."""

    def __init__(self, threshold: int = 5, cooldown: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self) -> None:
        self._failures += 1
        if self._trial_running or self._failures >= self.threshold:
            self._opened_at = time.monotonic()
        self._trial_running = False

    def neutral(self) -> None:
        """The trial ended without telling anything about the provider (e.g. a bad address)."""
        self._trial_running = False
