"""Online payment (网上缴费): the provider interface, the built-in sandbox provider, and the ledger.

A case whose item charges a fee waits after approval in `awaiting_payment` (workflows/payment.py).
The payment provider (a bank's or a payment platform's gateway) knows three calls:

- `create_order`: open an order for a case's fee (idempotent: the same case gives the same order);
- `verify_callback`: check the signature of a callback it sent and read the payment out of it
  (a bad signature is a 401 and nothing is recorded);
- `refund`: send back a payment that must not count (a second payment, a closed case).

The sandbox provider (on unless production mode) signs its callbacks with HMAC-SM3 keyed with the
provider secret (`BANJIAN_PAYMENT_SECRET`, else a key kept in the data dir), in the header
`X-Payment-Signature` (lower-case hex of the HMAC-SM3 of the raw body). A real provider implements
`PaymentProvider` with its own order API and its own signature scheme.

Tables (migration 0012): `payments`, the ledger of every provider transaction a case received
(`paid` once per case, or `refunded`), written by the payment activities; `payment_issues`, the
callbacks a case refused (an amount that differs from the fee, a case that owes nothing), written
where the callback is answered, for an operator (GET /api/payments/issues).
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from sqlmodel import Field, Session, SQLModel

from banjian.crypto import hmac_sm3_hex
from banjian.errors import Invalid, Unauthorised
from banjian.json_limits import loads
from banjian.payment_contracts import PaymentNotice, yuan
from banjian.timefmt import iso_at

SIGNATURE_HEADER = "X-Payment-Signature"
#: the largest fee a callback may carry (the fee formulas' bound, banjian/fees.py), in fen
MAX_AMOUNT_FEN = 100_000_000 * 100
SANDBOX = "sandbox"


class Payment(SQLModel, table=True):
    """One provider transaction a case received: counted (`paid`) or sent back (`refunded`)."""

    __tablename__ = "payments"
    transaction_id: str = Field(primary_key=True, max_length=80, description="provider:transaction")
    case_id: str = Field(index=True, max_length=40)
    provider: str = Field(max_length=32)
    order_id: str = Field(max_length=80)
    amount_fen: int
    status: str = Field(index=True, max_length=20, description="paid or refunded")
    reason: str | None = Field(default=None, max_length=40)
    refund_id: str | None = Field(default=None, max_length=80)
    at: datetime = Field(description="the case clock when the case received it")
    recorded_at: datetime


class PaymentIssue(SQLModel, table=True):
    """A verified callback the case refused, kept for an operator (对账异常)."""

    __tablename__ = "payment_issues"
    id: int | None = Field(default=None, primary_key=True)
    case_id: str | None = Field(default=None, index=True, max_length=40)
    provider: str = Field(max_length=32)
    order_id: str | None = Field(default=None, max_length=80)
    transaction_id: str = Field(max_length=64)
    amount_fen: int
    expected_fen: int | None = None
    code: str = Field(max_length=40)
    at: datetime
    body: str = Field(description="the callback's raw body")


class PaymentProvider(Protocol):
    """What a payment provider offers banjian."""

    name: str

    def create_order(self, case_id: str, amount_fen: int, description: str) -> str:
        """Open (or find) the order for this case's fee; returns the order id."""
        ...

    def verify_callback(self, body: bytes, signature: str | None) -> PaymentNotice:
        """The payment a callback reports; `Unauthorised` (401) unless it carries a valid signature,
        `Invalid` (422) if the signed body is not a payment."""
        ...

    def refund(self, order_id: str, transaction_id: str, amount_fen: int, reason: str) -> str:
        """Send a payment back (idempotent by transaction); returns the refund id."""
        ...


def parse_amount(raw: Any) -> int:
    """A callback's amount: yuan as a string or number with at most two decimals → fen; 422 otherwise."""
    try:
        value = Decimal(str(raw)) if isinstance(raw, str | int | float) and not isinstance(raw, bool) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) \
            or value * 100 > MAX_AMOUNT_FEN:
        raise Invalid("invalid_amount", "金额须为 0 至 1 亿元、至多两位小数的数（单位：元）",
                      "amount must be yuan from 0 to 100,000,000 with at most two decimals", "amount")
    return int(value * 100)


