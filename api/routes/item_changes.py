"""Version comparison (版本对比): what changed between two stored versions of an item, and what a
draft changes in the current version. The diff itself: `banjian.item_changes`."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.bounds import DraftId, ItemCode
from api.deps import CatalogDep, CurrentUser
from api.routes.authoring import DraftsDep
from banjian.catalog import Catalog
from banjian.item_changes import definition_changes, normalised
from banjian.items.schema import MAX_VERSION, ItemDefinition

router = APIRouter(prefix="/api/items", tags=["items"])


@router.get("/{code}/changes")
def version_changes(code: ItemCode, _: CurrentUser, catalog: CatalogDep,
                    from_version: Annotated[int | None, Query(alias="from", ge=1, le=MAX_VERSION)] = None,
                    to_version: Annotated[int | None, Query(alias="to", ge=1, le=MAX_VERSION)] = None) -> dict[str, Any]:
    """Every change from version `from` (default: the one before `to`) to version `to` (default: the
    current one) → `{"code", "from_version", "to_version", "changes": [{"path", "change", "before"?,
    "after"?}]}`; version 1 alone: from nothing (`from_version` null, every field added). Unknown
    item or version: 404."""
    after = catalog.version(code, to_version) if to_version is not None else catalog.current(code)
    start = from_version if from_version is not None else after.version - 1
    return {"code": code, "from_version": start or None, "to_version": after.version,
            "changes": _changes(catalog, code, start, after)}


def _changes(catalog: Catalog, code: str, base: int, after: ItemDefinition) -> list[dict[str, Any]]:
    """From version `base` of `code` to `after`; from nothing (every field added) when `base` is 0."""
    if base < 1:
        return [{"path": k, "change": "added", "after": v} for k, v in normalised(after).items()]
    return definition_changes(catalog.version(code, base), after)


@router.get("/{code}/drafts/{draft_id}/changes")
def draft_changes(code: ItemCode, draft_id: DraftId, actor: CurrentUser, drafts: DraftsDep,
                  catalog: CatalogDep) -> dict[str, Any]:
    """What a draft changes: from the item's current version (a published draft: from the version
    before it) to the draft → `{"code", "draft_id", "from_version" (null for a new item),
    "to_version" (null until published), "changes"}`. Whoever may read the draft (404, then 403);
    a draft the schema cannot read: 422 listing its problems."""
    draft, row = drafts.drawable(actor, code, draft_id)
    published = row["version"]
    base = published - 1 if published else catalog.next_version(code) - 1
    return {"code": code, "draft_id": draft_id, "from_version": base or None, "to_version": published,
            "changes": _changes(catalog, code, base, draft)}
