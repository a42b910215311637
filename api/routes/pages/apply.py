"""The applicant's pages: the application form generated from the item definition (/apply/{code})
and the list of their own cases (/my/cases)."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.routes.pages.common import LoginRequired, check_csrf, optional_user, page_user, render
from api.uploads import FilePart, Form, read_form, store_file
from banjian import form_values, licence_ops
from banjian.agents import agent_problems, authority_materials
from banjian.contracts import Actor, Agent
from banjian.db import User
from banjian.enums import CLOSED, IdKind, Role
from banjian.errors import DomainError, Forbidden, NotFound
from banjian.files import StoredFile
from banjian.ids import IdError, validate_id
from banjian.item_effective import check_effective
from banjian.items.schema import MAX_FORM_TEXT, ItemDefinition
from banjian.licence_reuse import why_not_attached
from banjian.zh_quotes import quoted

router = APIRouter(include_in_schema=False)


#: A required yes/no question is answered by choosing one (never by leaving a box unticked).
YES_NO = [{"value": "true", "text": "是"}, {"value": "false", "text": "否"}]


def _field_inputs(item: ItemDefinition, values: dict[str, Any], errors: dict[str, str],
                  day: date) -> list[dict[str, Any]]:
    """One input per form field, with its bounds as HTML attributes and in words in its hint. A
    required yes/no question is a 是/否 choice (a select that starts at 请选择: one control under the
    field's `<label>`, as the contract's apply page has); a commitment and an optional yes/no are one
    box to tick (a checkbox)."""
    out = []
    for f in item.form:
        p: dict[str, Any] = {"id": f"form-{f.name}", "name": f"form.{f.name}", "label": f.label,
                             "required": f.required, "value": values.get(f.name), "error": errors.get(f.name),
                             "kind": f.type, "hint": form_values.hint(f, day), "attrs": form_values.html_attrs(f, day)}
        if f.type == "number":
            p["type"] = "number"
        elif f.type == "date":
            p["type"] = "date"
        elif f.type == "text" and f.phone:
            p["type"] = "tel"
        elif f.type == "choice":
            p["choices"] = f.choices or []
        elif f.type == "boolean" and f.required and not f.commitment:
            p.update(kind="choice", choices=YES_NO)
        out.append(p)
    return out


def _material_inputs(item: ItemDefinition, kept: dict[str, StoredFile], errors: dict[str, str],
                     held: dict[str, dict[str, str]], paper: frozenset[str] = frozenset()) -> list[dict]:
    authority = set(authority_materials(item.materials))
    return [{"id": f"material-{i}", "name": f"material_{i}", "label": m.name, "required": m.required,
             "hint": "PDF、JPG、PNG 或 OFD，不超过 20 MiB" + (f"。{m.note}" if m.note else "")
             + ("。填写了经办人（由他人代为办理）的须提交" if m.name in authority else ""),
             "error": errors.get(m.name), "kept": kept.get(m.name), "licence": held.get(m.name),
             "paper": m.name in paper}
            for i, m in enumerate(item.materials)]


def _held_licences(request: Request, actor: Actor, item: ItemDefinition) -> dict[str, dict[str, str]]:
    """material name → the applicant's valid e-licence the service will attach for it (电子证照免提交),
    said on the form before it is filled in; a clerk applying for someone else is told nothing."""
    wanted = [m for m in item.materials if m.licence_type]
    if not wanted or actor.has(Role.CLERK) or not actor.id_number:
        return {}
    out: dict[str, dict[str, str]] = {}
    with request.app.state.sessions() as session:
        for m in wanted:
            row = licence_ops.reusable(session, actor.id_number, m.licence_type or "", licence_ops.today(None))
            if row is not None:
                out[m.name] = {"name": row.name, "licence_no": row.licence_no}
    return out


def _applicable(item: ItemDefinition, actor: Actor) -> None:
    if not (actor.has(Role.APPLICANT) or (actor.has(Role.CLERK) and actor.department == item.department)):
        raise Forbidden("forbidden_role", "只有申请人（或本部门窗口人员）可以申请此事项", "only applicants may apply")
    if item.status != "active" or not (item.channels.web or actor.has(Role.CLERK)):
        raise NotFound("item_not_found", "该事项暂不支持在线申请", "the item is not open for online applications")
    check_effective(item, form_values.today())  # 409: before its effective date, or lapsed (the message says which)


def _form_page(request: Request, actor: Actor, item: ItemDefinition, values: dict[str, Any],
               field_errors: dict[str, str], material_errors: dict[str, str], kept: dict[str, StoredFile],
               other_errors: list[str], key: str, applicant: dict[str, str], status: int = 200,
               held: dict[str, dict[str, str]] | None = None, pre_review: bool = False,
               applicant_errors: dict[str, str] | None = None, paper: frozenset[str] = frozenset(),
               open_cases: list[dict[str, Any]] | None = None, agent: dict[str, str] | None = None,
               agent_errors: dict[str, str] | None = None) -> HTMLResponse:
    fields = _field_inputs(item, values, field_errors, form_values.today())
    materials = _material_inputs(item, kept, material_errors, held or {}, paper)
    applicant_errors = applicant_errors or {}
    agent, agent_errors = agent or {}, agent_errors or {}
    summary = [{"text": applicant_errors[k], "href": f"#{APPLICANT_INPUTS[k]}"}
               for k in APPLICANT_INPUTS if k in applicant_errors]
    summary += [{"text": agent_errors[k], "href": f"#{AGENT_INPUTS[k]}"} for k in AGENT_INPUTS if k in agent_errors]
    summary += [{"text": p["error"], "href": f"#{p['id']}"} for p in fields + materials if p["error"]]
    summary += [{"text": t, "href": None} for t in other_errors]
    return render(request, "apply.html", {
        "title": f"申请：{item.name}", "item": item, "fields": fields, "materials": materials, "errors": summary,
        "idempotency_key": key, "clerk": actor.has(Role.CLERK), "applicant": applicant, "pre_review": pre_review,
        "applicant_errors": applicant_errors, "open_cases": open_cases or [],
        "agent": agent, "agent_errors": agent_errors, "agent_open": any(agent.values()) or bool(agent_errors),
        "authority_materials": authority_materials(item.materials)},
        status=status, user=actor)


@router.get("/apply/{code}", response_class=HTMLResponse)
async def apply_form(request: Request, code: str) -> HTMLResponse:
    actor = await page_user(request)
    item = request.app.state.catalog.current(code)
    _applicable(item, actor)
    if not actor.has(Role.CLERK):  # said before the form is filled in, not after
        kind = await run_in_threadpool(_kind_of, request, actor)
        if kind is not None and kind not in {o.value for o in item.service_object}:
            served = "、".join("自然人" if o.value == "citizen" else "法人及其他组织" for o in item.service_object)
            account = "单位" if IdKind.ORGANISATION in item.service_object else "个人"
            # the next step, not a dead end: which account may apply, and the way back to the guides
            return render(request, "error.html", {
                "status": 403, "title": "无权访问",
                "message": f"本事项的服务对象为：{served}，您的账户不能申请此事项。请使用{account}账户登录后申请。",
                "back": {"href": f"/guide/{item.code}", "text": f"返回{quoted(item.name)}办事指南"},
                "more": {"href": "/guide", "text": "查看其他办事指南"}}, status=403, user=actor)
    held = await run_in_threadpool(_held_licences, request, actor, item)
    page = _form_page(request, actor, item, {}, {}, {}, {}, [], uuid.uuid4().hex, {}, held=held,
                      open_cases=await run_in_threadpool(_open_cases, request, actor, item.code))
    page.headers["Cache-Control"] = "no-store"  # back after submitting fetches it anew, notice included
    return page


def _open_cases(request: Request, actor: Actor, code: str) -> list[dict[str, Any]]:
    """The applicant's cases of this item still in progress, newest first: said above the form, so
    that going back after submitting (the browser refilling the form) does not file the same
    application twice unawares. A clerk applying for others is told nothing."""
    if actor.has(Role.CLERK):
        return []
    found = request.app.state.cases.search(actor, None, code, None, None, actor.username, None, None, 5, 0)
    return [c for c in found["items"] if c["status"] not in {s.value for s in CLOSED}][:3]


def _convert(item: ItemDefinition, form: Form, day: date) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The typed values for the API, the raw values to show again, and the errors beside each field
    (the type, then the field's bounds on `day`, as the API checks them)."""
    typed: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in item.form:
        value = form.first(f"form.{f.name}").strip()
        if f.type == "boolean":
            if f.required and not f.commitment:  # a 是/否 choice: raw keeps "true"/"false"/""
                raw[f.name] = value if value in ("true", "false") else ""
                if raw[f.name]:
                    typed[f.name] = value == "true"
                else:
                    errors[f.name] = f"请选择{f.label}：是或否"
                continue
            raw[f.name] = value == "true"
            typed[f.name] = value == "true"
            if f.commitment and value != "true":
                errors[f.name] = f"请勾选确认：{f.label}"
            continue
        raw[f.name] = value
        if not value:
            if f.required:
                errors[f.name] = f"请选择{f.label}" if f.type == "choice" else f"请填写{f.label}"
            continue
        try:
            if f.type == "number":
                num = float(value)
                if not -1e12 < num < 1e12:
                    raise ValueError
                typed[f.name] = int(num) if num.is_integer() else num
            elif f.type == "date":
                typed[f.name] = date.fromisoformat(value).isoformat()
            elif f.type == "choice":
                if value not in (f.choices or []):
                    raise ValueError
                typed[f.name] = value
            else:
                if len(value) > MAX_FORM_TEXT:
                    errors[f.name] = f"{f.label}不能超过 {MAX_FORM_TEXT} 字"
                    continue
                typed[f.name] = value
        except ValueError:
            errors[f.name] = {"number": f"{f.label}应为数字", "date": f"{f.label}应为日期，如 2026-12-01",
                              "choice": f"请从选项中选择{f.label}"}.get(f.type, f"{f.label}格式不正确")
            continue
        broken = form_values.refusal(f, typed[f.name], day)
        if broken is not None:
            errors[f.name] = f"{f.label}{broken.zh}"
        elif f.id_kind is not None:  # recorded as the standard writes it: a final x as X, full-width folded
            typed[f.name] = validate_id(f.id_kind, typed[f.name])
    return typed, raw, errors


