"""Refunding money that reached a case whose workflow has ended (退款): a payment the provider
reports after the case was withdrawn, terminated or concluded, and after its workflow finished.

One short workflow per provider transaction (id `refund-{provider}-{transaction}`), so however many
times the callback arrives the money goes back once; the `refund_payment` activity asks the provider
(idempotent by transaction) and writes the ledger row `refunded` / `case_closed`.
"""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.payment_contracts import LedgerEntry
    from workflows.calls import run_activity


def refund_workflow_id(provider: str, transaction_id: str) -> str:
    return f"refund-{provider}-{transaction_id}"


@workflow.defn(name="PaymentRefund")
class PaymentRefundWorkflow:
    @workflow.run
    async def run(self, entry: LedgerEntry) -> str:
        refund_id: str = await run_activity("refund_payment", entry, str)
        return refund_id
