"""What the sandbox received, and the faults it is told to inject."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

SENSITIVE_HEADERS = {"authorization", "cookie", "x-api-key"}
SENSITIVE_PARAMS = {"access_token", "token", "api_key", "key", "hub.verify_token"}


def redact_query(query: str) -> str:
    """Query strings can carry credentials (Graph API `access_token`): keep names, drop values."""
    parts = []
    for pair in query.split("&") if query else []:
        name, sep, _ = pair.partition("=")
        parts.append(f"{name}=[present]" if sep and name.lower() in SENSITIVE_PARAMS else pair)
    return "&".join(parts)


class FaultRule(BaseModel):
    """A fault to inject into matching provider requests."""

    provider: str | None = Field(
        default=None, description="Provider name (first path segment); any if unset."
    )
    path_prefix: str | None = Field(
        default=None, description="Path prefix after the provider, e.g. /v2/send."
    )
    method: str | None = None
    mode: Literal["reject", "ambiguous", "timeout"] = Field(
        default="reject",
        description="reject: answer `status` without processing. ambiguous: process the request "
        "(the message counts as received) but answer `status`. timeout: process it, then hold the "
        "response for `hold_ms` so the client times out.",
    )
    status: int = Field(default=500, ge=100, le=599)
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    hold_ms: int = Field(default=30_000, ge=0, le=600_000)
    times: int | None = Field(
        default=1, ge=1, description="How many requests it applies to; null = until removed."
    )


class StoredFault(FaultRule):
    id: int
    used: int = 0


class Recorder:
    def __init__(self, log_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._faults: list[StoredFault] = []
        self._ids = itertools.count(1)
        self._log_path = log_path
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)

    def add_fault(self, rule: FaultRule) -> StoredFault:
        with self._lock:
            fault = StoredFault(id=next(self._ids), **rule.model_dump())
            self._faults.append(fault)
            return fault

    def faults(self) -> list[StoredFault]:
        return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, provider: str, path: str, method: str) -> StoredFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.provider not in (None, provider):
                    continue
                if fault.path_prefix and not path.startswith(fault.path_prefix):
                    continue
                if fault.method and fault.method.upper() != method.upper():
                    continue
                fault.used += 1
                if fault.times is not None and fault.used >= fault.times:
                    self._faults.remove(fault)
                return fault
        return None

    def record(
        self,
        provider: str,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        status: int,
        fault: StoredFault | None,
    ) -> dict[str, Any]:
        try:
            payload: Any = json.loads(body) if body else None
            kind = "json"
        except (ValueError, UnicodeDecodeError):
            payload, kind = body[:10_000].decode("utf-8", "replace"), "text"
        entry = {
            "id": next(self._ids),
            "at": datetime.now(UTC).isoformat(),
            "provider": provider,
            "method": method,
            "path": path,
            "query": redact_query(query),
            "headers": {
                k: ("[present]" if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()
            },
            "body_kind": kind,
            "body": payload,
            "status": status,
            "fault": fault.mode if fault else None,
        }
        with self._lock:
            self._records.append(entry)
            if self._log_path is not None:
                with self._log_path.open("a") as log:
                    log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry

    def records(self, provider: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self._records if provider is None or r["provider"] == provider]

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()
