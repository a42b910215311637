"""The printed notices of a case (/cases/{id}/documents/{kind}: 收件回执, 受理通知书, 补正材料通知书,
不予受理决定书, 送达回证), for whoever may read the case, and the public progress page their QR code opens
(/progress/{case_no}?code=…, no login). See api/case_documents.py for what each document holds."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from api import case_documents as docs
from api.routes.pages.case_notices import display_names
from api.routes.pages.cases import provisional_due
from api.routes.pages.common import TEMPLATES, PageError, page_user, render
from banjian import case_numbers
from banjian.db import Case
from banjian.errors import DomainError
from banjian.labels import STATUS_ZH
from banjian.licence_store import Licence
from banjian.timefmt import CHINA

router = APIRouter(include_in_schema=False)
#: the act each document records, for the message when the case has not come to it
NOT_YET = {"receipt": "申请未经正式收件（网上预审中，或在预审期间撤回），没有收件回执",
           "supplement": "本办件未发出补正告知，没有补正材料通知书",
           "acceptance": "本办件尚未受理，没有受理通知书",
           "refusal": "本办件未被决定不予受理，没有不予受理决定书",
           "delivery": "本办件的办理结果未在窗口送达，没有送达回证"}


def _build(request: Request, actor: Any, case_id: str, kind: str) -> dict[str, Any]:
    cases = request.app.state.cases
    case = cases.get(actor, case_id)  # 404 for a case the caller may not see
    if case.get("parent_id"):
        raise PageError(409, "并联审批部门子件没有单独的文书，申请人的文书由牵头部门在主件中出具")
    if kind not in docs.available(case):
        raise PageError(409, NOT_YET[kind])
    item = request.app.state.catalog.effective(case["item_code"], case["item_version"], case["department"],
                                               case.get("parent_id") is not None)
    actions = {"receipt": ("submitted", "formal_submission"), "supplement": docs.SUPPLEMENT_NOTICES,
               "acceptance": ("accept", "deemed_acceptance"), "refusal": ("refuse_acceptance",),
               "delivery": ("deliver",)}[kind]
    entry = next((h for h in reversed(case.get("history") or []) if h.get("action") in actions), None)
    actor_name = entry.get("actor") if entry else None
    licence_id = (case.get("result") or {}).get("licence_id")
    with cases.sessions() as session:
        people = display_names(session, case)
        licence = session.get(Licence, licence_id) if kind == "delivery" and licence_id else None
    clerk = None
    if actor_name and actor_name != "system" and (entry or {}).get("role") not in ("applicant", None):
        clerk = people.get(actor_name, actor_name)
    issuer = item.implementing_body.name
    doc = docs.document(cases.settings, case, item, kind, issuer, clerk, licence.licence_no if licence else None)
    if kind == "acceptance":  # each date by its own year's schedule, as the case page says it
        doc["promised_provisional"] = provisional_due(cases, case, "promised_due")
        doc["statutory_provisional"] = provisional_due(cases, case, "statutory_due")
    return doc


@router.get("/cases/{case_id}/documents/{kind}", response_class=HTMLResponse)
async def case_document(request: Request, case_id: str, kind: str) -> HTMLResponse:
    """One printable notice (A4, nothing of the site's navigation on paper)."""
    actor = await page_user(request)
    if kind not in docs.TITLES:
        raise PageError(404, "没有这种文书")
    doc = await run_in_threadpool(_build, request, actor, case_id[:40], kind)
    return TEMPLATES.TemplateResponse(request, "case_document.html",
                                      {"doc": doc, "back": f"/cases/{case_id[:40]}"})


def _masked_name(name: str, organisation: bool) -> str:
    """王小明 → 王*明, 李四 → 李*: a person's name on a public page; an organisation's name whole."""
    if organisation or len(name) < 2:
        return name
    return name[0] + "*" * (len(name) - 2) + name[-1] if len(name) > 2 else name[0] + "*"


def _progress(request: Request, case_no: str, code: str | None) -> dict[str, Any]:
    settings = request.app.state.cases.settings
    unknown = PageError(404, "未找到该办件，请核对办件编号和查询码（见回执或通知书上的二维码）")
    try:
        canonical = case_numbers.parse(case_no)
    except case_numbers.CaseNumberError:
        raise unknown from None
    if not docs.code_matches(settings, canonical, code):
        raise unknown
    with request.app.state.sessions() as session:
        row = session.exec(select(Case).where(Case.case_no == canonical)).first()
    if row is None:
        raise unknown

    def day(at: datetime | None) -> str | None:
        return at.astimezone(CHINA).date().isoformat() if at else None

    org = (row.snapshot.get("applicant") or {}).get("kind") == "organisation"
    pick_up = None
    if row.status == "delivered" and (row.snapshot.get("delivery") or {}).get("method") == "window":
        try:  # where to collect it: the item's place of service, as its guide says
            item = request.app.state.catalog.effective(row.item_code, row.item_version, row.department,
                                                       row.parent_id is not None)
            pick_up = item.location or item.implementing_body.name
        except DomainError:  # an item no longer loadable: the window is still the place
            pick_up = "办理窗口"
    return {"case_no": canonical, "item_name": row.item_name, "status": STATUS_ZH.get(row.status, row.status),
            "applicant": _masked_name(row.applicant_name, org), "submitted_on": day(row.submitted_at),
            "accepted_on": day(row.accepted_at), "concluded_on": day(row.concluded_at), "pick_up": pick_up,
            "promised_due": row.promised_due.isoformat() if row.promised_due and not row.concluded_at else None,
            "acceptance_due": row.acceptance_due.isoformat()
            if row.acceptance_due and row.status in ("submitted", "supplement_requested") else None}


@router.get("/progress/{case_no}", response_class=HTMLResponse)
async def progress(request: Request, case_no: str, code: str | None = None) -> HTMLResponse:
    """办件进度查询 (no login): what the QR code on a receipt or notice opens. Limited per address as
    licence verification is (a wrong code answers 404 like an unknown number: guessing is slow)."""
    request.app.state.verify_limiter.hit(request.client.host if request.client else None)
    found = await run_in_threadpool(_progress, request, case_no[:80], (code or "")[:64] or None)
    return render(request, "case_progress.html", {"title": "办件进度查询", "p": found})
