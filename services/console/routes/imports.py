"""Operator routes: paper sign-up sheets from the in-person table, typed into a CSV.

    GET  /imports/table/template   the CSV template (permission members.import)
    POST /imports/table            import a CSV (permission members.import; audited once)

Each row is validated exactly like the web form (shared/contracts/pledge_input.py). Bad rows are
reported (row number, field, reason) while good rows go to pledge-intake as
`pledge.submitted.v1` with source "table", carrying the importing operator as `actor`. A row's
pledge id is derived from its content with the console's secret, so importing the same file
twice submits the same ids again and pledge-intake stores nothing twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from services.console.auth import Caller, console_of, hand_over, permit
from services.console.permissions import Permission
from shared.contracts.languages import Lang
from shared.contracts.pledge import TableImportRef
from shared.contracts.pledge_ids import derived_pledge_id
from shared.contracts.pledge_input import (
    AddressInput,
    FieldError,
    PledgeInput,
    build_submission,
    validate_pledge,
)
from shared.http_limits import configured_limit

COLUMNS = (
    "name",
    "country",
    "certificate_language",
    "channels",
    "email",
    "phone",
    "street_address",
    "city",
    "city_area",
    "country_area",
    "postal_code",
    "sorting_code",
    "show_name_publicly",
    "alerts_opt_in",
    "sessions_opt_in",
    "consent",
)
REQUIRED_COLUMNS = frozenset({"name", "country", "channels", "consent"})
TEMPLATE = Path(__file__).resolve().parent / "pledge-table-template.csv"
YES = frozenset({"yes", "y", "true", "1", "x", "បាទ", "ចាស", "បាទ/ចាស"})
CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "examples": [",".join(COLUMNS)]}}},
    }
}

router = APIRouter(tags=["imports"])


class RowProblem(BaseModel):
    row: int = Field(description="The row's number in the file (the header is row 1).")
    errors: list[FieldError]


class RowAccepted(BaseModel):
    row: int
    pledge_id: str


class ImportReport(BaseModel):
    batch_id: str
    rows: int = Field(description="Non-blank data rows read.")
    accepted: list[RowAccepted]
    rejected: list[RowProblem]
    not_submitted: list[int] = Field(
        default_factory=list,
        description="Valid rows not handed over (broker unavailable): import the same file again.",
    )


def row_to_input(row: dict[str, str]) -> PledgeInput:
    def flag(name: str) -> bool:
        return (row.get(name) or "").strip().lower() in YES

    channels = [
        c.strip().lower()
        for c in (row.get("channels") or "").replace(",", ";").replace(" ", ";").split(";")
        if c.strip()
    ]
    address = {f: (row.get(f) or "") for f in AddressInput.model_fields}
    return PledgeInput(
        name=row.get("name") or "",
        country=row.get("country") or "",
        certificate_language=(row.get("certificate_language") or "en").strip().lower() or "en",
        channels=channels[:10],
        email=row.get("email") or None,
        phone=row.get("phone") or None,
        postal_address=AddressInput(**address) if any(v.strip() for v in address.values()) else None,
        show_name_publicly=flag("show_name_publicly"),
        alerts_opt_in=flag("alerts_opt_in"),
        sessions_opt_in=flag("sessions_opt_in"),
        consent=flag("consent"),
    )


def row_key(row: dict[str, str]) -> str:
    """The row's content, insensitive to case and spacing: the same signature gives the same key."""
    canonical = "\x1f".join(" ".join((row.get(c) or "").split()).casefold() for c in COLUMNS)
    return hashlib.sha256(canonical.encode()).hexdigest()


def header_problem(fieldnames: Sequence[str] | None) -> str | None:
    header = {h.strip() for h in (fieldnames or [])}
    missing = REQUIRED_COLUMNS - header
    unknown = header - set(COLUMNS)
    problems = [
        f"missing columns: {', '.join(sorted(missing))}" if missing else "",
        f"unknown columns: {', '.join(sorted(unknown))}" if unknown else "",
    ]
    return "; ".join(p for p in problems if p) or None


