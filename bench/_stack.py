"""What the benchmarks share: a private broker + Mongo-wire server, and writing their section."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.broker import RabbitNode, wait_for_port
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    tmp: Path
    node: RabbitNode
    mongo: subprocess.Popen[bytes]
    mongo_uri: str

    def service_env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
            "AMQP_URL": self.node.url,
            "MONGODB_URI": self.mongo_uri,
            "MONGODB_DATABASE": "bench",
            "LOG_LEVEL": "WARNING",
            "SAMLENG_HEALTH_DIR": str(self.tmp / "health"),
            "PYTHONPATH": str(ROOT),
            **extra,
        }


@contextlib.contextmanager
def local_stack(mongo_niceness: int = 0) -> Iterator[Stack]:
    tmp = Path(tempfile.mkdtemp())
    node = RabbitNode(
        tmp / "rabbit",
        amqp_port=free_port(),
        management_port=None,
        epmd_port=free_port(),
        dist_port=free_port(),
    )
    node.start(stdout=subprocess.DEVNULL)
    port = free_port()
    secantusd = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    mongo = subprocess.Popen(
        [secantusd, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(tmp / "mongo")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(mongo_niceness)) if mongo_niceness else None,
    )
    try:
        wait_for_port(port, 20, mongo)  # type: ignore[arg-type]
        yield Stack(tmp, node, mongo, f"mongodb://127.0.0.1:{port}/?retryWrites=false")
    finally:
        mongo.terminate()
        mongo.wait()
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def write_section(path: Path, marker: str, section: str) -> None:
    """Replace (or append) the section of docs/benchmarks.md that starts with `marker`."""
    text = (
        path.read_text()
        if path.exists()
        else (
            "# Benchmarks\n\nEvery figure here comes from a script in `bench/`, with the exact command, and is\n"
            "compared with a raw baseline measured in the same run.\n\n"
        )
    )
    if marker in text:
        head, _, tail = text.partition(marker)
        rest = tail.split("\n## ", 1)
        text = head + section.rstrip("\n") + "\n" + (("\n## " + rest[1]) if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