def _store_materials(request: Request, actor: Actor, item: ItemDefinition, form: Form, holder_id: str
                     ) -> tuple[dict[str, StoredFile], dict[str, str], frozenset[str]]:
    """Store each material's file (or keep the one uploaded before); errors beside each material,
    all at once: a material an e-licence may stand in for is missing unless `holder_id` (the
    applicant) holds a valid licence of its type, which the service then attaches. At the window a
    clerk may instead tick that the paper material was taken (纸质材料已收取): filed without a file,
    as the API files it; a file chosen as well wins."""
    parts: dict[str, FilePart] = {p.field: p for p in form.files}
    kept: dict[str, StoredFile] = {}
    errors: dict[str, str] = {}
    paper: set[str] = set()
    clerk = actor.has(Role.CLERK)
    with request.app.state.sessions() as session:
        for i, m in enumerate(item.materials):
            part = parts.pop(f"material_{i}", None)
            if part is not None:
                try:
                    kept[m.name] = store_file(session, request.app.state.files, part, actor.username)
                except DomainError as e:
                    errors[m.name] = {413: f"{m.name}文件过大：不能超过 20 MiB，请压缩后重新选择",
                                      415: f"{m.name}的文件类型不支持：只接受 PDF、JPG、PNG 或 OFD",
                                      }.get(e.status, f"{m.name}：{e.message}")
                continue
            earlier = form.first(f"kept_material_{i}")
            row = session.get(StoredFile, earlier) if earlier else None
            if row is not None and row.uploaded_by == actor.username:
                kept[m.name] = row
            elif clerk and form.first(f"paper_material_{i}") == "true":
                paper.add(m.name)
            elif m.required and not m.licence_type:
                errors[m.name] = f"请上传{m.name}"
            elif m.required and (not holder_id or licence_ops.reusable(session, holder_id, m.licence_type,
                                                                       licence_ops.today(None)) is None):
                errors[m.name] = why_not_attached(session, holder_id, m)
    for p in parts.values():
        p.discard()
    return kept, errors, frozenset(paper)


