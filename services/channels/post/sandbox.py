"""A print-and-mail letters API shaped like Lob's (the subset Samleng uses), under /lob.

    POST /lob/v1/us_verifications     US address verification -> deliverability
    POST /lob/v1/intl_verifications   international address verification
    POST /lob/v1/letters              create a letter (multipart: to[...], from[...], file=PDF,
                                      color, double_sided, address_placement, use_type,
                                      metadata[...]); `Idempotency-Key` returns the same letter
    GET  /lob/v1/letters              list, filterable by metadata[key]=value
    GET  /lob/v1/letters/{id}         one letter
    DELETE /lob/v1/letters/{id}       cancel before its send date

Auth is HTTP Basic with the API key as user name (keys start `test_` or `live_`). Errors use
Lob's shape `{"error": {"message", "status_code", "code"}}`. Letters must be US Letter
(8.5 x 11 in) PDFs; `from` is required for letters leaving the US. An address line containing
"UNDELIVERABLE" verifies as undeliverable, so failures can be exercised.
"""

from __future__ import annotations

import base64
import io
import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from devstack.sandbox.providers import Provider

LETTER_POINTS = {(612, 792)}


class LobState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.letters: dict[str, dict[str, Any]] = {}
        self.by_idempotency_key: dict[str, str] = {}
        self.ids = itertools.count(1)


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "status_code": status, "code": code}}, status_code=status
    )


def _authorised(request: Request) -> bool:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user = base64.b64decode(header[6:]).decode().partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return False
    return user.startswith(("test_", "live_")) and len(user) > 8


def _nested(form: Any, prefix: str) -> dict[str, str]:
    """`to[address_line1]=...` form fields -> {"address_line1": ...}."""
    found = {}
    for key, value in form.multi_items():
        if key.startswith(f"{prefix}[") and key.endswith("]") and isinstance(value, str):
            found[key[len(prefix) + 1 : -1]] = value
    return found


def _deliverability(line1: str) -> str:
    return "undeliverable" if "UNDELIVERABLE" in line1.upper() else "deliverable"


