"""Page fixes from an outside review: Chinese words in refusals, the header on error pages, names
instead of codes on staff pages, links to the audit page, the joint page, and forms that keep
their input."""
from __future__ import annotations

import asyncio
import re
import uuid

from api import charts
from tests.pages_client import PageClient
from tests.test_joint import BUNDLE, CONSTRUCTION, answer, open_joint, staff, subs_by_department
from tests.test_licences import _issue_business_licence
from tests.test_pages import apply_data, material_files

ITEM = "food-business-licence"



async def test_refusals_name_statuses_and_roles_in_chinese_under_a_fitting_heading(stack, people, browser):
    applicant, clerk = people.applicant(0), people.clerk
    case = (await applicant.apply(ITEM)).json()
    await clerk.ok(case["id"], "accept")
    await browser.login(clerk.username)
    page = await browser.get(f"/cases/{case['id']}")
    r = await browser.submit(f"/cases/{case['id']}/actions", page.text, {"action": "accept", "request_id": "r1"})
    assert r.status_code == 409
    assert "不能执行“受理”" in r.text and re.search(r"办件当前状态为“(已受理|审查中)”", r.text), r.text
    assert "accepted" not in r.text and "in_review" not in r.text
    assert "无法办理" in r.text and "请修改以下问题" not in r.text
    # 403: another role's action, the roles it needs in Chinese (the JSON API's message too)
    answer = await applicant.act(case["id"], "approve")
    assert answer.status_code == 403
    message = answer.json()["detail"]["message"]
    assert "审批人" in message and "approver" not in message
    assert "approver" in answer.json()["detail"]["message_en"] and answer.json()["detail"]["code"] == "forbidden_role"
    r = await people.applicant(0).get("/api/supervision/warnings")
    assert r.status_code == 403 and r.json()["detail"]["message"] == "需要以下角色之一：电子监察"


async def test_error_pages_show_the_logged_in_user(stack, people, browser):
    user = people.applicant(0)
    await browser.login(user.username)
    for path, status in (("/no/such/page", 404), ("/supervision", 403), ("/cases/20260101000000", 404)):
        r = await browser.get(path)
        assert r.status_code == status, path
        assert ">退出</button>" in r.text and 'href="/my/cases"' in r.text, path
        assert 'href="/login"' not in r.text, path
    r = await browser.get("/supervision")
    assert "电子监察" in r.text and "supervisor" not in r.text
    anonymous = PageClient(stack)
    try:
        r = await anonymous.get("/no/such/page")
        assert r.status_code == 404 and 'href="/login"' in r.text and "退出" not in r.text
    finally:
        await anonymous.close()


def _table(html: str, table_id: str) -> str:
    m = re.search(rf'<table class="table" id="{table_id}">.*?</table>', html, re.S)
    assert m, f"no table {table_id}"
    return m.group(0)


async def test_staff_pages_name_items_departments_and_roles(stack, people, browser):
    applicant = people.applicant(0)
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "accept")
    await stack.advance(case["id"], 20)  # past the promised 10 working days: a yellow card
    sup = stack.user(f"pages-sup-{uuid.uuid4().hex[:4]}", "supervisor")
    await browser.login(sup.username)
    page = await browser.get("/supervision", params={"department": "amr"})
    assert page.status_code == 200
    warnings = _table(page.text, "warnings")
    assert "食品经营许可" in warnings and ITEM not in warnings
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", warnings) and "年" in warnings
    figures_table = _table(page.text, "figures")
    assert '<td data-label="部门">市市场监督管理局</td>' in figures_table and '<td data-label="部门">amr</td>' not in figures_table
    assert "amr ·" not in page.text
    # the auditor's timeline names the department
    auditor = stack.user(f"pages-aud-{uuid.uuid4().hex[:4]}", "auditor")
    second = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(second["id"], "accept")
    await browser.login(auditor.username)
    audit_page = await browser.get(f"/audit/cases/{second['id']}")
    assert "（窗口受理，市市场监督管理局）" in audit_page.text and "，amr）" not in audit_page.text
    # the admin's item list and the role of a definition author
    await browser.login(people.admin.username)
    items = await browser.get("/admin/items")
    assert '<td data-label="部门">市市场监督管理局</td>' in items.text and '<td data-label="部门">amr</td>' not in items.text
    users = await browser.get("/admin/users")
    assert '<label for="role-author">事项编制人员</label>' in users.text


