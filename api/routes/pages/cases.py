"""Working on cases in pages: the staff inbox (/work), the case page (/cases/{id}) with exactly the
caller's allowed actions, and posting an action. Reads and actions go through the same
`CaseService` as the API, with the same visibility checks."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from api.case_access import READ_ALL_ROLES
from api.case_documents import TITLES as DOCUMENT_TITLES
from api.case_documents import available as documents_of
from api.inboxes import OPEN_STATUSES, WARNING_FILTERS
from api.routes.pages.actions import (
    ACTION_FIELDS,
    SUB_CASE_FIELDS,
    add_user_choices,
    build_action,
    field_params,
    fields_of,
)
from api.routes.pages.case_notices import applicant_notice, display_names
from api.routes.pages.case_parent import parent_of
from api.routes.pages.case_search import find_cases
from api.routes.pages.case_urges import case_urges
from api.routes.pages.common import ACTION_ZH, LoginRequired, check_csrf, optional_user, page_user, render
from api.routes.pages.front_desk import front_desk
from api.routes.pages.front_office import front_office
from api.routes.pages.public import _departments
from api.routes.pages.timeline import with_details
from api.uploads import read_form
from banjian import inbox, licence_views, rectification_records
from banjian.contracts import Actor
from banjian.db import Task
from banjian.enums import STAFF_ROLES, Role
from banjian.errors import DomainError, Forbidden
from banjian.labels import STATUS_ZH
from banjian.timefmt import CHINA

router = APIRouter(include_in_schema=False)
WORK_PAGE = 100
CLOSED_STATUSES = ("concluded", "refused", "withdrawn", "terminated")
#: the days the front desk can show bookings of
FIRST_DESK_DAY, LAST_DESK_DAY = date(2000, 1, 1), date(2100, 12, 31)
#: the notice to print once the window's action has answered (受理 → 受理通知书, …)
DONE_DOCUMENTS = {"accept": "acceptance", "request_supplement": "supplement", "notify_supplement": "supplement",
                  "refuse_acceptance": "refusal", "deliver": "delivery"}
SCOPES = {"mine": "我的待办", "department": "本部门", "claimed_by_others": "同事已签收"}


def waiting_departments(case: dict) -> list[str]:
    """A joint case's or bundle's departments still working while the case has no step of its own (what
    the lead unit and the applicant wait for), by name; [] otherwise."""
    if case.get("current_step") or case["status"] in CLOSED_STATUSES or case.get("decided_at"):
        return []
    names: list[str] = []
    for s in case.get("sub_cases") or []:
        if s.get("status") in CLOSED_STATUSES:
            continue
        dept = s.get("department_name") or s["department"]
        # a bundle's lanes are its member items, several of one department: name the item too
        name = f"{s['item_name']}（{dept}）" if case.get("kind") == "bundle" and s.get("item_name") else dept
        if name not in names:
            names.append(name)
    return names


class DaysLeft(int):
    """Working days left until the end of a due day (negative: working days overdue), with `overdue`
    set once that day has ended, also when no working day has passed since (a Friday due day, read on
    the Saturday after): 0 days left and overdue are not the same thing."""

    overdue: bool

    def __new__(cls, days: int, overdue: bool) -> DaysLeft:
        obj = super().__new__(cls, days)
        obj.overdue = overdue
        return obj


def clock_day(case: dict | None) -> date | None:
    """The day a case's clock stands at (`clock.today`: ahead of the wall clock after a simulated
    advance); None when the case JSON has none."""
    today = ((case or {}).get("clock") or {}).get("today")
    return date.fromisoformat(today) if today else None


def days_left(cal, due: str | None, today: date) -> DaysLeft | None:
    """Working days left until the end of `due` (negative once overdue; see `DaysLeft`)."""
    if not due:
        return None
    d = date.fromisoformat(due)
    if d >= today:
        return DaysLeft(cal.working_days_between(today, d), False)
    return DaysLeft(-cal.working_days_between(d, today), True)


def provisional_due(cases: Any, case: dict[str, Any], name: str) -> bool:
    """Whether the due day `name` rests on a year without an official schedule. The case's flag covers
    its whole span (receipt to its latest due day): a promised day counted inside published years is
    certain even when the statutory one, further on, is not."""
    deadlines = case.get("deadlines") or {}
    due, start = deadlines.get(name), case.get("accepted_at") or case.get("received_at")
    if not deadlines.get("provisional") or not due or not start:
        return bool(deadlines.get("provisional") and due)
    with cases.sessions() as session:
        cal = cases.calendar(session)
    return cal.is_provisional(datetime.fromisoformat(start).astimezone(CHINA).date(), date.fromisoformat(due))


def signs(actor: Actor, signers: list[str]) -> bool:
    """Whether the caller is one of a task's added signers still to sign (加签: "user:NAME", "role:ROLE")."""
    mine = {f"user:{actor.username}", *(f"role:{r.value}" for r in actor.roles)}
    return bool(mine.intersection(signers))


