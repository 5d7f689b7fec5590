"""`samleng import-pledges FILE.csv`: send typed-in paper sheets to the console in chunks, with
progress (`POST /api/v1/operator/imports/table`, permission members.import).

Rows keep their file row numbers in every message. Re-running the same file is safe: the console
derives each row's pledge id from its content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path
from typing import Any

import httpx

from ops.operator_api import operator_api, refused


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


def _report(response: httpx.Response) -> dict[str, Any] | None:
    """The import report of a chunk (200, or 503 with the rows not handed over), else None."""
    if response.status_code not in (200, 503):
        return None
    try:
        report = response.json()
    except ValueError:
        return None
    return report if isinstance(report, dict) and "accepted" in report else None


def import_file(path: Path, url: str | None, token: str | None, chunk: int, lang: str) -> int:
    api = operator_api(url, token)
    if api is None:
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
    with httpx.Client(timeout=60, headers=api.headers) as client:
        for start in range(0, len(rows), chunk):
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows[start : start + chunk])
            try:
                response = client.post(
                    api.url("/imports/table"),
                    params={"first_row": start + 2, "batch": batch, "lang": lang},
                    content=out.getvalue().encode(),
                    headers={"Content-Type": "text/csv; charset=utf-8"},
                )
            except httpx.TransportError as unreachable:
                print(f"\ncannot reach the console at {api.base}: {unreachable}", file=sys.stderr)
                return 1
            report = _report(response)
            if report is None:
                print(f"\nimport refused: {refused(response.status_code, response.text)}", file=sys.stderr)
                return 1
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
