"""Admin pages in process: the users form reports every problem at once, each beside its field."""
from __future__ import annotations

import re
import uuid


def field_error(html: str, field_id: str) -> str:
    """The error message shown beside a field (its `{id}-error` element), without the hidden prefix."""
    m = re.search(rf'id="{re.escape(field_id)}-error"><span class="visually-hidden">错误：</span>([^<]*)<', html)
    assert m, f"no error beside {field_id}"
    return m.group(1)


async def test_every_problem_of_the_users_form_is_reported_at_once_beside_its_field(stack, people, browser):
    await browser.login(people.admin.username)
    page = await browser.get("/admin/users")
    too_long = "u" * 65
    secret = "short-pw"
    r = await browser.submit("/admin/users", page.text, {"username": too_long, "name": "王小明", "password": secret,
                                                         "department": "amr", "id_number": "12345"})
    assert r.status_code == 422
    html = r.text
    # each problem beside its field
    assert field_error(html, "user-username") == "用户名须为 1 至 64 个字符"
    assert field_error(html, "user-password").startswith("密码至少 10 位")
    assert field_error(html, "user-roles") == "请至少选择一个角色"
    assert "证件号码" in html and field_error(html, "user-id_number")
    assert 'id="user-department-error"' not in html and 'id="user-name-error"' not in html
    # and all of them in the summary at the top, in the form's order, each linking to its field
    summary = html[html.index('class="error-summary"'):]
    summary = summary[:summary.index("</div>")]
    assert re.findall(r'<a href="#([^"]+)">', summary) == ["user-username", "user-password", "role-applicant",
                                                            "user-id_number"]
    # what was typed is kept, except the password
    assert f'value="{too_long}"' in html and 'value="王小明"' in html and 'value="12345"' in html
    assert '<option value="amr" selected>' in html
    assert secret not in html
    # nothing was stored
    assert too_long not in (await browser.get("/admin/users")).text


async def test_a_staff_role_without_a_department_is_reported_with_the_other_problems(stack, people, browser):
    await browser.login(people.admin.username)
    page = await browser.get("/admin/users")
    name = f"u{uuid.uuid4().hex[:6]}"
    r = await browser.submit("/admin/users", page.text, {"username": name, "password": "short", "roles": "handler"})
    assert r.status_code == 422
    assert field_error(r.text, "user-password").startswith("密码至少 10 位")
    assert field_error(r.text, "user-department") == "窗口和审批人员必须属于一个部门"
    assert 'id="role-handler" name="roles" type="checkbox" value="handler" checked' in r.text
    assert 'id="user-username-error"' not in r.text
    # corrected, it is stored
    r = await browser.submit("/admin/users", r.text, {"username": name, "password": "longer-pass-123",
                                                      "roles": "handler", "department": "amr"})
    assert r.status_code == 303 and name in (await browser.get("/admin/users")).text


async def test_the_calendar_page_takes_the_years_the_api_takes_and_names_a_year_outside_them(stack, people, browser):
    await browser.login(people.admin.username)
    api = people.admin
    for year in (1949, 1960, 2100):
        r = await browser.get(f"/admin/calendar/{year}")
        assert r.status_code == 200 and f"{year} 年工作日历" in r.text, year
        assert (await api.get(f"/api/calendar/{year}")).status_code == 200
    first, last = (await browser.get("/admin/calendar/1949")).text, (await browser.get("/admin/calendar/2100")).text
    assert "/admin/calendar/1948" not in first and "/admin/calendar/1950" in first
    assert "/admin/calendar/2101" not in last and "/admin/calendar/2099" in last
    page = (await browser.get("/admin/calendar/2026")).text
    for year in (1948, 1900, 2101, 99999):
        r = await browser.get(f"/admin/calendar/{year}")
        assert r.status_code == 422 and "1949 至 2100" in r.text and f"{year} 年" in r.text, year
        assert "2000 年工作日历" not in r.text
        assert (await api.get(f"/api/calendar/{year}")).status_code == 422
        r = await browser.submit(f"/admin/calendar/{year}", page, {"holidays": "", "workdays": ""})
        assert r.status_code == 422 and "1949 至 2100" in r.text, year