def test_rate_charts_name_departments_and_cut_no_label_short():
    rows = [{"department": "amr", "item_code": ITEM, "item_name": "食品经营许可", "on_time_rate": 1.0},
            {"department": "hcd", "item_code": "x", "item_name": "建筑工程施工许可证核发", "on_time_rate": 0.5}]
    svg = charts.render("on_time_rate", rows, [], {"amr": "市市场监督管理局", "hcd": "市住房和城乡建设局"})
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "市市场监督管理局 · 食品经营许可" in labels and "市住房和城乡建设局 · 建筑工程施工许可证核发" in labels
    assert "100.0%" in labels and not any("…" in t for t in labels)


async def test_auditors_reach_the_audit_page_from_home_and_the_case_page(stack, people, browser):
    case = (await people.applicant(0).apply(ITEM)).json()
    auditor = stack.user(f"pages-aud-{uuid.uuid4().hex[:4]}", "auditor")
    await browser.login(auditor.username)
    home = await browser.get("/")
    assert 'href="/audit"' in home.text
    find = await browser.get("/audit")
    assert find.status_code == 200 and '<label class="label" for="case">办件编号</label>' in find.text
    for wanted in (case["id"], case["case_no"]):
        r = await browser.get("/audit", params={"case": wanted})
        assert r.status_code == 303 and r.headers["location"] == f"/audit/cases/{case['id']}"
    missing = await browser.get("/audit", params={"case": "20260101000000"})
    assert missing.status_code == 404 and "未找到该办件" in missing.text and 'value="20260101000000"' in missing.text
    page = await browser.get(f"/cases/{case['id']}")
    assert f'href="/audit/cases/{case["id"]}">审计</a>' in page.text
    # neither the applicant nor the staff are offered it
    await browser.login(people.applicant(0).username)
    assert 'href="/audit' not in (await browser.get(f"/cases/{case['id']}")).text
    assert 'href="/audit' not in (await browser.get("/")).text
    assert (await browser.get("/audit")).status_code == 403
    await browser.login(people.clerk.username)
    assert 'href="/audit' not in (await browser.get(f"/cases/{case['id']}")).text


async def test_the_staff_inbox_sends_an_applicant_to_their_own_cases(stack, people, browser):
    await browser.login(people.applicant(0).username)
    r = await browser.get("/work")
    assert r.status_code == 303 and r.headers["location"] == "/my/cases"
    await browser.login(people.clerk.username)
    r = await browser.get("/work")
    assert r.status_code == 200 and 'href="/rectifications">差评整改' in r.text
    assert (await browser.get("/rectifications")).status_code == 200


