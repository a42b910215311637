"""E-licence pages: the applicant's licences (/my/licences), each with its status today, a link to
the printable licence and to its verification; and the public verification page
(/licences/{id}/verify, no login) that a licence's QR code opens on a phone."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.licence_document import STATUS_ZH, verify_path
from api.routes.pages.common import PageError, optional_user, page_user, render
from banjian import licence_ops as ops
from banjian.contracts import Actor
from banjian.errors import NotFound

router = APIRouter(include_in_schema=False)

#: the verification page's name for the day a licence stopped verifying, by its status
SINCE_ZH = {"revoked": "撤销日期", "suspended": "暂停日期", "cancelled": "注销日期", "expired": "失效日期"}


def _mine(request: Request, actor: Actor, page: int) -> tuple[list[dict], int]:
    with request.app.state.sessions() as session:
        rows, total = ops.held_by(session, actor, 20, (page - 1) * 20)
        on = ops.today()
        out = []
        for r in rows:
            item = ops.summary(r, on)
            item["verify_path"] = verify_path(r.id, r.verify_code)
            out.append(item)
        return out, total


@router.get("/my/licences", response_class=HTMLResponse)
async def my_licences(request: Request, page: int = 1) -> HTMLResponse:
    actor = await page_user(request)
    page = max(1, min(page, 1000))
    items, total = await run_in_threadpool(_mine, request, actor, page)
    return render(request, "my_licences.html", {"title": "我的电子证照", "licences": items, "total": total,
                                                "page": page, "STATUS_ZH": STATUS_ZH}, user=actor)


def _verify(request: Request, licence_id: str, code: str | None) -> dict[str, Any]:
    address = request.client.host if request.client else None
    with request.app.state.sessions() as session:
        return ops.verify(session, licence_id, address, code=code, holder_without_code=False)


def _find(request: Request, number: str) -> str | None:
    with request.app.state.sessions() as session:
        row = ops.find(session, number.strip())
        return row.id if row is not None else None


@router.get("/licences/verify", response_class=HTMLResponse, response_model=None)
async def verify_start(request: Request, number: str | None = None,
                       code: str | None = None) -> HTMLResponse | RedirectResponse:
    """Verification by the number printed on a licence (no login), for whoever holds a paper copy
    and no QR code scanner: found, on to the licence's verification page (with the code if given)."""
    number_given = number is not None
    number, code = (number or "").strip(), (code or "").strip()
    context: dict[str, Any] = {"title": "电子证照核验", "number": number[:160], "code": code[:32], "error": None}
    status = 200
    if len(number) > 160 or len(code) > 32:
        context["error"], status = "证照编号不能超过160个字符，核验码不能超过32个字符，请核对后重新输入。", 422
    elif not number and (number_given or code):  # 核验 pressed with the number left empty: said, not ignored
        context["error"], status = "请输入证照编号或电子证照标识（证照上印制的编号）。", 422
    elif number:
        request.app.state.verify_limiter.hit(request.client.host if request.client else None)
        found = await run_in_threadpool(_find, request, number)
        if found is not None:
            return RedirectResponse(verify_path(found, code or None), status_code=303)
        context["error"], status = _not_found(number), 404
    return render(request, "licence_verify_start.html", context, status=status, user=await optional_user(request))


def _not_found(typed: str) -> str:
    """Why nothing was found for what was typed or scanned (Chinese): a mistyped identifier is said so."""
    if ops.mistyped_identifier(typed):
        return "电子证照标识格式或校验位不正确，请核对是否录入有误（可改用证照上印制的证照编号）。"
    return "未找到该证照编号对应的电子证照，请核对证照上印制的证照编号。"


@router.get("/licences/{licence_id}/verify", response_class=HTMLResponse)
async def verify_page(request: Request, licence_id: str, code: str | None = None) -> HTMLResponse:
    """The public verification of a licence, for people (no login): valid or not in large text, why
    not, the licence's number, issuer and validity; its holder only with the verification code."""
    if len(licence_id) > 160:
        raise PageError(404, "未找到该电子证照，请核对证照标识。")
    if code is not None and len(code) > 32:
        raise PageError(422, "核验码不能超过32个字符，请核对证照上印制的核验码。")
    request.app.state.verify_limiter.hit(request.client.host if request.client else None)
    try:
        result = await run_in_threadpool(_verify, request, licence_id, code)
    except NotFound:  # the form to type the number again, saying what was wrong (a QR code or link mistyped)
        context = {"title": "电子证照核验", "number": licence_id, "code": (code or "")[:32],
                   "error": _not_found(licence_id)}
        return render(request, "licence_verify_start.html", context, status=404, user=await optional_user(request))
    return render(request, "licence_verify.html", {
        "title": "电子证照核验", "r": result, "code": code or "", "code_given": bool(code),
        "status_zh": STATUS_ZH.get(result["status"], result["status"]),
        "reason_zh": None if result["valid"] else ops.reason_zh(result["reason"]),
        "action": verify_path(licence_id), "SINCE_ZH": SINCE_ZH}, user=await optional_user(request))
