"""`make stop`: end a `make run` that is still going, and anything it left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dotenv import dotenv_values

from devstack.config import LocalStack

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _leftovers(run_dir: Path) -> list[int]:
    """Processes whose command line names this run directory (broker, epmd, Mongo-wire server)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(run_dir) in cmdline or f"SAMLENG_RUN_DIR={run_dir}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def main() -> int:
    env = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    env.update(os.environ)
    stack = LocalStack.from_env(env)
    pid_file = stack.run_dir / "run.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        if _alive(pid):
            print(f"stopping make run (pid {pid})")
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
        pid_file.unlink(missing_ok=True)
    leftovers = _leftovers(stack.run_dir)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in leftovers) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in leftovers:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    subprocess.run(["epmd", "-port", str(stack.epmd_port), "-kill"], capture_output=True, check=False)
    print(f"stopped {len(leftovers)} leftover process(es)" if leftovers else "nothing left running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
