"""A service started before its database waits for it, says so once at info level, and becomes
ready when the database comes: no error lines, no crash (compose and Kubernetes start services
and databases in any order)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import SECANTUSD
from devstack.broker import RabbitNode, wait_for_port
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_until


def test_a_worker_waits_for_a_late_database_once_at_info_and_then_gets_ready(
    rabbit: RabbitNode, service_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = dict(service_env, MONGODB_URI=f"mongodb://127.0.0.1:{port}/?retryWrites=false", LOG_FORMAT="json")
    worker = ServiceProcess("services.pledge_intake", env, tmp_path / "pledge-intake.log", "pledge-intake.1")
    worker.start()
    server = None
    try:
        wait_until(
            lambda: any(r.get("event") == "waiting for database" for r in worker.log_records()),
            timeout=120,
            message="a 'waiting for database' line",
        )
        server = subprocess.Popen(
            [SECANTUSD, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(tmp_path / "db")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(port, 60, server)  # type: ignore[arg-type]
        worker.wait_ready(timeout=120)
    finally:
        worker.terminate()
        if server is not None:
            server.terminate()
            server.wait(30)
    records = worker.log_records()
    levels = {str(r.get("level")) for r in records}
    assert not levels & {"error", "critical"}, [r for r in records if r.get("level") in ("error", "critical")]
    waits = [r for r in records if r.get("event") == "waiting for database"]
    assert len(waits) <= 2 and all(r["level"] == "info" for r in waits), waits
