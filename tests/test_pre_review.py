"""Online pre-review (网上预审): the acceptance clock starts only at formal receipt (time skipping)."""
from __future__ import annotations

import asyncio
import re
from datetime import date

ITEM = "food-business-licence"


async def history_with(user, case_id: str, action: str, cause: str | None = None) -> list[dict]:
    for _ in range(100):
        history = (await user.get(f"/api/cases/{case_id}/history")).json()
        if any(h["action"] == action and (cause is None or h["data"].get("cause") == cause) for h in history):
            return history
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {action} {cause or ''} in the history")


async def test_pre_review_does_not_start_the_acceptance_clock(stack, people):
    u, clerk = people.applicant(0), people.clerk
    r = await u.apply(ITEM, pre_review=True)
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]
    assert case["status"] == "pre_review" and case["deadlines"]["acceptance_due"] is None
    assert (await clerk.act(cid, "accept")).status_code == 409
    assert (await clerk.case(cid))["allowed_actions"][-2:] == ["pre_review_pass", "pre_review_return"]
    inbox = (await clerk.get("/api/tasks", params={"scope": "department", "limit": 1000})).json()["items"]
    assert cid in {t["case_id"] for t in inbox}
    assert (await u.act(cid, "confirm_submission")).status_code == 409  # not passed yet
    assert (await people.handler.act(cid, "pre_review_pass")).status_code == 403
    assert (await people.applicant(1).act(cid, "confirm_submission")).status_code == 404

    case = await stack.advance(cid, 10)  # far past 5 working days: nothing may be deemed accepted
    assert case["status"] == "pre_review" and case["accepted_at"] is None
    history = await history_with(u, cid, "warning", "pre_review_overdue")
    assert "deemed_acceptance" not in {h["action"] for h in history}
    assert [w["level"] for w in (await u.case(cid))["warnings"]] == ["notice"]

    r = await clerk.act(cid, "pre_review_return")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "comment"
    case = await clerk.ok(cid, "pre_review_return", "营业场所平面图不清晰", missing=["主要设备设施布局及操作流程文件"])
    assert case["status"] == "pre_review"
    assert (await clerk.act(cid, "pre_review_pass")).status_code == 409  # waits for the applicant
    assert "pre_review_resubmit" in (await u.case(cid))["allowed_actions"]
    assert cid not in {t["case_id"] for t in (await clerk.get("/api/tasks", params={"scope": "department"})).json()["items"]}
    await u.ok(cid, "pre_review_resubmit", materials=["主要设备设施布局及操作流程文件"])
    await clerk.ok(cid, "pre_review_pass")
    case = await u.ok(cid, "confirm_submission")
    assert case["status"] == "submitted"
    received = date.fromisoformat(case["submitted_at"][:10])
    acceptance_due = date.fromisoformat(case["deadlines"]["acceptance_due"])
    assert acceptance_due > received and (acceptance_due - date.today()).days >= 10  # counted from formal receipt
    actions = [h["action"] for h in (await u.get(f"/api/cases/{cid}/history")).json()]
    assert actions[:1] == ["pre_review_submitted"] and actions[-2:] == ["confirm_submission", "formal_submission"]
    for action in ("pre_review_pass", "pre_review_return"):  # pre-review actions on a formal case
        assert (await clerk.act(cid, action, "x")).status_code == 409

    case = await stack.advance(cid, 8)  # now the acceptance clock runs: deemed acceptance
    assert case["status"] in ("accepted", "in_review")
    assert "deemed_acceptance" in {h["action"] for h in case["history"]}


async def test_the_applicant_pages_say_where_the_pre_review_stands_and_take_new_files(stack, people):
    """At each point of a pre-review the applicant's case page says what happens next; a returned one
    says what to fix and takes the corrected files with 重新提交预审."""
    from tests.pages_client import PDF, PageClient

    u, clerk = people.applicant(0), people.clerk
    cid = (await u.apply(ITEM, pre_review=True)).json()["id"]
    case = await u.case(cid)
    assert case["pre_review"]["due"] and case["pre_review"]["round"] == 1
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/cases/{cid}")).text
        assert "网上预审中" in page and "预审期限" in page and "正式提交后开始计算" in page

        await clerk.ok(cid, "pre_review_return", "营业场所平面图不清晰", missing=["主要设备设施布局及操作流程文件"])
        page = (await browser.get(f"/cases/{cid}")).text
        assert "预审退回，请修改后重新提交" in page and "营业场所平面图不清晰" in page
        assert "需补正：主要设备设施布局及操作流程文件" in page
        form = (await browser.get(f"/cases/{cid}?action=pre_review_resubmit")).text
        assert 'type="file"' in form and "主要设备设施布局及操作流程文件" in form
        r = await browser.submit(f"/cases/{cid}/actions", form,
                                 {"action": "pre_review_resubmit", "request_id": "resubmit-1"},
                                 files={"supplement_0": ("plan.pdf", PDF, "application/pdf")})
        assert r.status_code == 303, r.text
        case = await u.case(cid)
        assert [m["file_id"] is not None for m in case["materials"] if m["name"] == "主要设备设施布局及操作流程文件"][-1:] == [True]
        assert case["pre_review"] == {**case["pre_review"], "returned": False, "round": 2}

        await clerk.ok(cid, "pre_review_pass")
        page = (await browser.get(f"/cases/{cid}")).text
        assert "预审已通过，请确认正式提交" in page and "确认正式提交" in page
        mine = (await browser.get("/my/cases")).text  # the list says what the applicant must do, too
        assert f'<a href="/cases/{cid}">去确认正式提交</a>' in mine
    finally:
        await browser.close()