def data_rows(reader: csv.DictReader[str], first_row: int) -> Iterator[tuple[int, dict[str, str]]]:
    """(file row number, row) for every non-blank row."""
    for offset, raw in enumerate(reader):
        row = {k.strip(): (v or "") for k, v in raw.items() if k is not None}
        if any(v.strip() for v in row.values()):
            yield first_row + offset, row


def _problem(status: int, field: str, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"field": field, "code": code, "message": message, **extra}]}, status_code=status
    )


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


@router.get(
    "/imports/table/template",
    response_class=CsvResponse,
    dependencies=[permit(Permission.members_import)],
    summary="CSV template for paper sign-up sheets",
)
async def template() -> CsvResponse:
    return CsvResponse(TEMPLATE.read_text(encoding="utf-8"))


@router.post(
    "/imports/table",
    response_model=ImportReport,
    dependencies=[permit(Permission.members_import)],
    openapi_extra={**CSV_BODY, **configured_limit("table_import_max_bytes")},
    summary="Import typed-in paper sign-up sheets",
    responses={
        413: {"description": "The CSV is larger than CONSOLE_TABLE_IMPORT_MAX_BYTES: send it in chunks"},
        422: {"description": "Not a usable CSV (encoding, columns)"},
        503: {"description": "Broker unavailable; rows in not_submitted can be re-imported"},
    },
)
async def import_table(
    request: Request,
    who: Caller,
    first_row: Annotated[
        int, Query(ge=2, description="File row number of the first data row (for chunked uploads).")
    ] = 2,
    batch: Annotated[str | None, Query(max_length=80)] = None,
    lang: Lang = "en",
) -> JSONResponse:
    console = console_of(request)
    settings = console.settings
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _problem(422, "body", "encoding", "The CSV must be UTF-8.")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:  # the whole file is read before any row is handed over: a broken one is refused whole
        problem = header_problem(reader.fieldnames)
        rows = [] if problem is not None else list(data_rows(reader, first_row))
    except csv.Error as broken:
        return _problem(422, "body", "csv", f"Not a readable CSV: {broken}.")
    if problem is not None:
        return _problem(422, "header", "columns", problem)

    secret = settings.secret_key.get_secret_value().encode()
    batch_id = batch or hashlib.sha256(text.encode()).hexdigest()[:16]
    report = ImportReport(batch_id=batch_id, rows=0, accepted=[], rejected=[])
    broker_down = False
    for row_number, row in rows:
        report.rows += 1
        valid, errors = validate_pledge(row_to_input(row), lang)
        if valid is None:
            report.rejected.append(RowProblem(row=row_number, errors=errors))
            continue
        if broker_down:
            report.not_submitted.append(row_number)
            continue
        pledge_id = derived_pledge_id(secret, "table", row_key(row))
        event = build_submission(
            pledge_id,
            valid,
            "table",
            lang,
            settings.consent_text_version,
            TableImportRef(batch_id=batch_id, row=row_number),
        )
        try:
            await hand_over(request, who, event)
        except HTTPException as refused:
            if refused.status_code != 503:
                raise
            broker_down = True
            report.not_submitted.append(row_number)
            continue
        report.accepted.append(RowAccepted(row=row_number, pledge_id=pledge_id))

    await console.audit.record(
        who.event(
            "table.imported",
            "table_import",
            batch_id,
            outcome="failed" if broker_down else "ok",
            batch_id=batch_id,
            rows=report.rows,
            accepted=len(report.accepted),
            rejected=len(report.rejected),
            not_submitted=len(report.not_submitted),
        )
    )
    return JSONResponse(
        report.model_dump(),
        status_code=503 if broker_down else 200,
        headers={"Retry-After": "30"} if broker_down else None,
    )
