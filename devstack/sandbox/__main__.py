from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import uvicorn

from devstack.sandbox.app import create_app
from shared.health import QuietServer


def main() -> None:
    run_dir = Path(os.environ.get("SAMLENG_RUN_DIR", ".run"))
    port = int(os.environ.get("SAMLENG_SANDBOX_PORT", "8090"))
    app = create_app(log_path=run_dir / "sandbox" / "requests.jsonl")
    print(f"sandbox: providers on http://127.0.0.1:{port}/, control API /_sandbox, docs /docs", flush=True)
    host = os.environ.get("SAMLENG_SANDBOX_HOST", "127.0.0.1")
    server = QuietServer(uvicorn.Config(app, host=host, port=port, log_level="warning"))

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
