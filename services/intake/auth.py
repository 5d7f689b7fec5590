"""Operator authentication for intake's operator routes: `Authorization: Bearer <INTAKE_OPERATOR_TOKEN>`."""

from __future__ import annotations

import hmac

from fastapi.responses import JSONResponse

from services.intake.settings import IntakeSettings


def operator_denied(settings: IntakeSettings, authorization: str | None) -> JSONResponse | None:
    """None if the caller is an operator; otherwise the 401 to return (no token configured = none is)."""
    token = settings.operator_token
    if (
        token is not None
        and authorization
        and authorization.startswith("Bearer ")
        and hmac.compare_digest(
            authorization.removeprefix("Bearer ").encode(), token.get_secret_value().encode()
        )
    ):
        return None
    return JSONResponse(
        {"detail": "operator token required"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )
