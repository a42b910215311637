"""People's actions on a single-department case: who may do what, when, with which data.

The contract's order of checks is 401, 404 (a case the caller may not see), 403 (role or
department), 409 (state), 422 (data). Expected dates come from the working-day calendar in force.
"""
from __future__ import annotations

from datetime import date, datetime

from banjian.calendar import WorkingCalendar, load_calendar
from banjian.timefmt import CHINA

FOOD = "food-business-licence"  # amr: promised 10 / statutory 20; steps review (handler), verify (approver), decide


# ---- helpers ---------------------------------------------------------------------------------------
def day(s: str) -> date:
    return datetime.fromisoformat(s).astimezone(CHINA).date()


def due(case: dict, name: str) -> date | None:
    v = case["deadlines"][name]
    return date.fromisoformat(v) if v else None


def calendar(stack) -> WorkingCalendar:
    with stack.sessions() as session:
        return load_calendar(session)


def actions(case: dict) -> list[str]:
    return [h["action"] for h in case["history"]]


def status_of(r, expected: int, code: str | None = None) -> dict:
    assert r.status_code == expected, r.text
    body = r.json()
    if code is not None:
        assert body["detail"]["code"] == code, body
    return body


async def submitted(people) -> dict:
    r = await people.applicant().apply(FOOD)
    assert r.status_code == 201, r.text
    return r.json()


async def accepted(people) -> dict:
    case = await submitted(people)
    case = await people.clerk.ok(case["id"], "accept")
    assert case["status"] == "accepted" and case["current_step"]["id"] == "review"
    return case


async def decided(people) -> dict:
    case = await accepted(people)
    await people.handler.ok(case["id"], "pass")
    await people.approver.ok(case["id"], "pass")
    case = await people.approver.ok(case["id"], "approve", "符合条件，准予许可")
    assert case["status"] == "decided"
    return case


async def concluded(people) -> dict:
    case = await decided(people)
    case = await people.clerk.ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded"
    return case


# ---- extension ---------------------------------------------------------------------------------------
async def test_extension_adds_ten_working_days_once(stack, people):
    case = await accepted(people)
    cid = case["id"]
    cal = calendar(stack)
    accepted_on = day(case["accepted_at"])
    statutory_due = due(case, "statutory_due")
    assert statutory_due == cal.add_working_days(accepted_on, 20)

    status_of(await people.handler.act(cid, "request_extension"), 422, "comment_required")
    status_of(await people.clerk.act(cid, "request_extension", "需要延期"), 403)
    status_of(await people.head.act(cid, "approve_extension"), 409)  # nothing to approve yet
    case = await people.handler.ok(cid, "request_extension", "需补充专家论证，申请延长10个工作日")
    assert case["extension"]["days"] == 10
    assert case["extension"]["requested_by"] == people.handler.username
    assert due(case, "statutory_due") == statutory_due  # nothing moves before the head approves
    assert "approve_extension" in (await people.head.case(cid))["allowed_actions"]
    status_of(await people.handler.act(cid, "request_extension", "再申请一次"), 409)  # one pending already
    status_of(await people.approver.act(cid, "approve_extension"), 403)  # only the agency head

    case = await people.head.ok(cid, "approve_extension", "同意延期")
    new_statutory = cal.add_working_days(statutory_due, 10)
    assert due(case, "statutory_due") == new_statutory
    assert case["clock"]["extended_days"] == 10
    assert case["extension"] is None
    assert case["deadlines"]["provisional"] is cal.is_provisional(accepted_on, new_statutory)
    if new_statutory.year >= 2027:
        assert case["deadlines"]["provisional"] is True  # 2027 has no official schedule yet
    assert actions(case)[-3:] == ["request_extension", "approve_extension", "extension_applied"]
    applied = case["history"][-1]
    assert (applied["actor"], applied["data"]["extended_days"]) == ("system", 10)
    approval = case["history"][-2]
    assert approval["actor"] == people.head.username
    assert approval["data"]["reason"] == "需补充专家论证，申请延长10个工作日"

    # once per case
    status_of(await people.handler.act(cid, "request_extension", "再延一次"), 409)
    status_of(await people.head.act(cid, "approve_extension"), 409)
    assert "request_extension" not in (await people.handler.case(cid))["allowed_actions"]


