"""The whole local stack as `make run` starts it (`python -m devstack.run`), on free ports in a
temporary run directory: started, interrupted with Ctrl-C as a person does, its log and its
processes read. The e2e tests (tests/e2e) and the fault-injection tests (tests/chaos) use it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.channels.catalogue import catalogue
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    env: dict[str, str]
    run_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float = 0.0

    def port(self, name: str) -> int:
        return int(self.env[name])

    @property
    def intake_url(self) -> str:
        return self.env["INTAKE_PUBLIC_BASE_URL"]

    @property
    def console_url(self) -> str:
        """The operator console (its API under /api/v1/operator)."""
        return f"http://127.0.0.1:{self.env['CONSOLE_PORT']}"

    def start(self, timeout: float = 60.0) -> None:
        self.log_path.write_bytes(b"")
        self.started_at = time.monotonic()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.run"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while time.monotonic() - self.started_at < timeout:
            if "Samleng is up" in self.log():
                self.ready_after = time.monotonic() - self.started_at
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"make run exited early:\n{self.failure_summary()}")
            time.sleep(0.2)
        text = self.log()
        self.interrupt()  # never leave a half-started stack behind
        raise TimeoutError(f"not ready within {timeout}s:\n{text[-4000:]}")

    def interrupt(self, timeout: float = 20.0) -> int:
        """Ctrl-C, as a person at the terminal sends it: SIGINT to the foreground process group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def failure_summary(self) -> str:
        """Which process stopped first and the error lines, then the tail (the cause is rarely last)."""
        lines = self.log().splitlines()
        telling = [
            line
            for line in lines
            if any(mark in line for mark in ("stopped (rc=", "ERROR", "FAILED", "Traceback"))
        ]
        return "\n".join(telling[:40]) + "\n...\n" + "\n".join(lines[-40:])

    def processes(self) -> list[tuple[int, str]]:
        """Live (non-zombie) processes started for this run directory."""
        marker = f"SAMLENG_RUN_DIR={self.run_dir}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                environ = (proc / "environ").read_bytes()
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if state != "Z" and (marker in environ or str(self.run_dir) in cmdline):
                found.append((int(proc.name), cmdline))
        return found


def new_stack(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> RunningStack:
    """A stack not started yet; `settings` are variables as a person would set them in .env
    (e.g. SCALE="email=2")."""
    run_dir = tmp_path_factory.mktemp("run")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AMQP_", "MONGODB_", "SAMLENG_", "PYTEST"))
    }
    env.update(
        SAMLENG_RUN_DIR=str(run_dir),
        SAMLENG_AMQP_PORT=str(free_port()),
        SAMLENG_RABBITMQ_MANAGEMENT_PORT=str(free_port()),
        SAMLENG_RABBITMQ_DIST_PORT=str(free_port()),
        SAMLENG_EPMD_PORT=str(free_port()),
        SAMLENG_MONGO_PORT=str(free_port()),
        SAMLENG_SMTP_PORT=str(free_port()),
        SAMLENG_MAIL_UI_PORT=str(free_port()),
        SAMLENG_SANDBOX_PORT=str(free_port()),
    )
    for name, declared in catalogue().items():  # every inbound channel's webhooks, on a free port
        if declared.inbound:
            env[f"SAMLENG_{name.upper()}_WEBHOOK_PORT"] = str(free_port())
    intake_port = free_port()
    env.update(INTAKE_PORT=str(intake_port), INTAKE_PUBLIC_BASE_URL=f"http://127.0.0.1:{intake_port}")
    env.update(CONSOLE_PORT=str(free_port()))
    # Every e2e module posts from 127.0.0.1 to one shared system: the per-address abuse limits
    # (shared by replicas, kept in the database) would count all of them together. The limits are
    # tested where they are the subject (tests/service/test_intake_limits.py, integration).
    env.update(
        INTAKE_RATE_LIMIT_PER_MINUTE="100000",
        INTAKE_RATE_LIMIT_LINKS_PER_MINUTE="100000",
        INTAKE_RATE_LIMIT_VERIFY_PER_MINUTE="100000",
    )
    env.update(settings)
    return RunningStack(env=env, run_dir=run_dir, log_path=run_dir.parent / f"{run_dir.name}-run.log")


@contextlib.contextmanager
def started(
    tmp_path_factory: pytest.TempPathFactory, timeout: float = 60.0, **settings: str
) -> Iterator[RunningStack]:
    """A new running system, interrupted afterwards unless it has stopped already."""
    running = new_stack(tmp_path_factory, **settings)
    running.start(timeout)
    yield running
    if running.process is not None and running.process.poll() is None:
        running.interrupt()