async def test_joint_page_after_every_department_answered_and_a_bundle_page(stack, browser):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid, subs = case["id"], subs_by_department(case)
    await asyncio.gather(*(answer(stack, s["id"], d) for d, s in subs.items()))
    await browser.login(staff(stack, "hcd", "lead").username)
    lead = await browser.get(f"/joint/{cid}")
    assert lead.status_code == 200
    assert "各部门均已办结，待牵头部门出具统一办理结果" in lead.text and "各部门尚未全部办结" not in lead.text
    assert lead.text.count("<dt>意见</dt><dd>同意</dd>") == 4 and "剩 " not in lead.text
    # the applicant: no opinion before the unified result, no links to sub-cases they may not open
    await browser.login(applicant.username)
    mine = await browser.get(f"/joint/{cid}")
    assert mine.status_code == 200
    assert mine.text.count("<dt>意见</dt><dd>已办结</dd>") == 4 and "尚未答复" not in mine.text and "同意" not in mine.text
    assert "查看子件" not in mine.text and "剩 " not in mine.text
    for s in subs.values():
        assert f'href="/cases/{s["id"]}"' not in mine.text
    # a bundle (一件事): captioned so, one card per item, named by the item
    owner = stack.applicant()
    r = await owner.apply(BUNDLE)
    bundle = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    await browser.login(owner.username)
    page = await browser.get(f"/joint/{bundle['id']}")
    assert page.status_code == 200 and '<span class="caption">一件事 · ' in page.text and "并联审批" not in page.text
    for s in bundle["sub_cases"]:
        assert f'<h3 class="heading-s">{s["item_name"]}</h3>' in page.text


async def test_a_department_agrees_with_referral_from_its_sub_case_page(stack, browser):
    _, case = await open_joint(stack, CONSTRUCTION)
    sub_id = subs_by_department(case)["fire"]["id"]
    sc = await staff(stack, "fire", "handler").case(sub_id)
    while sc["current_step"]["kind"] == "review":
        sc = await staff(stack, "fire", sc["current_step"]["role"]).ok(sub_id, "pass")
    await browser.login(staff(stack, "fire", "approver").username)
    page = await browser.get(f"/cases/{sub_id}")
    assert re.search(r'<form method="get"[^>]*><input type="hidden" name="action" value="approve">', page.text)
    opened = await browser.get(f"/cases/{sub_id}", params={"action": "approve"})
    assert '<label class="label" for="approve-referral">同意并报上级</label>' in opened.text
    assert ">确认</button>" in opened.text
    r = await browser.submit(f"/cases/{sub_id}/actions", opened.text,
                             {"action": "approve", "referral": "true", "request_id": uuid.uuid4().hex})
    assert r.status_code == 303, r.text
    done = await staff(stack, "fire", "approver").case(sub_id)
    assert done["result"]["opinion"] == "agree_with_referral"
    parent = await staff(stack, "hcd", "lead").case(case["id"])
    assert subs_by_department(parent)["fire"]["opinion"] == "agree_with_referral"


async def test_slots_read_as_dates_and_front_office_errors_show_in_place(stack, people, browser):
    u = people.applicant(2)
    cid = (await u.apply("marriage-registration-appointment")).json()["id"]
    await browser.login(u.username)
    page = await browser.get(f"/cases/{cid}")
    options = re.findall(r'<option value="(\d{4}-\d\d-\d\dT\d\d:\d\d)"[^>]*>([^<]*)</option>', page.text)
    assert options, "no free slot offered"
    for value, text in options:
        month, day, hm = int(value[5:7]), int(value[8:10]), value[11:]
        assert re.fullmatch(rf"{month}月{day}日 {hm}–\d\d:\d\d（余 \d+ 个）", text), (value, text)
    # an empty inquiry: the case page again, the error beside the field, the kind kept
    r = await browser.submit(f"/cases/{cid}/ask", page.text, {"kind": "complaint", "text": "   "})
    assert r.status_code == 422 and "办件 " in r.text and 'id="ask-text-error"' in r.text
    assert re.search(r'name="kind" type="radio" value="complaint" checked', r.text)
    too_long = "慢" * 5001
    r = await browser.submit(f"/cases/{cid}/ask", page.text, {"kind": "consultation", "text": too_long})
    assert r.status_code == 422 and 'id="ask-text-error"' in r.text and too_long in r.text
    # a slot that is not offered: the error beside the select
    r = await browser.submit(f"/cases/{cid}/book", page.text, {"slot": "2020-01-01T09:00"})
    assert r.status_code == 422 and 'id="slot-error"' in r.text and 'href="#slot"' in r.text
    r = await browser.submit(f"/cases/{cid}/book", page.text, {"slot": ""})
    assert r.status_code == 422 and "请选择预约时段" in r.text and 'id="slot-error"' in r.text


