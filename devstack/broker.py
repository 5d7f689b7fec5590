"""A private RabbitMQ node (and its own epmd) that runs without systemd or Docker.

Used three ways: as a Procfile process (`python -m devstack.broker`, foreground, stops on SIGTERM),
by the test suite (one node per test session on free ports) and by the benchmarks.
Recipe and pitfalls: ../shared/notes/rabbitmq-local.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


class BrokerNodeError(RuntimeError):
    """The node could not be prepared, started or stopped; the message says what to do."""


def _die_with_parent() -> None:
    """Children get SIGTERM if this wrapper dies, so a killed wrapper leaves no broker behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _become_subreaper() -> None:
    """Orphaned descendants (the Erlang VM once its start script ends) are reparented to us,
    so we can reap them instead of leaving zombies behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not port_is_open(port):
        if process is not None and process.poll() is not None:
            raise BrokerNodeError(f"process exited with code {process.returncode} before port {port} opened")
        if time.monotonic() > deadline:
            raise BrokerNodeError(f"port {port} did not open within {timeout:.0f}s")
        time.sleep(0.1)


@dataclass
class RabbitNode:
    base_dir: Path
    amqp_port: int = 5672
    management_port: int | None = 15672
    epmd_port: int = 4371
    nodename: str = "samleng@localhost"
    dist_port: int = field(default=0)
    _epmd: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _server: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir).resolve()
        if not self.dist_port:
            self.dist_port = self.amqp_port + 20000

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str | None:
        return f"http://127.0.0.1:{self.management_port}/" if self.management_port else None

    @property
    def log_file(self) -> Path:
        return self.base_dir / "log" / "rabbit.log"

    def env(self) -> dict[str, str]:
        b = self.base_dir
        env = dict(os.environ)
        env.update(
            HOME=str(b),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONF_ENV_FILE=str(b / "none"),
            RABBITMQ_CONFIG_FILE=str(b / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(b / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(b / "mnesia"),
            RABBITMQ_LOG_BASE=str(b / "log"),
            RABBITMQ_PID_FILE=str(b / "rabbit.pid"),
        )
        return env

    def prepare(self) -> None:
        if not (RABBIT_BIN / "rabbitmq-server").exists():
            raise BrokerNodeError(
                "rabbitmq-server is not installed: run `make setup` (it installs it with apt-get)"
            )
        b = self.base_dir
        (b / "mnesia").mkdir(parents=True, exist_ok=True)
        (b / "log").mkdir(parents=True, exist_ok=True)
        cookie = b / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16))
            cookie.chmod(0o400)
        lines = [
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
            "loopback_users.guest = true",
            "log.console = true",
            "log.console.level = warning",
            "log.file = rabbit.log",
            "log.file.level = info",
        ]
        plugins = "[]."
        if self.management_port:
            lines += [f"management.tcp.port = {self.management_port}", "management.tcp.ip = 127.0.0.1"]
            plugins = "[rabbitmq_management]."
        (b / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (b / "enabled_plugins").write_text(plugins + "\n")

    def check_ports_free(self) -> None:
        ports = {"AMQP": self.amqp_port, "Erlang distribution": self.dist_port, "epmd": self.epmd_port}
        if self.management_port:
            ports["management UI"] = self.management_port
        taken = [f"{what} port {port}" for what, port in ports.items() if port_is_open(port)]
        if taken:
            raise BrokerNodeError(
                "cannot start RabbitMQ: " + ", ".join(taken) + " already in use "
                "(another `make run`? try `make stop`, or set SAMLENG_AMQP_PORT etc. in .env)"
            )

    def start(self, timeout: float = 60.0, stdout: int | None = None) -> None:
        self.prepare()
        self.check_ports_free()
        _become_subreaper()
        env = self.env()
        # Own sessions: a Ctrl-C to our process group must not reach epmd and the Erlang VM
        # directly; we stop them in order (broker first, then epmd) so shutdown stays quick.
        self._epmd = subprocess.Popen(
            ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            env=env,
            stdout=stdout,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        wait_for_port(self.epmd_port, 10, self._epmd)
        self._server = self._spawn_server(stdout)
        wait_for_port(self.amqp_port, timeout, self._server)
        if self.management_port:
            wait_for_port(self.management_port, timeout, self._server)

    def _spawn_server(self, stdout: int | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self.env(),
            cwd=self.base_dir,
            stdout=stdout,
            stderr=stdout,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def stop(self, timeout: float = 30.0) -> None:
        if self._server is not None and self._server.poll() is None:
            self._stop_server(timeout)
        self._server = None
        if self._epmd is not None and self._epmd.poll() is None:
            self._epmd.terminate()
            self._epmd.wait(5)
        self._epmd = None
        deadline = time.monotonic() + 10
        while (port_is_open(self.amqp_port) or port_is_open(self.dist_port)) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _stop_server(self, timeout: float) -> None:
        """Graceful stop (SIGTERM; RabbitMQ 3.10 with the management plugin needs about 6 s).
        Never cut short: killing the VM before its quorum queues stop can leave a queue without
        a leader at the next boot."""
        assert self._server is not None
        self._server.send_signal(signal.SIGTERM)
        try:
            self._server.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._server.pid, signal.SIGKILL)
            self._server.wait()
        self._reap_vm()

    def _reap_vm(self) -> None:
        pid_file = self.base_dir / "rabbit.pid"
        try:
            vm = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(vm, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(vm, 0)
        pid_file.unlink(missing_ok=True)

    def stop_server_only(self, timeout: float = 30.0) -> None:
        """Stop the broker but keep epmd: a broker restart as operators do it."""
        epmd, self._epmd = self._epmd, None
        try:
            self.stop(timeout)
        finally:
            self._epmd = epmd

    def start_server_only(self, timeout: float = 60.0) -> None:
        self._server = self._spawn_server(subprocess.DEVNULL)
        wait_for_port(self.amqp_port, timeout, self._server)

    def ctl(self, *args: str, timeout: float = 30.0) -> str:
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.nodename, "-t", "10", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerNodeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.poll() is None


def main() -> int:
    node = RabbitNode(
        base_dir=Path(os.environ.get("SAMLENG_RUN_DIR", ".run")) / "rabbitmq",
        amqp_port=int(os.environ.get("SAMLENG_AMQP_PORT", "5672")),
        management_port=int(os.environ.get("SAMLENG_RABBITMQ_MANAGEMENT_PORT", "15672")),
        epmd_port=int(os.environ.get("SAMLENG_EPMD_PORT", "4371")),
        dist_port=int(os.environ.get("SAMLENG_RABBITMQ_DIST_PORT", "0")),
    )
    stop_requested: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_requested.append(signum)  # acted on by the loop below, never inside the handler

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        node.start()
    except BrokerNodeError as error:
        print(f"broker: {error}", file=sys.stderr, flush=True)
        node.stop()
        return 1
    print(f"broker: RabbitMQ ready on 127.0.0.1:{node.amqp_port}, UI {node.management_url}", flush=True)
    while not stop_requested and node.running:
        time.sleep(0.2)
    code = 0 if stop_requested else 1
    if not stop_requested:
        print("broker: RabbitMQ exited unexpectedly; see .run/rabbitmq/log/rabbit.log", file=sys.stderr)
    node.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
