"""Online consultation (在线咨询) for anyone, logged in or not: the form on an item's service guide
page (`/guide/{code}`), and the page of one consultation with its answer (`/inquiries/{id}`).

Filed through the same service as `POST /api/inquiries` (its checks and limits): without a login a
contact is required, and the asker gets an access key (查询码) once, which opens the answer page;
a logged-in asker opens it with their session. Nothing here is for staff, who answer on /work.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.inquiries import InquiryService
from api.routes.pages.common import check_csrf, optional_user, render
from banjian.contracts import Actor
from banjian.errors import DomainError, NotFound
from banjian.inquiries import MAX_TEXT, Inquiry

router = APIRouter(include_in_schema=False)
MAX_CONTACT = 200
OUTCOME_ZH = {"upheld": "投诉属实", "partly_upheld": "部分属实", "not_upheld": "投诉不属实"}


def ask_form(values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
             logged_in: bool = False) -> dict[str, Any]:
    """The consultation form of a guide page: what was typed, the errors beside the fields."""
    values, errors = values or {}, errors or {}
    return {"text": values.get("text"), "contact": values.get("contact"), "errors": errors,
            "contact_required": not logged_in, "max_text": MAX_TEXT, "max_contact": MAX_CONTACT,
            "summary": [{"text": m, "href": f"#consult-{f}"} for f, m in errors.items()]}


@router.post("/guide/{code}/ask", response_model=None)
async def consult(request: Request, code: str) -> Response:
    """在线咨询 about an item: filed as a consultation (no login needed; then a contact is required)."""
    from api.routes.pages.public import guide_page  # the guide page shows the form again

    user = await optional_user(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    raw = {k: str(form.get(k) or "")[:MAX_TEXT + 1] for k in ("text", "contact")}
    text, contact = raw["text"].strip(), raw["contact"].strip()
    errors: dict[str, str] = {}
    if not text or len(text) > MAX_TEXT:
        errors["text"] = f"请填写咨询内容（1 至 {MAX_TEXT} 字）"
    if len(contact) > MAX_CONTACT:
        errors["contact"] = f"联系方式不能超过 {MAX_CONTACT} 字"
    elif not contact and user is None:
        errors["contact"] = "请留下联系方式（电话或电子邮箱），以便部门答复"
    if not errors:
        if user is None:  # as the API: anonymous filings are limited per address (429 page)
            request.app.state.inquiry_limiter.hit(request.client.host if request.client else None)
        body = {"kind": "consultation", "item_code": code[:64], "text": text, "contact": contact or None,
                "channel": "web"}
        try:
            filed = await InquiryService(request.app.state.cases).file(user, body)
        except DomainError as e:
            if e.status == 404:
                raise
            errors[e.field if e.field in ("text", "contact") else "text"] = e.message
        else:
            key = filed.get("access_key")
            where = f"/inquiries/{filed['id']}?new=1" + (f"&key={quote(key)}" if key else "")
            return RedirectResponse(where, status_code=303)
    return await guide_page(request, code, ask_form(raw, errors, user is not None), 422)


@router.get("/inquiries", response_model=None)
async def find_inquiry(request: Request, id: str = "", key: str = "") -> Response:
    """查看咨询答复: the 咨询编号 and 查询码 a citizen wrote down lead to the inquiry's page."""
    ident = "".join(ch for ch in id.strip()[:40] if ch.isalnum())
    if ident and key.strip():
        return RedirectResponse(f"/inquiries/{ident}?key={quote(key.strip()[:64])}", status_code=303)
    return render(request, "inquiry.html", {"title": "查看咨询答复", "inquiry": None, "id": None,
                                            "ident": id.strip()[:40], "key_error": None,
                                            "id_error": "请填写咨询编号和查询码" if (id or key) else None},
                  status=422 if (id or key) else 200, user=await optional_user(request))


@router.get("/inquiries/{inquiry_id}", response_class=HTMLResponse)
async def inquiry_page(request: Request, inquiry_id: str, key: str = "", new: str = "") -> HTMLResponse:
    """One consultation or complaint with its answer: to its asker (session) or whoever holds its
    查询码; without either, a field to enter the 查询码 (a wrong one: 查询码不正确)."""
    user = await optional_user(request)
    key = key.strip()[:64]
    svc = InquiryService(request.app.state.cases)
    try:
        found = await run_in_threadpool(svc.get, user, inquiry_id[:40], key or None)
    except NotFound:
        exists = await run_in_threadpool(svc._row, inquiry_id[:40])
        if exists is None or exists.key_hash is None:
            raise
        status = 404 if key else 200
        return render(request, "inquiry.html", {"title": "查询咨询答复", "inquiry": None, "id": exists.id,
                                                "key_error": "查询码不正确" if key else None},
                      status=status, user=user)
    item_name = None
    if found.get("item_code"):
        try:
            item_name = request.app.state.catalog.current(found["item_code"]).name
        except DomainError:
            item_name = found["item_code"]
    return render(request, "inquiry.html", {
        "title": "咨询答复" if found["kind"] == "consultation" else "投诉答复", "inquiry": found, "id": found["id"],
        "item_name": item_name, "outcome": OUTCOME_ZH.get(found.get("outcome") or ""), "new": new == "1",
        "key": key if new == "1" else None, "key_error": None}, user=user)


def asked_by(request: Request, actor: Actor, limit: int = 20) -> list[dict[str, Any]]:
    """The caller's own consultations and complaints, newest first (我的咨询投诉 on /my/cases)."""
    with request.app.state.sessions() as session:
        rows = session.exec(select(Inquiry).where(Inquiry.asker == actor.username)
                            .order_by(col(Inquiry.filed_at).desc()).limit(limit)).all()
    return [{"id": r.id, "kind": r.kind, "text": r.text[:60] + ("…" if len(r.text) > 60 else ""),
             "status": r.status, "answer_due": r.answer_due.isoformat(), "filed_at": r.filed_at} for r in rows]
