"""Online payment (网上缴费): the provider's signed callback, the sandbox's pay route, the ledger and
the callbacks refused for an operator."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request

from api.bounds import Offset
from api.deps import CurrentUser, require
from api.payments import PaymentService
from banjian.enums import Role
from banjian.errors import Invalid, NotFound
from banjian.payments import SIGNATURE_HEADER

router = APIRouter(prefix="/api/payments", tags=["payments"])
CaseId = Annotated[str, Path(min_length=1, max_length=40)]
#: a provider's callback is a few hundred bytes; anything far larger is not one
MAX_CALLBACK_BYTES = 16 * 1024


@router.post("/callback")
async def payment_callback(request: Request,
                           signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER, max_length=200)] = None
                           ) -> dict:
    """The payment provider's callback (no login: signed with HMAC-SM3 in `X-Payment-Signature`).
    Counted once per transaction however often it arrives: `outcome` `paid`, `duplicate` or `refunded`."""
    body = await request.body()
    if len(body) > MAX_CALLBACK_BYTES:
        raise Invalid("too_large", "缴费回调过大", f"a payment callback has at most {MAX_CALLBACK_BYTES} bytes", None)
    return await PaymentService.of(request.app).callback(body, signature)


@router.post("/sandbox/{case_id}/pay")
async def sandbox_pay(case_id: CaseId, request: Request, actor: CurrentUser) -> dict:
    """The built-in sandbox provider (not in production): the applicant pays the case's fee (one
    payment at a time: another while it is in progress or once paid is a 409); the sandbox sends its
    callback twice, as real providers sometimes do, and answers once the case has counted it."""
    svc = PaymentService.of(request.app)
    if svc.cases.settings.production:
        raise NotFound("not_found", "沙箱支付在生产环境中不可用", "the payment sandbox is off in production", None)
    return await svc.sandbox_pay(actor, case_id, request.app)


@router.get("/issues")
def payment_issues(request: Request, actor: CurrentUser, limit: int = Query(50, ge=1, le=500),
                   offset: Offset = 0) -> dict:
    """Callbacks a case refused (an amount that differs from the fee, no such order), newest first (admin)."""
    require(actor, Role.ADMIN)
    return PaymentService.of(request.app).issues(limit, offset)


@router.get("/cases/{case_id}")
def case_payments(case_id: CaseId, request: Request, actor: CurrentUser) -> dict:
    """The ledger of one case: every provider transaction it received, `paid` or `refunded` (whoever
    may see the case)."""
    return PaymentService.of(request.app).ledger(actor, case_id)
