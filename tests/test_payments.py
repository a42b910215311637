"""Online payment (网上缴费): an approved case that charges waits for its fee; callbacks count once."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

from banjian.calendar import load_calendar
from banjian.payments import SIGNATURE_HEADER, provider_for

ITEM = "driving-licence-replacement"  # charges 10 yuan (工本费)


async def approved(people) -> tuple[object, str, dict]:
    """A driving-licence case approved by the police department: it now waits for its fee."""
    u = people.applicant(0)
    r = await u.apply(ITEM)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    await people.staff("psb", "clerk").ok(cid, "accept")
    await people.staff("psb", "handler").ok(cid, "pass")
    case = await people.staff("psb", "approver").ok(cid, "approve")
    return u, cid, case


def signed(stack, case: dict, amount: str, txn: str | None = None, secret: str | None = None) -> tuple[bytes, dict]:
    body = json.dumps({"provider": "sandbox", "order_id": case["payment"]["order_id"], "case_id": case["id"],
                       "transaction_id": txn or f"T{uuid.uuid4().hex[:16]}", "amount": amount,
                       "paid_at": datetime.now(UTC).isoformat()}).encode()
    provider = provider_for(stack.settings)
    if secret is not None:
        provider.key = secret.encode()
    return body, {SIGNATURE_HEADER: provider.sign(body), "Content-Type": "application/json"}


async def callback(stack, body: bytes, headers: dict):
    return await stack.http.post("/api/payments/callback", content=body, headers=headers)


def past_payment_due(case: dict) -> float:
    """Days to advance a case awaiting its fee until its payment deadline has ended: 15 natural days
    from the decision, later when the 15th day is not a working day (a weekend, a holiday)."""
    due = datetime.fromisoformat(case["deadlines"]["payment_due"]).date()
    return (due - datetime.fromisoformat(case["clock"]["today"]).date()).days + 1


def actions(case: dict) -> list[str]:
    return [h["action"] for h in case["history"]]


async def test_approval_waits_for_the_fee_and_duplicate_callbacks_count_once(stack, people):
    u, cid, case = await approved(people)
    assert case["status"] == "awaiting_payment"
    assert case["payment"]["amount"] == "10.00" and case["payment"]["status"] == "awaiting"
    due = datetime.fromisoformat(case["deadlines"]["payment_due"]).date()
    with stack.sessions() as session:  # 15 natural days, onto a working day when the 15th is not one
        expected = load_calendar(session).add_limit(datetime.fromisoformat(case["decided_at"]).date(), 15,
                                                    "natural_days")
    assert due == expected
    assert "payment_requested" in actions(case)
    clerk = people.staff("psb", "clerk")
    assert (await clerk.act(cid, "deliver", method="electronic")).status_code == 409  # not before the payment
    assert cid not in {t["case_id"] for t in (await clerk.get("/api/tasks", params={"scope": "department"})).json()["items"]}

    body, headers = signed(stack, case, "10.00")
    answers = await asyncio.gather(*[callback(stack, body, headers) for _ in range(3)])  # at once
    assert [r.status_code for r in answers] == [200, 200, 200], [r.text for r in answers]
    # the same transaction is one update (its id names it): each answer repeats the one outcome
    assert {r.json()["outcome"] for r in answers} <= {"paid", "duplicate"}
    again = await callback(stack, body, headers)  # later, once more
    assert again.status_code == 200 and again.json()["outcome"] in ("paid", "duplicate")

    case = await u.case(cid)
    assert case["status"] == "decided" and case["payment"]["status"] == "paid"
    assert actions(case).count("payment_received") == 1
    assert case["deadlines"]["delivery_due"] is not None
    ledger = (await u.get(f"/api/payments/cases/{cid}")).json()
    assert [(p["status"], p["amount"]) for p in ledger["items"]] == [("paid", "10.00")]

    # paying twice: the second payment is refunded, never counted
    body2, headers2 = signed(stack, case, "10.00")
    r = await callback(stack, body2, headers2)
    assert r.status_code == 200 and r.json()["outcome"] == "refunded"
    case = await u.case(cid)
    assert actions(case).count("payment_received") == 1 and actions(case).count("payment_refunded") == 1
    ledger = (await u.get(f"/api/payments/cases/{cid}")).json()
    assert sorted(p["status"] for p in ledger["items"]) == ["paid", "refunded"]

    case = await clerk.ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded"


async def test_bad_signature_is_401_and_nothing_is_recorded(stack, people):
    u, cid, case = await approved(people)
    body, headers = signed(stack, case, "10.00", secret="not-the-provider-secret")
    r = await callback(stack, body, headers)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_signature"
    r = await callback(stack, body, {"Content-Type": "application/json"})  # unsigned
    assert r.status_code == 401
    case = await u.case(cid)
    assert case["status"] == "awaiting_payment" and "payment_received" not in actions(case)
    assert (await u.get(f"/api/payments/cases/{cid}")).json()["total"] == 0
    issues = (await people.admin.get("/api/payments/issues", params={"limit": 500})).json()["items"]
    assert cid not in {i["case_id"] for i in issues}


async def test_amount_mismatch_is_422_and_kept_for_an_operator(stack, people):
    u, cid, case = await approved(people)
    body, headers = signed(stack, case, "1.00")
    r = await callback(stack, body, headers)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "amount_mismatch"
    assert r.json()["detail"]["field"] == "amount"
    case = await u.case(cid)
    assert case["status"] == "awaiting_payment" and "payment_received" not in actions(case)
    issues = (await people.admin.get("/api/payments/issues", params={"limit": 500})).json()["items"]
    mine = [i for i in issues if i["case_id"] == cid]
    assert [(i["code"], i["amount"], i["expected"]) for i in mine] == [("amount_mismatch", "1.00", "10.00")]
    assert (await u.get("/api/payments/issues")).status_code == 403


async def test_sandbox_pays_twice_and_the_case_counts_once(stack, people):
    u, cid, _ = await approved(people)
    assert (await people.applicant(1).post(f"/api/payments/sandbox/{cid}/pay")).status_code == 404
    r = await u.post(f"/api/payments/sandbox/{cid}/pay")
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["callbacks"]) == 2 and {c["status_code"] for c in out["callbacks"]} == {200}
    assert {c["outcome"] for c in out["callbacks"]} <= {"duplicate", "paid"}
    case = await u.case(cid)
    assert case["status"] == "decided" and actions(case).count("payment_received") == 1
    assert (await u.post(f"/api/payments/sandbox/{cid}/pay")).status_code == 409  # nothing due any more


async def test_payment_timeout_terminates_the_case(stack, people):
    u, cid, case = await approved(people)
    case = await stack.advance(cid, past_payment_due(case))
    for _ in range(50):
        case = await u.case(cid)
        if case["status"] == "terminated":
            break
        await asyncio.sleep(0.1)
    assert case["status"] == "terminated" and case["payment"]["status"] == "expired"
    expired = [h for h in case["history"] if h["action"] == "payment_expired"]
    assert len(expired) == 1 and expired[0]["actor"] == "system" and expired[0]["data"]["notified"] == "applicant"
    assert "缴费期限" in expired[0]["comment"]
    # money arriving after the end is sent back and recorded, never counted
    body, headers = signed(stack, case, "10.00")
    r = await callback(stack, body, headers)
    assert r.status_code == 200 and r.json()["outcome"] == "refunded"
    ledger = (await u.get(f"/api/payments/cases/{cid}")).json()["items"]
    assert [(p["status"], p["reason"]) for p in ledger] == [("refunded", "case_closed")]


async def test_the_licence_comes_with_the_paid_fee_and_never_for_an_unpaid_case(stack, people):
    """A driving licence is issued once its fee is paid: while the case waits (and after it ends unpaid)
    the applicant holds no valid licence from it."""
    u, cid, case = await approved(people)
    assert case["status"] == "awaiting_payment" and case["result"].get("licence_id") is None
    assert "licence_issued" not in actions(case)
    assert (await u.post(f"/api/payments/sandbox/{cid}/pay")).status_code == 200
    case = await u.case(cid)
    assert actions(case).index("licence_issued") > actions(case).index("payment_received")
    lid = case["result"]["licence_id"]
    assert lid and (await stack.http.get(f"/api/licences/{lid}/verify")).json()["valid"] is True

    v, unpaid, case = await approved(people)
    held = (await v.get("/api/me/licences")).json()["total"]
    case = await stack.advance(unpaid, past_payment_due(case))
    for _ in range(50):
        case = await v.case(unpaid)
        if case["status"] == "terminated":
            break
        await asyncio.sleep(0.1)
    assert case["status"] == "terminated" and case["result"].get("licence_id") is None
    assert "licence_issued" not in actions(case)
    assert (await v.get("/api/me/licences")).json()["total"] == held


async def test_an_approved_case_waiting_for_its_fee_cannot_be_withdrawn(stack, people):
    """Withdrawal is "any time before decision" (domain): the approval is the decision, so a case
    waiting for its fee cannot be withdrawn; left unpaid, it ends with the payment period (above)."""
    u, cid, case = await approved(people)
    assert case["status"] == "awaiting_payment"
    assert "withdraw" not in (await u.case(cid))["allowed_actions"]
    r = await u.act(cid, "withdraw")
    assert r.status_code == 409 and r.json()["detail"]["code"] == "invalid_state", r.text
    after = await u.case(cid)
    assert after["status"] == "awaiting_payment" and "withdraw" not in actions(after)


async def test_the_wait_for_the_payment_is_not_the_departments_time(stack, people):
    """Fourteen days awaiting the fee raise no warning, and the case still concludes on time."""
    from banjian.db import Case

    u, cid, case = await approved(people)
    before = case["warnings"]  # a one-day item may have had its notice during review
    case = await stack.advance(cid, 14)
    assert case["status"] == "awaiting_payment" and case["warnings"] == before
    assert (await u.post(f"/api/payments/sandbox/{cid}/pay")).status_code == 200
    case = await people.staff("psb", "clerk").ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded" and case["warnings"] == before
    with stack.sessions() as session:
        row = session.get(Case, cid)
        assert row.on_time is True and row.overdue is False
        assert row.working_days_used is not None and row.working_days_used <= 2


async def test_cases_awaiting_payment_are_a_figure(stack, people):
    """A case waiting for its fee counts as awaiting payment, not as overdue (other tests' cases of the
    item share the stack: the figures are compared before and after)."""
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")

    async def figures() -> dict:
        r = await sup.get("/api/supervision/stats", params={"item_code": ITEM})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items[0] if items else {"awaiting_payment": 0, "overdue": 0}

    before = await figures()
    await approved(people)
    row = await figures()
    assert row["awaiting_payment"] == before["awaiting_payment"] + 1 and row["overdue"] == before["overdue"]


async def test_a_fee_paid_at_the_window_does_not_make_the_case_wait(stack, people):
    """An item that charges a fixed fee but takes no payment online (`channels.online_payment: false`):
    the approved case goes on to delivery at once, and its history tells the applicant to pay at the window."""
    from tests.test_rectification import new_item

    fees = {"charged": True, "items": [{"name": "证书工本费", "standard": "10元/本", "amount": 10}]}
    item = await new_item(stack, fees=fees)
    assert (await people.admin.get(f"/api/items/{item}")).json()["channels"]["online_payment"] is False
    u = people.applicant(0)
    cid = (await u.apply(item)).json()["id"]
    case = await people.clerk.ok(cid, "accept")
    while case["current_step"]["kind"] == "review":
        case = await people.staff("amr", case["current_step"]["role"]).ok(cid, "pass", "同意")
    case = await people.approver.ok(cid, "approve", "准予许可")
    assert case["status"] == "decided" and case["payment"] is None, case["status"]
    assert "payment_requested" not in actions(case)
    [note] = [h for h in case["history"] if h["action"] == "fee_at_window"]
    assert note["actor"] == "system" and "窗口" in note["comment"] and "证书工本费" in note["comment"]
    assert note["data"]["fee_items"] == [{"name": "证书工本费", "standard": "10元/本"}]
    case = await people.clerk.ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded"
