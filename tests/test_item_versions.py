"""An author's versions of one item: reading an earlier version (`GET /api/items/{code}?version=`),
comparing two versions or a draft with the current version (版本对比), and suspending an item (a
version with `status: suspended`): the guide stops offering 在线申请, cases of the old version go on."""
from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest

from banjian.item_changes import definition_changes
from banjian.items.schema import ItemDefinition
from tests.conftest import application
from tests.pages_client import PageClient
from tests.test_item_definitions import single

FOOD = "food-business-licence"


@pytest.fixture(scope="module")
def author(stack):
    return stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")


async def new_item(author) -> dict[str, Any]:
    """Version 1 of a new item of the author's department, copied from the food licence."""
    data = (await author.get(f"/api/items/{FOOD}")).json()
    data["code"] = f"ver-{uuid.uuid4().hex[:8]}"
    for derived in ("version", "versions", "site_visits", "online", "implementation_code"):
        data.pop(derived)
    r = await author.post("/api/items", json=data)
    assert r.status_code == 201, r.text
    return data


def test_a_step_inserted_is_one_change_and_defaults_are_none():
    before = ItemDefinition.model_validate(single())
    data = single()
    data["steps"].insert(1, {"id": "verify", "name": "审核", "role": "approver", "limit": {"value": 2}})
    data["steps"][0]["limit"] = {"value": 4}
    data["channels"] = {"web": True}  # the default written out: no change
    data["materials"] = [*data.get("materials", []), {"name": "新增材料", "required": False}]
    changes = definition_changes(before, ItemDefinition.model_validate({**data, "version": 2}))
    paths = {(c["path"], c["change"]) for c in changes}
    assert ("steps[id=verify]", "added") in paths
    assert ("steps[id=review].limit.value", "changed") in paths
    assert ("materials[name=新增材料]", "added") in paths
    assert not [c for c in changes if c["path"].startswith(("steps[id=decide]", "channels", "version"))]
    (limit,) = [c for c in changes if c["path"] == "steps[id=review].limit.value"]
    assert (limit["before"], limit["after"]) == (5, 4)


def test_steps_in_a_new_order_are_reordered():
    data = single()
    data["steps"].insert(0, {"id": "check", "name": "初审", "role": "handler"})
    before = ItemDefinition.model_validate(data)
    data["steps"][0], data["steps"][1] = data["steps"][1], data["steps"][0]
    changes = definition_changes(before, ItemDefinition.model_validate(data))
    assert changes == [{"path": "steps", "change": "reordered", "before": ["check", "review", "decide"],
                        "after": ["review", "check", "decide"]}]


async def test_an_earlier_version_is_read_and_compared_with_the_next(stack, author):
    data = await new_item(author)
    data["steps"] = [s for s in data["steps"] if s["id"] != "verify"]
    data["promised_limit"] = {"value": 8, "unit": "working_days"}
    assert (await author.post("/api/items", json=data)).status_code == 201
    code = data["code"]
    old = (await author.get(f"/api/items/{code}?version=1")).json()
    assert old["version"] == 1 and "verify" in [s["id"] for s in old["steps"]]
    assert [v["version"] for v in old["versions"]] == [1, 2]
    assert (await author.get(f"/api/items/{code}")).json()["version"] == 2
    assert (await author.get(f"/api/items/{code}?version=3")).status_code == 404
    assert (await author.get(f"/api/items/{code}?version=0")).status_code == 422

    r = await author.get(f"/api/items/{code}/changes")  # default: the current version and the one before
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from_version"], body["to_version"]) == (1, 2)
    paths = {(c["path"], c["change"]) for c in body["changes"]}
    assert paths == {("promised_limit.value", "changed"), ("steps[id=verify]", "removed")}
    back = (await author.get(f"/api/items/{code}/changes?from=2&to=1")).json()
    assert ("steps[id=verify]", "added") in {(c["path"], c["change"]) for c in back["changes"]}
    first = (await author.get(f"/api/items/{code}/changes?to=1")).json()  # version 1: from nothing
    assert first["from_version"] is None and {"path": "code", "change": "added", "after": code} in first["changes"]
    assert (await author.get(f"/api/items/{code}/changes?from=0")).status_code == 422
    assert (await author.get(f"/api/items/{code}/changes?from=9")).status_code == 404
    # any logged-in user reads versions, as the diagram
    applicant = stack.applicant()
    assert (await applicant.get(f"/api/items/{code}/changes")).status_code == 200


