"""Admin pages: users, the working-day calendar of a year, and item definitions (upload, with
every problem shown in place). Each uses the same domain functions as the API and the CLI."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from api.bounds import MAX_YEAR, MIN_YEAR
from api.routes.pages.common import check_csrf, optional_user, page_user, render
from api.routes.pages.public import _departments
from api.uploads import read_form
from banjian.adminlog import record_admin
from banjian.auth import add_user, user_problems
from banjian.calendar import CalendarError, load_calendar
from banjian.catalog import DefinitionProblems
from banjian.contracts import Actor
from banjian.db import User
from banjian.drafts import Drafts, parsed
from banjian.enums import Role
from banjian.errors import DomainError, Forbidden, Invalid
from banjian.form_values import today
from banjian.item_effective import effective_note
from banjian.items.yaml_text import DefinitionTextError, parse_definition_text
from banjian.rules import authorise_authoring
from banjian.timefmt import CHINA
from services.calendar_admin import recompute_open_cases, store_year

router = APIRouter(prefix="/admin", include_in_schema=False)
ROLES = [r.value for r in Role if r != Role.SYSTEM]
#: a user problem's field (banjian.auth.user_problems) → the form field it is shown beside, in form order
USER_FIELDS = {"username": "username", "password": "password", "role": "roles", "department": "department",
               "id_number": "id_number"}
FORM_ORDER = ["username", "name", "password", "roles", "department", "id_number"]
MAX_DEFINITION_BYTES = 512 * 1024


async def admin_user(request: Request) -> Actor:
    actor = await page_user(request)
    if not actor.has(Role.ADMIN):
        raise Forbidden("forbidden_role", "只有管理员可以访问此页面", "admins only")
    return actor


# ---- users ------------------------------------------------------------------------------------------
def _users_page(request: Request, actor: Actor, values: dict, errors: dict[str, str], status: int = 200,
                done: str | None = None) -> HTMLResponse:
    with request.app.state.sessions() as session:
        users = session.exec(select(User).order_by(User.department, User.username)).all()
    depts = _departments(request)
    return render(request, "admin_users.html", {
        "title": "用户管理", "users": users, "depts": depts, "roles": ROLES, "values": values, "done": done,
        "dept_choices": [{"value": c, "text": n} for c, n in depts.items()],
        "errors": [{"text": errors[k], "href": f"#role-{ROLES[0]}" if k == "roles" else f"#user-{k}"}
                   for k in FORM_ORDER if k in errors], "err": errors}, status=status,
        user=actor)


@router.get("/users", response_class=HTMLResponse)
async def users(request: Request) -> HTMLResponse:
    actor = await admin_user(request)
    return await run_in_threadpool(_users_page, request, actor, {}, {}, 200, request.query_params.get("done"))


@router.post("/users", response_class=HTMLResponse)
async def add(request: Request):
    actor = await admin_user(request)
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    form.discard()
    check_csrf(request, form.first("csrf_token"))
    values = {k: form.first(k).strip()[:200] for k in ("username", "name", "department", "id_number")}
    values["roles"] = [r for r in form.fields.get("roles", []) if r in ROLES]
    password = form.first("password")[:256]
    # a NUL is in no name, and PostgreSQL refuses it even in the lookups below
    errors: dict[str, str] = {k: "不能含有空字符（U+0000）" for k in ("username", "name", "department", "id_number")
                              if "\x00" in values[k]}
    if errors:
        return await run_in_threadpool(_users_page, request, actor, values, errors, 422)
    # every problem at once, each beside its field (the password is never sent back)
    problems = await run_in_threadpool(user_problems, request.app.state.sessions, values["username"], password,
                                       values["roles"], values["department"] or None, values["id_number"] or None)
    for p in problems:
        errors.setdefault(USER_FIELDS.get(p.field or "", "username"), p.message)
    if not values["roles"]:  # the page's wording for no box ticked
        errors["roles"] = "请至少选择一个角色"
    if not errors:
        try:
            await run_in_threadpool(add_user, request.app.state.sessions, values["username"], password,
                                    values["roles"], values["department"] or None, values["id_number"] or None,
                                    values["name"] or None)
            return RedirectResponse(f"/admin/users?done={values['username']}", status_code=303)
        except DomainError as e:
            errors[USER_FIELDS.get(e.field or "", "username")] = e.message
    return await run_in_threadpool(_users_page, request, actor, values, errors, 422)


# ---- calendar ---------------------------------------------------------------------------------------
@router.get("/calendar")
async def calendar_now(request: Request) -> RedirectResponse:
    await admin_user(request)
    return RedirectResponse(f"/admin/calendar/{datetime.now(CHINA).year}", status_code=303)


def _calendar_page(request: Request, actor: Actor, year: int, errors: dict[str, str], values: dict | None = None,
                   status: int = 200, done: bool = False) -> HTMLResponse:
    with request.app.state.sessions() as session:
        sched = load_calendar(session).schedule(year)
    data = sched.to_json()
    values = values or {"holidays": "\n".join(data["holidays"]), "workdays": "\n".join(data["workdays"]),
                        "official": data["official"]}
    return render(request, "admin_calendar.html", {
        "title": f"{year} 年工作日历", "year": year, "first": year <= MIN_YEAR, "last": year >= MAX_YEAR, "sched": data, "source": sched.source, "values": values,
        "done": done, "err": errors, "errors": [{"text": t, "href": f"#cal-{k}"} for k, t in errors.items()]},
        status=status, user=actor)


def _check_year(year: int) -> None:
    """The years the calendar API takes (`api.bounds`): another is refused as the API refuses it, never moved."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise Invalid("year_out_of_range", f"工作日历的年份应在 {MIN_YEAR} 至 {MAX_YEAR} 年之间（所请求的是 {year} 年）",
                      f"a calendar year must be between {MIN_YEAR} and {MAX_YEAR} (asked for {year})", "year")


