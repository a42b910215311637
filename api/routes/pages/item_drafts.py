"""The item drafts on the `/admin/items` page: save the posted definition as a draft (problems
shown in place, a draft with problems is still saved), publish a draft, and simulate one (what-if
run with the default profile). The same service code and rules as the JSON API (`banjian.drafts`,
`services.whatif_run`)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.routes.pages.admin import _items_page, author_or_relogin, author_user, read_definition
from api.routes.pages.common import check_csrf, render
from api.uploads import read_form
from banjian.catalog import DefinitionProblems
from banjian.drafts import Drafts
from banjian.enums import WARNING_LEVEL, WarningCause
from banjian.errors import Conflict, DomainError, NotFound
from banjian.whatif import Profile
from services.whatif_run import simulate

router = APIRouter(prefix="/admin/items", include_in_schema=False)
Code = Annotated[str, Path(min_length=1, max_length=64)]
DraftId = Annotated[str, Path(min_length=1, max_length=64)]
#: the page's simulations are small (the API allows more)
MAX_PAGE_CASES, DEFAULT_CASES = 200, 20
CAUSE_ZH = {WarningCause.PROMISED_DUE_NEAR: "临近承诺时限", WarningCause.PROMISED_OVERDUE: "超过承诺时限",
            WarningCause.STEP_OVERDUE: "环节超时", WarningCause.STATUTORY_OVERDUE: "超过法定时限",
            WarningCause.ACCEPTANCE_OVERDUE: "受理超时", WarningCause.PROCEDURE_VIOLATION: "程序违规",
            WarningCause.PRE_REVIEW_OVERDUE: "预审超时"}


def _drafts(request: Request) -> Drafts:
    return Drafts(request.app.state.catalog, request.app.state.sessions)


@router.post("/drafts", response_class=HTMLResponse)
async def save_draft(request: Request):
    """保存草稿: the upload form's second button (`formaction`). After a save with problems the page
    carries the draft's id (hidden `draft_id`): saving the corrected text updates that draft."""
    actor = await author_or_relogin(request, "/admin/items/drafts", "保存草稿")
    if isinstance(actor, HTMLResponse):
        return actor
    text, data, problems = await read_definition(request)
    code = data.get("code") if data is not None else None
    if data is not None and not (isinstance(code, str) and 0 < len(code) <= 64):
        problems = [{"path": "code", "code": "missing", "message": "草稿须写明事项编码 code（1–64 个字符）"}]
    # kept for the next save when this one fails
    correcting, revision = request.state.draft_id, request.state.revision
    if problems or data is None:
        return await run_in_threadpool(_items_page, request, actor, problems, text, 422, correcting=correcting,
                                       revision=revision)
    assert isinstance(code, str)
    drafts = _drafts(request)
    try:
        # correcting the draft the page just saved with problems: that draft, not one more beside it
        # (a draft of another code, one gone or one published since is saved as a new draft)
        draft = None
        if request.state.draft_id:
            try:
                draft = await run_in_threadpool(drafts.update, actor, code, request.state.draft_id, data, revision)
            except (NotFound, Conflict) as e:  # gone, another code's, or published meanwhile
                if isinstance(e, Conflict) and e.code != "draft_published":
                    raise
                draft = None
        if draft is None:
            draft = await run_in_threadpool(drafts.create, actor, code, data)
    except DomainError as e:
        problems = [{"path": e.field or "", "code": e.code, "message": e.message}]
        if e.code == "draft_changed":  # a colleague saved it meanwhile: this text is kept, theirs too
            problems[0]["message"] += "。您的内容仍在下方；再次点击“保存草稿”将另存为新草稿，可与对方的草稿对照后合并"
            correcting = revision = None
        return await run_in_threadpool(_items_page, request, actor, problems, text, e.status, correcting=correcting,
                                       revision=revision)
    if draft["problems"]:  # saved, and its problems shown in place for correction (of this draft)
        return await run_in_threadpool(_items_page, request, actor, draft["problems"], text, 200, None,
                                       saved=draft["draft_id"], correcting=draft["draft_id"],
                                       revision=draft["revision"])
    return RedirectResponse(f"/admin/items?saved={draft['draft_id']}", status_code=303)


@router.post("/{code}/drafts/{draft_id}/publish", response_class=HTMLResponse)
async def publish_draft(request: Request, code: Code, draft_id: DraftId):
    """发布: the draft as the item's next version; its problems shown in place (422)."""
    actor = await author_user(request)
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    form.discard()
    check_csrf(request, form.first("csrf_token"))
    try:
        definition = await run_in_threadpool(_drafts(request).publish, actor, code, draft_id)
    except DefinitionProblems as e:
        problems = [p.to_dict() for p in e.problems]
        return await run_in_threadpool(_items_page, request, actor, [], "", 422, None,
                                       draft_problems={"code": code, "draft_id": draft_id, "problems": problems})
    except DomainError as e:
        if e.status in (403, 404):
            raise
        return await run_in_threadpool(_items_page, request, actor, [], "", e.status, None,
                                       draft_problems={"code": code, "draft_id": draft_id, "problems": [
                                           {"path": e.field or "", "code": e.code, "message": e.message}]})
    return RedirectResponse(f"/admin/items?stored={definition.code}&version={definition.version}", status_code=303)


@router.post("/{code}/drafts/{draft_id}/simulate", response_class=HTMLResponse)
async def simulate_draft(request: Request, code: Code, draft_id: DraftId) -> HTMLResponse:
    """模拟: N cases (1–200) of the draft with the default profile; 422/503 as a message on the page."""
    actor = await author_user(request)
    form = await read_form(request, request.app.state.files, abort_oversize=True)
    form.discard()
    check_csrf(request, form.first("csrf_token"))
    drafts = _drafts(request)
    draft = await run_in_threadpool(drafts.get, actor, code, draft_id)  # 404 / 403 first
    raw = form.first("cases").strip() or str(DEFAULT_CASES)
    ctx = {"title": f"模拟草稿 {code}", "draft": draft, "cases": raw[:10], "result": None, "message": None,
           "max_cases": MAX_PAGE_CASES, "lane_label": {}, "cause_zh": {str(c): t for c, t in CAUSE_ZH.items()},
           "cause_level": {str(c): str(lv) for c, lv in WARNING_LEVEL.items()}}
    status = 200
    if not (len(raw) <= 3 and raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_CASES:
        ctx["message"], status = f"案件数须为 1–{MAX_PAGE_CASES} 的整数", 422
    else:
        state = request.app.state
        try:
            item = await run_in_threadpool(drafts.definition, actor, code, draft_id)
            ctx["result"] = result = await simulate(state.client, state.settings, state.sessions, item, int(raw),
                                                    Profile())
            # a lane by its department, and a bundle's member item by its name too
            ctx["lane_label"] = {d["lane"]: d["department_name"] + ("" if d["item_code"] == code else f" · {d['name']}")
                                 for d in result.get("by_department", [])}
        except DefinitionProblems as e:
            ctx["message"], status = "草稿有问题，无法模拟：" + "；".join(
                f"{p.path or '（整体）'}：{p.message}" for p in e.problems), 422
        except DomainError as e:
            if e.status in (403, 404):
                raise
            ctx["message"], status = e.message, e.status
    return render(request, "admin_item_simulation.html", ctx, status=status, user=actor)
