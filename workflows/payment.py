"""Online payment in the case workflow (网上缴费): the wait after approval, and the payments a case receives.

When an approved top-level case's item charges a fee (`fees.charged` and a fee item with an `amount`
or a `formula`), `_await_payment` opens the provider's order (activity `open_payment_order`, which
computes the fee), sets `awaiting_payment` with `payment.due` (item `payment_limit`, default 15
natural days) and starts the payment clock: a durable timer that terminates the case at the end of
the due day if nothing was paid (`payment_expired`, the applicant told through the case's events).

`record_payment` (an update the API sends for each verified provider callback) counts a payment
once: the first callback of the transaction moves the case on to `decided` (delivery follows, its
limit counted from the payment) and records `payment_received` (and, from design 5, issues the
e-licence, which a case waiting for its fee does not hold yet: `_after_approval`); the same transaction again changes
nothing (`duplicate`); any other transaction — a second payment, or money for a case that no longer
waits for it (withdrawn, terminated) — is refunded through the provider and recorded
(`payment_refunded`). An amount that differs from the fee is refused (422) while the case waits.
Cases approved before this code (patch `online-payment`) replay without any of it.

An item that charges but does not take payment online (`channels.online_payment` false: the fee is
paid at the window, 窗口缴费, as its published standard says) does not wait: the approved case goes on
to delivery at once and its history records `fee_at_window` (actor `system`, the fee items and their
standards, for the applicant). Cases approved before this rule (patch `fee-at-window`, asked only on
that path) replay the wait they took.

`begin_payment` (an update the API sends before the sandbox takes the money) starts one payment at a
time: a second one while the first is in progress (`payment_in_progress`) or once the fee is paid
(`already_paid`) is refused with 409 and changes nothing, so a double-tapped pay button charges once.
Two such updates that arrive together both pass their validators before either handler runs: the
handler checks again under the case's lock. A new update and state only: recorded histories never
call it and replay as before.
"""
from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import (
        LICENCE_AFTER_PAYMENT_DESIGN,
        SYSTEM,
        Actor,
        Answered,
        CaseInput,
        CaseState,
        PaymentState,
    )
    from banjian.enums import Decision, LimitUnit, Status
    from banjian.errors import Conflict, Invalid
    from banjian.items.schema import ItemDefinition, Limit
    from banjian.payment_contracts import (
        CHECKOUT_MINUTES,
        LedgerEntry,
        OrderRequest,
        PaymentCheckout,
        PaymentNotice,
        PaymentOrder,
        PaymentOutcome,
        RefundReason,
        yuan,
    )
    from banjian.pre_review import LimitFrom
    from banjian.timefmt import china_date, end_of
    from workflows.calls import reject, run_activity, run_local_activity, takes_path

ONLINE_PAYMENT = "online-payment"
FEE_AT_WINDOW = "fee-at-window"
DEFAULT_PAYMENT_LIMIT = Limit(value=15, unit=LimitUnit.NATURAL_DAYS)