async def _session_expired(request: Request, code: str) -> HTMLResponse:
    """An application posted after the session ended (a long form filled on a phone past the login's
    lifetime): the login page, coming back to the form, with every answer typed shown read-only to
    copy (it was a bare redirect to the login page, and the whole form lost). Files are not kept."""
    form = await read_form(request, request.app.state.files, abort_oversize=False)
    form.discard()  # uploaded files are not kept without a user to own them
    try:
        check_csrf(request, form.first("csrf_token"))
    except Exception:
        raise LoginRequired(f"/apply/{code}") from None
    item = request.app.state.catalog.current(code)
    kept = [{"id": f"kept-{f.name}", "label": f.label, "value": value}
            for f in item.form if f.type != "boolean" and (value := form.first(f"form.{f.name}").strip())]
    return render(request, "login.html", {
        "title": "登录", "next": f"/apply/{item.code}", "errors": [], "username": "", "kept": kept,
        "expired_action": "提交申请", "expired_files": bool(item.materials)}, status=401)


@router.post("/apply/{code}", response_class=HTMLResponse)
async def apply(request: Request, code: str):
    if await optional_user(request) is None:
        return await _session_expired(request, code)
    actor = await page_user(request)
    item = request.app.state.catalog.current(code)
    _applicable(item, actor)
    form = await read_form(request, request.app.state.files, abort_oversize=False)
    try:
        check_csrf(request, form.first("csrf_token"))
    except Exception:
        form.discard()
        raise
    typed, raw, field_errors = _convert(item, form, form_values.today())
    key = form.first("idempotency_key")[:64] or uuid.uuid4().hex
    applicant = {k: form.first(f"applicant.{k}").strip()[:200] for k in ("kind", "id_number", "name")}
    applicant_errors: dict[str, str] = {}
    if not actor.has(Role.CLERK):
        kind = await run_in_threadpool(_kind_of, request, actor)
        applicant = {"kind": kind or "citizen", "id_number": actor.id_number or "",
                     "name": actor.display_name or actor.username}
    else:  # at the window: who applies is checked beside its fields, as the form's fields are
        applicant, applicant_errors = _check_applicant(applicant)
    kept, material_errors, paper = await run_in_threadpool(_store_materials, request, actor, item, form,
                                                           applicant["id_number"])
    agent, agent_errors, agent_body = _check_agent(form, applicant)
    if any(agent.values()):  # filed through an agent: the letter of authority is needed (said with the rest)
        for name in authority_materials(item.materials):
            if name not in kept and name not in paper and name not in material_errors:
                material_errors[name] = f"由他人代为办理的，请提交{name}"
    others: list[str] = []
    status = 422
    pre_review = form.first("pre_review") == "true" and not actor.has(Role.CLERK)  # 网上预审 first
    if not field_errors and not material_errors and not applicant_errors and not agent_errors:
        body = {"item_code": item.code, "applicant": applicant, "agent": agent_body, "form": typed, "channel": "web",
                "materials": [{"name": n, "file_id": f.file_id} for n, f in kept.items()]
                + [{"name": n} for n in sorted(paper)],
                "idempotency_key": key, "pre_review": pre_review}
        try:
            case, _ = await request.app.state.cases.submit(actor, body)
            return RedirectResponse(f"/cases/{case['id']}?submitted=1", status_code=303)
        except DomainError as e:
            field = e.field or ""
            if field.startswith("form."):
                field_errors[field[5:]] = e.message
            elif field.removeprefix("applicant.") in APPLICANT_INPUTS and actor.has(Role.CLERK):
                applicant_errors[field.removeprefix("applicant.")] = e.message
            elif field.removeprefix("agent.") in AGENT_INPUTS:
                agent_errors[field.removeprefix("agent.")] = e.message
            elif field.startswith("materials") and "：" in e.message:
                material_errors[e.message.split("：", 1)[1]] = e.message
            else:
                others.append(e.message)
                status = e.status
            if e.code == "idempotency_key_reused":  # filed before, then changed: submitting again files anew
                key = uuid.uuid4().hex
    held = await run_in_threadpool(_held_licences, request, actor, item)
    return _form_page(request, actor, item, raw, field_errors, material_errors, kept, others, key, applicant,
                      status=status, held=held, pre_review=pre_review, applicant_errors=applicant_errors, paper=paper,
                      agent=agent, agent_errors=agent_errors)