def _page_problem(pdf: bytes) -> str | None:
    try:
        reader = PdfReader(io.BytesIO(pdf))
        sizes = {(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages}
    except (PdfReadError, ValueError, KeyError) as error:
        return f"file is not a readable PDF: {error}"
    if not reader.pages:
        return "file has no pages"
    if not sizes <= LETTER_POINTS:
        return f"letters must be 8.5x11 in portrait (612x792 pt); got {sorted(sizes)}"
    if len(reader.pages) > 6:
        return "letters over 6 pages need a flat envelope"
    return None


def create_router(state: LobState | None = None) -> APIRouter:
    state = state or LobState()
    router = APIRouter(tags=["lob"])

    @router.post("/v1/us_verifications")
    async def us_verification(request: Request) -> JSONResponse:
        if not _authorised(request):
            return _error(401, "Your API key is not valid.", "unauthorized")
        body = await request.json()
        line1 = str(body.get("primary_line", ""))
        if not line1:
            return _error(422, "primary_line is required", "invalid")
        return JSONResponse(
            {
                "id": f"us_ver_{next(state.ids):08d}",
                "primary_line": line1.upper(),
                "secondary_line": str(body.get("secondary_line", "")).upper(),
                "components": {
                    "city": str(body.get("city", "")).upper(),
                    "state": str(body.get("state", "")).upper(),
                    "zip_code": str(body.get("zip_code", "")),
                },
                "deliverability": _deliverability(line1),
                "object": "us_verification",
            }
        )

    @router.post("/v1/intl_verifications")
    async def intl_verification(request: Request) -> JSONResponse:
        if not _authorised(request):
            return _error(401, "Your API key is not valid.", "unauthorized")
        body = await request.json()
        line1 = str(body.get("primary_line", ""))
        if not line1 or not body.get("country"):
            return _error(422, "primary_line and country are required", "invalid")
        return JSONResponse(
            {
                "id": f"intl_ver_{next(state.ids):08d}",
                "primary_line": line1.upper(),
                "country": str(body["country"]).upper(),
                "deliverability": _deliverability(line1),
                "object": "intl_verification",
            }
        )

    @router.post("/v1/letters")
    async def create_letter(request: Request) -> JSONResponse:
        if not _authorised(request):
            return _error(401, "Your API key is not valid.", "unauthorized")
        key = request.headers.get("idempotency-key")
        if key is not None and len(key) > 256:
            return _error(422, "Idempotency-Key must be at most 256 characters", "invalid")
        with state.lock:
            if key and key in state.by_idempotency_key:
                return JSONResponse(state.letters[state.by_idempotency_key[key]])
        form = await request.form()
        to = _nested(form, "to")
        sender = _nested(form, "from")
        for field in ("name", "address_line1", "address_country"):
            if not to.get(field):
                return _error(422, f"to.{field} is required", "invalid")
        country = to["address_country"].upper()
        if country == "US" and not (
            to.get("address_city") and to.get("address_state") and to.get("address_zip")
        ):
            return _error(422, "US addresses need address_city, address_state and address_zip", "invalid")
        if country != "US" and not sender.get("address_line1"):
            return _error(422, "from is required for international letters", "invalid")
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(422, "file is required (PDF upload)", "invalid")
        pdf = await upload.read()
        problem = _page_problem(pdf)
        if problem:
            return _error(422, problem, "invalid_file")
        if form.get("use_type") not in ("marketing", "operational"):
            return _error(422, "use_type must be marketing or operational", "invalid")
        metadata = _nested(form, "metadata")
        now = datetime.now(UTC)
        with state.lock:
            if key and key in state.by_idempotency_key:  # a concurrent duplicate won
                return JSONResponse(state.letters[state.by_idempotency_key[key]])
            letter_id = f"ltr_{next(state.ids):016x}"
            letter = {
                "id": letter_id,
                "object": "letter",
                "description": form.get("description"),
                "to": {**to, "object": "address"},
                "from": {**sender, "object": "address"} if sender else None,
                "color": form.get("color") == "true",
                "double_sided": form.get("double_sided") == "true",
                "address_placement": form.get("address_placement") or "top_first_page",
                "use_type": form.get("use_type"),
                "mail_type": form.get("mail_type") or "usps_first_class",
                "metadata": metadata,
                "pages": len(PdfReader(io.BytesIO(pdf)).pages),
                "file_bytes": len(pdf),
                "send_date": now.isoformat(),
                "expected_delivery_date": (now + timedelta(days=5)).date().isoformat(),
                "date_created": now.isoformat(),
                "deleted": False,
            }
            state.letters[letter_id] = letter
            if key:
                state.by_idempotency_key[key] = letter_id
        return JSONResponse(letter)

    @router.get("/v1/letters")
    async def list_letters(request: Request) -> JSONResponse:
        if not _authorised(request):
            return _error(401, "Your API key is not valid.", "unauthorized")
        wanted = {
            k[len("metadata[") : -1]: v for k, v in request.query_params.items() if k.startswith("metadata[")
        }
        with state.lock:
            letters = [
                letter
                for letter in state.letters.values()
                if all(letter["metadata"].get(k) == v for k, v in wanted.items())
            ]
        return JSONResponse({"object": "list", "count": len(letters), "data": letters})

    @router.get("/v1/letters/{letter_id}")
    async def get_letter(request: Request, letter_id: str) -> JSONResponse:
        if not _authorised(request):
            return _error(401, "Your API key is not valid.", "unauthorized")
        letter = state.letters.get(letter_id)
        return JSONResponse(letter) if letter else _error(404, "letter not found", "not_found")

    @router.delete("/v1/letters/{letter_id}")
    async def cancel_letter(request: Request, letter_id: str) -> JSONResponse:
        if not _authorised(request):
            return _error(401, "Your API key is not valid.", "unauthorized")
        letter = state.letters.get(letter_id)
        if letter is None:
            return _error(404, "letter not found", "not_found")
        letter["deleted"] = True
        return JSONResponse({"id": letter_id, "deleted": True})

    return router


provider = Provider(name="lob", router=create_router(), description=__doc__ or "")
