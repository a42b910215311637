"""The window clerk filing for a company (窗口收件, 代为申请) on the pages: who applies is checked
beside its own inputs, a missing applicant kind is an error on the page (never a 500), and the page
says it is a window filing, not an online application."""
from __future__ import annotations

import re
import uuid

from banjian.ids import make_citizen_id, make_credit_code

ITEM = "food-business-licence"



def error_beside(html: str, input_id: str) -> str | None:
    m = re.search(rf'<p class="error-message" id="{input_id}-error"><span class="visually-hidden">错误：</span>'
                  r'([^<]+)</p>', html)
    return m.group(1) if m else None


async def test_the_window_form_checks_the_applicant_beside_its_inputs(stack, people, browser):
    await browser.login(people.clerk.username)
    page = await browser.get(f"/apply/{ITEM}")
    assert "窗口收件（代为申请）" in page.text and "在线申请</span>" not in page.text
    # nothing typed about the applicant: each input says what is missing, and no 500
    r = await browser.submit(f"/apply/{ITEM}", page.text, {"applicant.kind": "", "applicant.id_number": "",
                                                           "applicant.name": ""})
    assert r.status_code == 422, r.text[:300]
    assert error_beside(r.text, "applicant-kind") == "请选择申请人类型"
    assert "请填写证件号码" in (error_beside(r.text, "applicant-id") or "")
    assert error_beside(r.text, "applicant-name") == "请填写申请人名称"
    assert 'href="#applicant-kind"' in r.text  # the summary links to the input
    # a credit code with a wrong check character: said beside the id number, with the right one
    good = make_credit_code("913301060000000A")
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")
    r = await browser.submit(f"/apply/{ITEM}", page.text, {"applicant.kind": "organisation",
                                                           "applicant.id_number": bad, "applicant.name": "某公司"})
    assert r.status_code == 422
    said = error_beside(r.text, "applicant-id") or ""
    assert "统一社会信用代码校验码错误" in said and f"“{good[-1]}”" in said
    assert f'value="{bad}"' in r.text  # what was typed is shown again to be corrected



def issue(stack, holder, me: dict, kind: str) -> str:
    """An e-licence issued to `holder` as the licence activity issues one."""
    from datetime import UTC, datetime

    from activities.licences import LicenceActivities
    from banjian import licences as lic
    from banjian.db import session_factory
    from banjian.items.schema import LicenceSpec
    from banjian.licence_store import master_key

    acts = LicenceActivities(session_factory(stack.engine), master_key(None), "330100")
    return acts.issue_licence(lic.IssueRequest(
        case_id=uuid.uuid4().hex, item_code=ITEM, item_name="食品经营许可", department="amr",
        implementing_body={"name": "市市场监督管理局", "credit_code": "11330100002548715U"},
        licence=LicenceSpec(type="食品经营许可证", type_code="0101"),
        applicant={"kind": kind, "id_number": me["id_number"], "name": me["display_name"],
                   "username": holder.username},
        decided_at=datetime.now(UTC)))


async def test_the_printed_licence_names_a_companys_credit_code_as_such(stack, people, browser):
    company = stack.applicant(organisation=True)
    me = (await company.get("/api/me")).json()
    licence_id = issue(stack, company, me, "organisation")
    await browser.login(company.username)
    doc = (await browser.get(f"/api/licences/{licence_id}/document")).text
    # a credit code is public, printed whole under its own name, as on a paper licence
    assert f"<th>统一社会信用代码</th><td>{me['id_number']}</td>" in doc
    assert "<th>证件号码</th>" not in doc
    citizen = people.applicant(7)
    me = (await citizen.get("/api/me")).json()
    licence_id = issue(stack, citizen, me, "citizen")
    await browser.login(citizen.username)
    doc = (await browser.get(f"/api/licences/{licence_id}/document")).text
    masked = me["id_number"][:3] + "*" * 11 + me["id_number"][-4:]
    assert f"<th>公民身份号码</th><td>{masked}</td>" in doc and me["id_number"] not in doc