async def test_extension_cannot_be_approved_after_the_decision(stack, people):
    case = await accepted(people)
    cid = case["id"]
    await people.handler.ok(cid, "request_extension", "需要延期")
    await people.handler.ok(cid, "pass")
    await people.approver.ok(cid, "pass")
    case = await people.approver.ok(cid, "approve")
    statutory_due = due(case, "statutory_due")
    assert "approve_extension" not in (await people.head.case(cid))["allowed_actions"]
    status_of(await people.head.act(cid, "approve_extension"), 409)
    case = await people.head.case(cid)
    assert case["clock"]["extended_days"] == 0 and due(case, "statutory_due") == statutory_due


async def test_an_extension_is_requested_and_approved_only_within_the_statutory_limit(stack, people):
    """行政许可法 art. 42: the extension is decided within the period. Once the statutory limit has ended
    (its red warning recorded) neither the request nor the head's approval is possible."""
    late = (await accepted(people))["id"]
    pending = (await accepted(people))["id"]
    await people.handler.ok(pending, "request_extension", "需要专家论证")
    for cid in (late, pending):
        case = await stack.advance(cid, 40)  # well past 20 working days
        assert "statutory_overdue" in {w["cause"] for w in case["warnings"]}
    r = await people.handler.act(late, "request_extension", "申请延期")
    status_of(r, 409)
    assert "法定办理期限已届满" in r.json()["detail"]["message"]
    assert "request_extension" not in (await people.handler.case(late))["allowed_actions"]
    r = await people.head.act(pending, "approve_extension", "同意延期")
    status_of(r, 409)
    assert "法定办理期限已届满" in r.json()["detail"]["message"]
    case = await people.head.case(pending)
    assert "approve_extension" not in case["allowed_actions"] and case["clock"]["extended_days"] == 0


# ---- steps -----------------------------------------------------------------------------------------------
async def test_return_sends_back_one_step(stack, people):
    case = await accepted(people)
    cid = case["id"]
    # the first step has nothing before it (the state is checked before the comment)
    status_of(await people.handler.act(cid, "return"), 409)
    status_of(await people.handler.act(cid, "return", "退回"), 409)

    case = await people.handler.ok(cid, "pass", "初审通过")
    assert case["current_step"] == {"id": "verify", "name": "审核", "role": "approver", "kind": "review",
                                    "limit": {"value": 3, "unit": "working_days"}}
    status_of(await people.handler.act(cid, "return", "退回"), 403)  # verify is the approver's step
    status_of(await people.approver.act(cid, "return"), 422, "comment_required")
    status_of(await people.approver.act(cid, "return", "   "), 422, "comment_required")
    case = await people.approver.ok(cid, "return", "经营场所平面图与现场不符，请重新审查")
    assert case["status"] == "in_review"
    assert case["current_step"]["id"] == "review"
    last = case["history"][-1]
    assert (last["action"], last["actor"], last["comment"]) == (
        "return", people.approver.username, "经营场所平面图与现场不符，请重新审查")
    assert actions(case) == ["submitted", "accept", "pass", "return"]
    # the step restarts: its limit counts from the return
    assert due(case, "step_due") == calendar(stack).add_working_days(day(last["at"]), 5)


async def test_return_from_the_decision_step_goes_back_to_the_last_review_step(stack, people):
    case = await accepted(people)
    cid = case["id"]
    await people.handler.ok(cid, "pass")
    case = await people.approver.ok(cid, "pass")
    assert case["current_step"]["id"] == "decide"
    status_of(await people.approver.act(cid, "pass"), 409)  # a decision step is decided, not passed
    assert "return" in case["allowed_actions"]
    status_of(await people.handler.act(cid, "return", "退回"), 403)
    status_of(await people.approver.act(cid, "return"), 422, "comment_required")
    case = await people.approver.ok(cid, "return", "审核意见不充分")
    assert case["current_step"]["id"] == "verify"
    assert case["status"] == "in_review"
    assert due(case, "step_due") == calendar(stack).add_working_days(day(case["history"][-1]["at"]), 3)
    assert actions(case)[-3:] == ["pass", "pass", "return"]


