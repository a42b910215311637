"""The OpenAPI document as clients read it: every 4xx in the contract's error shape.

FastAPI documents each route's 422 as its own `HTTPValidationError` (`{"detail": [{"loc", "msg",
"type"}]}`), a body banjian never sends: every 4xx, request validation included
(`api/validation.py`), is `{"detail": {"code", "message", "message_en", "field", ...}}`. Here the
generated document gets that shape (`ErrorResponse`) for every 422, for the 401 of every route
that needs a login, and for every other 4xx (`4XX`), so a client generated from the document reads
the errors the server sends.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_REF = {"$ref": "#/components/schemas/ErrorResponse"}

#: one problem of a 422 (request validation: `field`; an item definition: `path`)
PROBLEM = {
    "title": "Problem", "type": "object", "required": ["code", "message", "message_en"],
    "properties": {
        "field": {"type": ["string", "null"], "description": "the field's path, e.g. `materials[0].name`"},
        "path": {"type": "string", "description": "an item definition's problem: its path"},
        "code": {"type": "string"},
        "message": {"type": "string", "description": "Chinese"},
        "message_en": {"type": "string", "description": "English"},
        "allowed": {"type": "array", "items": {"type": "string"}, "description": "the choices"},
    },
    "additionalProperties": True,
}
ERROR_DETAIL = {
    "title": "ErrorDetail", "type": "object", "required": ["code", "message", "message_en", "field"],
    "properties": {
        "code": {"type": "string", "description": "machine code, e.g. `invalid_request`, `case_not_found`"},
        "message": {"type": "string", "description": "Chinese: names the field and the rule"},
        "message_en": {"type": "string", "description": "English: names the field and the rule"},
        "field": {"type": ["string", "null"], "description": "the field's path (`from`, `data.level`, "
                                                           "`materials[0].name`); null for the request as a whole"},
        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"},
                     "description": "every problem (request validation, item definitions)"},
        "allowed": {"type": "array", "items": {"type": "string"}, "description": "a filter's choices"},
    },
    "additionalProperties": True,
}
ERROR_RESPONSE = {
    "title": "ErrorResponse", "type": "object", "required": ["detail"],
    "properties": {"detail": {"$ref": "#/components/schemas/ErrorDetail"}},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(_REF)}}}


def document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with the error responses replaced and added (see the module doc)."""
    doc = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                      description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(Problem=PROBLEM, ErrorDetail=ERROR_DETAIL, ErrorResponse=ERROR_RESPONSE)
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _error("the input breaks a rule (bad data): `detail.field` names it")
            if op.get("security"):
                responses.setdefault("401", _error("not logged in (no valid token)"))
            responses.setdefault("4XX", _error("refused: 403 not allowed, 404 unknown or not visible, "
                                               "409 not allowed in the current state, ..."))
            for content in op.get("requestBody", {}).get("content", {}).values():
                _hoist_defs(content.get("schema", {}), schemas)
    return doc


def _hoist_defs(schema: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A body documented by its model's own JSON schema (`api.bodies.body_doc`) carries its nested
    models under `$defs`, while FastAPI points their `$ref`s at the components: move them there, so
    that every `$ref` of the document resolves (a client generator fails on one that does not)."""
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)


def install(app: FastAPI) -> None:
    """Serve `document(app)` at /openapi.json (built once, on the first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
