"""The item catalogue: list, read one (with its versions), publish a new version."""
from __future__ import annotations

import asyncio
from typing import Annotated

import yaml
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from api.deps import CatalogDep, CurrentUser
from api.views import item_summary
from banjian.enums import Role
from banjian.errors import Forbidden, Invalid

router = APIRouter(prefix="/api/items", tags=["items"])


@router.get("")
def list_items(_: CurrentUser, catalog: CatalogDep) -> list[dict]:
    """Every item's current version, in short."""
    return [item_summary(i) for i in catalog.all_current()]


@router.get("/{code}")
def get_item(code: Annotated[str, Path(min_length=1, max_length=64)], _: CurrentUser, catalog: CatalogDep) -> dict:
    """The current version's full definition, and the list of versions."""
    item = catalog.current(code)
    return {**item.model_dump(mode="json"), **item_summary(item), "versions": catalog.versions(code)}


@router.post("", status_code=201)
async def publish(request: Request, actor: CurrentUser, catalog: CatalogDep) -> JSONResponse:
    """Store a new version (admin, or the admin of the item's department). JSON or YAML body."""
    if not actor.has(Role.ADMIN):
        raise Forbidden("forbidden_role", "只有事项管理员可以发布事项", "only an admin may publish items")
    raw = await request.body()
    try:
        if "yaml" in request.headers.get("content-type", ""):
            data = yaml.safe_load(raw)
        else:
            import json

            data = json.loads(raw or b"null")
    except (yaml.YAMLError, ValueError) as e:
        raise Invalid("unparsable", f"请求体无法解析：{e}", f"the body cannot be parsed: {e}", field="") from None
    if not isinstance(data, dict):
        raise Invalid("invalid_type", "请求体应为事项定义对象", "the body must be a definition object", field="")
    definition = catalog.validate(data)
    if actor.department is not None and definition.department != actor.department:
        raise Forbidden("forbidden_department", "只能发布本部门的事项", "only your own department's items")
    stored, created = await asyncio.to_thread(catalog.store, definition, created_by=actor.username)
    versions = await asyncio.to_thread(catalog.versions, stored.code)
    body = {**stored.model_dump(mode="json"), **item_summary(stored), "versions": versions}
    return JSONResponse(body, status_code=201 if created else 200)