@router.get("/calendar/{year}", response_class=HTMLResponse)
async def calendar_year(request: Request, year: int) -> HTMLResponse:
    actor = await admin_user(request)
    _check_year(year)
    return await run_in_threadpool(_calendar_page, request, actor, year, {}, None, 200,
                                   request.query_params.get("done") == "1")


@router.post("/calendar/{year}", response_class=HTMLResponse)
async def calendar_store(request: Request, year: int):
    actor = await admin_user(request)
    _check_year(year)
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    form.discard()
    check_csrf(request, form.first("csrf_token"))
    values = {"holidays": form.first("holidays")[:20000], "workdays": form.first("workdays")[:20000],
              "official": form.first("official") == "true"}
    body = {"year": year, "official": values["official"],
            "holidays": [d.strip() for d in values["holidays"].replace(",", "\n").splitlines() if d.strip()],
            "workdays": [d.strip() for d in values["workdays"].replace(",", "\n").splitlines() if d.strip()]}
    state = request.app.state
    try:
        await run_in_threadpool(store_year, state.sessions, year, body, actor.username)
    except (CalendarError, DomainError) as e:
        field = (getattr(e, "field", None) or "holidays").split("[")[0]
        return await run_in_threadpool(_calendar_page, request, actor, year,
                                       {field if field in ("holidays", "workdays") else "holidays":
                                        getattr(e, "message", str(e))}, values, 422)
    state.cases.forget_calendar()
    await recompute_open_cases(state.client, state.sessions, f"{year} 年工作日历已更新")
    return RedirectResponse(f"/admin/calendar/{year}?done=1", status_code=303)


# ---- items ------------------------------------------------------------------------------------------
async def author_user(request: Request) -> Actor:
    """Item pages: admins and authors (which department's items: checked as by the API)."""
    actor = await page_user(request)
    if not actor.has(Role.ADMIN, Role.AUTHOR):
        raise Forbidden("forbidden_role", "只有管理员或事项编辑人员可以访问此页面", "admins and authors only")
    return actor


PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def problem_line(root: yaml.Node | None, path: str) -> int | None:
    """The line (1-based) of the editor's text that a problem's path points at (`steps[1].name`):
    the value's own line, or that of the nearest enclosing entry when the field is missing."""
    node, line = root, None
    if node is None or not path:
        return None
    for key, index in PATH_PART.findall(path):
        found: tuple[yaml.Node, yaml.Node] | None = None  # (where it is written, its value)
        if key and isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            found = (node.value[int(index)], node.value[int(index)])
        if found is None:
            break
        node, line = found[1], found[0].start_mark.line + 1
    return line


