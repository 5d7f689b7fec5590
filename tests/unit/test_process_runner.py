"""The local process runner (devstack/procs.py) keeps the stack up: a process that dies is
started again after a backoff, one that keeps crashing at once is given up on, and neither stops
the others; a stop request still stops everything. Real processes, small time constants."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.config import ProcfileEntry
from devstack.procs import RestartPolicy, Supervisor

POLICY = RestartPolicy(first_backoff=0.05, max_backoff=0.2, steady=30, fast_crash=5, give_up=3)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Progress-bound: the runner checks every 0.1 s; the generous bound covers a busy machine."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[[list[ProcfileEntry]], Supervisor]]:
    started: list[tuple[Supervisor, threading.Thread]] = []

    def run(entries: list[ProcfileEntry]) -> Supervisor:
        supervisor = Supervisor(entries, {}, tmp_path, POLICY)
        supervisor.start()
        watcher = threading.Thread(target=supervisor.watch, daemon=True)
        watcher.start()
        started.append((supervisor, watcher))
        return supervisor

    yield run
    for supervisor, watcher in started:
        supervisor.stopping = True
        watcher.join(5)
        supervisor.stop()


def by_name(supervisor: Supervisor, name: str) -> Any:
    return next(r for r in supervisor.running if r.name == name)


def test_a_killed_process_comes_back_and_the_others_never_stop(
    supervise: Callable[[list[ProcfileEntry]], Supervisor], capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = supervise(
        [ProcfileEntry("email", "exec sleep 600"), ProcfileEntry("signal", "exec sleep 600")]
    )
    email, signal_ = by_name(supervisor, "email.1"), by_name(supervisor, "signal.1")
    first, other = email.process.pid, signal_.process.pid
    email.process.kill()
    out = ""

    def restarted() -> bool:  # the runner says so just after the new process starts: wait for both
        nonlocal out
        out += capsys.readouterr().out
        return email.process.pid != first and email.process.poll() is None and "email.1 restarted" in out

    wait_for(restarted, "email.1 never came back")
    assert signal_.process.pid == other and signal_.process.poll() is None
    assert "email.1 exited with code -9; restarting it in 0.05 s" in out
    assert f"email.1 restarted (pid={email.process.pid})" in out


def test_a_process_that_keeps_crashing_at_once_is_given_up_on_and_the_rest_keep_running(
    supervise: Callable[[list[ProcfileEntry]], Supervisor], capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor = supervise([ProcfileEntry("broken", "exit 3"), ProcfileEntry("steady", "exec sleep 600")])
    broken, steady = by_name(supervisor, "broken.1"), by_name(supervisor, "steady.1")
    pid = steady.process.pid
    wait_for(lambda: broken.given_up, "never gave up on the crashing process")
    assert steady.process.pid == pid and steady.process.poll() is None
    out = capsys.readouterr().out
    assert out.count("broken.1 exited with code 3; restarting it in") == 2
    assert "broken.1 exited with code 3 3 times in a row within 5 s of starting: giving up on it" in out
    assert [b for b in (0.05, 0.1) if f"restarting it in {b:g} s" in out] == [0.05, 0.1]  # backoff doubles


def test_a_stop_request_stops_everything_and_restarts_nothing(
    supervise: Callable[[list[ProcfileEntry]], Supervisor],
) -> None:
    supervisor = supervise(
        [ProcfileEntry("email", "exec sleep 600"), ProcfileEntry("post", "exec sleep 600")]
    )
    supervisor.stopping = True
    supervisor.stop()
    time.sleep(0.3)  # longer than the backoff: a restart would have happened by now
    assert all(r.process.poll() is not None and r.restart_at is None for r in supervisor.running)
