"""Payment activities (网上缴费): open the provider's order for a case's fee, and keep the ledger.

`open_payment_order` computes the fee (banjian/fees.py) and asks the provider for the case's order;
`record_payment` writes a counted payment, `refund_payment` sends money back through the provider and
writes it as refunded. All are idempotent: the order is the case's, ledger rows are keyed by the
provider's transaction, and the provider's refund is idempotent by transaction too.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlmodel import Session
from temporalio import activity

from banjian.fees import FeeError, total_fee
from banjian.items.schema import FeeItem
from banjian.payment_contracts import LedgerEntry, OrderRequest, PaymentOrder
from banjian.payments import Payment, PaymentProvider


class PaymentActivities:
    """Takes a session factory and the payment provider."""

    def __init__(self, session_factory: Callable[[], Session], provider: PaymentProvider) -> None:
        self.sessions = session_factory
        self.provider = provider

    @activity.defn(name="open_payment_order")
    def open_payment_order(self, req: OrderRequest) -> PaymentOrder:
        try:
            fee = total_fee([FeeItem.model_validate(f) for f in req.fee_items], req.form)
        except FeeError as e:  # a formula whose form field is missing: no online charge, said in the history
            return PaymentOrder(problem=str(e))
        fen = int(fee * 100)  # total_fee rounds to the fen
        if fen == 0:
            return PaymentOrder(amount_fen=0)
        order = self.provider.create_order(req.case_id, fen, f"{req.item_name} {req.case_no or req.case_id}")
        return PaymentOrder(order_id=order, provider=self.provider.name, amount_fen=fen)

    @activity.defn(name="record_payment")
    def record_payment(self, entry: LedgerEntry) -> None:
        self._write(entry, None)

    @activity.defn(name="refund_payment")
    def refund_payment(self, entry: LedgerEntry) -> str:
        refund_id = self.provider.refund(entry.order_id, entry.transaction_id, entry.amount_fen,
                                         entry.reason or "refund")
        self._write(entry, refund_id)
        return refund_id

    def _write(self, entry: LedgerEntry, refund_id: str | None) -> None:
        key = f"{entry.provider}:{entry.transaction_id}"
        with self.sessions() as session:
            row = session.get(Payment, key) or Payment(
                transaction_id=key, case_id=entry.case_id, provider=entry.provider, order_id=entry.order_id,
                amount_fen=entry.amount_fen, status=entry.status, at=entry.at, recorded_at=datetime.now(UTC))
            row.status, row.reason, row.refund_id = entry.status, entry.reason, refund_id
            session.add(row)
            session.commit()