# ---- acceptance --------------------------------------------------------------------------------------
async def test_refuse_acceptance_needs_reasons(stack, people):
    case = await submitted(people)
    cid = case["id"]
    status_of(await people.clerk.act(cid, "refuse_acceptance"), 422, "comment_required")
    status_of(await people.clerk.act(cid, "refuse_acceptance", "  "), 422, "comment_required")
    status_of(await people.handler.act(cid, "refuse_acceptance", "不符合"), 403)
    reason = "申请事项依法不需要取得行政许可；如不服，可依法申请行政复议或提起行政诉讼"
    case = await people.clerk.ok(cid, "refuse_acceptance", reason)
    assert case["status"] == "refused"
    assert case["accepted_at"] is None
    assert case["allowed_actions"] == []
    last = case["history"][-1]
    assert (last["action"], last["comment"]) == ("refuse_acceptance", reason)
    status_of(await people.clerk.act(cid, "accept"), 409)
    status_of(await people.applicant().act(cid, "withdraw"), 409)


async def test_refuse_acceptance_while_waiting_for_a_supplement(stack, people):
    case = await submitted(people)
    cid = case["id"]
    await people.clerk.ok(cid, "request_supplement", missing=["营业执照"])
    case = await people.clerk.ok(cid, "refuse_acceptance", "逾期未补正")
    assert case["status"] == "refused"


# ---- withdrawal -------------------------------------------------------------------------------------------
async def test_withdraw_before_decision(stack, people):
    owner, other = people.applicant(), people.applicant(1)
    case = await submitted(people)
    cid = case["id"]
    status_of(await other.act(cid, "withdraw"), 404)  # another applicant cannot even see it
    status_of(await people.clerk.act(cid, "withdraw"), 403)
    assert "withdraw" in (await owner.case(cid))["allowed_actions"]
    case = await owner.ok(cid, "withdraw", "不再需要")
    assert case["status"] == "withdrawn"
    assert case["history"][-1]["role"] == "applicant"
    status_of(await owner.act(cid, "withdraw"), 409)

    # under review (even while the clock is paused) it can still be withdrawn
    case = await accepted(people)
    await people.handler.ok(case["id"], "suspend", "等待补充检测报告")
    case = await owner.ok(case["id"], "withdraw")
    assert case["status"] == "withdrawn" and case["clock"]["paused"] is False
    assert case["current_step"] is None


async def test_no_withdrawal_after_the_decision(stack, people):
    case = await decided(people)
    assert "withdraw" not in (await people.applicant().case(case["id"]))["allowed_actions"]
    status_of(await people.applicant().act(case["id"], "withdraw"), 409)
    status_of(await people.applicant(1).act(case["id"], "withdraw"), 404)


# ---- delivery and rating ---------------------------------------------------------------------------------
async def test_courier_delivery_then_confirm_receipt_concludes(stack, people):
    case = await decided(people)
    cid = case["id"]
    applicant = people.applicant()
    status_of(await people.clerk.act(cid, "deliver", method="courier"), 422, "missing_required")
    status_of(await people.clerk.act(cid, "deliver", method="fax"), 422, "invalid_choice")
    status_of(await people.clerk.act(cid, "deliver"), 422)
    status_of(await people.handler.act(cid, "deliver", method="courier", tracking_no="SF1234567890"), 403)
    status_of(await applicant.act(cid, "confirm_receipt"), 409)  # nothing sent yet

    case = await people.clerk.ok(cid, "deliver", method="courier", tracking_no="SF1234567890")
    assert case["status"] == "delivered"
    assert case["delivery"]["method"] == "courier" and case["delivery"]["tracking_no"] == "SF1234567890"
    assert case["delivered_at"] is not None and case["concluded_at"] is None
    status_of(await people.clerk.act(cid, "deliver", method="electronic"), 409)
    status_of(await applicant.act(cid, "rate", level=5), 409)  # not concluded yet
    status_of(await people.handler.act(cid, "confirm_receipt"), 403)

    case = await applicant.ok(cid, "confirm_receipt")
    assert case["status"] == "concluded"
    assert case["concluded_at"] is not None
    assert actions(case)[-2:] == ["deliver", "confirm_receipt"]


