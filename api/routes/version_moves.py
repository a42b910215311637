"""Moving open cases from one version of an item to a later one (POST /api/items/{code}/migrations)."""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.bounds import ItemCode
from api.deps import CatalogDep, CurrentUser
from api.validation import problem
from banjian.errors import Invalid
from banjian.json_limits import loads
from banjian.rules import authorise_authoring
from services.version_moves_run import migrate

router = APIRouter(prefix="/api/items", tags=["items"])


class MigrationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # strict: `true` is not version 1
    from_version: int = Field(ge=1, le=1_000_000, strict=True)
    to_version: int = Field(ge=1, le=1_000_000, strict=True)
    dry_run: bool = False


def migration_body(raw: bytes) -> MigrationBody:
    try:
        return MigrationBody.model_validate(loads(raw or b"null"))
    except ValueError as e:  # ValidationError is a ValueError too
        if isinstance(e, ValidationError):
            first = e.errors()[0]
            path = ".".join(str(p) for p in first["loc"]) or None
            said = problem({**first, "loc": ("body", *first["loc"])})
            raise Invalid("invalid_body", f"迁移参数有误：{said['message']}", said["message_en"], field=path) from None
        raise Invalid("unparsable", f"请求体无法解析：{e}", f"the body cannot be parsed: {e}", field="") from None


@router.post("/{code}/migrations",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": MigrationBody.model_json_schema()}}}})
async def migrate_cases(code: ItemCode, request: Request, actor: CurrentUser, catalog: CatalogDep) -> dict[str, Any]:
    """Move the open cases of version `from_version` to `to_version` (admin or the department's
    author) → `{"cases", "movable": [case_id], "blocked": [{"case_id", "reason", "message"}], "dry_run"}`.
    A dry run changes nothing; otherwise every movable case moves through its workflow (history
    `version_migrated`) and `movable` lists the cases that moved. 422: a version that does not
    exist, or `to_version` not after `from_version`."""
    item = await asyncio.to_thread(catalog.current, code)  # 404 for an unknown item
    authorise_authoring(actor, item.department)
    body = migration_body(await request.body())
    return await migrate(request.app.state.client, catalog, actor, code, body.from_version, body.to_version,
                         body.dry_run)
