"""The applicant's e-licences page (/my/licences): each licence with its status today, a link to the
printable licence and to its public verification."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.licence_document import STATUS_ZH
from api.routes.pages.common import page_user, render
from banjian import licence_ops as ops
from banjian.contracts import Actor

router = APIRouter(include_in_schema=False)


def _mine(request: Request, actor: Actor, page: int) -> tuple[list[dict], int]:
    with request.app.state.sessions() as session:
        rows, total = ops.held_by(session, actor, 20, (page - 1) * 20)
        on = ops.today()
        return [ops.summary(r, on) for r in rows], total


@router.get("/my/licences", response_class=HTMLResponse)
async def my_licences(request: Request, page: int = 1) -> HTMLResponse:
    actor = await page_user(request)
    page = max(1, min(page, 1000))
    items, total = await run_in_threadpool(_mine, request, actor, page)
    return render(request, "my_licences.html", {"title": "我的电子证照", "licences": items, "total": total,
                                                "page": page, "STATUS_ZH": STATUS_ZH}, user=actor)