async def test_rating_once_after_conclusion(stack, people):
    case = await concluded(people)
    cid = case["id"]
    applicant = people.applicant()
    status_of(await people.applicant(1).act(cid, "rate", level=5), 404)
    status_of(await people.clerk.act(cid, "rate", level=5), 403)
    for bad in (0, 6, -1, "5", 4.5, True, None):
        status_of(await applicant.act(cid, "rate", level=bad), 422, "invalid_number")
    status_of(await applicant.act(cid, "rate"), 422)
    case = await applicant.ok(cid, "rate", level=5)
    assert case["rating"] == 5
    assert case["history"][-1]["action"] == "rate"
    status_of(await applicant.act(cid, "rate", level=4), 409)
    assert (await applicant.case(cid))["rating"] == 5


# ---- claiming tasks ---------------------------------------------------------------------------------------
async def test_claim_release_and_claimed_by_other_409(stack, people):
    case = await accepted(people)
    cid = case["id"]
    first = people.handler
    second = stack.staff("amr", "handler")  # a colleague

    status_of(await people.clerk.act(cid, "claim"), 403)  # the case waits for a handler
    case = await first.ok(cid, "claim")
    assert case["claimed_by"] == first.username and case["status"] == "in_review"
    status_of(await first.act(cid, "claim"), 409)
    status_of(await second.act(cid, "claim"), 409)
    status_of(await second.act(cid, "pass"), 409)
    status_of(await second.act(cid, "release"), 409)

    others = (await second.get("/api/tasks", params={"scope": "claimed_by_others"})).json()
    assert any(t["case_id"] == cid and t["claimed_by"] == first.username for t in others["items"])
    mine = (await second.get("/api/tasks")).json()
    assert all(t["case_id"] != cid for t in mine["items"])

    case = await first.ok(cid, "release")
    assert case["claimed_by"] is None
    case = await second.ok(cid, "claim")
    assert case["claimed_by"] == second.username
    case = await second.ok(cid, "pass")
    assert case["claimed_by"] is None  # the next step is nobody's yet
    assert case["current_step"]["id"] == "verify"
    assert actions(case)[-4:] == ["claim", "release", "claim", "pass"]


# ---- order of checks -------------------------------------------------------------------------------------
async def test_actions_are_checked_403_before_409_before_422(stack, people):
    case = await submitted(people)
    cid = case["id"]
    r = await stack.http.post(f"/api/cases/{cid}/actions", json={"action": "accept"})
    status_of(r, 401)
    status_of(await people.applicant(1).act(cid, "accept"), 404)  # may not see it
    status_of(await stack.staff("nrp", "clerk").act(cid, "accept"), 404)  # another department's case
    # wrong role: 403 although the state and data are wrong too
    status_of(await people.handler.act(cid, "accept"), 403)
    status_of(await people.handler.act(cid, "deliver", method="fax"), 403)
    status_of(await people.approver.act(cid, "approve_extension"), 403)
    # right role, wrong state: 409 although the data is wrong too
    status_of(await people.clerk.act(cid, "deliver", method="fax"), 409)
    status_of(await people.head.act(cid, "approve_extension"), 409)
    status_of(await people.handler.act(cid, "suspend"), 409)
    # right role and state, bad data: 422
    status_of(await people.clerk.act(cid, "refuse_acceptance"), 422)
    status_of(await people.clerk.act(cid, "request_supplement", missing="营业执照"), 422)
    status_of(await people.clerk.act(cid, "no_such_action"), 422, "unknown_action")
    case = await people.clerk.case(cid)
    assert case["status"] == "submitted" and actions(case) == ["submitted"]  # nothing changed

    # and so after the case's process has ended (here: refused)
    await people.clerk.ok(cid, "refuse_acceptance", "不属于本机关职权范围")
    status_of(await people.handler.act(cid, "accept"), 403)
    status_of(await people.applicant().act(cid, "accept"), 403)
    status_of(await people.clerk.act(cid, "accept"), 409)


async def test_clock_actions_need_a_handler_and_the_right_state(stack, people):
    case = await accepted(people)
    cid = case["id"]
    status_of(await people.clerk.act(cid, "suspend", "中止"), 403)
    status_of(await people.handler.act(cid, "resume"), 409)
    status_of(await people.handler.act(cid, "end_special_procedure"), 409)
    status_of(await people.handler.act(cid, "suspend"), 422, "comment_required")
    status_of(await people.handler.act(cid, "start_special_procedure", kind="hearing"), 422, "unknown_procedure")
    status_of(await people.handler.act(cid, "start_special_procedure", kind="site_inspection", expected_days=-1),
              422, "invalid_number")
    case = await people.approver.ok(cid, "suspend", "等待司法判决")
    assert case["status"] == "suspended"
    status_of(await people.handler.act(cid, "suspend", "再次中止"), 409)
    status_of(await people.handler.act(cid, "pass"), 409)  # no review while suspended
    status_of(await people.handler.act(cid, "request_extension", "延期"), 409)
    case = await people.handler.ok(cid, "resume")
    assert case["status"] == "in_review" and case["current_step"]["id"] == "review"


