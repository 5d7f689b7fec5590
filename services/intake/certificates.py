"""Public certificate verification: `/v/{number}` (a page) and `GET /api/v1/certificates/{number}`.

Reads certificate-renderer's `certificates` through read_models.py (`CertificateCheck`: number,
state, name, show_name_publicly, discreet, signed_on, replaced_by). Shows the least personal data
that verifies a certificate: the full name only if the signer chose so at intake, otherwise
initials; for a member with discreet messages (at-risk mode) only that it is valid: no name,
initials, date or replacement (a replaced one is the same pledge, so it reads valid too).
The name is stored sealed under the member's key (services/certificates/app.py): it is opened
with the site's vault, and a certificate whose member was erased (key gone) is unknown.

Numbers are `KCAP-<year>-<serial>-<check>`: the check part is random (4 characters of an
unambiguous alphabet, 20 bits), so numbers cannot be listed by counting. A number with a wrong
check part answers exactly like any string we do not know. Numbers issued before the check part
(`KCAP-<year>-<serial>`) stay valid. Both routes count against the client's `verify` limit
(services/intake/limits.py, shared by all replicas).
Operators re-issue a certificate in the console (services/console/routes/certificates.py).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment
from pydantic import BaseModel, Field

from services.intake.i18n import pick_language
from services.intake.limits import verify_limit
from services.intake.read_models import CERTIFICATES, CertificateCheck
from services.intake.settings import IntakeSettings
from shared.contracts.languages import Lang
from shared.read_models import opened

NUMBER = re.compile(r"^KCAP-\d{4}-\d{6,}(-[2-9A-HJ-NP-Z]{4})?$")

VERIFY_TEXT: dict[str, dict[Lang, str]] = {
    "title": {"en": "Certificate check", "km": "ការផ្ទៀងផ្ទាត់វិញ្ញាបនបត្រ"},
    "valid": {"en": "This certificate is valid.", "km": "វិញ្ញាបនបត្រនេះមានសុពលភាព។"},
    "replaced": {
        "en": "This certificate was replaced by {other}.",
        "km": "វិញ្ញាបនបត្រនេះត្រូវបានជំនួសដោយ {other}។",
    },
    "unknown": {"en": "We have no certificate with this number.", "km": "យើងគ្មានវិញ្ញាបនបត្រលេខនេះទេ។"},
    "signer": {"en": "Signed by", "km": "ចុះហត្ថលេខាដោយ"},
    "signed_on": {"en": "Signed on", "km": "ចុះហត្ថលេខានៅ"},
    "number": {"en": "Certificate no.", "km": "លេខវិញ្ញាបនបត្រ"},
    "switch_language": {"en": "ភាសាខ្មែរ", "km": "English"},
}


class Verification(BaseModel):
    model_config = {"json_schema_extra": {"description": "What the public may know about a certificate."}}

    number: str
    state: Literal["valid", "replaced", "unknown"]
    signer: str | None = Field(default=None, description="Full name if the signer allowed it, else initials.")
    signed_on: str | None = None
    replaced_by: str | None = None


def initials(name: str) -> str:
    return " ".join(f"{word[0]}." for word in name.split() if word)


def public_signer(certificate: CertificateCheck) -> str:
    name = certificate.name or ""
    return name if certificate.show_name_publicly else initials(name)


class CertificateReader:
    def __init__(self, status_reader: Any) -> None:
        self._status = status_reader

    async def find(self, number: str) -> CertificateCheck | None:
        number = number.strip().upper()
        if not NUMBER.match(number):
            return None
        found = await CERTIFICATES.find_one(self._status.database(), {"number": number})
        if found is None or found.sealed is None:
            return found
        return await opened(await self._status.vault(), found)  # None: the member was erased

    async def verify(self, number: str) -> Verification:
        found = await self.find(number)
        if found is None:
            return Verification(number="", state="unknown")
        if found.discreet:
            return Verification(number=found.number, state="valid")
        return Verification(
            number=found.number,
            state="valid" if found.state == "valid" else "replaced",
            signer=public_signer(found),
            signed_on=found.signed_on.date().isoformat(),
            replaced_by=found.replaced_by,
        )


def add_certificate_routes(app: FastAPI, settings: IntakeSettings, templates: Environment) -> None:
    def reader() -> CertificateReader:
        return CertificateReader(app.state.status)

    @app.get(
        "/v/{number}",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[Depends(verify_limit)],
    )
    async def verify_page(request: Request, number: str, lang: str | None = None) -> HTMLResponse:
        language = pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )
        result = await reader().verify(number)
        html = templates.get_template("verify.html").render(
            lang=language,
            other_lang="km" if language == "en" else "en",
            v=result,
            t=lambda key, **kw: VERIFY_TEXT[key][language].format(**kw),
        )
        return HTMLResponse(
            html, status_code=404 if result.state == "unknown" else 200, headers={"X-Robots-Tag": "noindex"}
        )

    @app.get(
        "/api/v1/certificates/{number}",
        response_model=Verification,
        summary="Verify a certificate",
        responses={404: {"description": "Unknown number"}, 429: {"description": "Too many requests"}},
        dependencies=[Depends(verify_limit)],
    )
    async def verify_api(number: str) -> JSONResponse:
        result = await reader().verify(number)
        return JSONResponse(result.model_dump(), status_code=404 if result.state == "unknown" else 200)
