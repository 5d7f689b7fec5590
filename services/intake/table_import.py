"""In-person table: paper sign-up sheets typed into a CSV and imported by an operator.

Each row is validated exactly like the web form. Bad rows are reported (row number, field,
reason) while good rows go through. A row's pledge id is derived from its content, so importing
the same file twice submits the same ids again and pledge-intake stores nothing twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from services.intake import ids
from services.intake.auth import operator_denied
from services.intake.settings import IntakeSettings
from shared.contracts.languages import Lang
from shared.contracts.pledge import TableImportRef
from shared.contracts.pledge_input import AddressInput, FieldError, PledgeInput, validate_pledge
from shared.http_limits import body_limit
from shared.messaging.gateway import Unavailable

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
REQUIRED_COLUMNS = {"name", "country", "channels", "consent"}
TEMPLATE = Path(__file__).resolve().parent / "pledge-table-template.csv"
YES = {"yes", "y", "true", "1", "x", "បាទ", "ចាស", "បាទ/ចាស"}


class RowProblem(BaseModel):
    row: int
    errors: list[FieldError]


class RowAccepted(BaseModel):
    row: int
    pledge_id: str


class ImportReport(BaseModel):
    batch_id: str
    rows: int
    accepted: list[RowAccepted]
    rejected: list[RowProblem]
    not_submitted: list[int] = []


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
    canonical = "\x1f".join(" ".join((row.get(c) or "").split()).casefold() for c in COLUMNS)
    return hashlib.sha256(canonical.encode()).hexdigest()


def add_table_import_routes(app: FastAPI, settings: IntakeSettings, secret: bytes) -> None:
    @app.get(
        "/api/v1/imports/table/template",
        response_class=PlainTextResponse,
        summary="CSV template for paper sign-up sheets",
    )
    async def template() -> PlainTextResponse:
        return PlainTextResponse(TEMPLATE.read_text(), media_type="text/csv")

    @app.post(
        "/api/v1/imports/table",
        response_model=ImportReport,
        summary="Import typed-in paper sign-up sheets (operators)",
        openapi_extra=body_limit(settings.table_import_max_bytes),
        responses={
            401: {"description": "Operator token missing or wrong"},
            422: {"description": "Not a usable CSV"},
            503: {"description": "Broker unavailable; rows in not_submitted can be re-imported"},
        },
    )
    async def import_table(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        first_row: Annotated[
            int, Query(ge=2, description="File row number of the first data row (for chunked uploads).")
        ] = 2,
        batch: Annotated[str | None, Query(max_length=80)] = None,
        lang: Lang = "en",
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError:
            return JSONResponse(
                {"detail": [{"field": "body", "code": "encoding", "message": "The CSV must be UTF-8."}]},
                status_code=422,
            )
        reader = csv.DictReader(io.StringIO(text))
        header = {h.strip() for h in (reader.fieldnames or [])}
        missing = REQUIRED_COLUMNS - header
        unknown = header - set(COLUMNS)
        if missing or unknown:
            problems = [
                f"missing columns: {', '.join(sorted(missing))}" if missing else "",
                f"unknown columns: {', '.join(sorted(unknown))}" if unknown else "",
            ]
            return JSONResponse(
                {
                    "detail": [
                        {"field": "header", "code": "columns", "message": "; ".join(p for p in problems if p)}
                    ]
                },
                status_code=422,
            )
        batch_id = batch or hashlib.sha256(text.encode()).hexdigest()[:16]
        report = ImportReport(batch_id=batch_id, rows=0, accepted=[], rejected=[])
        gateway = app.state.gateway
        broker_down = False
        for offset, raw_row in enumerate(reader):
            row_number = first_row + offset
            row = {k.strip(): (v or "") for k, v in raw_row.items() if k is not None}
            if not any(v.strip() for v in row.values()):
                continue
            report.rows += 1
            valid, errors = validate_pledge(row_to_input(row), lang)
            if valid is None:
                report.rejected.append(RowProblem(row=row_number, errors=errors))
                continue
            pledge_id = ids.derived_pledge_id(secret, "table", row_key(row))
            if broker_down:
                report.not_submitted.append(row_number)
                continue
            try:
                await gateway.submit(
                    pledge_id,
                    valid,
                    "table",
                    lang,
                    settings.consent_text_version,
                    TableImportRef(batch_id=batch_id, row=row_number),
                )
            except Unavailable:
                broker_down = True
                report.not_submitted.append(row_number)
                continue
            report.accepted.append(RowAccepted(row=row_number, pledge_id=pledge_id))
        return JSONResponse(
            report.model_dump(),
            status_code=503 if broker_down else 200,
            headers={"Retry-After": "30"} if broker_down else None,
        )


def template_header() -> str:
    return ",".join(COLUMNS)
