"""A small Procfile runner (what honcho does, plus an ordered, patient stop).

    python -m devstack.procs [-f Procfile] [-c name=N,...] [NAME ...]

Each process runs `sh -c "<command>"` in its own process group with SAMLENG_PROCESS_NAME set
(`email.2`); its output is prefixed with the time and that name. A process that exits on its own
is restarted after a backoff (1 s, doubling to 30 s; reset once it ran a minute), like compose's
`restart: unless-stopped`, with one line saying so; after RESTART_GIVE_UP crashes in a row, each
within FAST_CRASH_SECONDS of its start, the runner gives up on that one process, says so, and keeps
the others running — one dead channel never stops the rest. On Ctrl-C or SIGTERM the processes stop in two waves: first the Samleng
services (so they finish in-flight work and close their connections), then the infrastructure
(broker, Mongo-wire server, ...), each wave waiting up to its grace period before SIGKILL.
honcho cannot do this: it SIGKILLs everything 5 s after the first exit, and RabbitMQ 3.10 with
the management plugin needs about 6 s to stop cleanly (quorum queues recover badly otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

from devstack.config import ProcfileEntry, parse_scale, read_procfile

COLOURS = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94]
SERVICE_GRACE_SECONDS = 25.0
INFRASTRUCTURE_GRACE_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STEADY_SECONDS = 60.0
"""A process that ran this long before exiting starts over with the first backoff."""
FAST_CRASH_SECONDS = 10.0
RESTART_GIVE_UP = 5


@dataclass
class Running:
    name: str
    entry: ProcfileEntry
    process: subprocess.Popen[bytes]
    colour: int
    reader: threading.Thread | None = field(default=None)
    started_at: float = field(default_factory=time.monotonic)
    backoff: float = 0.0
    fast_crashes: int = 0
    restart_at: float | None = None
    """When the exited process is started again (None: running, or given up)."""
    given_up: bool = False


class Printer:
    def __init__(self, width: int) -> None:
        self.width = width
        self.lock = threading.Lock()
        self.tty = sys.stdout.isatty()

    def line(self, name: str, text: str, colour: int = 0) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        prefix = f"{stamp} {name:<{self.width}} |"
        if self.tty and colour:
            prefix = f"\x1b[{colour}m{prefix}\x1b[0m"
        with self.lock:
            sys.stdout.write(f"{prefix} {text}\n")
            sys.stdout.flush()


def _pump(running: Running, printer: Printer) -> None:
    assert running.process.stdout is not None
    for raw in iter(running.process.stdout.readline, b""):
        printer.line(running.name, raw.decode("utf-8", "replace").rstrip("\n"), running.colour)


@dataclass(frozen=True)
class RestartPolicy:
    first_backoff: float = FIRST_BACKOFF_SECONDS
    max_backoff: float = MAX_BACKOFF_SECONDS
    steady: float = STEADY_SECONDS
    fast_crash: float = FAST_CRASH_SECONDS
    give_up: int = RESTART_GIVE_UP


class Supervisor:
    def __init__(
        self,
        entries: list[ProcfileEntry],
        scale: dict[str, int],
        cwd: Path,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.plan = [(f"{e.name}.{i}", e) for e in entries for i in range(1, scale.get(e.name, 1) + 1)]
        self.cwd = cwd
        self.printer = Printer(max([len(n) for n, _ in self.plan] + [6]))
        self.running: list[Running] = []
        self.stopping = False

    def _spawn(self, name: str, entry: ProcfileEntry) -> subprocess.Popen[bytes]:
        env = dict(os.environ, SAMLENG_PROCESS_NAME=name, HONCHO_PROCESS_NAME=name)
        return subprocess.Popen(
            ["/bin/sh", "-c", entry.command],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _pump(self, running: Running) -> None:
        running.reader = threading.Thread(target=_pump, args=(running, self.printer), daemon=True)
        running.reader.start()

    def start(self) -> None:
        for index, (name, entry) in enumerate(self.plan):
            process = self._spawn(name, entry)
            running = Running(name, entry, process, COLOURS[index % len(COLOURS)])
            self._pump(running)
            self.running.append(running)
            self.printer.line("system", f"{name} started (pid={process.pid})")

    def watch(self) -> int:
        """Until a signal asks to stop: restart what exits on its own (after its backoff), give up
        on a process that keeps crashing at once. Returns 0."""
        while not self.stopping:
            now = time.monotonic()
            for running in self.running:
                if self.stopping:  # asked while going through them: start nothing, plan nothing
                    break
                if running.given_up:
                    continue
                if running.restart_at is not None:
                    if now >= running.restart_at:
                        self._restart(running)
                    continue
                code = running.process.poll()
                if code is not None:
                    self._exited(running, code, now)
            time.sleep(0.1)
        return 0

    def _exited(self, running: Running, code: int, now: float) -> None:
        if self.stopping:  # stopped by us: nothing to restart
            return
        if running.reader is not None:
            running.reader.join(1)  # its last lines first
        policy = self.policy
        ran = now - running.started_at
        if ran >= policy.steady:
            running.backoff = 0.0
        running.fast_crashes = running.fast_crashes + 1 if ran < policy.fast_crash else 0
        if running.fast_crashes >= policy.give_up:
            self.printer.line(
                "system",
                f"{running.name} exited with code {code} {running.fast_crashes} times in a row within "
                f"{policy.fast_crash:.0f} s of starting: giving up on it (see its lines above); "
                "everything else keeps running",
            )
            running.given_up = True  # after saying so: whoever waits for it reads the line too
            return
        running.backoff = min(policy.max_backoff, running.backoff * 2 or policy.first_backoff)
        running.restart_at = now + running.backoff
        self.printer.line(
            "system", f"{running.name} exited with code {code}; restarting it in {running.backoff:g} s"
        )

    def _restart(self, running: Running) -> None:
        running.process = self._spawn(running.name, running.entry)
        running.started_at = time.monotonic()
        running.restart_at = None
        self._pump(running)
        self.printer.line("system", f"{running.name} restarted (pid={running.process.pid})")

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            self.printer.line("system", f"{signal.Signals(signum).name} received; stopping")
        self.stopping = True

    def stop(self) -> None:
        self.stopping = True
        services = [r for r in self.running if r.entry.is_service or r.entry.name == "ready"]
        infrastructure = [r for r in self.running if r not in services]
        self._stop_wave(services, SERVICE_GRACE_SECONDS)
        self._stop_wave(infrastructure, INFRASTRUCTURE_GRACE_SECONDS)
        for running in self.running:
            if running.reader is not None:
                running.reader.join(2)

    def _stop_wave(self, wave: list[Running], grace: float) -> None:
        for running in wave:
            if running.process.poll() is None:
                self.printer.line("system", f"sending SIGTERM to {running.name} (pid {running.process.pid})")
                _signal_group(running.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for running in wave:
            try:
                running.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.printer.line("system", f"{running.name} did not stop within {grace:.0f} s: SIGKILL")
                _signal_group(running.process.pid, signal.SIGKILL)
                running.process.wait()
            self.printer.line("system", f"{running.name} stopped (rc={running.process.returncode})")


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="procs", description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--procfile", default="Procfile")
    parser.add_argument("-c", "--concurrency", default="", help="name=N,... (like honcho -c)")
    parser.add_argument("names", nargs="*", help="process types to start (default: all)")
    args = parser.parse_args(argv)
    procfile = Path(args.procfile).resolve()
    entries = read_procfile(procfile)
    if args.names:
        unknown = set(args.names) - {e.name for e in entries}
        if unknown:
            print(f"unknown process types: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        entries = [e for e in entries if e.name in args.names]
    supervisor = Supervisor(entries, parse_scale(args.concurrency), procfile.parent)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    supervisor.start()
    code = supervisor.watch()
    if supervisor.stopping and code == 0:
        supervisor.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
