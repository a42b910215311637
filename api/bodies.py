"""Reading request bodies: an item definition (JSON, or YAML with `Content-Type: application/yaml`), and
a JSON body read after a route's own 404/403 checks (`json_body`)."""
from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from banjian.errors import DomainError, Invalid
from banjian.files import TooLarge
from banjian.items.yaml_text import DefinitionTextError, parse_definition_text
from banjian.json_limits import loads

#: The largest definition body (JSON or YAML): the biggest shipped definition is about 10 KiB, and
#: every text and list of one has its bound (`definition_rules.check_text_sizes`).
MAX_DEFINITION_BODY = 1024 * 1024


async def definition_body(request: Request) -> dict[str, Any]:
    """The body as a mapping; 413 past `MAX_DEFINITION_BODY` (refused as it arrives, never held
    whole), 422 when it cannot be parsed or is not an object (YAML aliases included)."""
    too_large = TooLarge("definition_too_large", "事项定义不能超过 1 MiB", "a definition may be at most 1 MiB",
                         field="")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_DEFINITION_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DEFINITION_BODY:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        data = parse_definition_text(raw, "yaml" in request.headers.get("content-type", ""))
    except DefinitionTextError as e:
        raise Invalid("unparsable", f"请求体无法解析：{e.zh}", f"the body cannot be parsed: {e}", field="") from None
    if not isinstance(data, dict):
        raise Invalid("invalid_type", "请求体应为事项定义对象", "the body must be a definition object", field="")
    return data


M = TypeVar("M", bound=BaseModel)


def unsupported_media_type(media_type: str) -> DomainError:
    """A 415: a JSON body sent with another `Content-Type` ("" when it named none)."""
    return DomainError("unsupported_media_type",
                       f"请求体应为 JSON，请求头 Content-Type 须为 application/json（实际为 {media_type or '未指定'}）",
                       "the request body must be JSON sent with the header Content-Type: application/json "
                       f"(got {media_type or 'none'})", field=None, status=415)


def media_type_of(request: Request) -> str:
    """The request's media type, lower case, without parameters ("" when it named none)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the JSON body of a route that reads it with `json_body`."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


async def json_body(request: Request, model: type[M]) -> M:
    """The JSON body read as `model`, called by a route after its own 404 and 403 checks, so that a bad
    body answers after them (the contract's order 401 → 404 → 403 → 409 → 422); the answers are the
    framework's (415 for another media type, the 422 `invalid_request` of `api/validation.py`)."""
    raw = await request.body()
    media_type = media_type_of(request)
    if raw and not is_json(media_type):
        raise unsupported_media_type(media_type)
    try:
        payload = loads(raw or b"null")
    except ValueError as e:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {e}",
                                       "input": {}}]) from None
    if payload is None:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(payload)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]) \
            from None