async def test_a_draft_is_compared_with_the_current_version(stack, author):
    data = await new_item(author)
    code = data["code"]
    data["fees"] = {"charged": True, "items": [{"name": "工本费", "standard": "每证10元", "amount": 10}]}
    r = await author.post(f"/api/items/{code}/drafts", json=data)
    draft = r.json()["draft_id"]
    body = (await author.get(f"/api/items/{code}/drafts/{draft}/changes")).json()
    assert (body["from_version"], body["to_version"]) == (1, None)
    assert {(c["path"], c["change"]) for c in body["changes"]} == {
        ("fees.charged", "changed"), ("fees.items[name=工本费]", "added")}
    # a draft of a new item: everything is added
    fresh = {**data, "code": f"ver-{uuid.uuid4().hex[:8]}"}
    new = (await author.post(f"/api/items/{fresh['code']}/drafts", json=fresh)).json()["draft_id"]
    body = (await author.get(f"/api/items/{fresh['code']}/drafts/{new}/changes")).json()
    assert body["from_version"] is None and {"path": "name", "change": "added", "after": data["name"]} in body["changes"]
    # who may read the draft, as for its diagram
    other = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    assert (await other.get(f"/api/items/{code}/drafts/{draft}/changes")).status_code == 403
    assert (await author.get(f"/api/items/{code}/drafts/nope/changes")).status_code == 404


async def test_a_suspended_item_is_not_offered_for_application_and_its_open_cases_keep_their_version(stack, author):
    data = await new_item(author)
    code = data["code"]
    owner = stack.applicant()
    r = await owner.post("/api/cases", json=await application(owner, code))
    assert r.status_code == 201, r.text
    case = r.json()
    data["status"] = "suspended"
    assert (await author.post("/api/items", json=data)).status_code == 201
    r = await owner.post("/api/cases", json=await application(owner, code))
    assert r.status_code == 409 and r.json()["detail"]["code"] == "item_inactive"
    assert (await owner.get(f"/api/cases/{case['id']}")).json()["item_version"] == 1

    page = PageClient(stack)
    try:
        html = (await page.get(f"/guide/{code}")).text
        assert "本事项暂停受理新的申请" in html and f'href="/apply/{code}"' not in html
        assert f'href="/apply/{FOOD}"' in (await page.get(f"/guide/{FOOD}")).text
        data["status"] = "retired"
        assert (await author.post("/api/items", json=data)).status_code == 201
        html = (await page.get(f"/guide/{code}")).text
        assert "本事项已停止办理" in html and f'href="/apply/{code}"' not in html
        # the author's list says which items take applications
        await page.login(author.username, next_url="/admin/items")
        row = (await page.get("/admin/items")).text.split(f'<span class="mono meta">{code}</span>', 1)[1]
        assert '<td data-label="状态">已停止办理</td>' in row.split("</tr>")[0]
    finally:
        await page.close()


async def test_a_bundle_whose_member_is_suspended_takes_no_application(stack, people, author):
    """一件事 applied for as a whole: a member suspended by its department stops the bundle's new
    applications (409 `member_inactive` naming it), and a bundle naming it is a problem to its author."""
    member = await new_item(author)
    admin = people.admin
    bundle = (await admin.get("/api/items/open-restaurant-bundle")).json()
    for derived in ("version", "versions", "site_visits", "online"):
        bundle.pop(derived)
    bundle["code"] = f"bun-{uuid.uuid4().hex[:8]}"
    bundle.pop("implementation_code", None)
    bundle["members"] = [member["code"] if m == FOOD else m for m in bundle["members"]]
    r = await admin.post("/api/items", json=bundle)
    assert r.status_code == 201, r.text
    owner = stack.applicant()
    body = await application(owner, bundle["code"])
    assert (await owner.post("/api/cases", json=body)).status_code == 201

    member["status"] = "suspended"
    assert (await author.post("/api/items", json=member)).status_code == 201
    r = await owner.post("/api/cases", json=await application(owner, bundle["code"]))
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "member_inactive" and detail["field"] == "item_code"
    assert member["name"] in detail["message"] and member["code"] in detail["message_en"]
    # the bundle's next version names a member nobody may apply for: a problem, nothing published
    r = await admin.post(f"/api/items/{bundle['code']}/drafts", json=bundle)
    problems = r.json()["problems"]
    assert [p["code"] for p in problems if p["path"] == "members[1]"] == ["member_inactive"]


