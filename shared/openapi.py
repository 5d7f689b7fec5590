"""The request body of a route that reads its raw body, for the app's OpenAPI document.

A webhook reads its raw body to check the provider's signature before anything else, so FastAPI
cannot see its shape; `documented_body` puts it in the document, as the provider sends it:

    @router.post("", openapi_extra=documented_body(Notification, signed_by=HUB_SIGNATURE))

The schema stands alone in the operation (its `$defs` inlined), so no app-wide components are
needed. `signed_by` documents the header that carries the signature (checked by the handler,
never by FastAPI: a missing or wrong one is the handler's 401/403, not a 422).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def documented_body(
    model: type[BaseModel],
    media_type: str = "application/json",
    signed_by: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `openapi_extra` of a route whose body is `model` (as `media_type`), read raw."""
    extra: dict[str, Any] = {
        "requestBody": {"required": True, "content": {media_type: {"schema": inlined(model)}}}
    }
    if signed_by is not None:
        extra["parameters"] = [{"in": "header", "required": True, **signed_by}]
    return extra


def inlined(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema by alias, with its `$defs` references replaced by the definitions."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result
