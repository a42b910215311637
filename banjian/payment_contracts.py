"""What crosses a Temporal boundary for online payment (网上缴费): the case's payment state, the
order the case opens after approval, a provider's callback as the case workflow receives it, and
the ledger rows the payment activities write.

Imports only pydantic, the standard library and `banjian.contracts` (sandbox-safe). Amounts are
whole fen (分, 0.01 yuan) everywhere: no floating point ever touches money.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from banjian.contracts import Model, PaymentState

#: why a payment that arrived was sent back: a second payment of a paid case, or a case that no
#: longer waits for one (withdrawn, terminated, expired)
RefundReason = Literal["duplicate_payment", "case_closed"]


def yuan(fen: int) -> str:
    """A whole number of fen as yuan with two decimals ("10.00")."""
    return f"{fen // 100}.{fen % 100:02d}"


class OrderRequest(Model):
    """Input of `open_payment_order`: the case's fee items and form, from which the fee is computed."""

    case_id: str
    case_no: str | None = None
    item_code: str
    item_name: str
    fee_items: list[dict[str, Any]]
    form: dict[str, Any] = {}


class PaymentOrder(Model):
    """Result of `open_payment_order`: the fee (0 when nothing is charged online) and the provider's order."""

    order_id: str | None = None
    provider: str = ""
    amount_fen: int = Field(default=0, ge=0)
    problem: str | None = Field(default=None, description="why the fee could not be computed (then no order)")


class PaymentNotice(Model):
    """A verified provider callback, as the API hands it to the case (`record_payment` update)."""

    provider: str
    case_id: str
    order_id: str
    transaction_id: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(ge=0)
    paid_at: datetime | None = None


#: how long a started payment (`PaymentState.checkout`) keeps another from starting: the provider
#: reports a payment within seconds; one never reported (the provider's page left, a process that
#: died before sending its callback) stops blocking the applicant after this many minutes. The case
#: workflow's `begin_payment` handler applies it, so changing it changes recorded behaviour: version it
#: (docs/workflow-versioning.md)
CHECKOUT_MINUTES = 10


class PaymentCheckout(Model):
    """Input of the case's `begin_payment` update: the applicant starts paying the case's order with
    the transaction the provider will report (the sandbox's pay button, before it takes any money)."""

    order_id: str
    provider: str
    transaction_id: str = Field(min_length=1, max_length=64)


class PaymentOutcome(Model):
    """What `record_payment` answers: `paid` (counted now), `duplicate` (already known: counted
    once, nothing done) or `refunded` (money that must not count: sent back and recorded); and what
    `begin_payment` and `end_payment` answer: `started`, `ended`."""

    outcome: Literal["paid", "duplicate", "refunded", "started", "ended"]
    case_id: str
    transaction_id: str
    status: str


class LedgerEntry(Model):
    """Input of `record_payment` and `refund_payment`: one provider transaction in the ledger."""

    case_id: str
    provider: str
    order_id: str
    transaction_id: str
    amount_fen: int
    status: Literal["paid", "refunded"]
    reason: RefundReason | None = None
    at: datetime


__all__ = ["LedgerEntry", "OrderRequest", "PaymentNotice", "PaymentOrder", "PaymentOutcome", "PaymentState",
           "RefundReason", "yuan"]
