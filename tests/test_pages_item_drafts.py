"""The `/admin/items` page's drafts in process: save a draft (problems shown in place and listed),
publish a draft, simulate one, and who may (same rules as the JSON API)."""
from __future__ import annotations

import json
import re
import uuid

import pytest

FOOD = "food-business-licence"



@pytest.fixture(scope="module")
def author(stack):
    return stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")


async def new_item(author, broken: bool = False) -> dict:
    """A new item of the author's department, copied from the food licence (broken: promised > statutory)."""
    data = (await author.get(f"/api/items/{FOOD}")).json()
    data["code"], data["name"] = f"page-{uuid.uuid4().hex[:8]}", "页面草稿测试事项"
    data.pop("implementation_code", None)
    if broken:
        data["promised_limit"] = {**data["promised_limit"], "value": data["statutory_limit"]["value"] + 5}
    return data


def draft_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="draft-([0-9a-f]+)"', html)


async def test_a_draft_with_a_problem_is_saved_listed_and_refused_at_publish(stack, author, browser):
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    assert page.status_code == 200 and "保存草稿" in page.text and 'formaction="/admin/items/drafts"' in page.text
    data = await new_item(author, broken=True)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    assert r.status_code == 200, r.text
    assert "已保存草稿" in r.text and "promised_limit" in r.text and "请修改以下问题" in r.text
    assert data["code"] in r.text  # the text is kept for correction
    listed = await browser.get("/admin/items")
    row = listed.text[listed.text.index('<tr id="draft-'):]
    did = draft_ids(listed.text)[0]
    assert data["code"] in row.split("</tr>")[0] and "1 个问题" in row.split("</tr>")[0]
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/{did}/publish", listed.text)
    assert r.status_code == 422 and "无法发布" in r.text and "promised_limit" in r.text
    assert (await author.get(f"/api/items/{data['code']}")).status_code == 404  # nothing published
    # an unreadable text is not saved
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": "a: [b"})
    assert r.status_code == 422 and "无法解析" in r.text
    assert draft_ids((await browser.get("/admin/items")).text)[0] == did


async def test_a_clean_draft_is_published_as_the_next_version(stack, author, browser):
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    data = await new_item(author)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/items?saved=")
    did = r.headers["location"].split("=", 1)[1]
    listed = await browser.get(r.headers["location"])
    assert f"已保存草稿 <span class=\"mono\">{did}</span>" in listed.text and did in draft_ids(listed.text)
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/{did}/publish", listed.text)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/items?stored={data['code']}&version=1"
    done = await browser.get(r.headers["location"])
    assert f"已发布 {data['code']} 第 1 版" in done.text and "已发布为第 1 版" in done.text
    assert (await author.get(f"/api/items/{data['code']}")).json()["version"] == 1
    # a published draft is published once: the second is a message on the page, nothing changes
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/{did}/publish", done.text)
    assert r.status_code == 409 and "已发布为第 1 版" in r.text


async def test_a_draft_is_simulated_with_its_figures_shown(stack, people, author, browser):
    people.staff("amr", "handler"), people.staff("amr", "approver")
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    data = await new_item(author)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    did = r.headers["location"].split("=", 1)[1]
    listed = await browser.get(r.headers["location"])
    assert 'name="cases" type="number" min="1" max="200" value="20"' in listed.text
    path = f"/admin/items/{data['code']}/drafts/{did}/simulate"
    r = await browser.submit(path, listed.text, {"cases": "3"})
    assert r.status_code == 200, r.text
    assert "模拟结果（3 件）" in r.text and re.search(r'id="on-time-rate">\d+\.\d%<', r.text)
    assert re.search(r'id="days-p50">\d+', r.text) and re.search(r'id="days-p90">\d+', r.text)
    assert r.text.count("（耗时损失最多的环节）") == 1 and "预警（按原因）" in r.text
    for step in data["steps"]:
        assert step["name"] in r.text
    for bad in ("201", "0", "²", "9" * 5000, "-1"):
        r = await browser.submit(path, listed.text, {"cases": bad})
        assert r.status_code == 422 and "案件数须为 1–200 的整数" in r.text
    broken = await new_item(author, broken=True)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(broken, ensure_ascii=False)})
    bad = draft_ids(r.text)[0]
    r = await browser.submit(f"/admin/items/{broken['code']}/drafts/{bad}/simulate", page.text, {"cases": "2"})
    assert r.status_code == 422 and "草稿有问题，无法模拟" in r.text


