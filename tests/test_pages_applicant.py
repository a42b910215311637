"""What the applicant reads on the pages, in words: the reason and the appeal rights of a refusal or
a denial, what a supplement notice asks for, people named by their names, dates in Chinese, the
e-licence that will stand in for a material said before submitting, a guide page that says when an
item is not for the caller's kind of account, and the printable licence laid out for a phone."""
from __future__ import annotations

import re
import uuid

from tests.pages_client import PageClient, hidden
from tests.test_licence_verify_page import holder_and_licence

ITEM = "food-business-licence"
ORG_ONLY = "construction-permit-joint"  # serves organisations only



def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_a_supplement_notice_and_a_refusal_tell_the_applicant_what_and_why(stack, people, browser):
    applicant = people.applicant(0)
    clerk = stack.user(f"clerk-{uuid.uuid4().hex[:6]}", "clerk", department="amr", name="市场监管综合窗口")
    case = (await applicant.apply(ITEM)).json()
    await clerk.ok(case["id"], "request_supplement", "身份证明不清晰，请重新上传", missing=["经营者身份证明"])
    await browser.login(applicant.username)
    page = text_of((await browser.get(f"/cases/{case['id']}")).text)
    assert "受理截止" in page  # still waiting for acceptance
    assert "请补正材料" in page and "需补正：经营者身份证明" in page and "窗口告知：身份证明不清晰，请重新上传" in page
    # the history says what was asked, by the department's name, not a login name
    assert "补正告知 （需补正：经营者身份证明） · 市场监管综合窗口（窗口受理）" in page and clerk.username not in page

    await clerk.ok(case["id"], "refuse_acceptance", "申请事项不属于本机关职权范围")
    page = text_of((await browser.get(f"/cases/{case['id']}")).text)
    assert "不予受理 理由：申请事项不属于本机关职权范围" in page
    assert "受理截止" not in page  # a limit of a case that ended unaccepted says nothing any more
    assert "六十日内依法申请行政复议" in page and "六个月内依法向人民法院提起行政诉讼" in page
    # staff see the record, not the notice addressed to the applicant
    staff = PageClient(stack)
    try:
        await staff.login(clerk.username)
        assert "申请行政复议" not in (await staff.get(f"/cases/{case['id']}")).text
    finally:
        await staff.close()


async def test_a_denial_shows_its_reason_and_rights_and_withdraw_is_never_the_green_button(stack, people, browser):
    applicant = people.applicant(1)
    case = (await applicant.apply(ITEM)).json()
    year, month, day = (int(x) for x in case["form"]["planned_opening_date"].split("-"))
    await browser.login(applicant.username)
    page = await browser.get(f"/cases/{case['id']}")
    assert re.search(r'class="button button--warning" type="submit">撤回</button>', page.text)
    opened = await browser.get(f"/cases/{case['id']}?action=withdraw")
    assert "撤回后本申请终止办理" in opened.text and 'class="button button--warning" type="submit">确认' in opened.text
    text = text_of(page.text)
    assert f"{year}年{month}月{day}日" in text  # a date field as people read dates
    assert case["form"]["planned_opening_date"] not in text
    assert "承诺办结 受理后开始计算" in text

    await people.clerk.ok(case["id"], "accept")
    handler, approver = people.staff("amr", "handler"), people.staff("amr", "approver")
    await handler.ok(case["id"], "pass")
    await approver.ok(case["id"], "pass")
    await approver.ok(case["id"], "deny", "经营场所与污染源距离不符合要求")
    text = text_of((await browser.get(f"/cases/{case['id']}")).text)
    assert "不予许可 理由：经营场所与污染源距离不符合要求" in text and "申请行政复议" in text


async def test_the_apply_form_says_which_e_licence_will_be_attached_before_submitting(stack, people, browser):
    holder, _, _ = await holder_and_licence(stack, people, 2)
    await browser.login(holder.username)
    page = text_of((await browser.get(f"/apply/{ITEM}")).text)
    assert "已有有效电子证照“营业执照”" in page and "提交时自动调取，无需上传" in page
    other = people.applicant(3)  # holds none: nothing promised
    await browser.login(other.username)
    assert "提交时自动调取，无需上传" not in (await browser.get(f"/apply/{ITEM}")).text
    # a required choice left empty asks to choose, not to fill in
    page = await browser.get(f"/apply/{ITEM}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = await browser.http.post(f"/apply/{ITEM}", data={"csrf_token": csrf, "idempotency_key": uuid.uuid4().hex},
                                files={"_": ("", b"", "application/octet-stream")})
    assert r.status_code == 422 and "请选择主体业态" in r.text
    await browser.login(holder.username)  # the holder's list shows dates in Chinese
    my = text_of((await browser.get("/my/licences")).text)
    assert re.search(r"发证日期 \d{4}年\d{1,2}月\d{1,2}日", my) and not re.search(r"发证日期 \d{4}-", my)


async def test_the_guide_says_when_an_item_is_not_for_the_callers_kind_of_account(stack, people, browser):
    citizen = people.applicant(4)
    await browser.login(citizen.username)
    page = await browser.get(f"/guide/{ORG_ONLY}")
    assert "您当前登录的账户不能在线申请。请使用单位账户登录后申请。" in page.text
    assert f'href="/apply/{ORG_ONLY}"' in page.text  # the contract's link stays
    assert "不能在线申请" not in (await browser.get(f"/guide/{ITEM}")).text  # an item for citizens too
    company = stack.applicant(organisation=True)
    await browser.login(company.username)
    assert "不能在线申请" not in (await browser.get(f"/guide/{ORG_ONLY}")).text


