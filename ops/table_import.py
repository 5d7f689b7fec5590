"""`samleng import-pledges FILE.csv`: send typed-in paper sheets to intake in chunks, with progress.

Rows keep their file row numbers in every message. Re-running the same file is safe: intake
derives each row's pledge id from its content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values


def _setting(name: str) -> str | None:
    return (
        os.environ.get(name) or dotenv_values(".env").get(name) or dotenv_values(".run/secrets.env").get(name)
    )


def _progress(done: int, total: int, accepted: int, rejected: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "-" * (width - filled)
    print(
        f"\r[{bar}] {done}/{total} rows  {accepted} accepted  {rejected} rejected",
        end="",
        file=sys.stderr,
        flush=True,
    )


def import_file(path: Path, url: str | None, token: str | None, chunk: int, lang: str) -> int:
    base = (url or _setting("INTAKE_PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    token = token or _setting("INTAKE_OPERATOR_TOKEN")
    if not token:
        print("no operator token: pass --token or set INTAKE_OPERATOR_TOKEN", file=sys.stderr)
        return 2
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        print(f"{path} is empty", file=sys.stderr)
        return 2
    rows = list(reader)
    batch = hashlib.sha256(text.encode()).hexdigest()[:16]
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    not_submitted: list[int] = []
    _progress(0, len(rows), 0, 0)
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(rows), chunk):
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows[start : start + chunk])
            response = client.post(
                f"{base}/api/v1/imports/table",
                params={"first_row": start + 2, "batch": batch, "lang": lang},
                content=out.getvalue().encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv; charset=utf-8"},
            )
            if response.status_code not in (200, 503):
                print(f"\nimport refused ({response.status_code}): {response.text}", file=sys.stderr)
                return 1
            report = response.json()
            accepted += report["accepted"]
            rejected += report["rejected"]
            not_submitted += report["not_submitted"]
            _progress(min(start + chunk, len(rows)), len(rows), len(accepted), len(rejected))
            if response.status_code == 503:
                not_submitted += list(range(start + chunk + 2, len(rows) + 2))
                break
    print(file=sys.stderr)
    for problem in rejected:
        for error in problem["errors"]:
            print(f"row {problem['row']}: {error['field']}: {error['message']}")
    print(
        f"{len(accepted)} accepted, {len(rejected)} rejected"
        + (
            f", {len(not_submitted)} not submitted (broker unavailable; re-run the same file)"
            if not_submitted
            else ""
        )
    )
    return 0 if not rejected and not not_submitted else 1
