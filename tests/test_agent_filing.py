"""Filing through an agent (经办人 / 委托代理人): a company's staff member or whoever a citizen
entrusted fills the form or stands at the window. The agent is checked (GB 11643 id number, bounds),
kept in the case, shown on the case page, printed masked on the window's documents, entered on the
apply page (applicant and window), which asks for the letter of authority the item lists."""
from __future__ import annotations

import re

import pytest

from banjian.agents import authority_materials, check_agent, masked
from banjian.errors import Invalid
from banjian.ids import make_citizen_id, make_credit_code
from tests.conftest import application
from tests.pages_client import PDF, text_of

ITEM = "individual-business-registration"  # citizens; lists 授权委托书及受托人身份证明 (委托他人代为办理的)
AGENT_ID = make_citizen_id("330106", seq=71)




def error_beside(html: str, input_id: str) -> str | None:
    m = re.search(rf'<p class="error-message" id="{input_id}-error"><span class="visually-hidden">错误：</span>'
                  r'([^<]+)</p>', html)
    return m.group(1) if m else None


async def test_a_company_applies_through_its_staff_member_and_the_case_keeps_the_agent(stack, people):
    company = stack.applicant(organisation=True)
    lower_x = make_citizen_id("330106", seq=72)
    r = await company.apply("food-business-licence", agent={"name": " 李 经办 ", "id_number": lower_x.lower(),
                                                            "phone": "0571-8888 1234"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["agent"] == {"name": "李 经办", "id_number": lower_x.upper(), "phone": "0571-8888 1234"}
    assert (await company.get(f"/api/cases/{case['id']}")).json()["agent"] == case["agent"]
    # the department's clerk reads it too; a case without an agent says null
    assert (await people.clerk.get(f"/api/cases/{case['id']}")).json()["agent"]["name"] == "李 经办"
    plain = (await company.apply("food-business-licence")).json()
    assert plain["agent"] is None


@pytest.mark.parametrize(("agent", "field", "zh"), [
    ({"name": "李四", "id_number": AGENT_ID[:-1] + ("0" if AGENT_ID[-1] != "0" else "1")}, "agent.id_number",
     "经办人公民身份号码校验码错误"),
    ({"name": "  ", "id_number": AGENT_ID}, "agent.name", "请填写经办人姓名"),
    ({"name": "李四", "id_number": AGENT_ID, "phone": "call me"}, "agent.phone", "经办人电话格式不正确"),
    ({"name": "李四", "id_number": AGENT_ID, "phone": "1" * 21}, "agent.phone", "不能超过"),
    ({"name": "李" * 51, "id_number": AGENT_ID}, "agent.name", "不能超过"),
    ({"name": "李四", "id_number": "1" * 33}, "agent.id_number", "不能超过"),
    ({"name": "李四", "id_number": AGENT_ID, "email": "x"}, "agent.email", ""),
    ({"id_number": AGENT_ID}, "agent.name", ""),
])
async def test_a_bad_agent_is_a_422_naming_the_field_in_chinese_and_english(stack, people, agent, field, zh):
    company = stack.applicant(organisation=True)
    r = await company.apply("food-business-licence", agent=agent)
    assert r.status_code == 422, r.text
    d = r.json()["detail"]
    assert d["field"] == field and d["message"] and d["message_en"], d
    assert zh in d["message"]
    assert (await company.get("/api/cases")).json()["total"] == 0  # nothing filed


async def test_a_citizen_cannot_name_themself_as_their_agent(stack, people):
    me = people.applicant(71)
    own = (await me.get("/api/me")).json()["id_number"]
    r = await me.apply(ITEM, agent={"name": "本人", "id_number": own})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "agent.id_number"
    assert r.json()["detail"]["code"] == "agent_is_applicant"


def test_the_agent_rules_and_the_letter_of_authority_are_read_from_the_item():
    assert check_agent({"name": "王五", "id_number": f" {AGENT_ID[:6]} {AGENT_ID[6:]} "}).id_number == AGENT_ID
    with pytest.raises(Invalid) as e:
        check_agent({"name": "王五", "id_number": make_credit_code("913301060000000B")})
    assert e.value.field == "agent.id_number"
    assert masked({"name": "王五", "id_number": AGENT_ID})["id_number"] == AGENT_ID[:3] + "*" * 11 + AGENT_ID[-4:]

    class M:
        def __init__(self, name, required, condition=None):
            self.name, self.required, self.condition = name, required, condition
    assert authority_materials([M("授权委托书及受托人身份证明", False, "委托他人代为办理的"), M("营业执照", True),
                                M("经办人身份证明及单位授权委托书", True), M("家庭成员关系证明", False, "以家庭形式经营的")]) \
        == ["授权委托书及受托人身份证明"]


async def test_the_apply_page_takes_the_agent_and_asks_for_the_letter_of_authority(stack, people, browser):
    citizen = people.applicant(72)
    await browser.login(citizen.username)
    page = await browser.get(f"/apply/{ITEM}")
    assert page.status_code == 200
    html = page.text
    # a collapsible section, closed until used, in Chinese, with labelled inputs
    assert re.search(r'<details class="agent-section" id="agent-section">\s*<summary>由他人代为办理（经办人信息）</summary>',
                     html)
    for input_id, label in (("agent-name", "经办人姓名"), ("agent-id", "经办人公民身份号码"),
                            ("agent-phone", "经办人电话（选填）")):
        assert re.search(rf'<label class="label" for="{input_id}">{re.escape(label)}', html), label
    assert "填写经办人的，还需提交：授权委托书及受托人身份证明" in text_of(html)
    fields = {"form.operator_name": "赵六", "form.business_address": "杭州", "form.business_scope": "餐饮",
              "form.organisation_form": "个人经营", "form.capital": "1", "form.contact_phone": "13800000000",
              "form.declaration": "true"}
    files = {f"material_{i}": ("a.pdf", PDF, "application/pdf") for i in (0, 1, 2)}
    # a bad agent id: said beside the input, the section open, the values kept
    bad = AGENT_ID[:-1] + ("0" if AGENT_ID[-1] != "0" else "1")
    r = await browser.submit(f"/apply/{ITEM}", html, {**fields, "agent.name": "李四", "agent.id_number": bad},
                             files=files)
    assert r.status_code == 422, r.text[:500]
    assert "经办人公民身份号码校验码错误" in (error_beside(r.text, "agent-id") or "")
    assert 'id="agent-section" open' in r.text and 'href="#agent-id"' in r.text and f'value="{bad}"' in r.text
    # a good agent without the letter of authority: the page asks for it beside the material
    r = await browser.submit(f"/apply/{ITEM}", r.text, {**fields, "agent.name": "李四", "agent.id_number": AGENT_ID},
                             files=files)
    assert r.status_code == 422, r.text[:500]
    assert error_beside(r.text, "material-3") == "由他人代为办理的，请提交授权委托书及受托人身份证明"
    r = await browser.submit(f"/apply/{ITEM}", r.text, {**fields, "agent.name": "李四", "agent.id_number": AGENT_ID,
                                                        "agent.phone": "13900000000"},
                             files={**files, "material_3": ("b.pdf", PDF, "application/pdf")})
    assert r.status_code == 303, r.text[:800]
    case_id = r.headers["location"].split("/")[2].split("?")[0]
    case = (await browser.get(f"/api/cases/{case_id}")).json()
    assert case["agent"] == {"name": "李四", "id_number": AGENT_ID, "phone": "13900000000"}
    shown = text_of((await browser.get(f"/cases/{case_id}")).text)
    masked_id = AGENT_ID[:3] + "*" * 11 + AGENT_ID[-4:]  # the applicant reads it masked, as on paper
    assert f"经办人（代为办理）李四（公民身份号码{masked_id}）" in shown and "联系电话13900000000" in shown
    # left empty: no agent, and the letter is not asked for
    r = await browser.submit(f"/apply/{ITEM}", html, fields, files=files)
    assert r.status_code == 303, r.text[:800]
    case_id = r.headers["location"].split("/")[2].split("?")[0]
    assert (await browser.get(f"/api/cases/{case_id}")).json()["agent"] is None


async def test_the_window_form_takes_the_agent_and_every_document_prints_it_masked(stack, people, browser):
    clerk = people.clerk
    await browser.login(clerk.username)
    page = await browser.get(f"/apply/{ITEM}")
    assert 'id="agent-section"' in page.text
    applicant_id = make_citizen_id("330106", seq=73)
    r = await browser.submit(f"/apply/{ITEM}", page.text, {
        "applicant.kind": "citizen", "applicant.id_number": applicant_id, "applicant.name": "赵六",
        "form.operator_name": "赵六", "form.business_address": "杭州", "form.business_scope": "餐饮",
        "form.organisation_form": "个人经营", "form.capital": "1", "form.contact_phone": "13800000000",
        "form.declaration": "true", "agent.name": "钱七", "agent.id_number": AGENT_ID,
        **{f"paper_material_{i}": "true" for i in range(4)}})
    assert r.status_code == 303, r.text[:800]
    case_id = r.headers["location"].split("/")[2].split("?")[0]
    case = (await clerk.get(f"/api/cases/{case_id}")).json()
    assert case["agent"]["name"] == "钱七" and case["channel"] == "window"
    masked_id = AGENT_ID[:3] + "*" * 11 + AGENT_ID[-4:]
    receipt = (await browser.get(f"/cases/{case_id}/documents/receipt")).text
    said = text_of(receipt)
    assert f"经办人（代为办理）钱七（公民身份号码{masked_id}）" in said
    assert AGENT_ID not in receipt and applicant_id not in receipt
    r = await clerk.post(f"/api/cases/{case_id}/actions", json={"action": "request_supplement",
                                                               "data": {"missing": ["经营场所使用证明"]}})
    assert r.status_code == 200, r.text
    notice = (await browser.get(f"/cases/{case_id}/documents/supplement")).text
    assert f"经办人（代为办理）钱七（公民身份号码{masked_id}）" in text_of(notice) and AGENT_ID not in notice


async def test_a_refusal_and_an_acceptance_notice_print_the_agent(stack, people, browser):
    clerk = people.clerk
    await browser.login(clerk.username)
    masked_id = AGENT_ID[:3] + "*" * 11 + AGENT_ID[-4:]
    for seq, action, kind in ((74, "accept", "acceptance"), (75, "refuse_acceptance", "refusal")):
        r = await clerk.apply(ITEM, applicant={"kind": "citizen", "id_number": make_citizen_id("330106", seq=seq),
                                               "name": "孙八"}, channel="window",
                              agent={"name": "周九", "id_number": AGENT_ID})
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        r = await clerk.post(f"/api/cases/{case_id}/actions", json={"action": action, "comment": "不属于本机关职权范围"})
        assert r.status_code == 200, r.text
        doc = (await browser.get(f"/cases/{case_id}/documents/{kind}")).text
        assert f"经办人（代为办理）周九（公民身份号码{masked_id}）" in text_of(doc) and AGENT_ID not in doc


async def test_the_archive_package_records_the_agent(stack, people):
    import io
    import json
    import zipfile

    from tests.histories.record import _through_review

    company = stack.applicant(organisation=True)
    r = await company.apply("food-business-licence", agent={"name": "吴十", "id_number": AGENT_ID})
    assert r.status_code == 201, r.text
    case = await people.clerk.ok(r.json()["id"], "accept")
    case = await _through_review(stack, "amr", case)
    await people.approver.ok(case["id"], "approve")
    await people.clerk.ok(case["id"], "deliver", method="electronic")
    r = await company.get(f"/api/cases/{case['id']}/archive")
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert json.loads(z.read("manifest.json"))["agent"] == {"name": "吴十", "id_number": AGENT_ID}
    assert json.loads(z.read("application.json"))["agent"] == {"name": "吴十", "id_number": AGENT_ID, "phone": None}


async def test_a_joint_cases_departments_see_the_agent_on_their_sub_cases(stack):
    company = stack.applicant(organisation=True)
    r = await company.apply("construction-permit-joint", agent={"name": "郑十一", "id_number": AGENT_ID})
    assert r.status_code == 201, r.text
    case = await stack.staff("hcd", "clerk").ok(r.json()["id"], "accept")
    assert case["sub_cases"]
    sub = case["sub_cases"][0]
    seen = await stack.staff(sub["department"], "handler").case(sub["id"])
    assert seen["agent"] == {"name": "郑十一", "id_number": AGENT_ID, "phone": None}


async def test_the_proof_of_service_names_the_agent_masked(stack, people, browser):
    from tests.histories.record import _through_review

    clerk = people.clerk
    r = await clerk.apply(ITEM, applicant={"kind": "citizen", "id_number": make_citizen_id("330106", seq=77),
                                           "name": "冯十二"}, channel="window",
                          agent={"name": "陈十三", "id_number": AGENT_ID})
    assert r.status_code == 201, r.text
    case = await clerk.ok(r.json()["id"], "accept")
    case = await _through_review(stack, "amr", case)
    await people.approver.ok(case["id"], "approve")
    await clerk.ok(case["id"], "deliver", method="window")
    await browser.login(clerk.username)
    doc = (await browser.get(f"/cases/{case['id']}/documents/delivery")).text
    assert "送达回证" in doc and AGENT_ID not in doc
    assert f"经办人（代为办理）陈十三（公民身份号码{AGENT_ID[:3]}{'*' * 11}{AGENT_ID[-4:]}）" in text_of(doc)


def labels_of(html: str) -> dict[str, str]:
    """Each input's <label> text (without the required mark), by the input's id."""
    return {m.group(1): re.sub(r"<[^>]+>", "", m.group(2)).strip()
            for m in re.finditer(r'<label[^>]*\bfor="([^"]+)"[^>]*>(.*?)</label>', html, re.S)}


async def test_no_apply_page_labels_two_inputs_alike(stack, people, browser):
    """No label on an apply page holds another's text (the housing-fund registration asked for its
    contact as 经办人姓名 / 经办人联系电话; five items ask for 联系电话, which the 经办人 section's
    经办人联系电话 held): one label, one input, for people and for tests that find inputs by label
    (Playwright's get_by_label matches a part of a label)."""
    citizen, company = people.applicant(73), stack.applicant(organisation=True)
    codes = [i["code"] for i in (await citizen.get("/api/items")).json()]
    seen = 0
    for user in (citizen, company):
        await browser.login(user.username)
        for code in codes:
            page = await browser.get(f"/apply/{code}")
            if page.status_code != 200 or 'id="agent-name"' not in page.text:
                continue  # not offered to this kind of applicant
            seen += 1
            labels = labels_of(page.text)
            texts = list(labels.values())
            assert len(texts) == len(set(texts)), (code, sorted(t for t in texts if texts.count(t) > 1))
            for input_id, text in labels.items():  # get_by_label(text) finds this input and no other
                others = [i for i, t in labels.items() if i != input_id and text in t]
                assert not others, (code, input_id, text, [labels[i] for i in others])
    assert seen >= len(codes)  # every item's page was looked at by one kind of applicant or the other


async def test_the_clerk_is_told_when_a_case_filed_through_an_agent_lacks_the_letter_of_authority(stack, people,
                                                                                                  browser):
    """The API files a case with an agent and no 授权委托书 (adequacy is the clerk's call): the case says
    which letter is missing, and the clerk's case page says so at the top; the applicant's does not."""
    letter = "授权委托书及受托人身份证明"
    company = stack.applicant(organisation=True)
    r = await company.apply("food-business-licence", agent={"name": "李经办", "id_number": AGENT_ID})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["agent_authority_missing"] == [letter]
    assert (await people.clerk.get(f"/api/cases/{case['id']}")).json()["agent_authority_missing"] == [letter]
    await browser.login(people.clerk.username)
    page = (await browser.get(f"/cases/{case['id']}")).text
    hint = re.search(r'<div class="notice-panel[^"]*" id="agent-authority-missing".*?</div>', page, re.S)
    assert hint, "no hint on the clerk's case page"
    said = re.sub(r"\s+|<[^>]+>", "", hint.group(0))
    assert "未提交授权委托书" in said and f"经办人李经办代为办理，申请材料中没有{letter}" in said
    assert page.index('id="agent-authority-missing"') < page.index('id="actions-title"')  # before 受理 / 补正告知
    await browser.login(company.username)
    assert 'id="agent-authority-missing"' not in (await browser.get(f"/cases/{case['id']}")).text
    # with the letter, or without an agent, nothing is missing
    item = (await company.get("/api/items/food-business-licence")).json()
    with_letter = [{"name": m["name"]} for m in item["materials"] if m["required"] or m["name"] == letter]
    r = await company.apply("food-business-licence", agent={"name": "李经办", "id_number": AGENT_ID},
                            materials=with_letter)
    assert r.status_code == 201, r.text
    assert r.json()["agent_authority_missing"] == []
    plain = (await company.apply("food-business-licence")).json()
    assert plain["agent_authority_missing"] == []
    await browser.login(people.clerk.username)
    assert 'id="agent-authority-missing"' not in (await browser.get(f"/cases/{plain['id']}")).text


async def test_the_applicant_reads_id_numbers_masked_on_their_case_page_and_the_clerk_reads_them_whole(
        stack, people, browser):
    """On their own case page a citizen's 公民身份号码 (and the agent's) is masked as on paper and on a
    licence (first 3 and last 4 characters); the department's clerk checks them whole; an
    organisation's credit code is public and shown whole."""
    citizen = people.applicant(74)
    own = (await citizen.get("/api/me")).json()["id_number"]
    r = await citizen.apply(ITEM, agent={"name": "李四", "id_number": AGENT_ID})
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    assert r.json()["applicant"]["id_number"] == own  # the JSON keeps the contract's whole number
    await browser.login(citizen.username)
    page = (await browser.get(f"/cases/{case_id}")).text
    assert own not in page and AGENT_ID not in page
    shown = text_of(page)
    assert f"公民身份号码{own[:3]}{'*' * 11}{own[-4:]}" in shown
    assert f"李四（公民身份号码{AGENT_ID[:3]}{'*' * 11}{AGENT_ID[-4:]}）" in shown
    await browser.login(people.clerk.username)
    staff_page = text_of((await browser.get(f"/cases/{case_id}")).text)
    assert f"公民身份号码{own}" in staff_page and f"李四（公民身份号码{AGENT_ID}）" in staff_page
    # a number typed into the form (另一方公民身份号码) is masked for the applicant the same way
    other = make_citizen_id("330106", seq=79)
    marriage = "marriage-registration-appointment"
    body = await application(citizen, marriage)
    r = await citizen.post("/api/cases", json={**body, "form": {**body["form"], "party_b_id_number": other}})
    assert r.status_code == 201, r.text
    await browser.login(citizen.username)
    page = (await browser.get(f"/cases/{r.json()['id']}")).text
    assert other not in page and f"另一方公民身份号码{other[:3]}{'*' * 11}{other[-4:]}" in text_of(page)
    await browser.login(people.staff("civil", "clerk").username)
    assert f"另一方公民身份号码{other}" in text_of((await browser.get(f"/cases/{r.json()['id']}")).text)
    company = stack.applicant(organisation=True)
    code = (await company.get("/api/me")).json()["id_number"]
    org_case = (await company.apply("food-business-licence")).json()
    await browser.login(company.username)
    assert f"统一社会信用代码{code}" in text_of((await browser.get(f"/cases/{org_case['id']}")).text)
