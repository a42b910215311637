"""The event feed's subscribers for an admin (订阅系统): one row per subscriber (address without its
secrets, departments, state, queue, last error) and pause / resume, as `GET /api/subscribers` and
`POST /api/subscribers/{name}/pause|resume` do (same domain functions, same admin log entries).
The state is the judgement of `banjian status` (`services.status.feed_state`)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlsplit, urlunsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.routes.pages.admin import admin_user
from api.routes.pages.common import check_csrf, render
from api.routes.pages.public import _departments
from api.uploads import read_form
from banjian import feed
from banjian.adminlog import record_admin
from banjian.contracts import Actor
from banjian.timefmt import WAIT_UNITS_ZH, waited
from services.status import FEED_BACKLOG, FEED_OK, FEED_PAUSED, FEED_RETRYING, FEED_STALE_S, feed_state

router = APIRouter(prefix="/admin", include_in_schema=False)
Name = Annotated[str, Path(max_length=64)]
STATE_ZH = {FEED_OK: "正常", FEED_RETRYING: "重试中", FEED_PAUSED: "已暂停", FEED_BACKLOG: "有积压"}


def shown_address(url: str) -> str:
    """A subscriber's address as an operator may see it: scheme, host, port and path, never a user
    name, password, query or fragment (where a far end may have put its token)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # stored by an earlier release; the sender reports it in last_error
        return "（地址无法解析）"
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, "", ""))


def _rows(request: Request) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        subscribers = feed.list_overview(session)
    names = _departments(request)
    now = datetime.now(UTC)
    rows = []
    for s in subscribers:
        oldest = s["oldest_pending_at"]
        rows.append({**s, "address": shown_address(s["url"]), "status": feed_state(s, now),
                     "department_names": None if s["departments"] is None
                     else [names.get(d, d) for d in s["departments"]],
                     "oldest_wait": waited((now - datetime.fromisoformat(oldest)).total_seconds(), WAIT_UNITS_ZH) if oldest
                     else None})
    return rows


def _page(request: Request, actor: Actor) -> HTMLResponse:
    done = request.query_params.get("done")
    name = (request.query_params.get("name") or "")[:64]
    return render(request, "admin_subscribers.html", {
        "title": "订阅系统", "rows": _rows(request), "STATE_ZH": STATE_ZH, "stale_minutes": FEED_STALE_S // 60,
        "done": {"paused": f"已暂停向 {name} 推送", "resumed": f"已恢复向 {name} 推送"}.get(done or "") if name else None},
        user=actor)


@router.get("/subscribers", response_class=HTMLResponse)
async def subscribers(request: Request) -> HTMLResponse:
    actor = await admin_user(request)
    return await run_in_threadpool(_page, request, actor)


@router.post("/subscribers/{name}/pause")
async def pause(request: Request, name: Name) -> RedirectResponse:
    return await _set_paused(request, name, True)


@router.post("/subscribers/{name}/resume")
async def resume(request: Request, name: Name) -> RedirectResponse:
    return await _set_paused(request, name, False)


async def _set_paused(request: Request, name: str, paused: bool) -> RedirectResponse:
    actor = await admin_user(request)
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    form.discard()
    check_csrf(request, form.first("csrf_token"))
    sessions = request.app.state.sessions
    await run_in_threadpool(feed.set_paused, sessions, name, paused)  # 404 for an unknown subscriber
    await run_in_threadpool(record_admin, sessions, actor.username,
                            "subscriber.pause" if paused else "subscriber.resume", name, {},
                            request.client.host if request.client else None)
    return RedirectResponse(f"/admin/subscribers?done={'paused' if paused else 'resumed'}&name={quote(name, safe='')}",
                            status_code=303)