async def test_an_application_in_pre_review_can_be_withdrawn(stack, people):
    """Not yet formally received, a pre-review may be given up by its applicant (any time before the decision)."""
    u = people.applicant(0)
    cid = (await u.apply(ITEM, pre_review=True)).json()["id"]
    assert "withdraw" in (await u.case(cid))["allowed_actions"]
    case = await u.ok(cid, "withdraw", "不办了")
    assert case["status"] == "withdrawn"
    r = await u.act(cid, "withdraw")
    assert r.status_code == 409 and "作出决定" not in r.json()["detail"]["message"]


async def test_an_applicant_asks_for_pre_review_on_the_apply_page(stack, people):
    """The apply page offers 先申请网上预审; ticked, the case waits for the window's pre-review and the
    confirmation says so (no acceptance limit yet)."""
    import re

    from tests.pages_client import PageClient
    from tests.test_pages import apply_data, material_files

    u = people.applicant(0)
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = await browser.get(f"/apply/{ITEM}")
        assert 'name="pre_review"' in page.text and "先申请网上预审" in page.text
        r = await browser.submit(f"/apply/{ITEM}", page.text, {**apply_data(page.text), "pre_review": "true"},
                                 material_files(page.text))
        assert r.status_code == 303, r.text
        done = (await browser.get(r.headers["location"])).text
        assert "预审申请已提交" in done and "确认正式提交" in done and "5 个工作日内受理" not in done
    finally:
        await browser.close()
    cid = re.search(r"/cases/(\d+)", r.headers["location"]).group(1)
    case = await u.case(cid)
    assert case["status"] == "pre_review" and case["deadlines"]["acceptance_due"] is None
    clerk = PageClient(stack)
    try:  # a clerk filing at the window files formally: no pre-review box
        await clerk.login(people.clerk.username)
        assert 'name="pre_review"' not in (await clerk.get(f"/apply/{ITEM}")).text
    finally:
        await clerk.close()


async def test_the_way_forward_comes_before_withdraw_on_a_returned_pre_review(stack, people):
    from tests.pages_client import PageClient

    u, clerk = people.applicant(0), people.clerk
    cid = (await u.apply(ITEM, pre_review=True)).json()["id"]
    await clerk.ok(cid, "pre_review_return", "请补充平面图")
    browser = PageClient(stack)
    try:
        await browser.login(u.username)
        page = (await browser.get(f"/cases/{cid}")).text
    finally:
        await browser.close()
    assert page.index(">重新提交预审</button>") < page.index(">撤回</button>")


async def test_the_clerks_green_button_on_a_pre_review_is_the_pre_review_not_claiming_it(stack, people):
    """Task operations (签收, 转办, …) come after what moves the case on: the clerk's way forward
    is 预审通过, with 签收 still offered after it."""
    from tests.pages_client import PageClient

    cid = (await people.applicant(0).apply(ITEM, pre_review=True)).json()["id"]
    assert "claim" in (await people.clerk.case(cid))["allowed_actions"]
    browser = PageClient(stack)
    try:
        await browser.login(people.clerk.username)
        page = (await browser.get(f"/cases/{cid}")).text
    finally:
        await browser.close()
    buttons = re.findall(r'<button class="button( button--secondary| button--warning)?" type="submit">([^<]+)</button>',
                         page[page.index('id="actions-title"'):])
    assert buttons[0] == ("", "预审通过"), buttons  # the one primary (green) button
    assert ("", "签收") not in buttons and (" button--secondary", "签收") in buttons
    names = [name for _, name in buttons]
    assert names.index("预审通过") < names.index("签收")


def test_the_case_pages_buttons_put_the_task_operations_between_the_way_forward_and_refusals():
    from api.routes.pages.common import ordered_actions

    assert ordered_actions(["claim", "withdraw", "accept", "transfer", "request_supplement", "refuse_acceptance"]) == \
        ["accept", "request_supplement", "claim", "transfer", "withdraw", "refuse_acceptance"]