@router.get("/work", response_class=HTMLResponse)
async def work(request: Request, scope: str = "mine", page: int = 1, q: str = "", day: str = "",
               item: str = "", warning: str = "", state: str = "") -> Response:
    """The inbox; `day`: the front desk's day of bookings (default today); `item`, `warning` (a level or
    `none`) and `state` (a case status) filter the tasks (a value that is none of the choices is ignored)."""
    actor = await page_user(request)
    filters = {"item": item[:64], "warning": warning if warning in WARNING_FILTERS else "",
               "state": state if state in OPEN_STATUSES else ""}
    try:
        when = date.fromisoformat(day) if day.strip() else None
        if when is not None and not FIRST_DESK_DAY <= when <= LAST_DESK_DAY:
            raise ValueError(day)
    except ValueError:
        return await work_page(request, actor, scope, page, q, status=422, filters=filters,
                               day_error="预约日期应为 2000 年至 2100 年间的日期，格式如 2026-12-05")
    return await work_page(request, actor, scope, page, q, day=when, filters=filters)


def _inbox_items(cases: Any, actor: Actor) -> list[dict[str, str]]:
    """The items the caller's department has tasks of (the inbox's item filter)."""
    with cases.sessions() as session:
        stmt = select(Task.item_code, Task.item_name).distinct()
        if actor.department is not None:
            stmt = stmt.where(Task.department == actor.department)
        return [{"value": code, "text": name} for code, name in sorted(session.exec(stmt).all())]


