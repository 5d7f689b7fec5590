"""The refusals of every Samleng JSON API, in two shapes, and their OpenAPI documents saying so.

    {"detail": "no such operator"}                                       Refusal            (4xx, 503)
    {"detail": [{"field": "email", "code": "taken", "message": "…"}]}    ValidationProblem  (422, 413)

A refusal about the input names each field it is about. So does a request FastAPI itself cannot
validate (a query parameter out of range, a header too long, a body that is not its model):
`install_field_problems(app)` answers it with 422 in the second shape, each problem carrying
`field`, `code` and `message` beside FastAPI's own `loc`, `msg` and `type` (kept for clients
that read those), and never the input that was sent. The same call documents that 422 on every
operation that takes input and, in an app with a body limit (shared/http_limits.py), its 413 on
every one that takes a body: the document says what the app answers.

A route documents its other refusals with `refusals`:

    @router.delete("/tokens/{token_id}", responses=refusals({404: "No such live token of yours"}))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.contracts.pledge_input import FieldError
from shared.http_limits import BodyLimit
from shared.openapi import inlined

SOURCES = ("body", "query", "path", "header", "cookie")
"""Where FastAPI says a problem is (the first part of its `loc`), never part of the field's name."""
ABOUT_INPUT = (413, 422)
NOT_JSON_TEXT = "The body is not JSON text (UTF-8): FastAPI could not read it as the route's model"


class Refusal(BaseModel):
    """A refusal that is not about one field."""

    detail: str = Field(examples=["no such operator"])


class ValidationProblem(BaseModel):
    """A refusal about the input: every problem, each naming its field."""

    detail: list[FieldError]


def refusals(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for the refusals it gives (status -> when), each with its body's
    shape, as JSON whatever the route's own answers are: `ValidationProblem` for 413 and 422,
    `Refusal` for the others."""
    return {
        status: {
            "description": text,
            "content": {
                "application/json": {
                    "schema": inlined(ValidationProblem if status in ABOUT_INPUT else Refusal)
                }
            },
        }
        for status, text in described.items()
    }


def field_of(location: Sequence[Any], kind: str) -> str:
    """FastAPI's `loc` as the field's name: ("body", "texts", "en", "title") -> "texts.en.title",
    ("query", "limit") -> "limit"; a body that is not JSON at all -> "body"."""
    parts = [str(part) for part in location]
    if parts and parts[0] in SOURCES:
        source, parts = parts[0], parts[1:]
    else:
        source = "body"
    if kind == "json_invalid":
        return "body"
    return ".".join(parts) or source


def problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's validation errors as field problems, without the input they were about."""
    found = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        kind = str(error.get("type", "invalid"))
        message = str(error.get("msg", "invalid value"))
        found.append(
            {
                "field": field_of(location, kind),
                "code": kind,
                "message": message,
                "loc": list(location),
                "msg": message,
                "type": kind,
            }
        )
    return found


async def field_problems(_: Request, invalid: Exception) -> JSONResponse:
    assert isinstance(invalid, RequestValidationError)
    return JSONResponse({"detail": problems(invalid.errors())}, status_code=422)


def install_field_problems(app: FastAPI) -> None:
    """Answer every request validation error as field problems, and document them (module
    docstring) on every operation of `app`."""
    app.add_exception_handler(RequestValidationError, field_problems)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document: dict[str, Any] = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (ValidationProblem, Refusal):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        shape = {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}}
        limited = any(getattr(middleware, "cls", None) is BodyLimit for middleware in app.user_middleware)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict) and "responses" in operation:
                    _document_input_refusals(operation, shape, limited)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _document_input_refusals(operation: dict[str, Any], shape: dict[str, Any], limited: bool) -> None:
    responses: dict[str, Any] = operation["responses"]
    takes_body = "requestBody" in operation
    takes_input = takes_body or bool(operation.get("parameters"))
    statuses = (["422"] if takes_input else []) + (["413"] if takes_body and limited else [])
    for status in statuses:
        documented = responses.setdefault(
            status, {"description": "Invalid input: each problem names its field"}
        )
        documented["content"] = shape
