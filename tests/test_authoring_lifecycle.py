"""An author's drafts and versions on the running system: deleting an unpublished draft (API and
page, in the admin log), an item's effective dates refusing applications outside them (and the
guide saying so), and moving cases between versions recorded in the admin log."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from banjian.form_values import today
from tests.pages_client import text_of

FOOD = "food-business-licence"


@pytest.fixture(scope="module")
def author(stack):
    return stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")


@pytest.fixture(scope="module")
def auditor(stack):
    return stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")


async def copy_of_food(author, **over: Any) -> dict[str, Any]:
    """The food licence under a code of its own (and without its implementation code, which names
    the food licence alone)."""
    data = (await author.get(f"/api/items/{FOOD}")).json()
    for derived in ("version", "versions", "site_visits", "online", "implementation_code"):
        data.pop(derived)
    data.update(code=f"life-{uuid.uuid4().hex[:8]}", **over)
    return data


async def delete(user, path: str):
    return await user.stack.http.delete(path, headers=await user.headers())


async def admin_log(auditor, action: str) -> list[dict]:
    r = await auditor.get("/api/audit/admin-log", params={"action": action, "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_an_unpublished_draft_is_deleted_once_and_the_admin_log_says_by_whom(stack, author, auditor):
    data = await copy_of_food(author)
    code = data["code"]
    draft = (await author.post(f"/api/items/{code}/drafts", json=data)).json()["draft_id"]
    other = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="psb")
    refused = await delete(other, f"/api/items/{code}/drafts/{draft}")
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "forbidden_department"
    r = await delete(author, f"/api/items/{code}/drafts/{draft}")
    assert r.status_code == 204, r.text
    assert (await author.get(f"/api/items/{code}/drafts/{draft}")).status_code == 404
    assert (await author.get(f"/api/items/{code}/drafts")).json()["total"] == 0
    again = await delete(author, f"/api/items/{code}/drafts/{draft}")
    assert again.status_code == 404 and again.json()["detail"]["field"] == "draft_id"
    (entry,) = [e for e in await admin_log(auditor, "item.draft_delete") if e["detail"]["draft_id"] == draft]
    assert (entry["actor"], entry["target"]) == (author.username, code)
    # a published draft is the record of a version: it stays
    kept = (await author.post(f"/api/items/{code}/drafts", json=data)).json()["draft_id"]
    assert (await author.post(f"/api/items/{code}/drafts/{kept}/publish")).status_code == 201
    r = await delete(author, f"/api/items/{code}/drafts/{kept}")
    assert r.status_code == 409 and r.json()["detail"]["code"] == "draft_published"
    assert (await author.get(f"/api/items/{code}/drafts/{kept}")).json()["version"] == 1


async def test_the_page_asks_before_it_deletes_a_draft(stack, author, auditor, browser):
    data = await copy_of_food(author, name="待删除的草稿事项")
    code = data["code"]
    draft = (await author.post(f"/api/items/{code}/drafts", json=data)).json()["draft_id"]
    await browser.login(author.username)
    listed = await browser.get("/admin/items")
    link = f"/admin/items/{code}/drafts/{draft}/delete"
    assert f'href="{link}"' in listed.text and "删除草稿" in listed.text
    confirm = await browser.get(link)
    assert confirm.status_code == 200 and "确定删除此草稿吗" in confirm.text and "待删除的草稿事项" in text_of(confirm.text)
    assert (await author.get(f"/api/items/{code}/drafts/{draft}")).status_code == 200  # asking deleted nothing
    done = await browser.submit(link, confirm.text)
    assert done.status_code == 303 and done.headers["location"].startswith(f"/admin/items?deleted={draft}")
    after = await browser.get(done.headers["location"])
    assert "已删除草稿" in after.text and f'id="draft-{draft}"' not in after.text
    assert (await author.get(f"/api/items/{code}/drafts/{draft}")).status_code == 404
    assert any(e["detail"]["draft_id"] == draft for e in await admin_log(auditor, "item.draft_delete"))
    assert (await browser.get(f"/admin/items/{'x' * 65}/drafts/{draft}/delete")).status_code == 422
    gone = await browser.get(link)
    assert gone.status_code == 404 and "页面不存在" in text_of(gone.text)


async def test_an_item_refuses_applications_before_it_takes_effect_and_after_it_lapses(stack, author, people, browser):
    day = today()
    applicant = people.applicant()
    await browser.login(applicant.username)
    for over, said in (({"effective_from": (day + timedelta(days=30)).isoformat()}, "起生效"),
                       ({"effective_from": (day - timedelta(days=30)).isoformat(), "effective_to": day.isoformat()},
                        "失效")):
        data = await copy_of_food(author, **over)
        r = await author.post("/api/items", json=data)
        assert r.status_code == 201, r.text
        refused = await applicant.apply(data["code"])
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert (detail["code"], detail["field"]) == ("item_not_effective", "item_code")
        assert said in detail["message"] and "effective" in detail["message_en"]
        guide = await stack.http.get(f"/guide/{data['code']}")
        assert said in text_of(guide.text) and f'href="/apply/{data["code"]}"' not in guide.text
        form = await browser.get(f"/apply/{data['code']}")
        assert form.status_code == 409 and said in text_of(form.text)
    data = await copy_of_food(author, effective_from=day.isoformat(), effective_to=(day + timedelta(days=1)).isoformat())
    assert (await author.post("/api/items", json=data)).status_code == 201
    assert (await applicant.apply(data["code"])).status_code == 201  # its one day


async def test_moving_versions_is_in_the_admin_log(stack, author, auditor):
    data = await copy_of_food(author)
    code = data["code"]
    assert (await author.post("/api/items", json=data)).status_code == 201
    draft = (await author.post(f"/api/items/{code}/drafts", json={**data, "name": "第二版"})).json()["draft_id"]
    assert (await author.post(f"/api/items/{code}/drafts/{draft}/publish")).status_code == 201
    (stored,) = [e for e in await admin_log(auditor, "item.store") if e["detail"].get("draft_id") == draft]
    assert (stored["detail"]["version"], stored["detail"]["previous_version"]) == (2, 1)
    dry = await author.post(f"/api/items/{code}/migrations", json={"from_version": 1, "to_version": 2, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert not [e for e in await admin_log(auditor, "item.migrate") if e["target"] == code]  # a dry run changes nothing
    r = await author.post(f"/api/items/{code}/migrations", json={"from_version": 1, "to_version": 2})
    assert r.status_code == 200, r.text
    (moved,) = [e for e in await admin_log(auditor, "item.migrate") if e["target"] == code]
    assert moved["actor"] == author.username
    assert (moved["detail"]["from_version"], moved["detail"]["to_version"], moved["detail"]["moved"]) == (1, 2, [])