def with_lines(text: str, problems: list[dict]) -> list[dict]:
    """The problems, each with the `line` of the text it is about (None when the text cannot be read
    or the problem concerns the whole definition), so the author finds where to fix it."""
    located = any(p.get("path") for p in problems) and text.strip() and len(text) <= 2 * MAX_DEFINITION_BYTES
    try:
        root = yaml.compose(text) if located else None
    except (yaml.YAMLError, RecursionError):  # a text nested past any definition says no line either
        root = None
    return [{**p, "line": problem_line(root, p.get("path") or "")} for p in problems]


def _at_line(line: int | None) -> str:
    return f"（第 {line} 行）" if line else ""


def may_author(actor: Actor, department: str | None) -> bool:
    try:
        authorise_authoring(actor, department)
    except Forbidden:
        return False
    return True


def _items_page(request: Request, actor: Actor, problems: list[dict], text: str, status: int = 200,
                stored: dict | None = None, **extra: Any) -> HTMLResponse:
    items = request.app.state.catalog.all_current()
    drafts = Drafts(request.app.state.catalog, request.app.state.sessions).visible(actor)
    for d in drafts:  # a draft the schema can read has a diagram (GET /api/items/{code}/drafts/{id}/diagram)
        d["drawable"] = parsed(d["code"], d["definition"], d["version"] or 1)[0] is not None
    problems = with_lines(text, problems)
    errors = [{"text": f"{p['path'] or '（整体）'}{_at_line(p['line'])}：{p['message']}", "href": "#definition"}
              for p in problems]
    errors_title = "请修改以下问题"
    failed = extra.get("draft_problems")
    if failed:  # an action on a draft failed: said at the top too, each problem linking to the draft's row
        errors_title = f"无法发布草稿（{failed['code']}，草稿 {failed['draft_id'][:8]}）"
        errors = [{"text": f"{p['path'] or '（整体）'}：{p['message']}", "href": f"#draft-{failed['draft_id']}-error"}
                  for p in failed["problems"]]
    authorable = {i.code for i in items if may_author(actor, i.department)}
    return render(request, "admin_items.html", {
        "title": "事项管理", "items": items, "problems": problems, "text": text, "stored": stored,
        "authorable": authorable,
        "not_effective": {i.code: note for i in items if (note := effective_note(i, today())) is not None},
        "drafts": drafts, "current": {i.code for i in items}, "depts": _departments(request),
        "errors": errors, "errors_title": errors_title, **extra}, status=status, user=actor)


