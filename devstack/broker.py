"""A private RabbitMQ node (and its own epmd) that runs without systemd or Docker.

Used three ways: as a Procfile process (`python -m devstack.broker`, foreground, stops on SIGTERM),
by the test suite (one node per test session on free ports) and by the benchmarks.
Recipe and pitfalls: ../shared/notes/rabbitmq-local.md.
"""

from __future__ import annotations

import contextlib
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
            RABBITMQ_LOGS="-",
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
            "log.file = false",
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
        env = self.env()
        self._epmd = subprocess.Popen(
            ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"], env=env, stdout=stdout
        )
        wait_for_port(self.epmd_port, 10, self._epmd)
        self._server = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")], env=env, cwd=self.base_dir, stdout=stdout, stderr=stdout
        )
        wait_for_port(self.amqp_port, timeout, self._server)
        if self.management_port:
            wait_for_port(self.management_port, timeout, self._server)

    def stop(self, timeout: float = 30.0) -> None:
        if self._server is not None and self._server.poll() is None:
            self._server.send_signal(signal.SIGTERM)
            try:
                self._server.wait(timeout)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
        self._server = None
        if self._epmd is not None and self._epmd.poll() is None:
            self._epmd.terminate()
            self._epmd.wait(5)
        self._epmd = None
        # erl may have left its helper processes; the port must be free before the next start.
        deadline = time.monotonic() + 10
        while port_is_open(self.amqp_port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop_server_only(self, timeout: float = 30.0) -> None:
        """Stop the broker but keep epmd: a broker restart as operators do it."""
        epmd, self._epmd = self._epmd, None
        try:
            self.stop(timeout)
        finally:
            self._epmd = epmd

    def start_server_only(self, timeout: float = 60.0) -> None:
        self._server = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")], env=self.env(), cwd=self.base_dir,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.amqp_port, timeout, self._server)

    def ctl(self, *args: str, timeout: float = 30.0) -> str:
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.nodename, "-t", "10", *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout, check=False,
        )
        if result.returncode != 0:
            raise BrokerNodeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def wait_stopped(self) -> int:
        """Block until the server process exits (foreground mode); returns its exit code."""
        assert self._server is not None
        return self._server.wait()


def main() -> int:
    node = RabbitNode(
        base_dir=Path(os.environ.get("SAMLENG_RUN_DIR", ".run")) / "rabbitmq",
        amqp_port=int(os.environ.get("SAMLENG_AMQP_PORT", "5672")),
        management_port=int(os.environ.get("SAMLENG_RABBITMQ_MANAGEMENT_PORT", "15672")),
        epmd_port=int(os.environ.get("SAMLENG_EPMD_PORT", "4371")),
    )

    def on_term(signum: int, frame: FrameType | None) -> None:
        node.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        node.start()
    except BrokerNodeError as error:
        print(f"broker: {error}", file=sys.stderr, flush=True)
        node.stop()
        return 1
    print(f"broker: RabbitMQ ready on 127.0.0.1:{node.amqp_port}, UI {node.management_url}", flush=True)
    code = node.wait_stopped()
    with contextlib.suppress(Exception):
        node.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
