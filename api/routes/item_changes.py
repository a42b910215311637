"""Version comparison (版本对比): what changed between two stored versions of an item, and what a
draft changes in the current version. The comparison itself: `banjian.item_changes`."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.bounds import DraftId, ItemCode
from api.deps import CatalogDep, CurrentUser
from api.routes.authoring import DraftsDep
from banjian.item_changes import compare_draft, compare_versions
from banjian.items.schema import MAX_VERSION

router = APIRouter(prefix="/api/items", tags=["items"])


@router.get("/{code}/changes")
def version_changes(code: ItemCode, _: CurrentUser, catalog: CatalogDep,
                    from_version: Annotated[int | None, Query(alias="from", ge=1, le=MAX_VERSION)] = None,
                    to_version: Annotated[int | None, Query(alias="to", ge=1, le=MAX_VERSION)] = None) -> dict[str, Any]:
    """Every change from version `from` (default: the newest stored before `to`) to version `to`
    (default: the current one) → `{"code", "name", "from_version", "to_version", "changes": [{"path",
    "change", "before"?, "after"?}]}`; nothing stored before: from nothing (`from_version` null, every
    field added).
    Unknown item or version: 404."""
    return compare_versions(catalog, code, from_version, to_version)


@router.get("/{code}/drafts/{draft_id}/changes")
def draft_changes(code: ItemCode, draft_id: DraftId, actor: CurrentUser, drafts: DraftsDep,
                  catalog: CatalogDep) -> dict[str, Any]:
    """What a draft changes: from the item's current version (a published draft: from the version
    before it) to the draft → `{"code", "name", "draft_id", "from_version" (null for a new item),
    "to_version" (null until published), "changes"}`. Whoever may read the draft (404, then 403);
    a draft the schema cannot read: 422 listing its problems."""
    return compare_draft(drafts, catalog, actor, code, draft_id)
