"""The web pages in process: labels and routes of the contract, sessions, CSRF, visibility, errors,
applying with files, acting on a case, admin pages. (Real-browser journeys: tests/test_browser.py.)"""
from __future__ import annotations

import re
import uuid

import httpx
import pytest

from banjian.auth import Tokens
from tests.pages_client import PDF, PageClient, csrf_of, hidden

ITEM = "food-business-licence"



@pytest.fixture
async def browser2(stack):
    c = PageClient(stack)
    yield c
    await c.close()


def apply_data(html: str) -> dict:
    return {"idempotency_key": hidden(html, "idempotency_key"),
            "form.business_name": "星河小吃店", "form.business_address": "杭州市西湖区文三路 1 号",
            "form.main_business": "餐饮服务经营者", "form.business_items": "热食类食品制售",
            "form.business_area": "45", "form.planned_opening_date": "2027-01-10",
            "form.food_safety_manager": "王五", "form.operator_name": "王建国"}


def material_files(html: str, content: bytes = PDF) -> dict:
    names = re.findall(r'name="(material_\d+)" type="file"', html)
    return {n: (f"{n}.pdf", content, "application/pdf") for n in names}


async def test_home_guide_and_item_page_show_the_contract_labels(stack, browser):
    home = await browser.get("/")
    assert home.status_code == 200 and 'lang="zh-CN"' in home.text and "charset=utf-8" in home.headers["content-type"]
    assert 'href="/login"' in home.text
    guide = await browser.get("/guide")
    assert '<label class="label" for="q">搜索</label>' in guide.text and "食品经营许可" in guide.text
    found = await browser.get("/guide", params={"q": "食品"})
    assert "食品经营许可" in found.text and "结婚登记" not in found.text
    item = await browser.get(f"/guide/{ITEM}")
    for heading in ("事项名称", "设定依据", "受理条件", "申请材料", "办理流程", "办理时限", "收费标准", "办理地点", "咨询电话"):
        assert f"<dt>{heading}</dt>" in item.text
    assert f'href="/apply/{ITEM}">在线申请</a>' in item.text
    assert "法定 20 个工作日；承诺 10 个工作日" in item.text
    assert (await browser.get("/guide/no-such-item")).status_code == 404