async def test_a_joint_draft_is_simulated_with_department_names(stack, browser):
    """A joint item's simulation names each department (市消防救援支队), not its code (`fire ·`), and
    not the item's own name on every department's row."""
    code = "construction-permit-joint"
    departments = ("hcd", "fire", "env", "ndrc")
    for dept in departments:
        for role in ("clerk", "handler", "approver", "lead"):
            stack.staff(dept, role)
    author = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    r = await author.post(f"/api/items/{code}/drafts", json=(await author.get(f"/api/items/{code}")).json())
    assert r.status_code == 201 and r.json()["problems"] == [], r.text
    did = r.json()["draft_id"]
    await browser.login(author.username)
    listed = await browser.get("/admin/items")
    r = await browser.submit(f"/admin/items/{code}/drafts/{did}/simulate", listed.text, {"cases": "1"})
    assert r.status_code == 200, r.text
    text = re.sub(r"<[^>]+>", " ", r.text)
    assert "市消防救援支队 · 消防设计技术审查" in text and "市生态环境局" in text
    assert not any(f"{d} · " in text for d in departments)
    item_name = (await author.get(f"/api/items/{code}")).json()["name"]
    assert text.count(item_name) == 1  # the title only


async def test_applicants_and_other_departments_get_403_and_404_pages(stack, author, browser):
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    data = await new_item(author)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    did = r.headers["location"].split("=", 1)[1]
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/no-such/simulate", page.text, {"cases": "1"})
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    other = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    await browser.login(other.username)
    page = await browser.get("/admin/items")
    assert page.status_code == 200 and did not in page.text  # another department's draft is not listed
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/{did}/publish", page.text)
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    applicant = stack.applicant()
    await browser.login(applicant.username)
    assert (await browser.get("/admin/items")).status_code == 403
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/{did}/simulate", page.text, {"cases": "1"})
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert (await author.get(f"/api/items/{data['code']}")).status_code == 404


async def test_a_draft_row_links_to_the_draft_diagram(stack, author, browser):
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    data = await new_item(author, broken=True)  # a cross-field problem: still drawn
    data["steps"][0]["name"] = "页面草稿的新环节"
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    did = draft_ids(r.text)[0]
    row = r.text[r.text.index(f'<tr id="draft-{did}"'):].split("</tr>")[0]
    link = f'/api/items/{data["code"]}/drafts/{did}/diagram'
    assert f'<a href="{link}">草稿流程图</a>' in row
    svg = await browser.get(link)  # the page's session is enough
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "页面草稿的新环节" in svg.text and "未发布" in svg.text
    # a draft the schema cannot read says so in its row instead of a link
    broken = {**data, "code": f"page-{uuid.uuid4().hex[:8]}", "steps": "not a list"}
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(broken, ensure_ascii=False)})
    bad = draft_ids(r.text)[0]
    row = r.text[r.text.index(f'<tr id="draft-{bad}"'):].split("</tr>")[0]
    assert "草稿定义无法读取，暂不能绘制流程图" in row and "/diagram" not in row.split("现行版本")[0]


async def test_a_failed_publish_is_summarised_at_the_top_of_the_page(stack, author, browser):
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    data = await new_item(author, broken=True)
    await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    listed = await browser.get("/admin/items")
    did = draft_ids(listed.text)[0]
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/{did}/publish", listed.text)
    assert r.status_code == 422
    top = r.text[:r.text.index('<h1 class="heading-l">事项管理</h1>')]
    assert 'class="error-summary" role="alert"' in top
    assert f"无法发布草稿（{data['code']}，草稿 {did[:8]}）" in top
    assert f'<a href="#draft-{did}-error">promised_limit：' in top  # each problem links to the row's message
    assert f'id="draft-{did}-error"' in r.text[r.text.index(f'<tr id="draft-{did}"'):]
    # a conflict (published already) is summarised the same way
    clean = await new_item(author)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(clean, ensure_ascii=False)})
    done_id = r.headers["location"].split("=", 1)[1]
    listed = await browser.get(r.headers["location"])
    assert (await browser.submit(f"/admin/items/{clean['code']}/drafts/{done_id}/publish", listed.text)).status_code == 303
    r = await browser.submit(f"/admin/items/{clean['code']}/drafts/{done_id}/publish", listed.text)
    top = r.text[:r.text.index('<h1 class="heading-l">事项管理</h1>')]
    assert r.status_code == 409 and 'role="alert"' in top and "已发布为第 1 版" in top


async def test_saving_the_corrected_text_updates_the_draft_saved_with_problems(stack, author, browser):
    """The page says "请修改后再保存": saving again corrects that draft rather than adding one beside it."""
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    data = await new_item(author, broken=True)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    assert r.status_code == 200 and "将更新此草稿" in r.text
    saved = re.search(r'name="draft_id" value="([0-9a-f]+)"', r.text).group(1)
    # a save that fails (unreadable text) keeps the draft being corrected
    again = await browser.submit("/admin/items/drafts", r.text, {"definition": "a: [b", "draft_id": saved})
    assert again.status_code == 422 and f'name="draft_id" value="{saved}"' in again.text
    data["promised_limit"] = {**data["promised_limit"], "value": data["statutory_limit"]["value"]}
    fixed = await browser.submit("/admin/items/drafts", again.text,
                                 {"definition": json.dumps(data, ensure_ascii=False), "draft_id": saved})
    assert fixed.status_code == 303 and fixed.headers["location"] == f"/admin/items?saved={saved}"
    drafts = (await author.get(f"/api/items/{data['code']}/drafts")).json()
    assert [(d["draft_id"], d["problems"]) for d in drafts["items"]] == [(saved, [])]
