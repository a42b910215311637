"""Editing drafts on `/admin/items` as an author does: a saved draft is opened again in the editor
(after a reload, a logout), a new draft starts from the item's current version, two authors saving
one draft never silently overwrite each other (page and `PUT` with `If-Match`), and a long paste is
answered on the page with the text kept."""
from __future__ import annotations

import html
import json
import re
import uuid

import pytest
import yaml

from tests.pages_client import PageClient, hidden

FOOD = "food-business-licence"



@pytest.fixture
async def second_browser(stack):
    c = PageClient(stack)
    yield c
    await c.close()


@pytest.fixture(scope="module")
def author(stack):
    return stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")


async def new_item(author) -> dict:
    data = (await author.get(f"/api/items/{FOOD}")).json()
    data.pop("versions")
    data["code"], data["name"] = f"edit-{uuid.uuid4().hex[:8]}", "编辑草稿测试事项"
    data.pop("implementation_code", None)
    return data


def editor_text(page: str) -> str:
    m = re.search(r'<textarea[^>]*id="definition"[^>]*>(.*?)</textarea>', page, re.S)
    assert m, "no editor on the page"
    return html.unescape(m.group(1))


async def save_clean(browser, author) -> tuple[dict, str]:
    page = await browser.get("/admin/items")
    data = await new_item(author)
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": json.dumps(data, ensure_ascii=False)})
    assert r.status_code == 303, r.text
    return data, r.headers["location"].split("=", 1)[1]


async def test_a_saved_draft_opens_again_in_the_editor_after_a_logout(stack, author, browser):
    await browser.login(author.username)
    data, did = await save_clean(browser, author)
    listed = await browser.get(f"/admin/items?saved={did}")
    assert f'href="/admin/items?draft={did}#definition">继续编辑' in listed.text
    assert f'href="/admin/items?draft={did}#definition">编辑</a>' in listed.text  # in the draft's row
    await browser.get("/logout")
    await browser.login(author.username)
    page = await browser.get(f"/admin/items?draft={did}")
    assert page.status_code == 200 and "正在编辑草稿" in page.text
    assert yaml.safe_load(editor_text(page.text)) == (await author.get(f"/api/items/{data['code']}/drafts/{did}")).json()[
        "definition"]
    assert hidden(page.text, "draft_id") == did and hidden(page.text, "revision")
    edited = editor_text(page.text).replace("编辑草稿测试事项", "编辑后的事项名称")
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": edited, "draft_id": did,
                                                                 "revision": hidden(page.text, "revision")})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/items?saved={did}"
    drafts = (await author.get(f"/api/items/{data['code']}/drafts")).json()["items"]
    assert [(d["draft_id"], d["definition"]["name"]) for d in drafts] == [(did, "编辑后的事项名称")]
    # a published draft is not opened for editing; another department's is a 403 page, an unknown one 404
    r = await browser.submit(f"/admin/items/{data['code']}/drafts/{did}/publish", page.text)
    assert r.status_code == 303
    gone = await browser.get(f"/admin/items?draft={did}")
    assert gone.status_code == 422 and "已发布为第 1 版" in gone.text
    assert (await browser.get("/admin/items?draft=nosuchdraft")).status_code == 404


async def test_another_departments_draft_is_not_opened(stack, author, browser, second_browser):
    await browser.login(author.username)
    _, did = await save_clean(browser, author)
    other = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    await second_browser.login(other.username)
    r = await second_browser.get(f"/admin/items?draft={did}")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    r = await second_browser.get(f"/admin/items?from={FOOD}")
    assert r.status_code == 403


async def test_a_new_draft_starts_from_the_current_version(stack, author, browser):
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    assert f'href="/admin/items?from={FOOD}#definition">新建草稿' in page.text
    assert 'href="/admin/items?from=construction-permit-joint#definition"' not in page.text  # hcd's item
    page = await browser.get(f"/admin/items?from={FOOD}")
    current = (await author.get(f"/api/items/{FOOD}")).json()
    assert page.status_code == 200 and f"{FOOD} 第 {current['version']} 版的定义" in page.text
    text = editor_text(page.text)
    data = yaml.safe_load(text)
    def shown(rows: list[dict]) -> list[dict]:  # the editor leaves out empty (null) fields
        return [{k: v for k, v in row.items() if v is not None} for row in rows]
    assert "version" not in data and data["steps"] == shown(current["steps"])
    assert data["materials"] == shown(current["materials"])
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": text})
    assert r.status_code == 303, r.text  # the current version as it is: a clean draft of the next version
    did = r.headers["location"].split("=", 1)[1]
    draft = (await author.get(f"/api/items/{FOOD}/drafts/{did}")).json()
    assert draft["problems"] == [] and draft["definition"]["name"] == current["name"]
    assert (await browser.get("/admin/items?from=no-such-item")).status_code == 404


