"""What the window prints for the applicant to take home (窗口文书): 收件回执, 补正材料通知书,
受理通知书 and 不予受理决定书 — each with the case number, the item, the applicant, the date of the act
from the record, the time limit and how it is counted, the issuing body and its seal, the appeal
rights on a refusal, an A4 print layout without the site's navigation, and a QR code of a public
progress page that opens without a login."""
from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

from api.routes.pages.cases import provisional_due
from api.routes.pages.common import zh_date
from api.throttle import AddressLimiter
from banjian.ids import make_citizen_id
from tests.pages_client import PageClient, text_of

ITEM = "individual-business-registration"
ISSUER = "市市场监督管理局"




def day(value: str) -> str:
    return zh_date(date.fromisoformat(value[:10]))


async def window_case(clerk, seq: int, item: str = ITEM) -> dict:
    """A case the clerk files at the window for a walk-in citizen (no account of their own)."""
    r = await clerk.apply(item, applicant={"kind": "citizen", "id_number": make_citizen_id("330106", seq=seq),
                                           "name": "王小明"}, channel="window")
    assert r.status_code == 201, r.text
    return r.json()


def progress_address(html: str) -> str:
    """The progress address printed under the notice: in words for the paper, and a link to tap on a phone
    (which cannot scan the QR code on its own screen) that opens the same address."""
    link = re.search(r'访问 <a class="progress-link" href="([^"]+)">([^<]+)</a></p>', html)
    assert link is not None and link.group(1) == link.group(2), html[-800:]
    assert "扫描本页二维码" in html  # not 右上角: on a phone the code stands above the text
    return link.group(1).replace("&amp;", "&")


def printed_layout(html: str) -> None:
    """A4 page, a print rule that hides the toolbar, none of the site's navigation, an issuer and a seal."""
    assert "@page { size: A4" in html and "@media print" in html and ".noprint { display: none" in html
    assert 'class="toolbar noprint"' in html
    assert "主导航" not in html and 'class="header"' not in html and "退出" not in html
    assert f"{ISSUER}（盖章）" in html and "（印章）" in html


async def test_the_receipt_lists_what_was_received_and_its_qr_code_opens_the_public_progress(stack, people, browser):
    clerk = people.clerk
    case = await window_case(clerk, 31)
    await browser.login(clerk.username)
    page = await browser.get(f"/cases/{case['id']}")
    assert f'href="/cases/{case["id"]}/documents/receipt"' in page.text  # 文书打印 on the case page
    r = await browser.get(f"/cases/{case['id']}/documents/receipt")
    assert r.status_code == 200, r.text[:500]
    printed_layout(r.text)
    said = text_of(r.text)
    assert "收件回执" in said and case["case_no"] in said and "个体工商户设立登记" in said
    assert f"本机关于{day(case['received_at'])}收到你提出的" in said
    for m in case["materials"]:
        assert m["name"] in said
    assert f"将于{day(case['deadlines']['acceptance_due'])}前" in said and "逾期未作决定的，自收到申请材料之日起即为受理" in said
    assert "不代表申请已被受理" in said
    assert case["applicant"]["id_number"] not in said and "330***********" in said  # masked on paper
    # the QR code scales to its box (a viewBox, no fixed size that CSS would clip)
    svg = re.search(r"<svg[^>]*>", r.text).group(0)
    assert "viewBox" in svg and " width=" not in svg
    url = progress_address(r.text)
    parts = urlsplit(url)
    assert parts.path == f"/progress/{case['case_no']}" and parts.query.startswith("code=")
    anyone = PageClient(stack)
    try:
        shown = await anyone.get(f"{parts.path}?{parts.query}")
        assert shown.status_code == 200, shown.text[:300]
        assert case["case_no"] in shown.text and "王*明" in shown.text and "王小明" not in shown.text
        assert "已提交，待受理" in shown.text
        wrong = await anyone.get(f"{parts.path}?code=0000000000000000")
        assert wrong.status_code == 404 and "查询码" in wrong.text
        saved = stack.app.state.verify_limiter  # guessing codes is limited per address
        stack.app.state.verify_limiter = AddressLimiter(2, 60)
        try:
            assert (await anyone.get(f"{parts.path}?code=0000000000000001")).status_code == 404
            assert (await anyone.get(f"{parts.path}?code=0000000000000002")).status_code == 404
            assert (await anyone.get(f"{parts.path}?{parts.query}")).status_code == 429
        finally:
            stack.app.state.verify_limiter = saved
    finally:
        await anyone.close()


