"""The applicant's message centre page (/my/notices, 消息中心): what happened on their cases that needs
them or tells them an outcome, newest first, each with what to do next. Opening it marks what it shows
(and everything older) read; the header's 消息 link carries the unread count (`header_count`)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.routes.pages.common import count_for, page_user, render
from banjian import notices
from banjian.contracts import Actor
from banjian.enums import Role

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20


def _load(request: Request, actor: Actor, page: int) -> tuple[list[dict], int]:
    with request.app.state.sessions() as session:
        found = notices.listing(session, actor.username, None, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        items = notices.as_json(found)
        notices.mark_read(session, actor.username, found["items"])
        return items, found["total"]


@router.get("/my/notices", response_class=HTMLResponse)
async def my_notices(request: Request, page: int = 1) -> HTMLResponse:
    actor = await page_user(request)
    page = max(1, min(page, 100))
    items, total = ([], 0) if not actor.has(Role.APPLICANT) else await run_in_threadpool(_load, request, actor, page)
    request.state.unread_notices = await run_in_threadpool(count_for, request, actor)  # after marking
    return render(request, "my_notices.html", {"title": "消息中心", "notices": items, "total": total, "page": page,
                                               "page_size": PAGE_SIZE}, user=actor)