class Payments:
    item: ItemDefinition
    state: CaseState
    inp: CaseInput
    lock: asyncio.Lock
    wake: bool

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...

        async def _record(self, notify: bool = True) -> None: ...

        async def _replan(self, at_once: bool = False) -> None: ...

        def _answer(self) -> Answered: ...

        async def _issue_licence(self) -> None: ...

    async def _after_approval(self) -> None:
        """The e-licence and the fee once `approve` is logged. From design 5 a case that waits for its fee
        gets its licence when the fee is paid (`record_payment`): a case left unpaid, terminated at
        `payment_due`, never holds a valid licence. Cases of earlier designs replay the licence first."""
        if self.state.design < LICENCE_AFTER_PAYMENT_DESIGN:
            await self._issue_licence()  # e-licence (workflows/licensing.py)
            await self._await_payment()
            return
        await self._await_payment()
        if self.state.status != Status.AWAITING_PAYMENT:  # nothing to pay online: the licence now
            await self._issue_licence()

    def _charges(self) -> bool:
        s, fees = self.state, self.item.fees
        return (fees.charged and any(f.amount or f.formula for f in fees.items) and s.parent_id is None
                and s.result is not None and s.result.decision == Decision.APPROVED and s.payment is None)

    async def _await_payment(self) -> None:
        """After approval (call once the approval is logged): wait for the fee if the item charges one."""
        if not self._charges() or not takes_path(self.inp.design, ONLINE_PAYMENT):
            return
        if not self.item.channels.online_payment and workflow.patched(FEE_AT_WINDOW):
            self._fee_at_window()
            return
        s = self.state
        order: PaymentOrder = await run_activity("open_payment_order", OrderRequest(
            case_id=s.id, case_no=s.case_no, item_code=s.item_code, item_name=s.item_name,
            fee_items=[f.model_dump(mode="json") for f in self.item.fees.items], form=s.form), PaymentOrder)
        if order.problem is not None or order.order_id is None or order.amount_fen == 0:
            if order.problem is not None:
                self._log(SYSTEM, "fee_not_computed", comment="收费金额无法计算，本件不在线收费",
                          data={"problem": order.problem})
            return
        limit = self.item.payment_limit or DEFAULT_PAYMENT_LIMIT
        due: date = await run_local_activity("add_limit", LimitFrom(start=china_date(workflow.now()), limit=limit),
                                             date)
        s.payment = PaymentState(order_id=order.order_id, provider=order.provider, amount_fen=order.amount_fen,
                                 due=due, requested_at=workflow.now())
        s.status = Status.AWAITING_PAYMENT
        self._log(SYSTEM, "payment_requested", comment=f"请于 {due} 前在线缴纳 {yuan(order.amount_fen)} 元",
                  data={"order_id": order.order_id, "amount": yuan(order.amount_fen), "payment_due": str(due),
                        "provider": order.provider})
        asyncio.create_task(self._payment_clock(due))  # noqa: RUF006  (ends when the case stops waiting)

    def _fee_at_window(self) -> None:
        """The item charges, but not online: the applicant pays at the window; the case does not wait."""
        fees = [{"name": f.name, "standard": f.standard} for f in self.item.fees.items]
        listed = "；".join(f"{f['name']}：{f['standard']}" for f in fees)
        self._log(SYSTEM, "fee_at_window", comment=f"本事项收费（{listed}），不在网上缴纳，请按收费标准到办理窗口缴纳",
                  data={"fee_items": fees, "notified": "applicant",
                        "reason_en": "the item's fee is paid at the window, not online: the case does not wait for it"})

    async def _payment_clock(self, due: date) -> None:
        def waiting() -> bool:
            return self.state.status == Status.AWAITING_PAYMENT

        wait = end_of(due) - workflow.now()
        if wait.total_seconds() > 0:
            try:
                await workflow.wait_condition(lambda: not waiting(), timeout=wait)
                return
            except TimeoutError:
                pass
        async with self.lock:
            if not waiting():
                return
            s = self.state
            assert s.payment is not None
            s.payment.status = "expired"
            s.status, s.claimed_by = Status.TERMINATED, None
            reason = f"未在缴费期限（{due}）内缴纳费用，办件终止"
            self._log(SYSTEM, "payment_expired", comment=reason, data={
                "payment_due": str(due), "amount": yuan(s.payment.amount_fen), "notified": "applicant",
                "reason_en": f"the fee was not paid by {due}: the case is terminated"})
            await self._record()
            self.wake = True

    # ---- a payment starts ---------------------------------------------------------------------------
    @workflow.update
    async def begin_payment(self, c: PaymentCheckout) -> PaymentOutcome:
        """The applicant starts paying (before the provider takes any money): one payment at a time."""
        async with self.lock:
            self._check_checkout(c)  # again: another checkout may have started since the validator ran
            pay = self.state.payment
            assert pay is not None
            pay.checkout, pay.checkout_at = c.transaction_id, workflow.now()
            return PaymentOutcome(outcome="started", case_id=self.state.id, transaction_id=c.transaction_id,
                                  status=self.state.status.value)

    @workflow.update
    async def end_payment(self, c: PaymentCheckout) -> PaymentOutcome:
        """The provider took no money for a started payment (the case refused its callback): another
        payment may start at once. Nothing else changes; a payment not in progress is left alone."""
        async with self.lock:
            pay = self.state.payment
            if pay is not None and pay.checkout == c.transaction_id:
                pay.checkout, pay.checkout_at = None, None
            return PaymentOutcome(outcome="ended", case_id=self.state.id, transaction_id=c.transaction_id,
                                  status=self.state.status.value)

    @begin_payment.validator
    def _validate_checkout(self, c: PaymentCheckout) -> None:
        self._check_checkout(c)

    def _check_checkout(self, c: PaymentCheckout) -> None:
        s, pay = self.state, self.state.payment
        if pay is None or pay.order_id != c.order_id or pay.provider != c.provider:
            raise reject(Conflict("no_payment_due", "本办件没有该缴费订单", "this case has no such payment order",
                                  "case_id"))
        if pay.status == "paid":
            raise reject(Conflict("already_paid", "本办件已缴费，请勿重复缴费", "this case's fee is paid already",
                                  "case_id"))
        if s.status != Status.AWAITING_PAYMENT:
            raise reject(Conflict("no_payment_due", "本办件当前无需缴费", "the case does not wait for a payment",
                                  "case_id"))
        running = (pay.checkout is not None and pay.checkout != c.transaction_id and pay.checkout_at is not None
                   and workflow.now() - pay.checkout_at < timedelta(minutes=CHECKOUT_MINUTES))
        if running:
            raise reject(Conflict("payment_in_progress", "本办件的缴费正在处理中，请勿重复缴费",
                                  "a payment for this case is already in progress", "case_id"))

    # ---- payments received ------------------------------------------------------------------------
    @workflow.update
    async def record_payment(self, p: PaymentNotice) -> PaymentOutcome:
        """A verified provider callback: counted once, or refunded (see the module's docstring)."""
        async with self.lock:
            self._check_payment(p)
            s, pay = self.state, self.state.payment
            assert pay is not None
            if p.transaction_id in pay.transactions:
                return self._outcome("duplicate", p)
            pay.transactions = [*pay.transactions, p.transaction_id]
            if s.status == Status.AWAITING_PAYMENT:
                pay.status, pay.transaction_id, pay.paid_at = "paid", p.transaction_id, workflow.now()
                s.status = Status.DECIDED  # delivery follows; its limit runs from the payment
                await run_activity("record_payment", self._entry(p, "paid"))
                self._log(SYSTEM, "payment_received", comment=f"已收到缴费 {yuan(p.amount_fen)} 元", data={
                    "transaction_id": p.transaction_id, "order_id": p.order_id, "amount": yuan(p.amount_fen),
                    "provider": p.provider})
                if s.design >= LICENCE_AFTER_PAYMENT_DESIGN:
                    await self._issue_licence()  # the licence comes with the paid fee
                await self._replan()
                await self._record()
                self.wake = True
                return self._outcome("paid", p)
            reason: RefundReason = "duplicate_payment" if pay.status == "paid" else "case_closed"
            refund_id: str = await run_activity("refund_payment", self._entry(p, "refunded", reason), str)
            pay.refunded = [*pay.refunded, p.transaction_id]
            self._log(SYSTEM, "payment_refunded", comment=f"退还缴费 {yuan(p.amount_fen)} 元" + (
                "（重复缴费）" if reason == "duplicate_payment" else "（办件已终止或撤回）"), data={
                "transaction_id": p.transaction_id, "amount": yuan(p.amount_fen), "reason": reason,
                "refund_id": refund_id})
            await self._record()
            return self._outcome("refunded", p)

    @record_payment.validator
    def _validate_payment(self, p: PaymentNotice) -> None:
        self._check_payment(p)

    def _check_payment(self, p: PaymentNotice) -> None:
        s, pay = self.state, self.state.payment
        if pay is None or pay.order_id != p.order_id or pay.provider != p.provider:
            raise reject(Conflict("no_payment_due", "本办件没有该缴费订单", "this case has no such payment order",
                                  "order_id"))
        waiting = s.status == Status.AWAITING_PAYMENT and p.transaction_id not in pay.transactions
        if waiting and p.amount_fen != pay.amount_fen:
            raise reject(Invalid("amount_mismatch",
                                 f"缴费金额 {yuan(p.amount_fen)} 元与应缴金额 {yuan(pay.amount_fen)} 元不符",
                                 f"the amount paid ({yuan(p.amount_fen)}) differs from the fee ({yuan(pay.amount_fen)})",
                                 "amount"))

    def _entry(self, p: PaymentNotice, status: str, reason: RefundReason | None = None) -> LedgerEntry:
        return LedgerEntry(case_id=self.state.id, provider=p.provider, order_id=p.order_id,
                           transaction_id=p.transaction_id, amount_fen=p.amount_fen, status=status,  # type: ignore[arg-type]
                           reason=reason, at=workflow.now())

    def _outcome(self, outcome: str, p: PaymentNotice) -> PaymentOutcome:
        return PaymentOutcome(outcome=outcome, case_id=self.state.id,  # type: ignore[arg-type]
                              transaction_id=p.transaction_id, status=self.state.status.value)


__all__ = ["FEE_AT_WINDOW", "ONLINE_PAYMENT", "Payments"]
