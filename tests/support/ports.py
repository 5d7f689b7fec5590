"""Ports for test servers, chosen below the kernel's ephemeral range.

Asking the kernel for port 0 returns a port from the ephemeral range (32768-60999 on Debian),
and the same range is where every outgoing connection gets its source port. Between choosing a
port and the server binding it (RabbitMQ needs seconds), one of the many client connections of a
running stack can take it — CI once failed that way ("could not bind to distribution port ...
not_erlang"). Ports below the ephemeral range are only ever taken by servers that ask for them.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port nobody listens on, outside the ephemeral range, never returned twice by this process."""
    low, _ = _ephemeral_range()
    candidates = range(max(10000, low - 12000), low)
    for _ in range(1000):
        port = random.choice(candidates)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port below the ephemeral range")