async def work_page(request: Request, actor: Actor, scope: str = "mine", page: int = 1, q: str = "",
                    entered: dict[str, Any] | None = None, status: int = 200, day: date | None = None,
                    day_error: str | None = None, filters: dict[str, str] | None = None) -> Response:
    """The inbox; `entered`: a refused answer at the front desk, shown again in place as typed."""
    filters = filters or {"item": "", "warning": "", "state": ""}
    if actor.department is None and not actor.has(*READ_ALL_ROLES):  # nobody's inbox: not staff
        if actor.has(Role.APPLICANT):
            return RedirectResponse("/my/cases", status_code=303)  # an applicant's own page of cases
        raise Forbidden("forbidden_role", "待办仅供工作人员使用", "the inbox is for staff")
    scope = scope if scope in SCOPES else "mine"
    page = max(1, min(page, 1000))
    cases = request.app.state.cases

    def load() -> tuple[dict, list[dict], dict | None]:
        found = cases.tasks(actor, scope, WORK_PAGE, (page - 1) * WORK_PAGE, item_code=filters["item"] or None,
                            warning=filters["warning"] or None, status=filters["state"] or None)
        items = _inbox_items(cases, actor)
        # each tab's count with the same filters (the tabs keep them)
        counts = cases.counts(actor, item_code=filters["item"] or None, warning=filters["warning"] or None,
                              status=filters["state"] or None)
        with cases.sessions() as session:
            cal = cases.calendar(session)
            inbox.with_applicants(session, found["items"])
            # counted from each case's own day, as its case page and the warnings board count
            case_days = inbox.case_days_of(session, [t["case_id"] for t in found["items"]])
        today = datetime.now(CHINA).date()
        rows = [{**t, "days_left": None if t.get("clock_paused")
                 else days_left(cal, t["due"], max(today, case_days.get(t["case_id"], today))),
                 "to_sign": signs(actor, t.get("signers") or [])} for t in found["items"]]
        desk = front_desk(cases.sessions, actor, request.app.state.catalog, day)
        if desk is not None:
            desk["done"] = {"no_show": "已登记爽约", "answered": "已答复"}.get(request.query_params.get("desk", ""))
            desk["entered"] = entered or {}
        with cases.sessions() as session:
            waiting = rectification_records.waiting_on(session, actor.department, actor.has(*STAFF_ROLES),
                                                       actor.has(Role.SUPERVISOR))
        return found, rows, desk, waiting, items, counts

    found, rows, desk, rect_waiting, items, counts = await run_in_threadpool(load)
    query = urlencode({k: v for k, v in filters.items() if v})
    search = await run_in_threadpool(find_cases, cases, actor, q) if q.strip() else None
    search_error = (search or {}).get("error")
    if search_error and status == 200:  # a mistyped id number: said beside the search field, as a 422
        status = 422
    return render(request, "work.html", {"title": "我的待办", "scope": scope, "scopes": SCOPES, "tasks": rows,
                                         "counts": counts,
                                         "total": found["total"], "page": page,
                                         "more": found["total"] > page * WORK_PAGE, "desk": desk, "search": search,
                                         "filters": filters, "filtered": bool(query), "query": query,
                                         "item_choices": items, "state_choices": [
                                             {"value": s, "text": STATUS_ZH.get(s, s)} for s in OPEN_STATUSES],
                                         "rectifications": actor.has(*STAFF_ROLES, *READ_ALL_ROLES),
                                         "errors": ([{"text": entered["error"], "href": f"#answer-{entered['id']}"}]
                                                    if entered else [])
                                         + ([{"text": day_error, "href": "#desk-day"}] if day_error else [])
                                         + ([{"text": search_error, "href": "#find-case"}] if search_error else []),
                                         "day_error": day_error, "search_error": search_error,
                                         "rect_waiting": rect_waiting,
                                         # the department's own figures (/supervision without the board)
                                         "department_figures": actor.department is not None
                                         and actor.has(*STAFF_ROLES) and not actor.has(Role.SUPERVISOR)}, status=status, user=actor)


def _material_versions(case: dict[str, Any]) -> list[dict[str, Any]]:
    by_name: dict[str, list[dict]] = {}
    for m in case.get("materials") or []:
        by_name.setdefault(m["name"], []).append(m)
    return [{"name": n, "versions": sorted(v, key=lambda m: m.get("version") or 1)} for n, v in by_name.items()]


def _licence_of(cases: Any, case: dict[str, Any]) -> dict[str, Any] | None:
    """The case's licence with its status today and change log (the caller may read the case)."""
    with cases.sessions() as session:
        return licence_views.of_case(session, case["id"], datetime.now(CHINA).date())


def _kept_text(fields: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, str]]:
    """What the user typed into a posted action form that can no longer be shown (the case changed
    under them: a colleague acted first): each text field's label and value, to be shown read-only,
    so that nothing typed is lost."""
    out = []
    for f in fields:
        value = values.get(f["name"])
        if f["kind"] in ("textarea", "input") and isinstance(value, str) and value.strip():
            out.append({"id": f"kept-{f['name']}", "label": f["label"], "value": value})
    return out


def _title(case: dict[str, Any]) -> str:
    """The page's title names the case as its applicant knows it: the item, then the case number."""
    return f"{case.get('item_name') or case['item_code']} 办件 {case.get('case_no') or case['id']}"


