"""Liveness, readiness and Prometheus metrics over HTTP, for every service.

    GET /health/live   200 while the process runs
    GET /health/ready  200 when every dependency check passes, else 503 with the failing checks
    GET /metrics       Prometheus text format

Worker services serve these on their own small server (`serve()`); HTTP services mount
`health_routes()` into their app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.tracing import configure_tracing, shutdown_tracing

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def health_routes(service: str, readiness: ReadinessCheck) -> list[Route]:
    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"service": service, "status": "live"})

    async def ready(request: Request) -> JSONResponse:
        detail: str | None = None
        try:
            checks = await asyncio.wait_for(readiness(), timeout=3)
        except Exception as error:
            checks = {"readiness-check": False}
            detail = type(error).__name__
        ok = all(checks.values())
        body = {"service": service, "status": "ready" if ok else "not-ready", "checks": checks}
        if detail:
            body["error"] = detail
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/health/live", live), Route("/health/ready", ready), Route("/metrics", metrics)]


def server_config(app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> uvicorn.Config:
    """How every Samleng HTTP process runs uvicorn: our logging pipeline, and no access log — its
    lines carry each caller's address, and members' addresses are never logged (docs/deploy.md,
    "What the reverse proxy should not log")."""
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, **options)


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    def __init__(self, service: str, readiness: ReadinessCheck, host: str, port: int) -> None:
        self.service = service
        self._app = Starlette(routes=health_routes(service, readiness))
        self._host = host
        self._port = port
        self._server: QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._registration: Path | None = None
        self.port = 0

    async def start(self, registry_dir: str | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self.port = sock.getsockname()[1]
        config = server_config(self._app, lifespan="off")
        self._server = QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        if registry_dir:
            self._registration = register(registry_dir, self.service, f"http://{self._host}:{self.port}")

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def stop(self) -> None:
        if self._registration is not None:
            self._registration.unlink(missing_ok=True)
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


def register(registry_dir: str, service: str, url: str, public: bool = False) -> Path:
    """Local runs: announce this process's health URL so `make run` can wait for all replicas."""
    directory = Path(registry_dir)
    directory.mkdir(parents=True, exist_ok=True)
    replica = os.environ.get("SAMLENG_PROCESS_NAME") or os.environ.get("HONCHO_PROCESS_NAME") or service
    path = directory / f"{replica}.json"
    written = path.with_name(f".{path.name}.{os.getpid()}")
    written.write_text(
        json.dumps({"service": service, "replica": replica, "url": url, "pid": os.getpid(), "public": public})
    )
    written.replace(path)  # atomic: a reader sees the old file or the whole new one, never half of it
    return path


def run_asgi(
    app: Any,
    service: str,
    host: str,
    port: int,
    registry_dir: str | None = None,
    *,
    proxy_headers: bool = True,
) -> None:
    """Serve an HTTP service until SIGTERM/SIGINT, announcing its URL for `make run` if asked;
    its traces are exported while it runs and flushed when it stops (shared/tracing.py).
    `proxy_headers=False` for a service that reads `X-Forwarded-For` itself, from its own trusted
    proxies only (shared/rate_limit.py): uvicorn would otherwise rewrite the peer first."""
    configure_tracing(service)
    try:
        asyncio.run(_serve_asgi(app, service, host, port, registry_dir, proxy_headers))
    finally:
        shutdown_tracing()


async def _serve_asgi(
    app: Any, service: str, host: str, port: int, registry_dir: str | None, proxy_headers: bool = True
) -> None:
    server = QuietServer(server_config(app, host, port, proxy_headers=proxy_headers))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(server.serve())
    registration = None
    while not server.started and not task.done() and not stop.is_set():  # noqa: ASYNC110 - no started event
        await asyncio.sleep(0.02)
    if stop.is_set() and not server.started:  # stopped while starting (e.g. no broker yet): don't hang
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    if task.done():
        task.result()
        return
    if registry_dir:
        bound = server.servers[0].sockets[0].getsockname()[1] if port == 0 and server.servers else port
        registration = register(registry_dir, service, f"http://{host}:{bound}", public=True)
    await stop.wait()
    if registration is not None:
        registration.unlink(missing_ok=True)
    server.should_exit = True
    await task
