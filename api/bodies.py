"""Reading an item definition from a request body: JSON, or YAML with `Content-Type: application/yaml`."""
from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import Request

from banjian.errors import Invalid


async def definition_body(request: Request) -> dict[str, Any]:
    """The body as a mapping; 422 when it cannot be parsed or is not an object."""
    raw = await request.body()
    try:
        if "yaml" in request.headers.get("content-type", ""):
            data = yaml.safe_load(raw)
        else:
            data = json.loads(raw or b"null")
    except (yaml.YAMLError, ValueError) as e:
        raise Invalid("unparsable", f"请求体无法解析：{e}", f"the body cannot be parsed: {e}", field="") from None
    if not isinstance(data, dict):
        raise Invalid("invalid_type", "请求体应为事项定义对象", "the body must be a definition object", field="")
    return data
