"""A process asked to stop while it is still waiting for the broker stops at once.

`make run` stops everything on Ctrl-C (and a stopped process must not hang); services still retrying a broker connection
used to ignore SIGTERM until SIGKILL 25 s later (seen in CI when the broker failed to boot).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.processes import ServiceProcess


@pytest.mark.parametrize(
    "module",
    ["services.dispatcher", "services.channels.email", "services.channels.whatsapp.inbound"],
)
def test_sigterm_while_waiting_for_the_broker_stops_promptly(
    module: str, service_env: dict[str, str], tmp_path: Path
) -> None:
    env = dict(
        service_env,
        AMQP_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}/",  # nobody listens there
        WHATSAPP_ACCESS_TOKEN="t",
        WHATSAPP_APP_SECRET="s",
        WHATSAPP_VERIFY_TOKEN="v",
        WHATSAPP_PHONE_NUMBER_ID="1",
        WHATSAPP_WEBHOOK_PORT=str(free_port()),
        SANDBOX_URL="http://127.0.0.1:9",
    )
    process = ServiceProcess(module, env, tmp_path / "log", f"{module}.1").start()
    try:
        deadline = time.monotonic() + 30
        while "waiting for broker" not in process.logs():
            assert process.process is not None and process.process.poll() is None, process.logs()
            assert time.monotonic() < deadline, process.logs()
            time.sleep(0.1)
        started = time.monotonic()
        process.terminate(timeout=20)
        assert time.monotonic() - started < 5, process.logs()[-2000:]
    finally:
        process.kill()