async def test_the_supplement_notice_lists_every_missing_material_at_once(stack, people, browser):
    clerk = people.clerk
    case = await window_case(clerk, 32)
    missing = ["经营者身份证明", "经营场所使用证明"]
    await clerk.ok(case["id"], "request_supplement", "租赁合同未签字", missing=missing)
    await browser.login(clerk.username)
    done = await browser.get(f"/cases/{case['id']}?done=request_supplement")
    assert 'id="print-done"' in done.text and "打印补正材料通知书" in done.text
    early = await browser.get(f"/cases/{case['id']}/documents/acceptance")
    assert early.status_code == 409 and "尚未受理" in early.text
    r = await browser.get(f"/cases/{case['id']}/documents/supplement")
    assert r.status_code == 200
    printed_layout(r.text)
    said = text_of(r.text)
    assert "补正材料通知书" in said and case["case_no"] in said and "一次性告知" in said
    assert "第三十二条第一款第（四）项" in said
    items = re.findall(r"<li>([^<]+)</li>", r.text.split('class="missing"', 1)[1].split("</ol>", 1)[0])
    assert [i.split("（")[0] for i in items] == missing
    assert "自有房产提交不动产权证书" in said  # the material's note tells what is needed
    assert "补正说明：租赁合同未签字" in said and "重新计算受理期限" in said
    # filed at the window for someone without an account: the supplement comes back to the window
    assert "携带材料到市政务服务中心二楼市场监管综合窗口提交" in said and "网上办事大厅" not in said


async def test_the_acceptance_notice_gives_both_limits_and_how_they_are_counted(stack, people, browser):
    clerk = people.clerk
    case = await window_case(clerk, 33, "food-business-licence")  # a promised item (承诺件)
    accepted = await clerk.ok(case["id"], "accept")
    await browser.login(clerk.username)
    done = await browser.get(f"/cases/{case['id']}?done=accept")
    assert "打印受理通知书" in done.text
    r = await browser.get(f"/cases/{case['id']}/documents/acceptance")
    assert r.status_code == 200
    printed_layout(r.text)
    said = text_of(r.text)
    assert "受理通知书" in said and "第三十二条第一款第（五）项" in said and "本机关决定予以受理" in said
    dl = accepted["deadlines"]
    assert f"受理日期{day(accepted['accepted_at'])}" in said
    assert f"{day(dl['promised_due'])}前" in said and f"{day(dl['statutory_due'])}前" in said
    assert "承诺办结10个工作日" in said and "法定办结20个工作日" in said
    assert "可以延长10个工作日" in said  # the item's extension limit
    # "暂定" only beside a date that falls in a year without an official schedule, as on the case page
    for name, label in (("promised_due", "承诺办结"), ("statutory_due", "法定办结")):
        line = said.split(label, 1)[1].split("</dd>", 1)[0].split("法定办结" if name == "promised_due" else "办理结果")[0]
        assert ("暂定" in line) is provisional_due(stack.app.state.cases, accepted, name), line
    assert "期限自受理之日的次日起计算" in said and "不含法定节假日和休息日" in said
    assert f"{day(accepted['accepted_at'])}" in said.split("（盖章）", 1)[1]  # dated the day of acceptance


async def test_the_refusal_decision_gives_the_reason_and_the_appeal_rights(stack, people, browser):
    clerk = people.clerk
    case = await window_case(clerk, 34)
    await clerk.ok(case["id"], "refuse_acceptance", "申请事项不属于本机关职权范围")
    await browser.login(clerk.username)
    r = await browser.get(f"/cases/{case['id']}/documents/refusal")
    assert r.status_code == 200
    printed_layout(r.text)
    said = text_of(r.text)
    assert "不予受理决定书" in said and "因申请事项不属于本机关职权范围" in said and "决定不予受理" in said
    assert "六十日内依法申请行政复议" in said and "六个月内依法向人民法院提起行政诉讼" in said
    assert "申请人（签名）" in said
    # another department's clerk sees no such case
    other = people.staff("fire", "clerk")
    await browser.login(other.username)
    assert (await browser.get(f"/cases/{case['id']}/documents/refusal")).status_code == 404
    assert (await browser.get(f"/cases/{case['id']}/documents/nonsense")).status_code == 404