async def test_window_clerk_takes_the_supplement_of_a_window_case(stack, people):
    """A case filed at the window for someone without an account: the clerk hands in the supplement."""
    clerk = people.staff("amr", "clerk")
    item = (await clerk.get(f"/api/items/{FOOD}")).json()
    required = [m["name"] for m in item["materials"] if m["required"]]
    from banjian.ids import make_citizen_id

    body = {"item_code": FOOD, "applicant": {"kind": "citizen", "name": "窗口申请人",
                                             "id_number": make_citizen_id("330102", date(1970, 5, 5), 321)},
            "form": {f["name"]: {"text": "测试", "number": 1, "boolean": True, "date": "2026-12-01",
                                 "choice": (f.get("choices") or [""])[0]}[f["type"]]
                     for f in item["form"] if f["required"]},
            "materials": [{"name": n} for n in required], "channel": "window"}
    case = status_of(await clerk.post("/api/cases", json=body), 201)
    assert case["channel"] == "window"
    case = await clerk.ok(case["id"], "request_supplement", missing=[required[0]])
    assert "submit_supplement" in case["allowed_actions"]
    case = await clerk.ok(case["id"], "submit_supplement", materials=[required[0]])
    assert case["status"] == "submitted"
    assert actions(case)[-1] == "submit_supplement"
    other = people.staff("nrp", "clerk")
    status_of(await other.act(case["id"], "accept"), 404)


async def test_an_action_with_data_null_is_an_action_without_data(stack, people):
    """Clients that serialise an optional object left out as `null` act as if they had left it out;
    data that is no object at all is still refused."""
    cid = (await people.applicant(0).apply("food-business-licence")).json()["id"]
    r = await people.clerk.post(f"/api/cases/{cid}/actions", json={"action": "accept", "data": None, "comment": None})
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("accepted", "in_review")
    r = await people.handler.post(f"/api/cases/{cid}/actions", json={"action": "pass", "data": [1]})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data"


async def test_an_extension_in_natural_days_is_counted_in_natural_days(stack, people):
    """An item whose `extension_limit` is in natural days (e.g. 延长 10 日 under a law that counts days
    as days): the statutory deadline moves by ten calendar days from its last day, onto a working day;
    it used to move by ten working days (two weeks)."""
    from tests.test_api_cases import as_json, fresh_item

    item = fresh_item(extension_limit={"value": 10, "unit": "natural_days"})
    r = await stack.http.post("/api/items", content=as_json(item).encode(),
                              headers={**await people.admin.headers(), "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    case = (await people.applicant().apply(item["code"])).json()
    cid = case["id"]
    case = await people.clerk.ok(cid, "accept")
    cal, statutory_due = calendar(stack), due(case, "statutory_due")
    promised_due = due(case, "promised_due")
    case = await people.handler.ok(cid, "request_extension", "需现场核查，申请延长10日")
    assert (case["extension"]["days"], case["extension"]["unit"]) == (10, "natural_days")
    case = await people.head.ok(cid, "approve_extension", "同意延期")
    assert due(case, "statutory_due") == cal.add_limit(statutory_due, 10, "natural_days")
    assert due(case, "statutory_due") != cal.add_working_days(statutory_due, 10)
    assert due(case, "promised_due") == cal.add_limit(promised_due, 10, "natural_days")
    assert (case["clock"]["extended_days"], case["clock"]["extended_unit"]) == (10, "natural_days")
    assert case["history"][-1]["data"] == {"extended_days": 10, "unit": "natural_days"}
    # the case page says which days
    from tests.pages_client import PageClient

    browser = PageClient(stack)
    try:
        await browser.login(people.handler.username)
        page = (await browser.get(f"/cases/{cid}")).text
    finally:
        await browser.close()
    assert "已延期 10 个自然日" in page and "延长 10 个自然日" in page
