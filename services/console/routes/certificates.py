"""Operator routes: certificate re-issue.

    POST /certificates/{number}/reissue   re-issue a certificate with a corrected name
                                          (certificates.reissue)

Reads certificate-renderer's `certificates` (number, state, replaced_by, pledge_id) as a read
model; a certificate whose member was erased (its sealed fields unreadable) is unknown. The
request is handed to certificate-renderer as `certificate.reissue_requested.v1` (its `actor`: the
operator), which replaces the old number with a new one. The corrected name follows the pledge
form's rules (shared/contracts/pledge_input.py). The public verification (`/v/{number}`) stays on
the public site.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.console.auth import Caller, body_schema, console_of, hand_over, json_body, permit
from services.console.permissions import Permission
from services.console.read_models import CERTIFICATES
from shared.contracts import utcnow
from shared.contracts.certificate import ReissueRequested, ReissueRequestedData
from shared.contracts.pledge_input import _Errors, clean_name
from shared.read_models import opened

router = APIRouter(tags=["certificates"])


class ReissueRequest(BaseModel):
    corrected_name: str = Field(max_length=1000)
    reason: str = Field(min_length=3, max_length=500, examples=["name misspelt on the paper sheet"])


@router.post(
    "/certificates/{number}/reissue",
    status_code=202,
    dependencies=[permit(Permission.certificates_reissue)],
    openapi_extra=body_schema(ReissueRequest),
    summary="Re-issue a certificate with a corrected name",
    responses={
        404: {"description": "Unknown certificate"},
        409: {"description": "Already replaced"},
        422: {"description": "Invalid name or reason"},
        503: {"description": "Not handed over (broker away): retry"},
    },
)
async def reissue(
    request: Request,
    who: Caller,
    number: str,
    body: Annotated[ReissueRequest, Depends(json_body(ReissueRequest))],
) -> JSONResponse:
    console = console_of(request)
    number = number.strip().upper()[:40]
    current = await opened(console.vault, await CERTIFICATES.find_one(console.db, {"number": number}))
    if current is None:
        return JSONResponse({"detail": "unknown certificate"}, status_code=404)
    if current.state != "valid":
        return JSONResponse({"detail": f"already replaced by {current.replaced_by}"}, status_code=409)
    errors = _Errors("en")
    name = clean_name(body.corrected_name, errors, "corrected_name")
    if errors.items:
        return JSONResponse({"detail": [e.model_dump() for e in errors.items]}, status_code=422)
    event = ReissueRequested(
        correlation_id=number,
        data=ReissueRequestedData(
            certificate_number=number,
            pledge_id=current.pledge_id,
            corrected_name=name,
            reason=body.reason,
            requested_at=utcnow(),
        ),
    )
    await hand_over(request, who, event)
    await console.audit.record(
        who.event("certificate.reissue_requested", "certificate", number, pledge_id=current.pledge_id)
    )
    return JSONResponse({"status": "requested", "certificate_number": number}, status_code=202)
