"""Faults injected into the system as `make run` starts it (issue #19): a broker SIGKILLed
mid fan-out, channel workers killed mid batch, the SMTP server down, a scheduler replica paused
past its lease. What is real: everything we run — RabbitMQ, the Mongo-wire server, every service
as its own process under devstack.procs (which restarts what dies), the SMTP sink. What is faked:
only third-party providers (the sandbox).

One stack for the whole tier (starting one takes half a minute); each scenario seeds its own
members (earlier ones are opted out), publishes its own alert and counts its own addresses at the
sink. Size: 1,000 members a scenario in `make test`, 10,000 with CHAOS_SCALE=full (`make chaos`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.system import CHAOS_SETTINGS
from tests.support.stack import RunningStack, started

START_TIMEOUT = 240.0
"""Twelve more processes than a plain `make run` on a 2-core machine that may be busy: generous,
and only the start of the stack (every wait after it is bounded by progress)."""


@pytest.fixture(scope="session")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with started(tmp_path_factory, START_TIMEOUT, **CHAOS_SETTINGS) as running:
        yield running