async def test_the_admin_page_compares_versions_and_a_draft(stack, author):
    data = await new_item(author)
    code = data["code"]
    data["promised_limit"] = {"value": 7, "unit": "working_days"}
    assert (await author.post("/api/items", json=data)).status_code == 201
    data["materials"].append({"name": "草稿新增的承诺书", "required": False})
    draft = (await author.post(f"/api/items/{code}/drafts", json=data)).json()["draft_id"]
    broken = (await author.post(f"/api/items/{code}/drafts", json={**data, "steps": "not a list"})).json()["draft_id"]
    page = PageClient(stack)
    try:
        await page.login(author.username, next_url="/admin/items")
        listing = (await page.get("/admin/items")).text
        assert f'href="/admin/items/{code}/changes"' in listing  # the item has two versions
        assert f'href="/admin/items/{code}/drafts/{draft}/changes">与现行版本对比' in listing
        assert f"/admin/items/{code}/drafts/{broken}/changes" not in listing  # unreadable: nothing to compare
        r = await page.get(f"/admin/items/{code}/changes")
        assert r.status_code == 200 and "第 1 版" in r.text and "第 2 版" in r.text
        row = r.text[r.text.index("promised_limit.value"):].split("</tr>")[0]
        assert "修改" in row and ">10<" in row and ">7<" in row
        r = await page.get(f"/admin/items/{code}/changes?from=2&to=2")
        assert "没有变化" in r.text
        r = await page.get(f"/admin/items/{code}/drafts/{draft}/changes")
        assert r.status_code == 200 and "materials[name=草稿新增的承诺书]" in r.text and "新增" in r.text
        assert "（未发布）" in r.text
        r = await page.get(f"/admin/items/{code}/drafts/{broken}/changes")
        assert r.status_code == 422 and "草稿定义无法读取" in r.text and "steps" in r.text
        assert (await page.get(f"/admin/items/{code}/changes?from=9")).status_code == 404
    finally:
        await page.close()
    other = PageClient(stack)
    try:  # an applicant is no author
        await other.login(stack.applicant().username)
        assert (await other.get(f"/admin/items/{code}/changes")).status_code == 403
    finally:
        await other.close()


async def test_a_code_taken_by_another_department_is_named(stack, author):
    """An author who picks, for a new item, a code another department's item has: the 403 says so
    (field `code`, the department by name), on a draft and on a version posted whole."""
    data = await new_item(author)
    data["code"] = "driving-licence-replacement"  # the traffic police's item
    for r in (await author.post("/api/items/driving-licence-replacement/drafts", json=data),
              await author.post("/api/items", json=data)):
        assert r.status_code == 403, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "forbidden_department" and detail["field"] == "code"
        assert "已是“市公安局交通警察支队”的事项" in detail["message"] and "另取一个编码" in detail["message"]
        assert "driving-licence-replacement" in detail["message_en"]
    # a new item of another department: the department is named
    data["code"], data["department"] = f"ver-{uuid.uuid4().hex[:8]}", "psb"
    data.pop("implementation_code", None)
    r = await author.post(f"/api/items/{data['code']}/drafts", json=data)
    assert r.status_code == 403 and r.json()["detail"]["field"] == "department"
    assert "市公安局交通警察支队" in r.json()["detail"]["message"]


async def test_publishing_on_the_page_takes_the_next_version_and_every_publish_is_in_the_admin_log(stack, author):
    """上传并发布 of the text 新建草稿 puts in the editor (no `version`) was refused as "version 1 exists";
    it is the next version now, as on the API. Publishing a draft (API) and a version on the page are in
    the admin log auditors read, as POST /api/items was."""
    data = await new_item(author)
    code = data["code"]
    page = PageClient(stack)
    try:
        await page.login(author.username, next_url="/admin/items")
        editor = await page.get(f"/admin/items?from={code}")
        text = re.search(r'<textarea[^>]*id="definition"[^>]*>(.*?)</textarea>', editor.text, re.S).group(1)
        assert "\nversion:" not in html.unescape(text)
        r = await page.submit("/admin/items", editor.text,
                              {"definition": html.unescape(text).replace("status: active", "status: suspended")})
        assert r.status_code == 303 and r.headers["location"] == f"/admin/items?stored={code}&version=2", r.text
    finally:
        await page.close()
    item = (await author.get(f"/api/items/{code}")).json()
    assert item["version"] == 2 and item["status"] == "suspended"
    draft = (await author.post(f"/api/items/{code}/drafts", json={**data, "status": "active"})).json()["draft_id"]
    assert (await author.post(f"/api/items/{code}/drafts/{draft}/publish")).status_code == 201
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    log = (await auditor.get("/api/audit/admin-log", params={"actor": author.username, "limit": 50})).json()["items"]
    stored = {(e["target"], e["detail"].get("version")) for e in log if e["action"] == "item.store"}
    assert {(code, 2), (code, 3)} <= stored


async def test_a_new_items_draft_that_lost_the_race_says_so(stack, author):
    code = f"ver-{uuid.uuid4().hex[:8]}"
    data = {**(await author.get(f"/api/items/{FOOD}")).json(), "code": code}
    data.pop("implementation_code", None)
    first = (await author.post(f"/api/items/{code}/drafts", json=data)).json()["draft_id"]
    second = (await author.post(f"/api/items/{code}/drafts", json=data)).json()["draft_id"]
    assert (await author.post(f"/api/items/{code}/drafts/{first}/publish")).status_code == 201
    r = await author.post(f"/api/items/{code}/drafts/{second}/publish")
    assert r.status_code == 409 and r.json()["detail"]["code"] == "publish_conflict"
    assert "新事项" in r.json()["detail"]["message"] and "第 0 版" not in r.json()["detail"]["message"]