async def test_an_item_not_for_the_account_says_which_account_and_leads_back_to_its_guide(stack, people, browser):
    company = stack.applicant(organisation=True)
    await browser.login(company.username)
    r = await browser.get("/apply/open-restaurant-bundle")  # a bundle for citizens only
    assert r.status_code == 403
    assert "请使用个人账户登录后申请" in r.text
    assert 'href="/guide/open-restaurant-bundle"' in r.text and 'href="/guide"' in r.text
    await browser.login(people.applicant(8).username)
    r = await browser.get("/apply/construction-permit-joint")  # for organisations only
    assert r.status_code == 403 and "请使用单位账户登录后申请" in r.text
    assert 'href="/guide/construction-permit-joint"' in r.text


async def test_a_company_filed_for_a_citizens_item_is_told_beside_the_applicant_kind(stack, people, browser):
    await browser.login(people.clerk.username)
    item = "individual-business-registration"  # serves citizens only
    page = await browser.get(f"/apply/{item}")
    pdf = ("a.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "application/pdf")
    r = await browser.submit(f"/apply/{item}", page.text, {
        "applicant.kind": "organisation", "applicant.id_number": make_credit_code("913301060000000B"),
        "applicant.name": "某公司", "form.operator_name": "张三", "form.business_address": "杭州",
        "form.business_scope": "餐饮", "form.organisation_form": "个人经营", "form.capital": "1",
        "form.contact_phone": "13800000000", "form.declaration": "true"},
        files={f"material_{i}": pdf for i in range(3)})
    assert r.status_code == 422, r.text[:500]
    assert error_beside(r.text, "applicant-kind") == "本事项的服务对象为：自然人"


async def test_the_guide_list_says_whom_each_item_serves(stack, browser):
    page = (await browser.get("/guide")).text
    entry = re.search(r'<a href="/guide/construction-permit-joint">.*?</li>', page, re.S).group(0)
    assert "服务对象：法人及其他组织" in entry and "自然人" not in entry
    entry = re.search(r'<a href="/guide/food-business-licence">.*?</li>', page, re.S).group(0)
    assert "服务对象：" in entry and "自然人" in entry and "法人及其他组织" in entry


async def test_a_clerk_files_paper_materials_taken_at_the_window_without_scanning_them(stack, people, browser):
    await browser.login(people.clerk.username)
    item = "individual-business-registration"
    page = await browser.get(f"/apply/{item}")
    assert len(re.findall(r'<input id="material-\d-paper" name="paper_material_\d" type="checkbox"', page.text)) == 5
    fields = {"applicant.kind": "citizen", "applicant.id_number": make_citizen_id("330106", seq=41),
              "applicant.name": "赵六", "form.operator_name": "赵六", "form.business_address": "杭州",
              "form.business_scope": "餐饮", "form.organisation_form": "个人经营", "form.capital": "1",
              "form.contact_phone": "13800000000", "form.declaration": "true"}
    # one paper material not ticked: still asked for, and the ticked ones stay ticked
    r = await browser.submit(f"/apply/{item}", page.text, {**fields, "paper_material_0": "true",
                                                           "paper_material_1": "true"})
    assert r.status_code == 422 and error_beside(r.text, "material-2") == "请上传经营场所使用证明"
    assert re.search(r'id="material-0-paper"[^>]*checked', r.text) and not re.search(
        r'id="material-2-paper"[^>]*checked', r.text)
    number = fields["applicant.id_number"]  # typed as read out from the card: the blanks are dropped
    fields["applicant.id_number"] = f"{number[:6]} {number[6:14]} {number[14:]}"
    r = await browser.submit(f"/apply/{item}", r.text, {**fields, **{f"paper_material_{i}": "true" for i in range(3)}})
    assert r.status_code == 303, r.text[:500]
    case = (await browser.get(f"/api/cases/{r.headers['location'].split('/')[2].split('?')[0]}")).json()
    assert case["channel"] == "window" and case["applicant"]["id_number"] == number
    assert sorted((m["name"], m["file_id"]) for m in case["materials"]) == [
        ("个体工商户登记（备案）申请书", None), ("经营场所使用证明", None), ("经营者身份证明", None)]
    receipt = (await browser.get(f"/cases/{case['id']}/documents/receipt")).text
    assert receipt.count("<td>纸质材料</td>") == 3


async def test_an_applicant_filing_online_has_no_paper_box(stack, people, browser):
    await browser.login(people.applicant(9).username)
    page = await browser.get("/apply/individual-business-registration")
    assert "已收取纸质材料" not in page.text