async def test_the_clerks_confirmation_offers_the_receipt_not_the_applicants_online_text(stack, people, browser):
    clerk = people.clerk
    await browser.login(clerk.username)
    case = await window_case(clerk, 35)
    page = await browser.get(f"/cases/{case['id']}?submitted=1")
    assert "已收件" in page.text and 'id="print-receipt"' in page.text
    assert f'href="/cases/{case["id"]}/documents/receipt"' in page.text
    assert "“我的办件”" not in page.text  # the walk-in has no account: not the online applicant's text


async def test_searching_by_id_number_takes_blanks_and_says_what_is_wrong_with_a_bad_one(stack, people, browser):
    clerk = people.clerk
    case = await window_case(clerk, 36)
    number = case["applicant"]["id_number"]
    await browser.login(clerk.username)
    spaced = f"{number[:6]} {number[6:14]} {number[14:]}"  # as read out from the card
    r = await browser.get("/work", params={"q": spaced})
    assert r.status_code == 200 and case["case_no"] in r.text
    bad = number[:-1] + ("1" if number[-1] != "1" else "2")
    r = await browser.get("/work", params={"q": bad})
    assert r.status_code == 422
    said = re.search(r'<p class="error-message" id="find-case-error">(.*?)</p>', r.text).group(1)
    assert "公民身份号码校验码错误" in said and f"应为“{number[-1]}”" in said
    assert 'aria-invalid="true"' in r.text and 'href="#find-case"' in r.text and "请核对证件号码" in r.text
    # a valid number nobody applied with: not found, and no error
    other = make_citizen_id("330106", seq=99)
    r = await browser.get("/work", params={"q": other})
    assert r.status_code == 200 and "find-case-error" not in r.text and "未找到" in r.text


async def test_a_window_pick_up_prints_a_proof_of_service_naming_the_licence(stack, people, browser):
    clerk, handler, approver = people.clerk, people.handler, people.approver
    case = await window_case(clerk, 37, "food-business-licence")
    await clerk.ok(case["id"], "accept")
    await browser.login(clerk.username)
    early = await browser.get(f"/cases/{case['id']}/documents/delivery")
    assert early.status_code == 409 and "未在窗口送达" in early.text
    await handler.ok(case["id"], "pass")
    await approver.ok(case["id"], "pass")
    decided = await approver.ok(case["id"], "approve")
    await clerk.ok(case["id"], "deliver", method="window")
    done = await browser.get(f"/cases/{case['id']}?done=deliver")
    assert "打印送达回证" in done.text
    r = await browser.get(f"/cases/{case['id']}/documents/delivery")
    assert r.status_code == 200
    printed_layout(r.text)
    said = text_of(r.text)
    licence = (await clerk.get(f"/api/licences/{decided['result']['licence_id']}")).json()
    assert "送达回证" in said and "准予许可，食品经营许可证" in said and f"证照编号{licence['licence_no']}" in said
    assert "窗口领取" in said and "受送达人签名" in said and "签收日期" in said
    url = progress_address(r.text)
    parts = urlsplit(url)
    progress = await browser.get(f"{parts.path}?{parts.query}")
    assert "办理结果已可领取" in progress.text and "市政务服务中心" in progress.text
    await clerk.ok(case["id"], "confirm_receipt")  # collected: the proof stays printable
    assert (await browser.get(f"/cases/{case['id']}/documents/delivery")).status_code == 200


async def test_a_deemed_acceptance_notice_says_so_and_dates_from_receipt(stack, people, browser):
    clerk = people.clerk
    case = await window_case(clerk, 38, "food-business-licence")
    deemed = await stack.advance(case["id"], 10)
    assert any(h["action"] == "deemed_acceptance" for h in deemed["history"]), deemed["status"]
    await browser.login(clerk.username)
    r = await browser.get(f"/cases/{case['id']}/documents/acceptance")
    assert r.status_code == 200
    said = text_of(r.text)
    assert "本机关未在法定期限内作出是否受理的决定" in said and "第三十二条第一款第（四）项" in said
    assert "自收到申请材料之日起即为受理" in said and "本机关决定予以受理" not in said
    assert f"受理日期{day(case['received_at'])}" in said
    assert "经办人" not in said  # the system accepted it: no clerk signs for it