#: the window form's applicant inputs: API field (after `applicant.`) → input id
APPLICANT_INPUTS = {"kind": "applicant-kind", "id_number": "applicant-id", "name": "applicant-name"}


#: the 经办人 inputs: API field (after `agent.`) → input id
AGENT_INPUTS = {"name": "agent-name", "id_number": "agent-id", "phone": "agent-phone"}


def _check_agent(form: Form, applicant: dict[str, str]) \
        -> tuple[dict[str, str], dict[str, str], dict[str, Any] | None]:
    """The 经办人 section: the values to show again, an error beside each input, and the API's
    `agent` (None when the section was left empty). Checked by the API's own rules (`check_agent`)."""
    agent = {k: form.first(f"agent.{k}").strip()[:60] for k in AGENT_INPUTS}
    if not any(agent.values()):
        return agent, {}, None
    citizen = applicant.get("id_number") if applicant.get("kind") == IdKind.CITIZEN.value else None
    values, problems = agent_problems(agent, citizen)
    errors = {(e.field or "").removeprefix("agent."): e.message for e in problems}
    return agent, errors, None if errors else Agent(**values).model_dump(mode="json")


def _check_applicant(applicant: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The applicant a clerk typed in, with the id number in its canonical form, and an error beside
    each input that is missing or wrong (the id number by the rules of its kind)."""
    errors: dict[str, str] = {}
    if applicant["kind"] not in (IdKind.CITIZEN.value, IdKind.ORGANISATION.value):
        errors["kind"] = "请选择申请人类型"
    # read out from a card or copied from a scan: 330106 19900101 0077 is the same number
    applicant = {**applicant, "id_number": "".join(applicant["id_number"].split())}
    if not applicant["id_number"]:
        errors["id_number"] = "请填写证件号码（公民身份号码或统一社会信用代码）"
    elif "kind" not in errors:
        try:
            applicant = {**applicant, "id_number": validate_id(applicant["kind"], applicant["id_number"])}
        except IdError as e:
            errors["id_number"] = e.message
    if not applicant["name"]:
        errors["name"] = "请填写申请人名称"
    return applicant, errors


def _kind_of(request: Request, actor: Actor) -> str | None:
    with request.app.state.sessions() as session:
        user = session.get(User, actor.username)
        return user.id_kind if user else None


@router.get("/my/cases", response_class=HTMLResponse)
async def my_cases(request: Request, page: int = 1) -> HTMLResponse:
    actor = await page_user(request)
    page = max(1, min(page, 1000))
    found = await run_in_threadpool(request.app.state.cases.search, actor, None, None, None, None,
                                    actor.username if actor.has(Role.APPLICANT) else None, None, None, 20,
                                    (page - 1) * 20)
    from api.routes.pages.cases import provisional_due
    from api.routes.pages.consult import asked_by

    asked = await run_in_threadpool(asked_by, request, actor) if page == 1 else []
    cases = request.app.state.cases
    # "暂定" only beside a promised day in a year without an official schedule, as on the case page
    provisional = {c["id"] for c in found["items"] if (c.get("deadlines") or {}).get("provisional")
                   and await run_in_threadpool(provisional_due, cases, c, "promised_due")}
    return render(request, "my_cases.html", {"title": "我的办件", "cases": found["items"], "total": found["total"],
                                             "page": page, "asked": asked, "provisional": provisional}, user=actor)
