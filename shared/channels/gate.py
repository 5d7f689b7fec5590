"""The send-slot gate: a channel's few send slots go to its most urgent waiting work first.

A channel consumes one queue per priority band, so messages of every band wait in the process
at once (each band's prefetch is about the number of slots). A freed slot is handed straight to
the oldest waiter of the highest band that has one: while high-band work waits, no lower-band
send starts; within a band the order is first come, first served.

    gate = PriorityGate(slots=4, bands=3)     # band 0 is the most urgent
    async with gate.slot(band):
        ...                                    # claim, rate limit, send
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class PriorityGate:
    def __init__(self, slots: int, bands: int) -> None:
        if slots < 1 or bands < 1:
            raise ValueError("a gate needs at least one slot and one band")
        self.slots = slots
        self._free = slots
        self._waiters: tuple[deque[asyncio.Future[None]], ...] = tuple(deque() for _ in range(bands))

    def waiting(self, band: int) -> int:
        return sum(not waiter.done() for waiter in self._waiters[band])

    @property
    def free(self) -> int:
        return self._free

    async def acquire(self, band: int) -> None:
        if self._free and not any(self._waiters):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[band].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # the slot was handed over: pass it on
                self.release()
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it already
                    self._waiters[band].remove(waiter)
            raise

    def release(self) -> None:
        """Hand the slot to the oldest waiter of the most urgent band, or free it."""
        for waiters in self._waiters:
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1

    @contextlib.asynccontextmanager
    async def slot(self, band: int) -> AsyncIterator[None]:
        await self.acquire(band)
        try:
            yield
        finally:
            self.release()
