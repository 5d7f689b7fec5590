"""Publish probe events from a separate process: `python -m tests.support.publish_probe SPEC.json`.

SPEC: {"events": [ProbeData...], "repeat": 1, "rate": 0}. `repeat` publishes each identical event
(same event_id) that many times, like a publisher retrying after a lost confirm. `rate` (events
per second, 0 = as fast as possible) spreads publishing over time. Prints one line per confirm.
"""

from __future__ import annotations

import asyncio
import json
import sys

from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.settings import ServiceSettings
from tests.support.probe import Probe, ProbeData


async def main(spec_path: str) -> None:
    spec = json.loads(open(spec_path).read())  # noqa: ASYNC230, SIM115
    settings = ServiceSettings()
    connection = await connect(settings.amqp_url.get_secret_value(), "probe-publisher")
    publisher = await Publisher.open(connection, settings.amqp_exchange, settings.publish_timeout_seconds)
    rate = float(spec.get("rate", 0))
    for index, data in enumerate(spec["events"]):
        event = Probe(correlation_id=f"probe-{index}", data=ProbeData(**data))
        for _ in range(int(spec.get("repeat", 1))):
            await publisher.publish(event)
            print(f"confirmed {event.event_id} {data['key']}", flush=True)
        if rate:
            await asyncio.sleep(1 / rate)
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
