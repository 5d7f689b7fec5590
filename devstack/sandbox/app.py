"""The sandbox HTTP app: providers under /<name>, control API under /_sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from devstack.sandbox.providers import Provider, discover
from devstack.sandbox.recorder import FaultRule, Recorder, StoredFault

CONTROL_PREFIXES = ("/_sandbox", "/health", "/docs", "/openapi.json")


def create_app(providers: list[Provider] | None = None, log_path: Path | None = None) -> FastAPI:
    recorder = Recorder(log_path)
    providers = discover() if providers is None else providers
    app = FastAPI(title="Samleng provider sandbox", description=__doc__)
    app.state.recorder = recorder

    for provider in providers:
        app.include_router(provider.router, prefix=f"/{provider.name}")

    @app.middleware("http")
    async def record_and_inject(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith(CONTROL_PREFIXES):
            return await call_next(request)
        provider, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        body = await request.body()
        fault = recorder.take_fault(provider, rest, request.method)
        if fault and fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault and fault.mode == "reject":
            response = _fault_response(fault)
        else:
            response = await call_next(request)
            if fault and fault.mode == "ambiguous":
                response = _fault_response(fault)
            elif fault and fault.mode == "timeout":
                await asyncio.sleep(fault.hold_ms / 1000)
        recorder.record(
            provider,
            request.method,
            rest,
            request.url.query,
            dict(request.headers),
            body,
            response.status_code,
            fault,
        )
        return response

    @app.get("/health/live")
    @app.get("/health/ready")
    async def health() -> dict[str, Any]:
        return {"service": "sandbox", "status": "ready", "providers": [p.name for p in providers]}

    @app.get("/_sandbox/requests")
    async def list_requests(provider: str | None = None) -> dict[str, Any]:
        records = recorder.records(provider)
        return {"count": len(records), "requests": records}

    @app.delete("/_sandbox/requests")
    async def clear_requests() -> dict[str, str]:
        recorder.clear_records()
        return {"status": "cleared"}

    @app.post("/_sandbox/faults", status_code=201)
    async def add_fault(rule: FaultRule) -> StoredFault:
        return recorder.add_fault(rule)

    @app.get("/_sandbox/faults")
    async def list_faults() -> list[StoredFault]:
        return recorder.faults()

    @app.delete("/_sandbox/faults")
    async def clear_faults() -> dict[str, str]:
        recorder.clear_faults()
        return {"status": "cleared"}

    return app


def _fault_response(fault: StoredFault) -> Response:
    if fault.body is None or isinstance(fault.body, dict | list):
        body = fault.body if fault.body is not None else {"error": f"sandbox fault {fault.id}"}
        return JSONResponse(body, status_code=fault.status, headers=fault.headers)
    return Response(
        json.dumps(fault.body) if not isinstance(fault.body, str) else fault.body,
        status_code=fault.status,
        headers=fault.headers,
    )