async def test_two_authors_saving_one_draft_do_not_overwrite_each_other(stack, author, browser, second_browser):
    colleague = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")
    await browser.login(author.username)
    await second_browser.login(colleague.username)
    data, did = await save_clean(browser, author)
    mine = await browser.get(f"/admin/items?draft={did}")
    theirs = await second_browser.get(f"/admin/items?draft={did}")
    r = await second_browser.submit("/admin/items/drafts", theirs.text, {
        "definition": editor_text(theirs.text).replace("编辑草稿测试事项", "同事的名称"), "draft_id": did,
        "revision": hidden(theirs.text, "revision")})
    assert r.status_code == 303
    my_text = editor_text(mine.text).replace("编辑草稿测试事项", "我的名称")
    r = await browser.submit("/admin/items/drafts", mine.text, {"definition": my_text, "draft_id": did,
                                                                 "revision": hidden(mine.text, "revision")})
    assert r.status_code == 409 and f"被 {colleague.username}" in r.text and "另存为新草稿" in r.text
    assert editor_text(r.text) == my_text and 'name="draft_id"' not in r.text  # my work is kept
    draft = (await author.get(f"/api/items/{data['code']}/drafts/{did}")).json()
    assert draft["definition"]["name"] == "同事的名称"  # theirs is not overwritten
    again = await browser.submit("/admin/items/drafts", r.text, {"definition": my_text})
    assert again.status_code == 303 and again.headers["location"] != f"/admin/items?saved={did}"
    names = {d["definition"]["name"] for d in (await author.get(f"/api/items/{data['code']}/drafts")).json()["items"]}
    assert names == {"同事的名称", "我的名称"}


async def test_put_with_a_stale_if_match_is_refused(stack, author):
    data = await new_item(author)
    r = await author.post(f"/api/items/{data['code']}/drafts", json=data)
    did, first = r.json()["draft_id"], r.json()["revision"]
    data["name"] = "第一次修改"
    auth = await author.headers()
    path = f"/api/items/{data['code']}/drafts/{did}"
    r = await stack.http.put(path, json=data, headers={**auth, "If-Match": f'"{first}"'})
    assert r.status_code == 200 and r.json()["revision"] != first
    data["name"] = "基于旧版本的修改"
    r = await stack.http.put(path, json=data, headers={**auth, "If-Match": first})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "draft_changed"
    assert r.json()["detail"]["field"] == "draft_id" and "draft was changed" in r.json()["detail"]["message_en"]
    assert (await author.get(f"/api/items/{data['code']}/drafts/{did}")).json()["definition"]["name"] == "第一次修改"


async def test_a_long_paste_is_answered_on_the_page_with_the_text_kept(stack, author, browser):
    """Past the form budget of other pages (256 KiB) but within the definition's 512 KiB: read as any
    definition; past 512 KiB: a problem in place, the text still in the editor."""
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    data = await new_item(author)
    text = yaml.safe_dump(data, allow_unicode=True) + "# " + "注" * 100_000 + "\n"  # ~300 KiB
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": text})
    assert r.status_code == 303, r.text[:500]
    text = text + "# " + "长" * 100_000 + "\n"  # ~600 KiB
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": text})
    assert r.status_code == 422 and "定义过大" in r.text and editor_text(r.text) == text


async def test_each_problem_names_the_line_of_the_text_to_fix(stack, author, browser):
    await browser.login(author.username)
    page = await browser.get(f"/admin/items?from={FOOD}")
    text = editor_text(page.text)
    lines = text.splitlines()
    promised = next(i for i, ln in enumerate(lines) if ln.startswith("promised_limit:")) + 1
    second_step = [i for i, ln in enumerate(lines) if ln.startswith("  name: ") and i > lines.index("steps:")][1]
    lines[second_step] += "\u202e"  # an invisible character pasted into the second step's name
    statutory = next(ln for ln in lines[lines.index("statutory_limit:"):] if ln.startswith("  value:"))
    value = next(i for i in range(promised, len(lines)) if lines[i].startswith("  value:"))
    lines[value] = f"  value: {int(statutory.split(':')[1]) + 5}"  # promised_limit.value: past statutory
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": "\n".join(lines)})
    assert r.status_code == 200, r.text[:300]
    assert f"promised_limit</span>（第 {promised} 行）" in r.text
    assert f"steps[1].name</span>（第 {second_step + 1} 行）" in r.text
    assert f"promised_limit（第 {promised} 行）：" in r.text  # the summary at the top says it too