async def test_the_apply_form_reports_a_missing_licence_material_with_every_other_problem(stack, people, browser):
    u = stack.applicant()
    await browser.login(u.username)
    page = await browser.get(f"/apply/{ITEM}")
    files = material_files(page.text)
    files.pop("material_1")  # 营业执照 (may be an e-licence): this applicant holds none
    data = {**apply_data(page.text), "form.business_name": ""}
    r = await browser.submit(f"/apply/{ITEM}", page.text, data, files)
    assert r.status_code == 422
    assert 'id="material-1-error"' in r.text and "请上传营业执照" in r.text
    assert 'id="form-business_name-error"' in r.text
    # an applicant holding a valid business licence uploads nothing for it: the service attaches it
    holder = people.applicant(5)
    me = (await holder.get("/api/me")).json()
    _issue_business_licence(stack, {"kind": "citizen", "id_number": me["id_number"], "name": me["display_name"]},
                            holder.username)
    await browser.login(holder.username)
    page = await browser.get(f"/apply/{ITEM}")
    files = material_files(page.text)
    files.pop("material_1")
    r = await browser.submit(f"/apply/{ITEM}", page.text, apply_data(page.text), files)
    assert r.status_code == 303, r.text


async def test_the_guide_names_who_may_apply_and_on_the_spot_items(stack, browser):
    page = await browser.get("/guide/construction-permit-joint")
    assert page.status_code == 200 and "服务对象" in page.text and "法人及其他组织" in page.text
    page = await browser.get("/guide/individual-business-registration")
    assert "承诺 即办（当场办结）" in page.text and "承诺 0 个" not in page.text
    listing = await browser.get("/guide")
    assert "承诺 0 个" not in listing.text


async def test_the_applicant_is_told_which_special_procedure_runs_and_for_how_long(stack, people, browser):
    applicant = people.applicant(0)
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "accept")
    handler = people.staff("amr", "handler")
    await handler.ok(case["id"], "start_special_procedure", "现场核查", kind="site_inspection", expected_days=3)
    await browser.login(applicant.username)
    page = await browser.get(f"/cases/{case['id']}")
    assert "特别程序：经营场所现场核查" in page.text and "预计 3 日" in page.text, page.text


async def test_a_citizen_is_told_before_filling_in_that_an_item_serves_organisations(stack, people, browser):
    citizen = people.applicant(0)
    await browser.login(citizen.username)
    page = await browser.get("/apply/construction-permit-joint")
    assert page.status_code == 403 and "本事项的服务对象为：法人及其他组织" in page.text
    assert "提交申请" not in page.text


async def test_a_superscript_digit_in_a_number_field_is_refused_in_place_not_a_500(stack, people, browser):
    """"²" is a digit to str.isdigit but not to int(): 预计天数 "²" answered 500, and so did the
    licence page's `page` field (`/licences/{id}/actions`)."""
    applicant = people.applicant(0)
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "accept")
    handler = people.staff("amr", "handler")
    await browser.login(handler.username)
    opened = await browser.get(f"/cases/{case['id']}?action=start_special_procedure")
    assert opened.status_code == 200 and ">确认</button>" in opened.text
    r = await browser.submit(f"/cases/{case['id']}/actions", opened.text,
                             {"action": "start_special_procedure", "kind": "site_inspection", "expected_days": "²",
                              "comment": "现场核查", "request_id": uuid.uuid4().hex})
    assert r.status_code == 422 and "应为整数" in r.text, r.text[-500:]
    assert (await handler.case(case["id"]))["status"] == "accepted"  # nothing started
    listed = await browser.get("/licences")
    r = await browser.http.post("/licences/unknown-licence/actions",
                                data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', listed.text)[1],
                                      "action": "suspend", "comment": "", "page": "²"})
    assert r.status_code in (403, 404, 422), r.status_code
