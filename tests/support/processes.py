"""Starting Samleng processes for tests the way `make run` does: separate OS processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


class ServiceProcess:
    def __init__(
        self, module: str, env: dict[str, str], log_path: Path, name: str, niceness: int = 0
    ) -> None:
        self.niceness = niceness
        self.module = module
        self.env = env
        self.log_path = log_path
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        env = dict(self.env, SAMLENG_PROCESS_NAME=self.name, PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        return self

    @property
    def registration(self) -> Path:
        return Path(self.env["SAMLENG_HEALTH_DIR"]) / f"{self.name}.json"

    def wait_ready(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.logs()[-3000:]}"
                )
            if self.registration.exists():
                info = json.loads(self.registration.read_text())
                if info["pid"] == self.process.pid:
                    try:
                        if httpx.get(info["url"] + "/health/ready", timeout=1).status_code == 200:
                            return str(info["url"])
                    except httpx.HTTPError:
                        pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.logs()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acks, exactly like a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @staticmethod
    def stop_all(processes: list[ServiceProcess], timeout: float = 30.0) -> None:
        """`terminate` for many at once: SIGTERM to each, then wait for each (their graceful
        stops overlap instead of adding up)."""
        for proc in processes:
            if proc.process is not None and proc.process.poll() is None:
                proc.process.send_signal(signal.SIGTERM)
        for proc in processes:
            proc.terminate(timeout)

    def log_records(self) -> list[dict[str, object]]:
        records = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{message} not met within {timeout}s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