def definition_text(data: dict[str, Any]) -> str:
    """A definition as the editor shows it: YAML in the definition's own field order, Chinese as is."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _editor_text(request: Request, actor: Actor, draft_id: str | None, code: str | None) -> dict[str, Any]:
    """What the editor opens with: a saved draft (`?draft=`: its text, its id so saving updates it, and
    its revision so a colleague's save meanwhile is not overwritten), or the current version of an item
    (`?from=`: the start of a new draft). 403 / 404 as for the API."""
    catalog = request.app.state.catalog
    if draft_id:
        drafts = Drafts(catalog, request.app.state.sessions)
        draft = drafts.find(actor, draft_id)
        if draft["version"] is not None:
            raise Invalid("draft_published", f"草稿已发布为第 {draft['version']} 版，不能再修改；请基于现行版本新建草稿",
                          f"the draft was published as version {draft['version']}", "draft")
        return {"text": definition_text(draft["definition"]), "correcting": draft["draft_id"],
                "revision": draft["revision"], "editing": draft}
    assert code is not None
    item = catalog.current(code)  # 404 for an unknown item
    authorise_authoring(actor, item.department)
    body = item.model_dump(mode="json", exclude_none=True)
    body.pop("version", None)  # saved as the item's next version
    return {"text": definition_text(body), "starting_from": {"code": item.code, "version": item.version}}


@router.get("/items", response_class=HTMLResponse)
async def items(request: Request) -> HTMLResponse:
    actor = await author_user(request)
    stored = None
    if request.query_params.get("stored"):
        stored = {"code": request.query_params.get("stored")[:64], "version": request.query_params.get("version")}
    saved = (request.query_params.get("saved") or "")[:64] or None
    draft_id = (request.query_params.get("draft") or "")[:64] or None
    code = (request.query_params.get("from") or "")[:64] or None
    editor: dict[str, Any] = {}
    if draft_id or code:
        editor = await run_in_threadpool(_editor_text, request, actor, draft_id, code)
    text = editor.pop("text", "")
    deleted = (request.query_params.get("deleted") or "")[:64] or None
    return await run_in_threadpool(_items_page, request, actor, [], text, 200, stored, saved=saved, deleted=deleted,
                                   **editor)


async def author_or_relogin(request: Request, action: str, button: str) -> Actor | HTMLResponse:
    """The author posting the editor's form, or, when the session ended while they were writing (it
    expired, they logged out in another tab), a 401 page that keeps their text in the same form to
    post again once they have logged in in another window: never a redirect that drops the text."""
    if await optional_user(request) is not None:
        return await author_user(request)
    text, _, _ = await read_definition(request)
    return render(request, "admin_items_relogin.html", {
        "title": "登录已过期", "text": text, "action": action, "button": button,
        "draft_id": request.state.draft_id, "revision": request.state.revision}, status=401)


async def read_definition(request: Request) -> tuple[str, dict | None, list[dict]]:
    """The definition a form posts (pasted or a file, CSRF checked): its text, the parsed object
    (None when it cannot be read) and the problems found reading it. The draft the page is correcting
    (a hidden `draft_id`, see `item_drafts.save_draft`) is left in `request.state.draft_id`."""
    # room for a text twice the limit, so that one too long is answered in place with the text kept
    form = await read_form(request, request.app.state.files, abort_oversize=True,
                           max_fields_bytes=2 * MAX_DEFINITION_BYTES + 64 * 1024)
    check_csrf(request, form.first("csrf_token"))
    draft_id = form.first("draft_id").strip()
    request.state.draft_id = draft_id if 0 < len(draft_id) <= 64 else None
    revision = form.first("revision").strip()
    request.state.revision = revision[:64] if request.state.draft_id and revision else None
    text = form.first("definition")
    upload = next((p for p in form.files if p.field == "file" and p.size), None)
    if upload is not None and upload.writer is not None:
        path = getattr(upload.writer, "tmp", None)
        upload.writer.head()
        raw = path.read_bytes()[:MAX_DEFINITION_BYTES + 1] if path else b""
        text = raw.decode("utf-8", "replace")
    form.discard()
    problems: list[dict] = []
    data = None
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        problems.append({"path": "", "code": "too_large", "message": "定义过大（不超过 512 KiB）"})
    elif not text.strip():
        problems.append({"path": "", "code": "missing", "message": "请粘贴定义或选择 YAML/JSON 文件"})
    else:
        try:
            data = parse_definition_text(text, not text.lstrip().startswith("{"))
        except DefinitionTextError as e:
            problems.append({"path": "", "code": "unparsable", "message": f"无法解析：{e.zh}"})
            data = None
        if data is not None and not isinstance(data, dict):
            problems.append({"path": "", "code": "unparsable", "message": "无法解析：定义应为一个对象（键值对）"})
            data = None
    return text, data, problems


@router.post("/items", response_class=HTMLResponse)
async def upload_item(request: Request):
    actor = await author_or_relogin(request, "/admin/items", "上传并发布")
    if isinstance(actor, HTMLResponse):
        return actor
    text, data, problems = await read_definition(request)
    catalog = request.app.state.catalog
    if data is not None:
        try:
            # as POST /api/items: the stored item's department first, a text without `version` (what
            # 新建草稿 puts in the editor) is the item's next version, and the admin log records it
            code = data.get("code")
            if isinstance(code, str):
                stored_department = await run_in_threadpool(catalog.department, code)
                if stored_department is not None:
                    authorise_authoring(actor, stored_department)
                if "version" not in data:
                    data = {**data, "version": await run_in_threadpool(catalog.next_version, code)}
            definition = await run_in_threadpool(catalog.validate, data)
            authorise_authoring(actor, definition.department)
            stored, created = await run_in_threadpool(catalog.store, definition, actor.username)
            await run_in_threadpool(record_admin, request.app.state.sessions, actor.username, "item.store", stored.code,
                                    {"version": stored.version, "new_version": created},
                                    request.client.host if request.client else None)
            return RedirectResponse(f"/admin/items?stored={stored.code}&version={stored.version}", status_code=303)
        except DefinitionProblems as e:
            problems = [p.__dict__ for p in e.problems]
        except DomainError as e:
            problems = [{"path": e.field or "", "code": e.code, "message": e.message}]
    return await run_in_threadpool(_items_page, request, actor, problems, text, 422)
