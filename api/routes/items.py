"""The item catalogue: list, read one (with its versions), publish a new version."""
from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.bodies import definition_body
from api.deps import CatalogDep, CurrentUser
from api.views import item_summary
from banjian.adminlog import record_admin
from banjian.catalog import Catalog
from banjian.drafts import authorise_new_text
from banjian.enums import Role
from banjian.errors import Forbidden
from banjian.items.schema import MAX_VERSION, ItemDefinition, ItemDetail
from banjian.rules import authorise_authoring

router = APIRouter(prefix="/api/items", tags=["items"])


def item_detail(catalog: Catalog, item: ItemDefinition) -> dict:
    """GET /api/items/{code}: the definition, the derived read-only fields (`ItemDetail`), the versions."""
    return {**item.model_dump(mode="json"), **item_summary(item), "versions": catalog.versions(item.code)}


@router.get("")
def list_items(_: CurrentUser, catalog: CatalogDep) -> list[dict]:
    """Every item's current version, in short."""
    return [item_summary(i) for i in catalog.all_current()]


@router.get("/{code}", responses={200: {"model": ItemDetail}})
def get_item(code: Annotated[str, Path(min_length=1, max_length=64)], _: CurrentUser, catalog: CatalogDep,
             version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None) -> dict:
    """The current version's full definition (or `?version=N`'s: an earlier one, as cases filed under
    it run), and the list of versions. Fields marked `readOnly` are derived: POST /api/items ignores
    them, so this body posts back as it is."""
    return item_detail(catalog, catalog.version(code, version) if version is not None else catalog.current(code))


@router.post("", status_code=201)
async def publish(request: Request, actor: CurrentUser, catalog: CatalogDep) -> JSONResponse:
    """Store a new version (admin, or the department's `author`). JSON or YAML body; without
    `version`, the next version number of the item. The same content as a stored version: 200."""
    if not actor.has(Role.ADMIN, Role.AUTHOR):
        raise Forbidden("forbidden_role", "只有事项管理员可以发布事项", "only an admin may publish items")
    data = await definition_body(request)
    code, department = data.get("code"), data.get("department")
    stored = await asyncio.to_thread(catalog.department, code) if isinstance(code, str) else None
    if isinstance(code, str):  # the item's own department (moving it is a 422 below), or the one a new item names
        await asyncio.to_thread(authorise_new_text, catalog, actor, code, stored,
                                department if isinstance(department, str) else None)
    if isinstance(code, str) and isinstance(department, str):
        authorise_authoring(actor, department)
    if "version" not in data and isinstance(code, str):
        data = {**data, "version": catalog.next_version(code)}
    definition = await asyncio.to_thread(catalog.validate, data)
    authorise_authoring(actor, definition.department)
    stored, created = await asyncio.to_thread(catalog.store, definition, created_by=actor.username)
    record_admin(request.app.state.sessions, actor.username, "item.store", stored.code,
                 {"version": stored.version, "new_version": created}, request.client.host if request.client else None)
    return JSONResponse(item_detail(catalog, stored), status_code=201 if created else 200)