async def test_after_a_supplement_the_documents_keep_the_day_the_application_came_in(stack, people, browser):
    clerk = people.clerk
    case = await window_case(clerk, 39)
    await clerk.ok(case["id"], "request_supplement", missing=["经营场所使用证明"])
    await stack.advance(case["id"], 3)  # the applicant comes back days later, to the window
    back = await clerk.ok(case["id"], "submit_supplement", materials=[{"name": "经营场所使用证明"}])
    assert day(back["received_at"]) != day(case["received_at"])  # the acceptance clock restarted
    await browser.login(clerk.username)
    notice = text_of((await browser.get(f"/cases/{case['id']}/documents/supplement")).text)
    assert f"你于{day(case['received_at'])}提出的" in notice
    receipt = text_of((await browser.get(f"/cases/{case['id']}/documents/receipt")).text)
    assert f"本机关于{day(case['received_at'])}收到你提出的" in receipt
    assert "补正收取的材料如下" in receipt and f"第2版{day(back['received_at'])}" in receipt
    assert f"将于{day(back['deadlines']['acceptance_due'])}前" in receipt and "重新计算" in receipt


async def test_a_joint_case_has_one_acceptance_notice_from_the_lead_unit_and_none_per_department(stack, browser):
    from tests.test_joint import open_joint, staff

    _, case = await open_joint(stack)
    clerk = staff(stack, "hcd", "clerk")
    await browser.login(clerk.username)
    r = await browser.get(f"/cases/{case['id']}/documents/acceptance")
    assert r.status_code == 200, r.text[:300]
    said = text_of(r.text)
    assert case["case_no"] in said and "本机关决定予以受理" in said
    assert f"{day(case['deadlines']['statutory_due'])}前" in said
    sub = case["sub_cases"][0]
    await browser.login(staff(stack, sub["department"], "clerk").username)
    page = await browser.get(f"/cases/{sub['id']}")
    assert "文书打印" not in page.text  # a department's sub-case: the applicant's papers come from the lead unit
    refused = await browser.get(f"/cases/{sub['id']}/documents/receipt")
    assert refused.status_code == 409 and "由牵头部门在主件中出具" in refused.text


async def test_an_application_withdrawn_in_pre_review_has_no_receipt(stack, people, browser):
    applicant = people.applicant(3)
    case = (await applicant.apply("food-business-licence", pre_review=True)).json()
    assert case["status"] == "pre_review"
    await browser.login(applicant.username)
    assert (await browser.get(f"/cases/{case['id']}/documents/receipt")).status_code == 409
    withdrawn = await applicant.ok(case["id"], "withdraw")
    assert withdrawn["status"] == "withdrawn"
    page = await browser.get(f"/cases/{case['id']}")
    assert "文书打印" not in page.text
    assert (await browser.get(f"/cases/{case['id']}/documents/receipt")).status_code == 409


def test_an_id_number_in_a_search_is_judged_by_the_kind_it_looks_like():
    from api.routes.pages.case_search import id_number_error, id_number_typed
    from banjian.ids import make_credit_code

    citizen, company = make_citizen_id("330106", seq=61), make_credit_code("913301060000000C")
    assert id_number_typed(f" {citizen[:6]} {citizen[6:14]}　{citizen[14:]} ") == citizen  # a full-width blank too
    assert id_number_typed(company.lower()) == company
    assert id_number_typed("王小明") is None and id_number_typed("330100-AMR-20261204") is None
    assert id_number_error(citizen) is None and id_number_error(company) is None
    wrong = company[:-1] + ("0" if company[-1] != "0" else "1")
    assert (id_number_error(wrong) or "").startswith("证件号码有误：统一社会信用代码")
    assert "公民身份号码" in (id_number_error(citizen[:-1] + ("0" if citizen[-1] != "0" else "1")) or "")