async def test_a_new_item_of_a_department_without_items_is_published_and_guided(stack, browser):
    """An author of a department that has no item yet writes one, publishes it, and the guide says what
    a citizen brings (paper originals and copies, how many, from where) and pays."""
    ndrc = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="ndrc")
    stack.user(f"ndrc-h-{uuid.uuid4().hex[:6]}", "handler", department="ndrc")
    stack.user(f"ndrc-a-{uuid.uuid4().hex[:6]}", "approver", department="ndrc")
    await browser.login(ndrc.username)
    page = await browser.get("/admin/items")
    code = f"ndrc-filing-{uuid.uuid4().hex[:6]}"
    text = f"""code: {code}
name: 企业投资项目备案
department: ndrc
implementing_body: {{name: 发展和改革委员会, credit_code: 11330100002548715U}}
legal_basis: [《企业投资项目核准和备案管理条例》第十三条]
result: {{name: 项目备案证明, type: certificate}}
promised_limit: {{value: 3, unit: working_days}}
statutory_limit: {{value: 5, unit: working_days}}
steps:
  - {{id: review, name: 审查, role: handler, limit: {{value: 2, unit: working_days}}}}
  - {{id: decide, name: 决定, role: approver, kind: decide}}
materials:
  - {{name: 项目备案申请表, form: original, copies: 2, source: 申请人自备}}
  - {{name: 营业执照, form: copy, copies: 1}}
  - {{name: 法定代表人身份证, form: original, copies: 0}}
fees:
  charged: true
  items: [{{name: 工本费, standard: 按件收取, amount: 10}}]
"""
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": text})
    assert r.status_code == 303, re.findall(r"<li><span class=\"mono\">.*?</li>", r.text)
    did = r.headers["location"].split("=", 1)[1]
    listed = await browser.get(r.headers["location"])
    r = await browser.submit(f"/admin/items/{code}/drafts/{did}/publish", listed.text)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/items?stored={code}&version=1"
    guide = await browser.get(f"/guide/{code}")
    assert guide.status_code == 200
    assert "项目备案申请表（必需）<span class=\"meta\">原件 2 份；来源：申请人自备</span>" in guide.text
    assert "营业执照（必需）<span class=\"meta\">复印件 1 份</span>" in guide.text
    assert "法定代表人身份证（必需）<span class=\"meta\">原件（核验后退还）</span>" in guide.text
    assert "工本费：按件收取（10.00 元）" in guide.text and "法定 5 个工作日；承诺 3 个工作日" in guide.text
    assert "审查（承办人，2 个工作日）" in guide.text


async def test_the_same_form_posted_twice_is_no_conflict(stack, author, browser):
    """A reload that posts the editor's form again (or a double click) carries the revision the page was
    opened with: the text is already saved, so it is no colleague's change and nothing is refused."""
    await browser.login(author.username)
    data, did = await save_clean(browser, author)
    page = await browser.get(f"/admin/items?draft={did}")
    form = {"definition": editor_text(page.text).replace("编辑草稿测试事项", "改过的名称"), "draft_id": did,
            "revision": hidden(page.text, "revision")}
    first = await browser.submit("/admin/items/drafts", page.text, form)
    again = await browser.submit("/admin/items/drafts", page.text, form)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == f"/admin/items?saved={did}"
    drafts = (await author.get(f"/api/items/{data['code']}/drafts")).json()["items"]
    assert [(d["draft_id"], d["definition"]["name"]) for d in drafts] == [(did, "改过的名称")]


