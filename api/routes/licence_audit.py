"""The auditors' reader of the e-licence verification log: `GET /api/audit/licence-verifications`
(auditors and admins; docs/api.md "Audit"). Reading it is itself logged in `audit_reads`."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.bounds import Offset
from api.deps import CasesDep, CurrentUser, require
from api.routes.audit import AUDIT_ROLES
from banjian import audit
from banjian import licence_verification_log as log

router = APIRouter(prefix="/api/audit", tags=["audit"])

#: verifications are logged from 2000 to the end of the century
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
Day = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="a day (China time), YYYY-MM-DD")]
LicenceKey = Annotated[str | None, Query(min_length=1, max_length=160,
                                         description="a licence identifier or licence number (as printed)")]


@router.get("/licence-verifications")
async def licence_verifications(actor: CurrentUser, cases: CasesDep, licence_id: LicenceKey = None,
                                frm: Annotated[Day, Query(alias="from")] = None, to: Day = None,
                                limit: Annotated[int, Query(ge=1, le=log.MAX_LIMIT)] = 50,
                                offset: Offset = 0) -> dict:
    """`{"items": [{"id", "licence_id", "licence_no", "licence_type", "holder_name", "at", "address",
    "status", "signature_valid", "valid", "reason"}], "total", "limit", "offset"}`: every logged
    verification of an e-licence, newest first; `from`/`to` bound the days (China time, inclusive)."""
    require(actor, *AUDIT_ROLES)

    def read() -> dict:
        with cases.sessions() as session:
            found = log.page(session, actor, licence_id, frm, to, limit, offset)
        audit.log_read(cases.sessions, actor, None, "licence-verifications")
        return found

    return await run_in_threadpool(read)