async def test_the_printable_licence_fits_a_phone_and_prints_dates_in_chinese(stack, people, browser):
    holder, _, licence_id = await holder_and_licence(stack, people, 5)
    await browser.login(holder.username)
    doc = await browser.get(f"/api/licences/{licence_id}/document")
    assert doc.status_code == 200
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in doc.text
    assert "@media (max-width: 640px)" in doc.text
    assert re.search(r"<th>发证日期</th><td>\d{4}年\d{1,2}月\d{1,2}日</td>", doc.text)


async def test_a_forms_address_opened_as_a_page_leads_to_the_page_the_form_is_on(stack, browser):
    """A phone restoring a discarded tab, or back then forward, opens a form's POST address with a GET:
    the page the form is on, not a 405 page (不支持该请求方法) with only a link home."""
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    await browser.login(applicant.username)
    cid = case["id"]
    for path, page in ((f"/cases/{cid}/actions", f"/cases/{cid}"), (f"/cases/{cid}/pay", f"/cases/{cid}"),
                       (f"/cases/{cid}/ask", f"/cases/{cid}"), (f"/cases/{cid}/book", f"/cases/{cid}"),
                       (f"/cases/{cid}/appointments/7/cancel", f"/cases/{cid}"),
                       (f"/guide/{ITEM}/ask", f"/guide/{ITEM}"),
                       ("/guide/marriage-registration-appointment/appointments/7/reschedule",
                        "/guide/marriage-registration-appointment/book")):
        r = await browser.get(path)
        assert (r.status_code, r.headers.get("location")) == (303, page), path
    r = await browser.get(f"/cases/{cid}/actions", follow_redirects=True)
    assert r.status_code == 200 and "食品经营许可" in r.text
    # the API keeps its 405 naming the methods
    api = await applicant.get(f"/api/cases/{cid}/actions")
    assert api.status_code == 405 and api.json()["detail"]["code"] == "method_not_allowed"


def test_the_progress_bar_shows_the_decision_done_once_the_case_is_decided():
    """已决定 or 待缴费 beside 办理结果 准予许可: the 决定 step is done and 送达 is the current one
    (it read 决定（进行中）); refused or withdrawn cases leave the steps to come undone."""
    from api.routes.pages.common import progress

    def states(status: str) -> list[str]:
        return [s["state"] for s in progress(status)]

    assert states("in_review") == ["done", "current", "todo", "todo"]
    assert states("decided") == ["done", "done", "done", "current"]
    assert states("awaiting_payment") == ["done", "done", "done", "current"]
    assert states("concluded") == ["done"] * 4
    assert states("withdrawn") == ["todo"] * 4


async def test_a_supplement_posted_after_the_session_ended_says_the_files_must_be_chosen_again(stack, people, browser):
    """补正 answered on a phone after the login ran out: the files are not kept without a user to own
    them, and the login page now says so (it said only 您填写的内容保留如下)."""
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "request_supplement", "营业执照不清晰", missing=["营业执照"])
    await browser.login(applicant.username)
    form = (await browser.get(f"/cases/{case['id']}", params={"action": "submit_supplement"})).text
    browser.http.cookies.delete("banjian_token")
    r = await browser.submit(f"/cases/{case['id']}/actions", form, {
        "action": "submit_supplement", "request_id": hidden(form, "request_id")})
    assert r.status_code == 401 and "登录已超时，“提交补正”尚未提交" in r.text
    assert "已选择的材料文件未保存，请重新选择" in r.text
    assert (await applicant.case(case["id"]))["status"] == "supplement_requested"


async def test_my_cases_past_the_last_page_is_not_told_it_has_no_cases(stack, browser):
    """我的办件 page 2 (a link kept, cases withdrawn meanwhile) said 您还没有办件 to an applicant who
    has cases, and a page had no way back but the browser's: it says so and links page one."""
    applicant = stack.applicant()
    assert (await applicant.apply(ITEM)).status_code == 201
    await browser.login(applicant.username)
    page = text_of((await browser.get("/my/cases", params={"page": 2})).text)
    assert "您还没有办件" not in page and "第 2 页没有办件。 返回第一页" in page
    first = text_of((await browser.get("/my/cases")).text)
    assert "共 1 件" in first and "上一页" not in first and "下一页" not in first


def test_a_case_closed_early_keeps_the_steps_it_had_done():
    """A withdrawn or terminated case showed every step as 未开始, 受理 included after its acceptance."""
    from api.routes.pages.common import progress

    def states(status, accepted=None):
        return [s["state"] for s in progress(status, accepted)]

    assert states("withdrawn", "2026-12-01T09:00:00+08:00") == ["done", "todo", "todo", "todo"]
    assert states("terminated", "2026-12-01T09:00:00+08:00") == ["done", "todo", "todo", "todo"]
    assert states("withdrawn") == ["todo"] * 4  # withdrawn before acceptance: nothing was done
    assert states("refused") == ["todo"] * 4  # refused at acceptance
    assert states("in_review", "2026-12-01T09:00:00+08:00") == ["done", "current", "todo", "todo"]
    assert states("concluded", "2026-12-01T09:00:00+08:00") == ["done"] * 4
