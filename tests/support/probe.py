"""A test-only service that exercises the runner's semantics against the real broker and Mongo.

Each `test.probe.v1` event says how its handler should misbehave; the handler records every
attempt (with its number and time) and performs its effect through a unique key, so tests can
count deliveries and effects separately. Run as a process: `python -m tests.support.probe`.
Settings come from the environment like any service (PROBE_GROUP names the consumer group).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Literal

from pydantic import Field
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import Event, Payload, utcnow
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import PermanentError, RetryableError
from shared.service import Resources, Router, run_service
from shared.settings import ServiceSettings
from shared.storage import Document, durable, insert_once


class ProbeData(Payload):
    key: str
    fail_until_attempt: int = Field(default=0, description="raise RetryableError while attempt < this")
    poison: bool = Field(default=False, description="raise until a `fixes` document exists for key")
    permanent: bool = False
    sleep_after_effect_s: float = 0.0
    crash_process: bool = Field(default=False, description="exit the process mid-handling, every time")


class Probe(Event[ProbeData]):
    type: Literal["test.probe.v1"] = "test.probe.v1"


class ProbeSettings(ServiceSettings):
    group: str = Field(default="probe", validation_alias="PROBE_GROUP")


@dataclass
class Deps:
    db: AsyncDatabase[Document]


def build_router(group: str) -> Router:
    router = Router(group, description="test probe")

    @router.handles(Probe)
    async def on_probe(event: Probe, ctx: MessageContext[Deps]) -> None:
        db = ctx.deps.db
        data = event.data
        await db.attempts.insert_one(
            {
                "key": data.key,
                "attempt": ctx.attempt,
                "at": utcnow(),
                "pid": os.getpid(),
                "redelivered": ctx.redelivered,
            }
        )
        ctx.log.info("probe handled", key=data.key)
        if data.crash_process:
            os._exit(3)
        if data.permanent:
            raise PermanentError("probe asked to fail permanently", reason="probe-permanent")
        if ctx.attempt < data.fail_until_attempt:
            raise RetryableError(f"probe fails until attempt {data.fail_until_attempt}")
        if data.poison and await db.fixes.find_one({"_id": data.key}) is None:
            raise RuntimeError("poison message: no fix yet")
        await insert_once(
            durable(db.effects), {"_id": data.key, "event_id": str(event.event_id), "pid": os.getpid()}
        )
        if data.sleep_after_effect_s and not ctx.redelivered:
            await asyncio.sleep(data.sleep_after_effect_s)

    return router


async def bootstrap(resources: Resources) -> Deps:
    assert resources.db is not None
    return Deps(db=resources.db)


def main() -> None:
    settings = ProbeSettings()
    run_service(build_router(settings.group), settings, bootstrap)


if __name__ == "__main__":
    main()
