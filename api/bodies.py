"""Reading an item definition from a request body: JSON, or YAML with `Content-Type: application/yaml`."""
from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import Request

from banjian.errors import Invalid
from banjian.files import TooLarge
from banjian.items.yaml_text import load_yaml

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
        if "yaml" in request.headers.get("content-type", ""):
            data = load_yaml(raw)
        else:
            data = json.loads(raw or b"null")
    except (yaml.YAMLError, ValueError) as e:
        raise Invalid("unparsable", f"请求体无法解析：{e}", f"the body cannot be parsed: {e}", field="") from None
    if not isinstance(data, dict):
        raise Invalid("invalid_type", "请求体应为事项定义对象", "the body must be a definition object", field="")
    return data
