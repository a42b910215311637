"""A form field's bounds where form data arrives: POST /api/cases (422 naming the field and the rule,
nothing created) and the apply page (bounds as HTML attributes and hints, errors in place, a required
yes/no question as a 是/否 choice, a commitment to tick). The rules themselves: tests/test_form_bounds.py."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from banjian import form_values
from tests.conftest import application
from tests.pages_client import hidden
from tests.test_pages import material_files

MARRIAGE = "marriage-registration-appointment"
REGISTRATION = "individual-business-registration"  # capital ≥ 0, contact_phone ≤ 20, a declaration to tick
HOUSING = "housing-fund-deposit-registration"  # deposit_ratio 5–12, employee_count whole ≥ 1 (organisations)
JOINT = "construction-permit-joint"  # special_project: a required yes/no question (organisations)


@pytest.fixture(scope="module")
async def visit_item(stack) -> str:
    """A copy of the marriage appointment under a code of its own, asking a visit date in a window
    (today … today+30): no shipped item asks one (the marriage appointment's visit is its booking)."""
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    d = (await admin.get(f"/api/items/{MARRIAGE}")).json()
    d.pop("versions")
    d.pop("implementation_code", None)  # an implementation code names one item: a copy has none of its own
    d.update(code=f"visit-{uuid.uuid4().hex[:8]}", name="测试到场预约", version=1)
    d["form"].insert(1, {"name": "appointment_date", "label": "预约日期", "type": "date", "required": True,
                         "earliest": "today", "latest": "today+30"})
    r = await admin.post("/api/items", json=d)
    assert r.status_code == 201, r.text
    return str(d["code"])



async def refused(user, item_code: str, field: str, value, code: str) -> dict:
    """Apply with `field` set to `value` (None: left out): a 422 naming form.<field>, and no case."""
    before = (await user.get("/api/cases")).json()["total"]
    body = await application(user, item_code)
    if value is None:
        body["form"].pop(field, None)
    else:
        body["form"][field] = value
    r = await user.post("/api/cases", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == code and detail["field"] == f"form.{field}", detail
    assert (await user.get("/api/cases")).json()["total"] == before
    return detail


async def test_a_date_outside_its_window_is_refused_naming_the_field_and_the_rule(stack, visit_item):
    u, visit = stack.applicant(), visit_item
    today = form_values.today()
    early = await refused(u, visit, "appointment_date", (today - timedelta(days=1)).isoformat(), "out_of_range")
    assert early["message"] == f"预约日期不能早于 {today.isoformat()}（今天）"
    assert early["message_en"] == f"form.appointment_date must not be before {today.isoformat()}"
    late = await refused(u, visit, "appointment_date", (today + timedelta(days=31)).isoformat(), "out_of_range")
    assert late["message"] == f"预约日期不能晚于 {(today + timedelta(days=30)).isoformat()}"
    ok = await u.apply(visit, form={**(await application(u, visit))["form"],
                                    "appointment_date": (today + timedelta(days=30)).isoformat()})
    assert ok.status_code == 201, ok.text


async def test_an_id_number_with_a_wrong_check_character_is_refused_naming_the_field(stack):
    u = stack.applicant()
    wrong = await refused(u, MARRIAGE, "party_b_id_number", "110101199001010010", "invalid_citizen_id")
    assert wrong["message"] == "另一方公民身份号码有误：公民身份号码校验码错误：最后一位应为“5”，实际为“0”。"
    assert wrong["message_en"].startswith("form.party_b_id_number is not valid") and "expected '5'" in wrong["message_en"]
    ok = await u.apply(MARRIAGE, form={**(await application(u, MARRIAGE))["form"],
                                       "party_b_id_number": "110101199001010015"})
    assert ok.status_code == 201, ok.text


async def test_numbers_texts_and_commitments_beyond_their_bounds_are_refused(stack):
    u = stack.applicant()
    low = await refused(u, REGISTRATION, "capital", -1, "out_of_range")
    assert low["message"] == "资金数额（万元）应不小于 0" and low["message_en"] == "form.capital must be at least 0"
    long = await refused(u, REGISTRATION, "contact_phone", "1" * 21, "too_long")
    assert long["message"] == "联系电话不能超过 20 字" and "at most 20 characters" in long["message_en"]
    words = await refused(u, REGISTRATION, "contact_phone", "找店里张三", "invalid_phone")
    assert words["message"] == "联系电话格式不正确：只能包含数字、空格和连字符（可以 + 开头），5 至 15 位数字"
    assert words["message_en"].startswith("form.contact_phone is not a phone number")
    pledge = await refused(u, REGISTRATION, "declaration", False, "commitment_required")
    assert pledge["message"].startswith("本人承诺所填信息真实有效") and "须勾选" in pledge["message"]
    assert "must be true" in pledge["message_en"]
    missing = await refused(u, REGISTRATION, "declaration", None, "missing_required")
    assert "本人承诺所填信息真实有效" in missing["message"]
    ok = await u.apply(REGISTRATION)
    assert ok.status_code == 201, ok.text
    assert (await u.case(ok.json()["id"]))["form"]["declaration"] is True  # the pledge is on the record


async def test_a_range_and_whole_numbers_stated_in_a_label_are_enforced(stack):
    org = stack.applicant(organisation=True)
    above = await refused(org, HOUSING, "deposit_ratio", 13, "out_of_range")
    assert above["message"] == "缴存比例（%，5—12）应在 5 至 12 之间"
    assert above["message_en"] == "form.deposit_ratio must be between 5 and 12"
    await refused(org, HOUSING, "deposit_ratio", 4.5, "out_of_range")
    whole = await refused(org, HOUSING, "employee_count", 2.5, "not_integer")
    assert whole["message"] == "缴存职工人数应为整数" and whole["message_en"] == "form.employee_count must be a whole number"
    await refused(org, HOUSING, "employee_count", 0, "out_of_range")
    body = await application(org, HOUSING)
    body["form"].update(deposit_ratio=12, employee_count=8)
    r = await org.post("/api/cases", json=body)
    assert r.status_code == 201, r.text


async def test_a_required_yes_no_question_must_be_answered_and_no_is_an_answer(stack):
    org = stack.applicant(organisation=True)
    missing = await refused(org, JOINT, "special_project", None, "missing_required")
    assert missing["message"] == "缺少必填项：是否属于特殊建设工程"
    await refused(org, JOINT, "special_project", "否", "invalid_value")


# ---- the apply page -------------------------------------------------------------------------
async def test_the_apply_page_states_each_bound_as_attributes_and_in_the_hint(stack, browser, visit_item):
    org = stack.applicant(organisation=True)
    await browser.login(org.username)
    page = (await browser.get(f"/apply/{HOUSING}")).text
    ratio = re.search(r'<input class="input" id="form-deposit_ratio"[^>]*>', page).group(0)
    assert 'type="number"' in ratio and 'min="5"' in ratio and 'max="12"' in ratio and 'step="any"' in ratio
    assert 'aria-describedby="form-deposit_ratio-hint"' in ratio
    assert '<div class="hint" id="form-deposit_ratio-hint">请填写 5 至 12 之间的数字</div>' in page
    assert '<label class="label" for="form-deposit_ratio">缴存比例（%，5—12）</label>' in page  # the label alone
    count = re.search(r'<input class="input" id="form-employee_count"[^>]*>', page).group(0)
    assert 'step="1"' in count and 'min="1"' in count and 'inputmode="numeric"' in count
    assert "请填写不小于 1 的整数" in page
    phone = re.search(r'<input class="input" id="form-contact_phone"[^>]*>', page).group(0)
    # a phone number on a phone: the dial pad (type tel), and the browser may fill in the user's number
    assert 'maxlength="20"' in phone and 'type="tel"' in phone
    assert 'inputmode="tel"' in phone and 'autocomplete="tel"' in phone
    pledge = re.search(r'<input id="form-declaration"[^>]*>', page).group(0)
    assert 'type="checkbox"' in pledge and "checked" not in pledge
    assert "须勾选确认后才能提交" in page
    today = form_values.today()
    u = stack.applicant()
    await browser.login(u.username)
    marriage = (await browser.get(f"/apply/{visit_item}")).text
    day = re.search(r'<input class="input" id="form-appointment_date"[^>]*>', marriage).group(0)
    assert f'min="{today.isoformat()}"' in day and f'max="{(today + timedelta(days=30)).isoformat()}"' in day
    assert f"可填 {today.isoformat()}（今天） 至 {(today + timedelta(days=30)).isoformat()}" in marriage
    ceremony = re.search(r'<input id="form-ceremony"[^>]*>', marriage).group(0)  # optional: one box, as before
    assert 'type="checkbox"' in ceremony


async def test_a_required_yes_no_question_is_a_choice_that_must_be_made(stack, browser):
    org = stack.applicant(organisation=True)
    await browser.login(org.username)
    page = (await browser.get(f"/apply/{JOINT}")).text
    select = re.search(r'<select class="select" id="form-special_project"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None and 'name="form.special_project"' in select.group(0)
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))
    assert options == [("", "请选择"), ("true", "是"), ("false", "否")]
    assert 'id="form-special_project" name="form.special_project" type="checkbox"' not in page
    data = {"idempotency_key": hidden(page, "idempotency_key")}
    r = await browser.submit(f"/apply/{JOINT}", page, data)
    assert r.status_code == 422
    assert '<p class="error-message" id="form-special_project-error"><span class="visually-hidden">错误：</span>' \
           "请选择是否属于特殊建设工程：是或否</p>" in r.text
    r = await browser.submit(f"/apply/{JOINT}", page, {**data, "form.special_project": "false"})
    assert r.status_code == 422 and "请选择是否属于特殊建设工程" not in r.text  # 否 is an answer
    assert '<option value="false" selected>否</option>' in r.text  # kept for the next try


async def test_values_beyond_their_bounds_are_refused_in_place_then_corrected(stack, browser):
    org = stack.applicant(organisation=True)
    await browser.login(org.username)
    page = (await browser.get(f"/apply/{HOUSING}")).text
    before = (await org.get("/api/cases")).json()["total"]
    data = {"idempotency_key": hidden(page, "idempotency_key"), "form.unit_name": "星河餐饮管理有限公司",
            "form.unit_type": "企业", "form.deposit_ratio": "13", "form.employee_count": "2.5",
            "form.first_deposit_month": form_values.today().replace(day=1).isoformat(),
            "form.contact_name": "王五", "form.contact_phone": "1" * 21}
    files = material_files(page)
    r = await browser.submit(f"/apply/{HOUSING}", page, data, files)
    assert r.status_code == 422
    for message in ("缴存比例（%，5—12）应在 5 至 12 之间", "缴存职工人数应为整数", "单位联系人电话不能超过 20 字",
                    "请勾选确认：本单位承诺所填信息真实有效，并按时足额缴存住房公积金"):
        assert r.text.count(message) == 2, message  # in the summary and beside the field
    assert 'href="#form-deposit_ratio"' in r.text and 'href="#form-declaration"' in r.text
    ratio = re.search(r'<input class="input" id="form-deposit_ratio"[^>]*>', r.text).group(0)
    assert 'value="13"' in ratio and 'aria-invalid="true"' in ratio
    assert (await org.get("/api/cases")).json()["total"] == before  # nothing filed
    kept = dict(re.findall(r'name="(kept_material_\d+)" value="([0-9a-f]+)"', r.text))
    fixed = {**data, **kept, "form.deposit_ratio": "12", "form.employee_count": "8", "form.contact_phone": "0571-88888888",
             "form.declaration": "true"}
    ok = await browser.submit(f"/apply/{HOUSING}", r.text, fixed)
    assert ok.status_code == 303, ok.text
    case = await org.case(re.search(r"/cases/(\d+)", ok.headers["location"]).group(1))
    assert case["form"]["deposit_ratio"] == 12 and case["form"]["declaration"] is True
