"""The priority gate: a free send slot goes to the most urgent waiting request."""

from __future__ import annotations

import asyncio

from shared.channels.gate import PriorityGate

HIGH, NORMAL, LOW = range(3)


async def run_gate(gate: PriorityGate, arrivals: list[tuple[str, int]]) -> list[str]:
    """Every arrival waits for the gate, then holds its slot for one loop turn; returns start order."""
    started: list[str] = []

    async def work(name: str, band: int) -> None:
        async with gate.slot(band):
            started.append(name)
            await asyncio.sleep(0)

    tasks = []
    for name, band in arrivals:
        tasks.append(asyncio.create_task(work(name, band)))
        await asyncio.sleep(0)  # arrives in this order, each before the next
    await asyncio.gather(*tasks)
    return started


async def test_a_freed_slot_goes_to_the_most_urgent_band_first_and_in_order_within_a_band() -> None:
    gate = PriorityGate(slots=1, bands=3)
    async with gate.slot(LOW):  # the slot is busy while everything else arrives
        waiting = asyncio.create_task(
            run_gate(
                gate, [("low1", LOW), ("normal1", NORMAL), ("low2", LOW), ("high1", HIGH), ("high2", HIGH)]
            )
        )
        await asyncio.sleep(0.01)
        assert gate.waiting(LOW) == 2 and gate.waiting(HIGH) == 2
    assert await waiting == ["high1", "high2", "normal1", "low1", "low2"]
    assert gate.free == 1


async def test_no_waiting_means_no_waiting() -> None:
    gate = PriorityGate(slots=2, bands=3)
    assert await run_gate(gate, [("low", LOW), ("high", HIGH)]) == ["low", "high"]
    assert gate.free == 2


async def test_a_waiter_that_gives_up_loses_its_place_and_keeps_no_slot() -> None:
    gate = PriorityGate(slots=1, bands=3)
    await gate.acquire(LOW)
    impatient = asyncio.create_task(gate.acquire(HIGH))
    patient = asyncio.create_task(gate.acquire(NORMAL))
    await asyncio.sleep(0)
    impatient.cancel()
    await asyncio.gather(impatient, return_exceptions=True)
    gate.release()
    await asyncio.wait_for(patient, 1)
    gate.release()
    assert gate.free == 1 and gate.waiting(HIGH) == 0


async def test_a_slot_handed_to_a_waiter_cancelled_in_the_same_turn_is_passed_on() -> None:
    gate = PriorityGate(slots=1, bands=3)
    await gate.acquire(LOW)
    first = asyncio.create_task(gate.acquire(HIGH))
    second = asyncio.create_task(gate.acquire(LOW))
    await asyncio.sleep(0)
    gate.release()  # hands the slot to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    gate.release()
    assert gate.free == 1
