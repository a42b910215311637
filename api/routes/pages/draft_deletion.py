"""Deleting an unpublished draft on `/admin/items` (删除草稿): a confirmation page naming the draft
(works without JavaScript), then the deletion through the same service as
`DELETE /api/items/{code}/drafts/{draft_id}` (`banjian.drafts.Drafts.delete`: 404, 403, 409 once
published; recorded in the admin log)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.routes.pages.admin import author_user
from api.routes.pages.common import check_csrf, render
from api.uploads import read_form
from banjian.drafts import Drafts
from banjian.errors import Conflict

router = APIRouter(prefix="/admin/items", include_in_schema=False)
Code = Annotated[str, Path(min_length=1, max_length=64)]
DraftId = Annotated[str, Path(min_length=1, max_length=64)]


def _drafts(request: Request) -> Drafts:
    return Drafts(request.app.state.catalog, request.app.state.sessions)


@router.get("/{code}/drafts/{draft_id}/delete", response_class=HTMLResponse)
async def confirm_delete(request: Request, code: Code, draft_id: DraftId) -> HTMLResponse:
    """确认删除: what the draft is, and a 确认删除 button (404 / 403 as for the draft)."""
    actor = await author_user(request)
    draft = await run_in_threadpool(_drafts(request).get, actor, code, draft_id)
    message = None
    if draft["version"] is not None:
        message = f"草稿已发布为第 {draft['version']} 版，不能删除。"
    return render(request, "admin_draft_delete.html", {"title": "删除草稿", "draft": draft, "message": message},
                  status=409 if message else 200, user=actor)


@router.post("/{code}/drafts/{draft_id}/delete", response_class=HTMLResponse)
async def delete_draft(request: Request, code: Code, draft_id: DraftId):
    """删除: the draft is gone (303 to the list, which says so); a published one is a 409 page."""
    actor = await author_user(request)
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    form.discard()
    check_csrf(request, form.first("csrf_token"))
    drafts = _drafts(request)
    try:
        await run_in_threadpool(drafts.delete, actor, code, draft_id)
    except Conflict as e:
        draft = await run_in_threadpool(drafts.get, actor, code, draft_id)
        return render(request, "admin_draft_delete.html", {"title": "删除草稿", "draft": draft, "message": e.message},
                      status=409, user=actor)
    return RedirectResponse(f"/admin/items?deleted={draft_id}#drafts", status_code=303)