async def _case_page(request: Request, actor: Actor, case_id: str, open_action: str | None = None,
                     values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                     summary: list[str] | None = None, status: int = 200,
                     entered: dict[str, Any] | None = None) -> HTMLResponse:
    cases = request.app.state.cases
    kept_action = open_action
    case = await run_in_threadpool(cases.get, actor, case_id)
    item = request.app.state.catalog.effective(case["item_code"], case["item_version"], case["department"],
                                               case.get("parent_id") is not None)
    allowed = case["allowed_actions"]
    with_fields = fields_of(case)
    kept: list[dict[str, str]] = []
    if open_action not in allowed or open_action not in with_fields:
        kept = _kept_text(with_fields.get(open_action or "", []), values or {})
        open_action = None
    fields = field_params(open_action, item, case, values or {}, errors or {}) if open_action else []
    add_user_choices(request, fields, case["department"], open_action, case["id"], actor.username)
    err_list = [{"text": f["error"], "href": f"#{f['id']}"} for f in fields if f.get("error")]
    err_list += [{"text": g["error"], "href": f"#{g['id']}"} for f in fields for g in f.get("files", [])
                 if g.get("error")]
    err_list += [{"text": t, "href": None} for t in summary or []]
    done = request.query_params.get("done")

    def left(due: str | None) -> int | None:
        with cases.sessions() as session:
            cal = cases.calendar(session)
        # counted on the case's own clock, as its working days used are
        return days_left(cal, due, clock_day(case) or datetime.now(CHINA).date())

    # a paused clock (special procedure that does not count, suspension) moves the due dates when it
    # runs again: until then no working days are counted down and nothing is overdue
    counting = case["status"] not in CLOSED_STATUSES and not case.get("decided_at") \
        and not (case.get("clock") or {}).get("paused")
    promised_left = await run_in_threadpool(left, case["deadlines"].get("promised_due")) if counting else None
    step_left = await run_in_threadpool(left, case["deadlines"].get("step_due")) \
        if counting and case.get("current_step") else None
    promised_provisional = await run_in_threadpool(provisional_due, cases, case, "promised_due")
    licence = await run_in_threadpool(_licence_of, cases, case) if (case.get("result") or {}).get("licence_id") \
        else None
    depts = await run_in_threadpool(_departments, request)
    timeline = with_details(case.get("history") or [], item, depts)
    parent_visible, parent_kind = await run_in_threadpool(parent_of, cases, actor, case)
    front = await run_in_threadpool(front_office, request, actor, case, entered)  # pay, book, ask (the applicant)

    def names() -> dict[str, str]:
        with cases.sessions() as session:
            return display_names(session, case, licence)

    people = await run_in_threadpool(names)

    def urges() -> list[dict[str, Any]]:
        with cases.sessions() as session:
            return case_urges(session, case["id"], depts, case["status"] in CLOSED_STATUSES)

    # supervision is internal: the department's staff and the supervisors see the case's urges
    urged = await run_in_threadpool(urges) if not actor.has(Role.APPLICANT) else []
    if front is not None:  # a refused booking or inquiry: its error in the summary too
        # the slot list, or the refusal alone where no slot is left to choose (every summary link lands)
        slot = "#slot" if (front["booking"] or {}).get("days") else "#slot-error"
        err_list += [{"text": f["error"], "href": href} for f, href in ((front["ask"], "#ask-text"),
                                                                      (front["book"], slot)) if f["error"]]
    elif entered:  # not the applicant's front office: the refusal alone
        err_list += [{"text": t, "href": None} for t in (entered.get("errors") or {}).values()]
    return render(request, "case.html", {
        "title": _title(case), "case": case, "item": item, "allowed": allowed, "open_action": open_action,
        "kept": kept, "kept_action": ACTION_ZH.get(kept_action or "", kept_action) if kept else None,
        "fields": fields, "errors": err_list, "materials": _material_versions(case),
        # a refusal (not allowed for this caller, or not now) leaves nothing to correct
        "errors_title": "无法办理" if status in (403, 409) else None,
        "timeline": timeline, "parent_visible": parent_visible, "parent_kind": parent_kind,
        "with_fields": with_fields, "request_id": uuid.uuid4().hex, "licence": licence, "people": people,
        "notice": applicant_notice(case) if front is not None else None,
        "done": done if done in ACTION_ZH else None,
        "submitted": request.query_params.get("submitted") == "1", "promised_left": promised_left, "step_left": step_left,
        "waiting_departments": waiting_departments(case),
        "ended": case["status"] in CLOSED_STATUSES,  # a closed case's clock no longer runs nor waits
        "documents": [{"kind": k, "title": DOCUMENT_TITLES[k]} for k in documents_of(case)],
        "done_document": next(({"kind": k, "title": DOCUMENT_TITLES[k]} for k in documents_of(case)
                               if k == DONE_DOCUMENTS.get(done or "")), None),
        "promised_provisional": promised_provisional,
        "front": front, "urges": urged,
        "auditable": actor.has(Role.AUDITOR, Role.ADMIN),
        "archive": actor.has(Role.AUDITOR, Role.ADMIN) or (
            actor.has(Role.APPLICANT) and case["status"] in ("concluded", "refused", "withdrawn", "terminated")),
    }, status=status, user=actor)


