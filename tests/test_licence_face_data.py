"""The printed licence's face data as people read it: dates in Chinese, yes/no as 是/否, and no empty
rows for fields the case left blank (licence_document.html)."""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from api.licence_document import ENV, face_value


def test_face_values_print_as_people_read_them():
    assert face_value("2026-12-03") == "2026年12月3日"
    assert face_value(True) == "是" and face_value(False) == "否"
    assert face_value(None) == "" and face_value("") == ""
    assert face_value("餐饮服务") == "餐饮服务" and face_value(120) == "120"
    assert face_value("2026-13-40") == "2026-13-40"  # not a date: as given


def test_the_document_prints_no_row_for_an_empty_field():
    licence = SimpleNamespace(
        licence_no="JY13301000000001", holder_name="张三", id="1.2.156.3005.2.x", issuer="市市场监督管理局",
        valid_from=date(2026, 12, 3), valid_to=date(2031, 12, 2), issue_date=date(2026, 12, 3), type_name="食品经营许可证",
        face_data={"name": {"label": "名称", "value": ""}, "registered": {"label": "注册日期", "value": "2026-12-03"},
                   "scope": {"label": "经营项目", "value": "热食类食品制售"}})
    html = ENV.get_template("licence_document.html").render(
        licence=licence, verify_url="http://x/licences/1/verify", qr_svg="", status="有效", valid=True, mark=None,
        signature_valid=True, holder_id_masked="3301**********0011")
    assert "<th>注册日期</th><td>2026年12月3日</td>" in html and "<th>经营项目</th><td>热食类食品制售</td>" in html
    assert "<th>名称</th>" not in html


async def test_a_companys_food_licence_names_its_legal_representative_not_the_company(stack):
    """法定代表人（负责人） on a company's 食品经营许可证 is the person the application names; it used to
    print the applicant's name, which for a company is the company itself."""
    from tests.conftest import application
    from tests.test_licences import approved

    company = stack.applicant(organisation=True)
    body = await application(company, "food-business-licence")
    form = {**body["form"], "business_name": "星河餐厅", "operator_name": "王建国"}
    case = await approved(stack, company, "food-business-licence", form=form)
    licence = (await company.get(f"/api/licences/{case['result']['licence_id']}")).json()
    holder = licence["face_data"]["holder"]
    assert holder == {"label": "法定代表人（负责人）", "value": "王建国"}
    assert licence["holder_name"] == case["applicant"]["name"] != holder["value"]  # the company holds it
    page = (await company.get(f"/api/licences/{licence['id']}/document")).text
    assert "<th>法定代表人（负责人）</th><td>王建国</td>" in page
    assert f"<th>法定代表人（负责人）</th><td>{case['applicant']['name']}</td>" not in page
    # the form asks for the name: a company cannot leave it out
    r = await company.post("/api/cases", json={**body, "form": {k: v for k, v in form.items() if k != "operator_name"}})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "form.operator_name", r.text