async def test_login_sets_a_safe_session_cookie_and_returns_to_the_page_asked_for(stack, browser):
    u = stack.applicant()
    r = await browser.get("/my/cases")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/my/cases"
    page = await browser.get("/login?next=/my/cases")
    assert '<label class="label" for="username">用户名</label>' in page.text
    assert '<label class="label" for="password">密码</label>' in page.text and ">登录</button>" in page.text
    bad = await browser.http.post("/login", data={"username": u.username, "password": "wrong-1234",
                                                  "next": "/my/cases", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text and f'value="{u.username}"' in bad.text
    r = await browser.login(u.username, next_url="/my/cases")
    assert r.status_code == 303 and r.headers["location"] == "/my/cases"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("banjian_token="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
    assert (await browser.get("/my/cases")).status_code == 200
    # no open redirect after login
    r = await browser.login(u.username, next_url="//evil.example/x")
    assert r.headers["location"] == "/"
    # logout ends the session, and a copy of its cookie (or its token as a bearer) stops working
    token = browser.http.cookies["banjian_token"]
    page = await browser.get("/")
    r = await browser.http.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert (await browser.get("/my/cases")).status_code == 303
    stolen = await browser.get("/my/cases", headers={"Cookie": f"banjian_token={token}"})
    assert stolen.status_code == 303 and stolen.headers["location"] == "/login?next=/my/cases"
    assert (await browser.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_page_logins_are_throttled_like_the_api(stack):
    """Eleven failed logins from one address: the page answers 429 with Retry-After, as the API does."""
    u = stack.applicant()
    browser = PageClient(stack, address="10.250.1.7")
    try:
        statuses = []
        for _ in range(11):
            page = await browser.get("/login")
            r = await browser.http.post("/login", data={"username": u.username, "password": "wrong-1234",
                                                        "csrf_token": csrf_of(page.text)})
            statuses.append(r.status_code)
        assert statuses == [401] * 10 + [429], statuses
        assert int(r.headers["retry-after"]) > 0 and "登录失败次数过多" in r.text
        r = await browser.login(u.username)  # the right password is still accepted
        assert r.status_code == 303
    finally:
        await browser.close()


async def test_an_expired_session_goes_to_login_then_back(stack, browser):
    u = stack.applicant()
    expired = Tokens(stack.settings.secret_key(), -60).issue(u.username)
    browser.http.cookies.set("banjian_token", expired)
    r = await browser.get("/my/cases?page=1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/my/cases%3Fpage%3D1"
    r = await browser.login(u.username, next_url="/my/cases?page=1")
    assert r.headers["location"] == "/my/cases?page=1"


async def test_a_forged_csrf_token_is_a_403_page(stack, browser):
    u = stack.applicant()
    await browser.get("/login")
    r = await browser.http.post("/login", data={"username": u.username, "password": "x", "csrf_token": "forged"})
    assert r.status_code == 403 and "表单校验失败" in r.text and "错误代码 403" in r.text
    await browser.login(u.username)
    form = await browser.get(f"/apply/{ITEM}")
    r = await browser.http.post(f"/apply/{ITEM}", data={**apply_data(form.text), "csrf_token": "0" * 64},
                                files=material_files(form.text))
    assert r.status_code == 403
    assert (await browser.get("/my/cases")).text.count('class="card"') == 0  # nothing filed


async def test_unknown_pages_and_other_peoples_cases_are_chinese_404_pages(stack, people, browser, browser2):
    r = await browser.get("/no/such/page")
    assert r.status_code == 404 and "页面不存在" in r.text and "text/html" in r.headers["content-type"]
    owner, other = people.applicant(0), stack.applicant()
    case = (await owner.apply(ITEM)).json()
    await browser.login(other.username)
    r = await browser.get(f"/cases/{case['id']}")
    assert r.status_code == 404 and "错误代码 404" in r.text and case["applicant"]["name"] not in r.text
    await browser2.login(owner.username)
    assert (await browser2.get(f"/cases/{case['id']}")).status_code == 200
    # the JSON API keeps its JSON errors
    assert (await browser.get("/api/no-such")).headers["content-type"].startswith("application/json")


async def test_apply_form_has_one_labelled_input_per_field_and_material(stack, browser):
    u = stack.applicant()
    await browser.login(u.username)
    page = await browser.get(f"/apply/{ITEM}")
    item = (await u.get(f"/api/items/{ITEM}")).json()
    for f in item["form"]:
        assert re.search(rf'<label class="label" for="form-{f["name"]}">{re.escape(f["label"])}', page.text), f
    for i, m in enumerate(item["materials"]):
        assert f'<label class="label" for="material-{i}">{m["name"]}</label>' in page.text
        assert f'id="material-{i}" name="material_{i}" type="file"' in page.text
    assert page.text.count('type="submit">提交申请</button>') == 1


async def test_applying_with_files_then_a_double_click_files_one_case(stack, browser):
    u = stack.applicant()
    await browser.login(u.username)
    page = await browser.get(f"/apply/{ITEM}")
    data, files = apply_data(page.text), material_files(page.text)
    first = await browser.submit(f"/apply/{ITEM}", page.text, data, files)
    assert first.status_code == 303, first.text
    again = await browser.submit(f"/apply/{ITEM}", page.text, data, files)
    assert again.headers["location"] == first.headers["location"]
    case_page = await browser.get(first.headers["location"])
    assert "申请已提交" in case_page.text and "星河小吃店" in case_page.text
    case_id = re.search(r"/cases/(\d+)", first.headers["location"]).group(1)
    case = await u.case(case_id)
    assert all(m["file_id"] for m in case["materials"]) and len(case["materials"]) == len(files)
    mine = await browser.get("/my/cases")
    assert mine.text.count(f'href="/cases/{case_id}"') == 1 and "已提交，待受理" in mine.text


async def test_a_filed_form_changed_and_sent_again_says_so_and_files_anew_on_the_next_submit(stack, browser):
    u = stack.applicant()
    await browser.login(u.username)
    page = await browser.get(f"/apply/{ITEM}")
    data, files = apply_data(page.text), material_files(page.text)
    first = await browser.submit(f"/apply/{ITEM}", page.text, data, files)
    assert first.status_code == 303, first.text
    # Back to the form, a value changed: not silently the earlier case
    changed = {**data, "form.business_area": "60"}
    r = await browser.submit(f"/apply/{ITEM}", page.text, changed, files)
    assert r.status_code == 422 and "已用于此前提交的另一份申请" in r.text, r.text
    new_key = hidden(r.text, "idempotency_key")
    assert new_key != data["idempotency_key"]
    again = await browser.submit(f"/apply/{ITEM}", r.text, {**changed, "idempotency_key": new_key}, files)
    assert again.status_code == 303 and again.headers["location"] != first.headers["location"]
    assert (await u.get("/api/cases")).json()["total"] == 2


async def test_errors_show_beside_fields_with_values_kept_and_an_oversize_file_explained(stack, browser):
    u = stack.applicant()
    await browser.login(u.username)
    page = await browser.get(f"/apply/{ITEM}")
    data = {**apply_data(page.text), "form.business_area": "四十五", "form.food_safety_manager": ""}
    files = material_files(page.text)
    first_material = sorted(files)[0]
    files[first_material] = ("big.pdf", b"%PDF-1.4\n" + bytes(20 * 1024 * 1024), "application/pdf")
    r = await browser.submit(f"/apply/{ITEM}", page.text, data, files)
    assert r.status_code == 422
    assert "请修改以下问题" in r.text  # the summary at the top
    assert "经营场所面积（平方米）应为数字" in r.text and "请填写食品安全管理人员姓名" in r.text
    assert "文件过大：不能超过 20 MiB" in r.text
    assert 'value="星河小吃店"' in r.text and 'value="四十五"' in r.text  # values kept
    assert r.text.count("已上传：") == len(files) - 1  # the good files are kept for the next try
    # corrected: the kept files and a new one for the oversize material file the case
    fixed = {**data, "form.business_area": "45", "form.food_safety_manager": "王五",
             **dict(re.findall(r'name="(kept_material_\d+)" value="([0-9a-f]+)"', r.text))}
    ok = await browser.submit(f"/apply/{ITEM}", r.text, fixed, {first_material: ("ok.pdf", PDF, "application/pdf")})
    assert ok.status_code == 303, ok.text


async def test_workbench_and_case_actions_through_pages(stack, people, browser, browser2):
    applicant, clerk = stack.applicant(), people.clerk
    marriage = (await applicant.apply("marriage-registration-appointment")).json()  # an inbox no other test fills
    await browser.login(stack.staff("civil", "clerk").username)
    work = await browser.get("/work")
    assert f'href="/cases/{marriage["id"]}"' in work.text and "我的待办" in work.text and "同事已签收" in work.text
    case = (await applicant.apply(ITEM)).json()
    await browser.login(clerk.username)
    page = await browser.get(f"/cases/{case['id']}")
    for name in ("受理", "补正告知", "不予受理"):
        assert f">{name}</button>" in page.text
    assert ">准予许可</button>" not in page.text
    # 补正告知 opens its fields; submitting without a choice is an error beside the field
    opened = await browser.get(f"/cases/{case['id']}?action=request_supplement")
    assert ">确认</button>" in opened.text and "需补正的材料" in opened.text
    r = await browser.submit(f"/cases/{case['id']}/actions", opened.text,
                             {"action": "request_supplement", "request_id": uuid.uuid4().hex})
    assert r.status_code == 422 and "请选择需要补正的材料" in r.text
    r = await browser.submit(f"/cases/{case['id']}/actions", opened.text,
                             {"action": "request_supplement", "missing": "营业执照", "request_id": uuid.uuid4().hex})
    assert r.status_code == 303
    assert (await applicant.case(case["id"]))["status"] == "supplement_requested"
    # the applicant answers with a file on the case page: a second version of the material
    await browser2.login(applicant.username)
    mine = await browser2.get(f"/cases/{case['id']}?action=submit_supplement")
    assert 'for="supplement-0">营业执照' in mine.text
    r = await browser2.submit(f"/cases/{case['id']}/actions", mine.text,
                              {"action": "submit_supplement", "request_id": uuid.uuid4().hex},
                              {"supplement_0": ("营业执照.pdf", PDF, "application/pdf")})
    assert r.status_code == 303, r.text
    shown = await browser2.get(f"/cases/{case['id']}")
    assert "第 2 版" in shown.text
    page = await browser.get(f"/cases/{case['id']}")
    r = await browser.submit(f"/cases/{case['id']}/actions", page.text, {"action": "accept", "request_id": "x1"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=accept")
    assert (await applicant.case(case["id"]))["status"] in ("accepted", "in_review")
    # an action the caller may not take now is refused with a page, nothing changes
    r = await browser.submit(f"/cases/{case['id']}/actions", page.text, {"action": "accept", "request_id": "x2"})
    assert r.status_code in (403, 409) and "text/html" in r.headers["content-type"]


async def test_admin_item_upload_shows_every_problem_in_place(stack, people, browser):
    await browser.login(people.admin.username)
    page = await browser.get("/admin/items")
    assert page.status_code == 200 and "上传事项定义" in page.text
    bad = "code: x-bad\nname: 坏事项\ndepartment: amr\npromised_limit: {value: 30}\nstatutory_limit: {value: 20}\n"
    r = await browser.submit("/admin/items", page.text, {"definition": bad})
    assert r.status_code == 422 and "请修改以下问题" in r.text and "发现" in r.text
    assert "promised_limit" in r.text or "legal_basis" in r.text
    assert "x-bad" in r.text  # the text is kept for correction
    applicant = stack.applicant()
    await browser.login(applicant.username)
    assert (await browser.get("/admin/items")).status_code == 403


async def test_admin_calendar_marks_provisional_years(stack, people, browser):
    await browser.login(people.admin.username)
    r = await browser.get("/admin/calendar/2026")
    assert r.status_code == 200 and "正式" in r.text and "2026年10月1日" in r.text
    r = await browser.get("/admin/calendar/2031")
    assert "暂定" in r.text
    r = await browser.submit("/admin/calendar/2031", r.text, {"holidays": "2031-13-01", "workdays": ""})
    assert r.status_code == 422 and 'value="2031-13-01"' not in r.text and "2031-13-01" in r.text


async def test_admin_users_page_adds_a_user(stack, people, browser):
    await browser.login(people.admin.username)
    page = await browser.get("/admin/users")
    name = f"u{uuid.uuid4().hex[:6]}"
    r = await browser.submit("/admin/users", page.text, {"username": name, "password": "short", "roles": "handler",
                                                         "department": "amr"})
    assert r.status_code == 422 and "密码至少 10 位" in r.text and f'value="{name}"' in r.text
    r = await browser.submit("/admin/users", page.text, {"username": name, "password": "longer-pass-123",
                                                         "roles": "handler", "department": "amr"})
    assert r.status_code == 303
    assert name in (await browser.get("/admin/users")).text


async def test_audit_page_is_for_auditors_and_admins_only(stack, people, browser):
    owner = stack.applicant()
    case = (await owner.apply(ITEM)).json()
    await browser.login(owner.username)
    assert (await browser.get(f"/audit/cases/{case['id']}")).status_code == 403
    auditor = stack.user(f"pages-auditor-{uuid.uuid4().hex[:4]}", "auditor")
    await browser.login(auditor.username)
    page = await browser.get(f"/audit/cases/{case['id']}")
    assert page.status_code == 200 and "重放通过" in page.text and "防篡改校验通过" in page.text
    assert "办件尚未办结，暂无归档包" in page.text
    assert (await browser.get("/audit/cases/20260101000000")).status_code == 404


async def test_an_unexpected_error_is_a_chinese_500_page_without_a_traceback(stack, monkeypatch):
    def broken() -> list:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(stack.app.state.catalog, "all_current", broken)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app, raise_app_exceptions=False),
                             base_url="http://banjian.test")
    async with http:
        r = await http.get("/guide")
        assert r.status_code == 500 and "系统出错了" in r.text and "错误代码 500" in r.text
        assert "secret internal detail" not in r.text and "Traceback" not in r.text
        api = await http.get("/api/items", headers=await stack.applicant().headers())
        assert api.status_code == 500 and api.json()["detail"]["code"] == "internal_error"


async def test_a_material_an_e_licence_may_replace_is_asked_for_by_the_service(stack, browser):
    u = stack.applicant()
    await browser.login(u.username)
    page = await browser.get(f"/apply/{ITEM}")
    files = material_files(page.text)
    files.pop("material_1")  # 营业执照 (licence_type 营业执照): this applicant holds no e-licence
    r = await browser.submit(f"/apply/{ITEM}", page.text, apply_data(page.text), files)
    assert r.status_code == 422 and "您名下没有有效的“营业执照”电子证照可自动调取，请上传营业执照" in r.text
    assert 'id="material-1-error"' in r.text  # beside the material's input


async def test_home_offers_a_citizen_only_items_a_citizen_may_apply_for(stack, browser):
    """常办事项 listed company-only items (建设工程 permits, 住房公积金 registration) to a citizen."""
    items = (await stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin").get("/api/items")).json()
    only_companies = {i["code"] for i in items
                      if (await browser.http.get(f"/api/items/{i['code']}", headers=await stack.applicant().headers()))
                      .json()["service_object"] == ["organisation"]}
    assert only_companies
    u = stack.applicant()
    await browser.login(u.username)
    listed = re.findall(r'<li><a href="/guide/([^"]+)">', (await browser.get("/")).text.split("常办事项", 1)[1])
    assert listed and not set(listed) & only_companies
