"""Online payment behind the routes (网上缴费): provider callbacks, the sandbox's pay button, the ledger.

A callback is verified by the provider (401, nothing recorded, on a bad signature), then handed to
the case's workflow as the `record_payment` update, whose id names the provider's transaction (a
callback that arrives twice, even at once, is one update). The workflow decides: counted, known
already, or refunded. A refusal (an amount that differs from the fee, a case with no such order) is
kept in `payment_issues` for an operator. Money for a case whose workflow has ended is refunded by a
`PaymentRefund` workflow of its own.

The sandbox's pay button starts the payment in the case's workflow before it takes any money
(`begin_payment`: one at a time, so a double-tapped button pays once and the second tap is a 409),
and answers 200 only once a callback was counted, which the workflow recorded in the read model
before it answered: every read after the answer (the case, its page, the ledger) shows the payment.
A payment the case did not count is answered with the case's refusal, never as paid.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, func, select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.reads import state_of
from api.service import CaseService
from api.updates import Outcome, map_update_error, workflow_id
from banjian.contracts import Actor, CaseState
from banjian.db import Case
from banjian.enums import Role, Status
from banjian.errors import Conflict, DomainError, Forbidden, NotFound
from banjian.labels import status_zh
from banjian.payment_contracts import LedgerEntry, PaymentCheckout, PaymentNotice, PaymentOutcome
from banjian.payments import (
    SIGNATURE_HEADER,
    Payment,
    PaymentIssue,
    SandboxProvider,
    check_notice,
    issue_json,
    ledger_json,
    provider_for,
    record_issue,
)
from banjian.timefmt import CHINA
from workflows.case import CaseWorkflow
from workflows.payment_refund import PaymentRefundWorkflow, refund_workflow_id

#: how many times the sandbox sends each callback (real providers sometimes repeat them)
SANDBOX_SENDS = 2
CALLBACK_PATH = "/api/payments/callback"


class PaymentService:
    def __init__(self, cases: CaseService, provider: SandboxProvider) -> None:
        self.cases = cases
        self.provider = provider

    @classmethod
    def of(cls, app: Any) -> PaymentService:
        """The app's payment service (one provider per process, made on first use)."""
        svc = getattr(app.state, "payments", None)
        if svc is None:
            cases: CaseService = app.state.cases
            svc = app.state.payments = cls(cases, provider_for(cases.settings))
        return svc

    # ---- callbacks -----------------------------------------------------------------------------------
    async def callback(self, body: bytes, signature: str | None) -> dict[str, Any]:
        notice = self.provider.verify_callback(body, signature)  # 401 / 422 before anything is recorded
        check_notice(notice)
        state = await asyncio.to_thread(self._case_state, notice, body)
        handle = self.cases.client.get_workflow_handle(workflow_id(notice.case_id))
        try:
            outcome: PaymentOutcome = await handle.execute_update(
                CaseWorkflow.record_payment, notice, id=f"payment-{notice.provider}-{notice.transaction_id}",
                result_type=PaymentOutcome, rpc_timeout=timedelta(seconds=self.cases.settings.update_timeout_seconds))
        except WorkflowUpdateFailedError as e:
            err = map_update_error(e)
            await asyncio.to_thread(self._issue, notice, err.code, state, body)
            raise err from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:  # may still be counted: the provider sends it again
            raise Outcome() from None
        except RPCError as e:
            if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            return await self._after_the_end(notice, state, body)  # the case's workflow has ended
        return outcome.model_dump()

    def _case_state(self, notice: PaymentNotice, body: bytes) -> CaseState:
        with self.cases.sessions() as session:
            row = session.get(Case, notice.case_id)
            if row is None:
                record_issue(session, notice, None, "case_not_found", None, body, datetime.now(UTC))
                raise NotFound("case_not_found", f"办件 {notice.case_id} 不存在", f"no case {notice.case_id}", "case_id")
            return state_of(row)

    def _issue(self, notice: PaymentNotice, code: str, state: CaseState, body: bytes) -> None:
        expected = state.payment.amount_fen if state.payment else None
        with self.cases.sessions() as session:
            record_issue(session, notice, notice.case_id, code, expected, body, datetime.now(UTC))

    async def _after_the_end(self, notice: PaymentNotice, state: CaseState, body: bytes) -> dict[str, Any]:
        """A callback for a case whose workflow has finished: known already, or money to send back."""
        pay = state.payment
        known = await asyncio.to_thread(self._known, notice)
        if known is not None:
            return {"outcome": "duplicate", "case_id": state.id, "transaction_id": notice.transaction_id,
                    "status": state.status.value}
        if pay is None or pay.order_id != notice.order_id:
            await asyncio.to_thread(self._issue, notice, "no_payment_due", state, body)
            raise Conflict("no_payment_due", "本办件没有该缴费订单", "this case has no such payment order", "order_id")
        entry = LedgerEntry(case_id=state.id, provider=notice.provider, order_id=notice.order_id,
                            transaction_id=notice.transaction_id, amount_fen=notice.amount_fen, status="refunded",
                            reason="duplicate_payment" if pay.status == "paid" else "case_closed",
                            at=datetime.now(CHINA))
        await self.cases.client.execute_workflow(
            PaymentRefundWorkflow.run, entry, id=refund_workflow_id(notice.provider, notice.transaction_id),
            task_queue=self.cases.settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, result_type=str)
        return {"outcome": "refunded", "case_id": state.id, "transaction_id": notice.transaction_id,
                "status": state.status.value}

    def _known(self, notice: PaymentNotice) -> Payment | None:
        with self.cases.sessions() as session:
            return session.get(Payment, f"{notice.provider}:{notice.transaction_id}")

    # ---- the sandbox ---------------------------------------------------------------------------------
    async def sandbox_pay(self, actor: Actor, case_id: str, app: Any) -> dict[str, Any]:
        """The applicant pays in the sandbox. The case's workflow first starts the payment
        (`begin_payment`): a second one while it is in progress, or once the case is paid, is a 409
        and no money is taken (a double-tapped button, two tabs). Then the sandbox takes it and sends
        its signed callback, twice and at once, as a real provider may; the case counts it once.
        It answers 200 only when the case counted the payment, which its workflow recorded in the read
        model before answering the callback; otherwise with the callback's refusal (`_counted`)."""
        state = await asyncio.to_thread(self._payable, actor, case_id)
        pay = state.payment
        assert pay is not None
        checkout = PaymentCheckout(order_id=pay.order_id, provider=pay.provider,
                                   transaction_id=f"SBXT{uuid.uuid4().hex[:20]}")
        await self._update(case_id, CaseWorkflow.begin_payment, checkout, state)
        body, signature = self.provider.callback(pay.order_id, case_id, pay.amount_fen, checkout.transaction_id,
                                                 datetime.now(CHINA))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payment-sandbox.internal") as http:
            answers = await asyncio.gather(*[
                http.post(CALLBACK_PATH, content=body, headers={SIGNATURE_HEADER: signature,
                                                                "Content-Type": "application/json"})
                for _ in range(SANDBOX_SENDS)])
        callbacks = [{"status_code": r.status_code, **r.json()} for r in answers]
        refusal = _counted(callbacks)
        if refusal is not None:
            if isinstance(refusal, DomainError) and refusal.status < 500:  # the case took nothing: the applicant may pay again at once
                await self._update(case_id, CaseWorkflow.end_payment, checkout, state)
            raise refusal
        case = await asyncio.to_thread(self.cases.answer, actor, case_id)
        return {"callbacks": callbacks, "case": case}

    async def _update(self, case_id: str, update: Any, checkout: PaymentCheckout, state: CaseState) -> None:
        """Start or end the sandbox's payment in the case's workflow (a refusal as its 409)."""
        handle = self.cases.client.get_workflow_handle(workflow_id(case_id))
        try:
            await handle.execute_update(update, checkout, id=f"{update.__name__}-{checkout.transaction_id}",
                                        result_type=PaymentOutcome,
                                        rpc_timeout=timedelta(seconds=self.cases.settings.update_timeout_seconds))
        except WorkflowUpdateFailedError as e:
            raise map_update_error(e) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise Outcome() from None
        except RPCError as e:
            if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            raise self._not_payable(state) from None  # the case's workflow has ended meanwhile

    def _payable(self, actor: Actor, case_id: str) -> CaseState:
        with self.cases.sessions() as session:
            row = self.cases.view(session, actor, case_id)
            if not (actor.has(Role.APPLICANT) and row.applicant_username == actor.username):
                raise Forbidden("forbidden_role", "只有申请人本人可以缴费", "only the applicant pays", "case_id")
            state = state_of(row)
        if state.status != Status.AWAITING_PAYMENT or state.payment is None:
            raise self._not_payable(state)
        return state

    @staticmethod
    def _not_payable(state: CaseState) -> Conflict:
        if state.payment is not None and state.payment.status == "paid":
            return Conflict("already_paid", "本办件已缴费，请勿重复缴费", "this case's fee is paid already", "case_id")
        return Conflict("no_payment_due", f"办件当前状态为“{status_zh(state.status)}”，无需缴费",
                        f"the case ({state.status}) does not wait for a payment", "case_id")

    # ---- reading ------------------------------------------------------------------------------------
    def issues(self, limit: int, offset: int) -> dict[str, Any]:
        with self.cases.sessions() as session:
            rows = session.exec(select(PaymentIssue).order_by(col(PaymentIssue.id).desc())
                                .offset(offset).limit(limit)).all()
            total = session.exec(select(func.count()).select_from(PaymentIssue)).one()
        return {"items": [issue_json(r) for r in rows], "total": total}

    def ledger(self, actor: Actor, case_id: str) -> dict[str, Any]:
        with self.cases.sessions() as session:
            self.cases.view(session, actor, case_id)  # 404 unless the caller may see the case
            rows = session.exec(select(Payment).where(Payment.case_id == case_id)
                                .order_by(col(Payment.recorded_at))).all()
        return {"items": [ledger_json(r) for r in rows], "total": len(rows)}



def _counted(callbacks: list[dict[str, Any]]) -> DomainError | Outcome | None:
    """None when the case counted the sandbox's payment (a callback answered `paid` or `duplicate`),
    else why not: the first callback's refusal as it answered, `payment_refunded` (409) when the
    case sent the money back (it stopped waiting meanwhile), `Outcome` (504) when it did not answer."""
    if any(c["status_code"] == 200 and c.get("outcome") in ("paid", "duplicate") for c in callbacks):
        return None
    if any(c["status_code"] == 200 for c in callbacks):
        return Conflict("payment_refunded", "办件已不再等待缴费，款项已原路退回",
                        "the case no longer waits for a payment: the money was sent back", "case_id")
    first = callbacks[0]
    detail = first.get("detail")
    if first["status_code"] == 504 or not isinstance(detail, dict):
        return Outcome()
    return DomainError(str(detail.get("code")), str(detail.get("message")), str(detail.get("message_en")),
                       detail.get("field"), status=first["status_code"])