class SandboxProvider:
    """The built-in provider for demos and tests: orders are named after their case, callbacks are
    JSON signed with HMAC-SM3, refunds always succeed."""

    name = SANDBOX

    def __init__(self, secret: str) -> None:
        self.key = secret.encode()

    def create_order(self, case_id: str, amount_fen: int, description: str) -> str:
        return f"SBX-{case_id}"

    def sign(self, body: bytes) -> str:
        return hmac_sm3_hex(self.key, body)

    def callback(self, order_id: str, case_id: str, amount_fen: int, transaction_id: str,
                 paid_at: datetime) -> tuple[bytes, str]:
        """The body and signature the sandbox sends when a payment is made."""
        body = json.dumps({"provider": self.name, "order_id": order_id, "case_id": case_id,
                           "transaction_id": transaction_id, "amount": yuan(amount_fen),
                           "paid_at": paid_at.isoformat()}, ensure_ascii=False).encode()
        return body, self.sign(body)

    def verify_callback(self, body: bytes, signature: str | None) -> PaymentNotice:
        if not signature or not secrets.compare_digest(signature.strip().lower(), self.sign(body)):
            raise Unauthorised("bad_signature", "缴费回调签名无效", "the payment callback's signature is not valid",
                               SIGNATURE_HEADER)
        try:
            data = loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise Invalid("invalid_body", "缴费回调须为 JSON 对象", "a payment callback is a JSON object", None)
        for name in ("order_id", "case_id", "transaction_id"):
            value = data.get(name)
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                raise Invalid("missing_required", f"缴费回调缺少 {name}", f"the callback needs {name} (1-64 characters)",
                              name)
        try:
            paid_at = datetime.fromisoformat(data["paid_at"]) if isinstance(data.get("paid_at"), str) else None
        except ValueError:
            raise Invalid("invalid_date", "paid_at 须为 ISO 8601 时间", "paid_at must be an ISO 8601 time",
                          "paid_at") from None
        return PaymentNotice(provider=self.name, case_id=data["case_id"], order_id=data["order_id"], transaction_id=data["transaction_id"],
                             amount_fen=parse_amount(data.get("amount")), paid_at=paid_at)

    def refund(self, order_id: str, transaction_id: str, amount_fen: int, reason: str) -> str:
        return f"RFD-{transaction_id}"


#: the ledger's and the issues' columns: an order id, a provider's name, and the ledger key
#: `provider:transaction`
ORDER_ID_MAX, PROVIDER_MAX, LEDGER_KEY_MAX = 80, 32, 80


def check_notice(notice: PaymentNotice) -> None:
    """422 naming the field for a callback whose ids the ledger cannot hold, whatever the provider
    let through (a refused callback is kept in `payment_issues`, so it must fit there too)."""
    limits = (("order_id", notice.order_id, ORDER_ID_MAX), ("provider", notice.provider, PROVIDER_MAX),
              ("transaction_id", notice.transaction_id, LEDGER_KEY_MAX - len(notice.provider) - 1))
    for name, value, most in limits:
        if not 1 <= len(value) <= most:
            raise Invalid("invalid_length", f"缴费回调的 {name} 应为 1 至 {most} 个字符（实际 {len(value)} 个）",
                          f"the callback's {name} must have 1 to {most} characters (it has {len(value)})", name)


def payment_secret(explicit: str | None, data_dir: Path) -> str:
    """The provider secret: the setting, else a key kept in the data dir (created on first use)."""
    if explicit:
        return explicit
    path = data_dir / "payment.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def record_issue(session: Session, notice: PaymentNotice, case_id: str | None, code: str,
                 expected_fen: int | None, body: bytes, at: datetime) -> None:
    """Keep a refused callback for an operator (the case itself is unchanged)."""
    session.add(PaymentIssue(case_id=case_id, provider=notice.provider, order_id=notice.order_id,
                             transaction_id=notice.transaction_id, amount_fen=notice.amount_fen,
                             expected_fen=expected_fen, code=code, at=at, body=body.decode(errors="replace")))
    session.commit()


def issue_json(i: PaymentIssue) -> dict[str, Any]:
    return {"id": i.id, "case_id": i.case_id, "provider": i.provider, "order_id": i.order_id,
            "transaction_id": i.transaction_id, "amount": yuan(i.amount_fen),
            "expected": yuan(i.expected_fen) if i.expected_fen is not None else None, "code": i.code,
            "at": iso_at(i.at)}


def ledger_json(p: Payment) -> dict[str, Any]:
    return {"transaction_id": p.transaction_id.split(":", 1)[-1], "provider": p.provider, "order_id": p.order_id,
            "amount": yuan(p.amount_fen), "status": p.status, "reason": p.reason, "refund_id": p.refund_id,
            "at": iso_at(p.at)}


def provider_for(settings: Any) -> SandboxProvider:
    """The payment provider of this deployment: the built-in sandbox protocol (HMAC-SM3 signed
    callbacks) keyed with the provider secret. A real provider is configured here when one is built."""
    return SandboxProvider(payment_secret(settings.payment_secret, settings.data_dir))