async def case_page_for(request: Request, actor: Actor, case_id: str, entered: dict[str, Any],
                        status: int) -> HTMLResponse:
    """The case page with a refused front-office form (booking, inquiry) shown again in place."""
    return await _case_page(request, actor, case_id, status=status, entered=entered)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str, action: str | None = None) -> HTMLResponse:
    actor = await page_user(request)
    return await _case_page(request, actor, case_id, open_action=action)


async def _session_expired(request: Request, case_id: str) -> Response:
    """An action posted after the session ended (the form stayed open past the login's lifetime): the
    login page, coming back to the same form, with what was typed shown read-only to copy (it was a
    redirect to the action's URL, a 405 after logging in, and the typed opinion lost)."""
    form = await read_form(request, request.app.state.files, abort_oversize=False)
    form.discard()  # uploaded files are not kept without a user to own them
    action = form.first("action")[:40]
    try:
        check_csrf(request, form.first("csrf_token"))
    except Exception:
        raise LoginRequired(f"/cases/{case_id}") from None
    specs = {**ACTION_FIELDS, **SUB_CASE_FIELDS}.get(action, [])
    values = {k: v[0] for k, v in form.fields.items() if v}
    back = f"/cases/{quote(case_id, safe='')}" + (f"?action={quote(action, safe='')}#action-form" if specs else "")
    return render(request, "login.html", {
        "title": "登录", "next": back, "errors": [], "username": "", "kept": _kept_text(specs, values),
        "expired_action": ACTION_ZH.get(action, action) if action else None,
        "expired_files": any(f["kind"] == "files" for f in specs)}, status=401)


@router.post("/cases/{case_id}/actions", response_class=HTMLResponse)
async def post_action(request: Request, case_id: str):
    if await optional_user(request) is None:
        return await _session_expired(request, case_id)
    actor = await page_user(request)
    form = await read_form(request, request.app.state.files, abort_oversize=False)
    try:
        check_csrf(request, form.first("csrf_token"))
    except Exception:
        form.discard()
        raise
    action = form.first("action")[:40]
    cases = request.app.state.cases
    case = await run_in_threadpool(cases.get, actor, case_id)  # 404 for a case the caller may not see
    item = request.app.state.catalog.effective(case["item_code"], case["item_version"], case["department"],
                                               case.get("parent_id") is not None)
    values = {k: v if len(v) > 1 else v[0] for k, v in form.fields.items()}
    comment, data, errors = await run_in_threadpool(build_action, request, actor, action, item, case, form)
    if action not in case["allowed_actions"]:
        # the case changed since the form was shown (a colleague acted first, a timer fired): the
        # workflow answers why the action is refused now, and the page keeps what was typed
        errors = {}
    if not errors:
        try:
            await cases.act(actor, case_id, action, comment, data, request_id=form.first("request_id")[:64] or None)
            return RedirectResponse(f"/cases/{case_id}?done={action}", status_code=303)
        except DomainError as e:
            key = (e.field or "").removeprefix("data.")
            if key and key in {f["name"] for f in fields_of(case).get(action, [])}:
                errors[key] = e.message
            else:
                return await _case_page(request, actor, case_id, action, values, errors, [e.message],
                                        status=e.status)
    return await _case_page(request, actor, case_id, action, values, errors, status=422)
