"""版本对比 on the `/admin/items` pages: two versions of an item side by side, or a draft against the
current version, as a table of what was added, removed, changed or put in another order (the same
comparison as `GET /api/items/{code}/changes`, `banjian.item_changes`)."""
from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.routes.pages.admin import author_user
from api.routes.pages.common import render
from banjian.catalog import DefinitionProblems
from banjian.drafts import Drafts
from banjian.item_changes import compare_draft, compare_versions
from banjian.items.schema import MAX_VERSION

router = APIRouter(prefix="/admin/items", include_in_schema=False)
Code = Annotated[str, Path(min_length=1, max_length=64)]
DraftId = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[int | None, Query(ge=1, le=MAX_VERSION)]
CHANGE_ZH = {"added": "新增", "removed": "删除", "changed": "修改", "reordered": "调整顺序"}


def shown(value: Any) -> str:
    """A value as the table shows it: text as it is, anything else as compact JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _page(request: Request, actor: Any, result: dict[str, Any] | None, **ctx: Any) -> HTMLResponse:
    rows = [{"path": c["path"], "change": CHANGE_ZH[c["change"]], "before": shown(c.get("before")),
             "after": shown(c.get("after"))} for c in (result or {}).get("changes", [])]
    return render(request, "admin_item_changes.html", {"title": "版本对比", "result": result, "rows": rows, **ctx},
                  status=422 if ctx.get("problems") else 200, user=actor)


@router.get("/{code}/changes", response_class=HTMLResponse)
async def version_changes(request: Request, code: Code, from_version: Annotated[int | None, Query(
        alias="from", ge=1, le=MAX_VERSION)] = None, to_version: Annotated[int | None, Query(
        alias="to", ge=1, le=MAX_VERSION)] = None) -> HTMLResponse:
    """Version `from` against version `to` (defaults: the current version and the one before)."""
    actor = await author_user(request)
    catalog = request.app.state.catalog
    result = await run_in_threadpool(compare_versions, catalog, code, from_version, to_version)
    versions = [v["version"] for v in await run_in_threadpool(catalog.versions, code)]
    return _page(request, actor, result, versions=versions)


@router.get("/{code}/drafts/{draft_id}/changes", response_class=HTMLResponse)
async def draft_changes(request: Request, code: Code, draft_id: DraftId) -> HTMLResponse:
    """A draft against the current version (404 / 403 as for the draft; problems when unreadable)."""
    actor = await author_user(request)
    state = request.app.state
    drafts = Drafts(state.catalog, state.sessions)
    try:
        result = await run_in_threadpool(compare_draft, drafts, state.catalog, actor, code, draft_id)
    except DefinitionProblems as e:
        return _page(request, actor, None, code=code, draft_id=draft_id,
                     problems=[p.to_dict() for p in e.problems])
    return _page(request, actor, result)
