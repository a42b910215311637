"""Pages anyone may read: home, login and logout, the service guide (办事指南)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from api.routes.pages.common import (
    check_csrf,
    end_session,
    optional_user,
    render,
    safe_next,
    start_session,
)
from banjian.auth import verify_password
from banjian.contracts import Actor
from banjian.db import Department, User
from banjian.enums import IdKind, Role
from banjian.errors import NotFound
from banjian.form_values import today
from banjian.ids import IdError, validate_citizen_id
from banjian.item_effective import effective_note
from banjian.logins import LoginGuard, TooManyAttempts

router = APIRouter(include_in_schema=False)
ITEM_TYPES = {"01": "行政许可", "02": "行政处罚", "03": "行政强制", "04": "行政征收", "05": "行政给付",
              "06": "行政检查", "07": "行政确认", "08": "行政奖励", "09": "行政裁决", "10": "其他行政权力",
              "20": "公共服务"}


def _departments(request: Request) -> dict[str, str]:
    with request.app.state.sessions() as session:
        return {d.code: d.name for d in session.exec(select(Department)).all()}


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    user = await optional_user(request)
    items = request.app.state.catalog.all_current()
    kind = _applicant_kind(user)
    # 常办事项: what the applicant may apply for (a company-only item is of no use to a citizen)
    usable = [i for i in items if kind is None or kind in i.service_object]
    return render(request, "home.html", {"title": "首页", "items": usable[:6], "count": len(items)}, user=user)


def _applicant_kind(user: Actor | None) -> IdKind | None:
    """A logged-in applicant's kind (自然人 or 法人) from the id number of their account, else None."""
    if user is None or not user.has(Role.APPLICANT) or not user.id_number:
        return None
    try:
        validate_citizen_id(user.id_number)
    except IdError:
        return IdKind.ORGANISATION
    return IdKind.CITIZEN


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"title": "登录", "next": safe_next(next), "errors": [],
                                          "username": ""}, user=await optional_user(request))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, username: str = Form("", max_length=64), password: str = Form("", max_length=256),
                next: str = Form("/", max_length=2000), csrf_token: str = Form("", max_length=128)):
    check_csrf(request, csrf_token)
    errors = []
    if not username:
        errors.append({"field": "username", "text": "请输入用户名", "href": "#username"})
    if not password:
        errors.append({"field": "password", "text": "请输入密码", "href": "#password"})
    if "\x00" in username:  # no name holds one, and PostgreSQL refuses it even in a lookup
        errors.append({"field": "username", "text": "用户名不能含有空字符（U+0000）", "href": "#username"})
    status = 401 if username and password and not errors else 422
    headers: dict[str, str] = {}
    if not errors:
        guard: LoginGuard = request.app.state.logins  # the same throttling as POST /api/auth/token
        address = request.client.host if request.client else "unknown"

        def check() -> bool:
            guard.check_lock(username)
            with request.app.state.sessions() as session:
                user = session.get(User, username)
                ok = bool(user and user.active and verify_password(user.password_hash, password))
            if not ok:
                guard.failed(username, address)
            return ok

        try:
            if not await run_in_threadpool(check):
                errors.append({"field": "password", "text": "用户名或密码错误", "href": "#password"})
        except TooManyAttempts as e:
            errors.append({"field": "password", "text": e.message, "href": "#password"})
            status, headers = 429, {"Retry-After": str(e.retry_after)}
    if errors:
        page = render(request, "login.html", {"title": "登录", "next": safe_next(next), "errors": errors,
                                              "username": username}, status=status)
        page.headers.update(headers)
        return page
    response = RedirectResponse(safe_next(next), status_code=303)
    start_session(response, request, username)
    return response


@router.post("/logout")
async def logout_post(request: Request, csrf_token: str = Form("", max_length=128)) -> RedirectResponse:
    check_csrf(request, csrf_token)
    response = RedirectResponse("/", status_code=303)
    await end_session(response, request)
    return response


@router.get("/logout")
async def logout(request: Request) -> RedirectResponse:
    """Logging out needs no token: the worst a forged link can do is log someone out."""
    response = RedirectResponse("/login", status_code=303)
    await end_session(response, request)
    return response


@router.get("/guide", response_class=HTMLResponse)
async def guide(request: Request, q: str = "") -> HTMLResponse:
    q = q.strip()[:100]
    items = [i for i in request.app.state.catalog.all_current()
             if i.status == "active" and (not q or q in i.name or q in i.code)]
    depts = await run_in_threadpool(_departments, request)
    by_dept: dict[str, list] = {}
    for i in sorted(items, key=lambda i: (i.department, i.name)):
        by_dept.setdefault(depts.get(i.department, i.department), []).append(i)
    return render(request, "guide.html", {"title": "办事指南", "q": q, "by_dept": by_dept, "total": len(items)},
                  user=await optional_user(request))


@router.get("/guide/{code}", response_class=HTMLResponse)
async def guide_item(request: Request, code: str) -> HTMLResponse:
    return await guide_page(request, code)


async def guide_page(request: Request, code: str, ask: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """An item's service guide, with its consultation form (`ask`: a refused one, as typed)."""
    from api.routes.pages.consult import ask_form

    try:
        item = request.app.state.catalog.current(code)
    except NotFound:
        raise NotFound("item_not_found", f"没有事项 {code}", f"no item {code}") from None
    depts = await run_in_threadpool(_departments, request)
    user = await optional_user(request)
    kind = await run_in_threadpool(_id_kind, request, user.username) \
        if user is not None and user.has(Role.APPLICANT) and not user.has(Role.CLERK) else None
    served = {o.value for o in item.service_object}
    return render(request, "guide_item.html", {"title": item.name, "item": item, "depts": depts,
                                               "item_type": ITEM_TYPES.get(item.type, item.type),
                                               "not_for_you": kind is not None and kind not in served,
                                               "not_effective": effective_note(item, today()),
                                               "ask": ask or ask_form(logged_in=user is not None)},
                  status=status, user=user)


def _id_kind(request: Request, username: str) -> str | None:
    """citizen or organisation: whom the logged-in applicant's account stands for."""
    with request.app.state.sessions() as session:
        row = session.get(User, username)
        return row.id_kind if row else None