def alias_bomb(levels: int) -> str:
    """A few lines of YAML whose nested aliases expand to 10**levels entries once copied as JSON."""
    lines = ["code: food-business-licence", 'l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


async def test_yaml_aliases_are_refused_before_they_expand(stack, author, browser):
    """A few hundred bytes of nested YAML aliases would copy into a draft of 10**levels entries (at 9
    levels, minutes of a worker and gigabytes): refused as unreadable, with the line, nothing stored."""
    bomb = alias_bomb(6)
    before = (await author.get(f"/api/items/{FOOD}/drafts")).json()["total"]
    r = await stack.http.post(f"/api/items/{FOOD}/drafts", content=bomb.encode(),
                              headers={**await author.headers(), "Content-Type": "application/yaml"})
    assert r.status_code == 422 and r.json()["detail"]["code"] == "unparsable"
    assert "别名" in r.json()["detail"]["message"] and "aliases" in r.json()["detail"]["message_en"]
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": bomb})
    assert r.status_code == 422 and "别名" in r.text and editor_text(r.text) == bomb
    assert (await author.get(f"/api/items/{FOOD}/drafts")).json()["total"] == before


async def test_a_definition_body_past_one_mib_is_413(stack, author):
    data = (await author.get(f"/api/items/{FOOD}")).json()
    data.pop("versions")
    body = json.dumps({**data, "faq": [{"q": "问", "a": "答" * 1000}] * 400}, ensure_ascii=False).encode()
    assert len(body) > 1024 * 1024
    r = await stack.http.post(f"/api/items/{FOOD}/drafts", content=body,
                              headers={**await author.headers(), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"]["code"] == "definition_too_large"
    assert "1 MiB" in r.json()["detail"]["message"] and "1 MiB" in r.json()["detail"]["message_en"]


async def test_a_save_after_the_session_ended_keeps_the_text_to_post_again(stack, author, browser):
    """Logged out in another tab (or the session expired) while writing: 保存草稿 answers a page that
    still holds the text, the draft's id and revision in the same form; after logging in again that
    form saves the draft (it used to be a redirect to the login page, and the text was gone)."""
    await browser.login(author.username)
    data, did = await save_clean(browser, author)
    page = await browser.get(f"/admin/items?draft={did}")
    text = editor_text(page.text).replace("编辑草稿测试事项", "登录过期前写的名称")
    await browser.get("/logout")
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": text, "draft_id": did,
                                                                 "revision": hidden(page.text, "revision")})
    assert r.status_code == 401 and "登录已过期" in r.text and editor_text(r.text) == text
    assert 'action="/admin/items/drafts"' in r.text and hidden(r.text, "draft_id") == did
    await browser.login(author.username)
    again = await browser.submit("/admin/items/drafts", r.text, {"definition": editor_text(r.text), "draft_id": did,
                                                                  "revision": hidden(r.text, "revision")})
    assert again.status_code == 303 and again.headers["location"] == f"/admin/items?saved={did}"
    assert (await author.get(f"/api/items/{data['code']}/drafts/{did}")).json()["definition"]["name"] == "登录过期前写的名称"
    # nobody logged in gets nothing else from the route: no drafts, no items listed
    assert "事项草稿" not in r.text and FOOD not in r.text.replace(text, "")


@pytest.mark.parametrize("as_yaml", [False, True])
async def test_a_deeply_nested_definition_is_refused_in_both_languages(stack, author, browser, as_yaml):
    """A few KiB of brackets (a definition nests six levels at most) exhausted the parser's stack: a
    500. Now a 422 `unparsable` saying so, on the API and on the page, nothing stored."""
    depth = 600
    text = (f"code: {FOOD}\nx: " if as_yaml else f'{{"code": "{FOOD}", "x": ') + "[" * depth + "]" * depth \
        + ("\n" if as_yaml else "}")
    before = (await author.get(f"/api/items/{FOOD}/drafts")).json()["total"]
    r = await stack.http.post(f"/api/items/{FOOD}/drafts", content=text.encode(), headers={
        **await author.headers(), "Content-Type": "application/yaml" if as_yaml else "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "unparsable" and "嵌套过深" in detail["message"] and "nests deeper" in detail["message_en"]
    await browser.login(author.username)
    page = await browser.get("/admin/items")
    r = await browser.submit("/admin/items/drafts", page.text, {"definition": text})
    assert r.status_code == 422 and "嵌套过深" in r.text
    # a modest nesting below the bound is still read (an unknown field, reported as such)
    r = await stack.http.post(f"/api/items/{FOOD}/drafts", json={"code": FOOD, "x": [[[["a"]]]]},
                              headers=await author.headers())
    assert r.status_code == 201
    assert any(p["path"] == "x" and p["code"] == "unknown_field" for p in r.json()["problems"])
    assert (await author.get(f"/api/items/{FOOD}/drafts")).json()["total"] == before + 1


async def test_a_number_of_thousands_of_digits_is_said_plainly(stack, author):
    body = f'{{"code": "{FOOD}", "rating_days": {"9" * 5000}}}'
    r = await stack.http.post(f"/api/items/{FOOD}/drafts", content=body.encode(),
                              headers={**await author.headers(), "Content-Type": "application/json"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["code"] == "unparsable" and "数字位数过多" in detail["message"]
    assert "set_int_max_str_digits" not in detail["message"] + detail["message_en"]
