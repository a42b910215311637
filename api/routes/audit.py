"""Audit routes: a case's full history (from Temporal, checked against the read model), replay of
its workflow history, verification of its hash chain, its archive package, and the log of
auditors' reads. Auditors change nothing; every read by an auditor is itself logged."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from api.bounds import CaseId, Offset, Text
from api.deps import CasesDep, CurrentUser, require
from banjian import audit
from banjian.audit.archive import Archiver
from banjian.audit.package_check import ARCHIVE_ALTERED, intact_package
from banjian.audit.reads import reads_page
from banjian.contracts import Actor
from banjian.enums import CLOSED, Role
from banjian.errors import Conflict, Forbidden
from services.recorded_state import record_calls
from services.replay import replay_case

router = APIRouter(prefix="/api", tags=["audit"])

AUDIT_ROLES = (Role.AUDITOR, Role.ADMIN)


def _client(request: Request):
    return request.app.state.client


def _visible(cases, actor: Actor):
    def visible(row) -> bool:
        with cases.sessions() as session:
            return cases.can_see(actor, row, session)
    return visible


async def _timeline(request: Request, cases, actor: Actor, case_id: str) -> dict[str, Any]:
    await asyncio.to_thread(_row, cases, actor, case_id)  # 404 for a case the caller may not see
    return await audit.timeline(_client(request), cases.sessions, case_id, _visible(cases, actor), record_calls)


@router.get("/cases/{case_id}/history", response_model=None)
async def history(case_id: CaseId, request: Request, actor: CurrentUser, cases: CasesDep,
                  format: Literal["list", "timeline"] = "list") -> JSONResponse:
    """The full ordered history, system events included (for a joint case, its sub-cases interleaved,
    each entry naming its `case_id`). Built from the Temporal event history and checked against the
    read model: the `X-Banjian-Source` header says where it came from (`temporal`, `archive`,
    `read_model`) and `X-Banjian-Discrepancies` how many disagreements were found (see
    `?format=timeline` or `/timeline` for them)."""
    t = await _timeline(request, cases, actor, case_id)
    await asyncio.to_thread(audit.log_read, cases.sessions, actor, case_id, "history")
    headers = {"X-Banjian-Source": t["source"], "X-Banjian-Discrepancies": str(len(t["discrepancies"]))}
    return JSONResponse(t if format == "timeline" else t["entries"], headers=headers)


@router.get("/cases/{case_id}/timeline")
async def case_timeline(case_id: CaseId, request: Request, actor: CurrentUser, cases: CasesDep) -> dict:
    """`{"entries": [...], "source", "item_code", "item_version", "sub_cases", "temporal_events",
    "discrepancies": [...], "pending": [...]}`: the history with what Temporal alone knows (timer
    firings, signals, sub-case workflows) and every disagreement with the read model."""
    t = await _timeline(request, cases, actor, case_id)
    await asyncio.to_thread(audit.log_read, cases.sessions, actor, case_id, "timeline")
    return t


def _row(cases, actor: Actor, case_id: str):
    with cases.sessions() as session:
        return cases.row(session, actor, case_id, lenient=True)


def _audit_only(cases, actor: Actor, case_id: str) -> None:
    """404 for a case the caller may not see, then 403 unless auditor or admin."""
    with cases.sessions() as session:
        cases.row(session, actor, case_id, lenient=True)
    require(actor, *AUDIT_ROLES)


@router.get("/cases/{case_id}/replay")
async def replay(case_id: CaseId, request: Request, actor: CurrentUser, cases: CasesDep) -> dict:
    """`{"verified", "events", "error"}`: the case's Temporal history replayed against the current
    workflow code (from the archive package once Temporal no longer holds it)."""
    await asyncio.to_thread(_audit_only, cases, actor, case_id)
    report = await replay_case(_client(request), cases.sessions, case_id)
    await asyncio.to_thread(audit.log_read, cases.sessions, actor, case_id, "replay")
    return report.json()


@router.get("/cases/{case_id}/verify")
async def verify(case_id: CaseId, request: Request, actor: CurrentUser, cases: CasesDep) -> dict:
    """`{"verified", "records", "first_altered": {"seq", "at", "action"} | null}` (plus `reason`,
    `findings`, `checked`): the case's hash chain recomputed and compared with its Temporal history
    and the signed daily chain heads; the case row compared with the state the workflow last
    recorded (`snapshot_differs`) and the archive package with its recorded digest (`archive_altered`)."""
    await asyncio.to_thread(_audit_only, cases, actor, case_id)
    result = await audit.verify_case_full(_client(request), cases.sessions, case_id,
                                          request.app.state.settings.data_dir, record_calls)
    await asyncio.to_thread(audit.log_read, cases.sessions, actor, case_id, "verify")
    return result


def archiver(request: Request) -> Archiver:
    state = request.app.state
    if getattr(state, "archiver", None) is None:
        state.archiver = Archiver(state.sessions, state.settings.archive_dir, lambda: state.client)
    return state.archiver


@router.get("/cases/{case_id}/archive", response_model=None)
async def archive(case_id: CaseId, request: Request, actor: CurrentUser, cases: CasesDep) -> Response:
    """The archive package (application/zip, `manifest.json` at its root) of a concluded case: for
    auditors and admins, and for the applicant of their own case. Built now if the case concluded
    before it was archived."""
    row = await asyncio.to_thread(_row, cases, actor, case_id)
    own = actor.has(Role.APPLICANT) and row.applicant_username == actor.username
    if not (actor.has(*AUDIT_ROLES) or own):
        raise Forbidden("forbidden_role", "只有审计人员、管理员或申请人本人可以下载归档",
                        "only an auditor, an admin or the applicant may download the archive")
    if row.status not in {s.value for s in CLOSED}:
        raise Conflict("case_not_concluded", "办件尚未办结，尚无归档", "the case has not concluded: no archive yet",
                       field="status")
    arc = await archiver(request).ensure(case_id)
    data = await asyncio.to_thread(intact_package, arc)
    if data is None:
        raise Conflict(ARCHIVE_ALTERED, "归档文件缺失或与登记的SM3摘要不符",
                       "the archive file is missing or does not match its recorded SM3 digest")
    await asyncio.to_thread(audit.log_read, cases.sessions, actor, case_id, "archive")
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{case_id}.zip"', "X-Banjian-SM3": arc.sm3})


@router.get("/audit/reads")
def audit_reads(actor: CurrentUser, cases: CasesDep, username: Text = None, case_id: Text = None,
                since: datetime | None = None, limit: int = Query(100, ge=1, le=1000),
                offset: Offset = 0) -> dict:
    """The log of auditors' reads, newest first (auditors and admins)."""
    require(actor, *AUDIT_ROLES)
    with cases.sessions() as session:
        found = reads_page(session, username, case_id, since, None, limit, offset)
    audit.log_read(cases.sessions, actor, case_id, "audit-reads")
    return found


@router.get("/audit/chain-heads")
async def chain_heads(request: Request, actor: CurrentUser, cases: CasesDep) -> dict:
    """Every sealed day's chain head, each checked (signature, link, recomputation)."""
    require(actor, *AUDIT_ROLES)
    items = await asyncio.to_thread(audit.verify_heads, cases.sessions, request.app.state.settings.data_dir)
    await asyncio.to_thread(audit.log_read, cases.sessions, actor, None, "chain-heads")
    return {"items": items, "verified": all(i["verified"] for i in items)}
