"""Item authoring over HTTP: the GET → POST round trip of every demo item, drafts (save, read, list,
update), publishing (problems, permissions, a race of two publishes), cases keeping their version,
the flow diagram, and the command line."""
from __future__ import annotations

import asyncio
import copy
import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from services.cli import app as cli
from tests.conftest import json_line

DEFINITIONS = Path(__file__).resolve().parents[1] / "item_definitions"
DEMO = sorted(yaml.safe_load(f.read_text(encoding="utf-8"))["code"] for f in DEFINITIONS.glob("*.yaml"))
FOOD = "food-business-licence"
JOINT = "construction-permit-joint"


def staff_for(stack, people, definition: dict[str, Any]) -> None:
    """A user for every role the definition's steps name, in the department that performs it."""
    for step in definition.get("steps", []):
        people.staff(definition["department"], step["role"])
    for part in definition.get("participants", []):
        for step in part["steps"]:
            people.staff(part["department"], step["role"])


def fresh(definition: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(definition)
    d["code"] = f"t-{d['code'][:40]}-{uuid.uuid4().hex[:6]}"
    d.pop("version", None)
    d.pop("implementation_code", None)  # an implementation code names one item: a copy has none of its own
    return d


@pytest.fixture(scope="module")
def admin(people):
    return people.admin


@pytest.fixture(scope="module")
def author(stack):
    return stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")


def svg_texts(body: bytes) -> str:
    root = ET.fromstring(body)
    assert root.tag.endswith("svg")
    return "\n".join(t for el in root.iter() if el.tag.endswith("text") for t in [el.text or ""])


# ---- round trip ------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", DEMO)
async def test_every_demo_item_posts_back_as_a_new_version(stack, people, admin, code):
    got = (await admin.get(f"/api/items/{code}")).json()
    assert {"versions", "site_visits", "online"} <= set(got)
    staff_for(stack, people, got)
    # what GET returns posts back unchanged: the same content as the stored version (200, nothing new)
    r = await admin.post("/api/items", json=got)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == got["version"]
    # a copy under a new code: stored, read back, posted back without `version` → the next version
    body = fresh(got)
    r = await admin.post("/api/items", json=body)
    assert r.status_code == 201, r.text
    again = (await admin.get(f"/api/items/{body['code']}")).json()
    del again["version"]
    r = await admin.post("/api/items", json=again)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and [v["version"] for v in r.json()["versions"]] == [1, 2]
    first = {k: v for k, v in r.json().items() if k not in ("version", "versions")}
    assert first == {k: v for k, v in again.items() if k != "versions"}


async def test_an_unknown_field_is_refused_with_its_path_among_all_problems(stack, admin):
    got = (await admin.get(f"/api/items/{FOOD}")).json()
    body = fresh(got)
    body["colour"] = "blue"
    body["steps"][0]["colour"] = "red"
    body["promised_limit"] = {"value": 30, "unit": "working_days"}
    del body["name"]
    r = await admin.post("/api/items", json=body)
    assert r.status_code == 422
    problems = {(p["path"], p["code"]) for p in r.json()["detail"]["problems"]}
    assert {("colour", "unknown_field"), ("steps[0].colour", "unknown_field"), ("name", "missing"),
            ("promised_limit", "promised_exceeds_statutory")} <= problems
    spec = (await stack.http.get("/openapi.json")).json()["components"]["schemas"]["ItemDetail"]["properties"]
    assert spec["online"]["readOnly"] is True and spec["versions"]["readOnly"] is True


FIRE = "fire-safety-inspection"


async def test_numbers_past_their_bounds_are_refused_and_nothing_is_published(stack, admin):
    """A limit of 10**30 working days was published, and every new case of the item then hung on its
    read-model write (no SQLite INTEGER holds it); a version of 10**20 was a 500."""
    got = (await admin.get(f"/api/items/{FIRE}")).json()
    body = {k: v for k, v in got.items() if k not in ("versions", "version")}
    for changes, path in (({"statutory_limit": {"value": 10**30, "unit": "working_days"}}, "statutory_limit.value"),
                          ({"promised_limit": {"value": 10**30, "unit": "natural_days"}}, "promised_limit.value"),
                          ({"version": 10**20}, "version"),
                          ({"rating_days": 10**30}, "rating_days"),
                          ({"channels": {**got["channels"], "site_visits": 10**30}}, "channels.site_visits")):
        r = await admin.post("/api/items", json={**body, **changes})
        assert r.status_code == 422, (changes, r.text)
        detail = r.json()["detail"]
        assert path in {p["path"] for p in detail["problems"]}, (changes, r.text)
        assert detail["message"] and detail["message_en"] and detail["field"]
    after = (await admin.get(f"/api/items/{FIRE}")).json()
    assert after["version"] == got["version"] and after["versions"] == got["versions"]


async def test_a_code_too_long_to_read_is_refused_on_write(stack, admin):
    got = (await admin.get(f"/api/items/{FIRE}")).json()
    body = fresh(got)
    body["code"] = "a" * 5000
    r = await admin.post("/api/items", json=body)
    assert r.status_code == 422, r.text
    assert [p["code"] for p in r.json()["detail"]["problems"] if p["path"] == "code"] == ["string_too_long"]
    assert (await admin.get(f"/api/items/{'a' * 5000}")).status_code == 422  # the read's own rule
    assert (await admin.get(f"/api/items/{'a' * 64}")).status_code == 404  # nothing stored under any code
    # drafts: the address has the same bound, and a draft naming a longer code has the problem
    assert (await admin.post(f"/api/items/{'a' * 5000}/drafts", json=body)).status_code == 422
    short = fresh(got)
    r = await admin.post(f"/api/items/{short['code']}/drafts", json={**short, "code": "a" * 5000})
    assert r.status_code == 201, r.text
    assert "string_too_long" in {p["code"] for p in r.json()["problems"] if p["path"] == "code"}
    did = r.json()["draft_id"]
    assert (await admin.post(f"/api/items/{short['code']}/drafts/{did}/publish")).status_code == 422


async def test_a_new_version_cannot_move_the_item_to_another_department(stack, people, admin):
    got = (await admin.get(f"/api/items/{FIRE}")).json()
    staff_for(stack, people, {**got, "department": "amr"})
    moved = {k: v for k, v in got.items() if k not in ("versions", "version")} | {"department": "amr"}
    r = await admin.post("/api/items", json=moved)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [p["code"] for p in detail["problems"]] == ["department_changed"]
    assert detail["field"] == "department" and "市消防救援支队" in detail["message"] and "fire" in detail["message_en"]
    after = (await admin.get(f"/api/items/{FIRE}")).json()
    assert after["department"] == "fire" and after["versions"] == got["versions"]
    # a draft has the same problem, and so does its publish
    r = await admin.post(f"/api/items/{FIRE}/drafts", json=moved)
    assert r.status_code == 201 and [p["path"] for p in r.json()["problems"]] == ["department"]
    r = await admin.post(f"/api/items/{FIRE}/drafts/{r.json()['draft_id']}/publish")
    assert r.status_code == 422 and r.json()["detail"]["problems"][0]["code"] == "department_changed"
    # another department's author may not take the item over either (403 before 422)
    amr_author = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")
    assert (await amr_author.post("/api/items", json=moved)).status_code == 403
    assert (await admin.get(f"/api/items/{FIRE}")).json()["versions"] == got["versions"]


# ---- drafts ----------------------------------------------------------------------------------------
async def test_an_author_saves_updates_and_publishes_a_draft(stack, people, author):
    people.staff("amr", "handler"), people.staff("amr", "approver")
    base = fresh((await author.get(f"/api/items/{FOOD}")).json())
    code = base["code"]
    bad = {**base, "promised_limit": {"value": 30, "unit": "working_days"}}
    r = await author.post(f"/api/items/{code}/drafts", json=bad)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["version"] is None and draft["draft_id"]
    assert [p["code"] for p in draft["problems"]] == ["promised_exceeds_statutory"]
    did = draft["draft_id"]
    assert (await author.get(f"/api/items/{code}")).status_code == 404  # a draft is not an item

    r = await author.post(f"/api/items/{code}/drafts/{did}/publish")
    assert r.status_code == 422
    assert r.json()["detail"]["problems"][0]["path"] == "promised_limit"

    r = await author.put(f"/api/items/{code}/drafts/{did}", json=base)
    assert r.status_code == 200 and r.json()["problems"] == []
    assert (await author.get(f"/api/items/{code}/drafts/{did}")).json()["definition"]["promised_limit"] == \
        base["promised_limit"]
    listed = (await author.get(f"/api/items/{code}/drafts")).json()
    assert listed["total"] == 1 and listed["items"][0]["draft_id"] == did

    r = await author.post(f"/api/items/{code}/drafts/{did}/publish")
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["code"] == code
    assert (await author.get(f"/api/items/{code}")).json()["version"] == 1
    assert (await author.get(f"/api/items/{code}/drafts/{did}")).json()["version"] == 1
    assert (await author.post(f"/api/items/{code}/drafts/{did}/publish")).status_code == 409
    assert (await author.put(f"/api/items/{code}/drafts/{did}", json=base)).status_code == 409


async def test_drafts_are_for_admins_and_the_department_author(stack, people, author):
    got = (await author.get(f"/api/items/{JOINT}")).json()  # an item of hcd
    r = await author.post(f"/api/items/{JOINT}/drafts", json=got)
    assert r.status_code == 403
    clerk = people.staff("amr", "clerk")
    assert (await clerk.post(f"/api/items/{FOOD}/drafts", json={})).status_code == 403
    hcd_author = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    r = await hcd_author.post(f"/api/items/{JOINT}/drafts", json=got)
    assert r.status_code == 201, r.text
    did = r.json()["draft_id"]
    assert (await author.get(f"/api/items/{JOINT}/drafts/{did}")).status_code == 403
    assert (await author.post(f"/api/items/{JOINT}/drafts/{did}/publish")).status_code == 403
    assert (await author.get(f"/api/items/{JOINT}/drafts/nope")).status_code == 404
    # an author publishes only their department's items through POST /api/items too
    assert (await author.post("/api/items", json=fresh(got))).status_code == 403
    # a new item's draft: the author's own department; it may not be moved to another one
    new = fresh((await author.get(f"/api/items/{FOOD}")).json())
    r = await author.post(f"/api/items/{new['code']}/drafts", json={"name": "草稿"})
    assert r.status_code == 201 and r.json()["department"] == "amr"
    assert "missing" in {p["code"] for p in r.json()["problems"]}
    moved = {**new, "department": "hcd"}
    r = await author.put(f"/api/items/{new['code']}/drafts/{r.json()['draft_id']}", json=moved)
    assert r.status_code == 403


async def test_two_publishes_at_once_one_wins(stack, people, author):
    people.staff("amr", "handler"), people.staff("amr", "approver")
    base = fresh((await author.get(f"/api/items/{FOOD}")).json())
    code = base["code"]
    first = (await author.post(f"/api/items/{code}/drafts", json=base)).json()["draft_id"]
    other = (await author.post(f"/api/items/{code}/drafts", json={**base, "name": "另一草稿"})).json()["draft_id"]
    a, b = await asyncio.gather(author.post(f"/api/items/{code}/drafts/{first}/publish"),
                                author.post(f"/api/items/{code}/drafts/{other}/publish"))
    assert sorted([a.status_code, b.status_code]) == [201, 409], (a.text, b.text)
    assert [v["version"] for v in (await author.get(f"/api/items/{code}")).json()["versions"]] == [1]
    winner, loser = (first, other) if a.status_code == 201 else (other, first)
    # whatever the timing: a draft made from a version that is no longer current is refused, not stacked
    late = (await author.post(f"/api/items/{code}/drafts", json={**base, "name": "旧稿"})).json()["draft_id"]
    assert (await author.post(f"/api/items/{code}/drafts/{late}/publish")).status_code == 201
    r = await author.post(f"/api/items/{code}/drafts/{winner}/publish")
    assert r.status_code == 409
    stale = await author.post(f"/api/items/{code}/drafts/{loser}/publish")
    assert stale.status_code == 409 and stale.json()["detail"]["code"] == "publish_conflict" and "第 2 版" in stale.text
    assert [v["version"] for v in (await author.get(f"/api/items/{code}")).json()["versions"]] == [1, 2]
    # the same draft twice at once
    third = (await author.post(f"/api/items/{code}/drafts", json={**base, "name": "第三稿"})).json()["draft_id"]
    a, b = await asyncio.gather(author.post(f"/api/items/{code}/drafts/{third}/publish"),
                                author.post(f"/api/items/{code}/drafts/{third}/publish"))
    assert sorted([a.status_code, b.status_code]) == [201, 409], (a.text, b.text)


async def test_cases_keep_the_version_they_were_filed_under(stack, people, author):
    people.staff("amr", "handler"), people.staff("amr", "approver")
    base = fresh((await author.get(f"/api/items/{FOOD}")).json())
    code = base["code"]
    did = (await author.post(f"/api/items/{code}/drafts", json=base)).json()["draft_id"]
    assert (await author.post(f"/api/items/{code}/drafts/{did}/publish")).status_code == 201
    applicant = people.applicant()
    old = (await applicant.apply(code)).json()
    assert old["item_version"] == 1
    shorter = {**base, "steps": [s for s in base["steps"] if s["id"] != "verify"]}
    did2 = (await author.post(f"/api/items/{code}/drafts", json=shorter)).json()["draft_id"]
    # a draft never reaches new cases
    assert (await applicant.apply(code)).json()["item_version"] == 1
    assert (await author.post(f"/api/items/{code}/drafts/{did2}/publish")).json()["version"] == 2
    new = (await applicant.apply(code)).json()
    assert new["item_version"] == 2
    clerk = people.staff("amr", "clerk")
    old = await clerk.ok(old["id"], "accept")
    old = await people.staff("amr", "handler").ok(old["id"], "pass")
    assert old["item_version"] == 1 and old["current_step"]["id"] == "verify"


# ---- diagram ---------------------------------------------------------------------------------------
async def test_diagram_of_a_single_item_names_every_step(stack, people):
    u = people.applicant()
    r = await u.get(f"/api/items/{FOOD}/diagram")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    text = svg_texts(r.content)
    item = (await u.get(f"/api/items/{FOOD}")).json()
    for step in item["steps"]:
        assert step["name"] in text
    for word in ("受理", "补正", "不予受理", "退回", "不予许可", "送达", "承办人", "审批人"):
        assert word in text, word
    assert (await u.get(f"/api/items/{FOOD}/diagram", params={"version": item["version"]})).status_code == 200
    assert (await u.get(f"/api/items/{FOOD}/diagram", params={"version": 999})).status_code == 404
    assert (await u.get(f"/api/items/{FOOD}/diagram", params={"version": 0})).status_code == 422
    assert (await stack.http.get(f"/api/items/{FOOD}/diagram")).status_code == 401


async def test_diagram_of_a_joint_item_shows_departments_in_lanes(stack, people):
    u = people.applicant()
    r = await u.get(f"/api/items/{JOINT}/diagram")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    text = svg_texts(r.content)
    item = (await u.get(f"/api/items/{JOINT}")).json()
    for step in item["steps"]:
        assert step["name"] in text
    lanes = [el for el in root.iter() if el.get("class") == "cluster"]
    assert len(lanes) == len(item["participants"])
    for part in item["participants"]:
        for step in part["steps"]:
            assert step["name"] in text
    for name in ("市消防救援支队", "市住房和城乡建设局"):
        assert name in text


async def test_diagram_of_a_bundle_shows_its_members(stack, people):
    u = people.applicant()
    item = (await u.get("/api/items/open-restaurant-bundle")).json()
    text = svg_texts((await u.get("/api/items/open-restaurant-bundle/diagram")).content)
    for code in item["members"]:  # by name, as people read them; the code only names the node
        name = (await u.get(f"/api/items/{code}")).json()["name"]
        assert name in text and code not in text, code


async def test_diagram_shows_special_procedures(stack, admin, people):
    body = fresh((await admin.get(f"/api/items/{FOOD}")).json())
    body["special_procedures"] = [{"kind": "hearing", "name": "听证", "expected_days": 20}]
    staff_for(stack, people, body)
    assert (await admin.post("/api/items", json=body)).status_code == 201
    text = svg_texts((await admin.get(f"/api/items/{body['code']}/diagram")).content)
    assert "特别程序：听证" in text and "不计入时限" in text


async def test_a_draft_has_its_own_diagram_for_those_who_may_read_it(stack, author):
    body = fresh((await author.get(f"/api/items/{FOOD}")).json())
    body["steps"][0]["name"] = "草稿新增的材料核查"
    body["promised_limit"] = {**body["promised_limit"], "value": body["statutory_limit"]["value"] + 5}
    draft = (await author.post(f"/api/items/{body['code']}/drafts", json=body)).json()
    assert [p["path"] for p in draft["problems"]] == ["promised_limit"]  # drawn all the same
    path = f"/api/items/{body['code']}/drafts/{draft['draft_id']}/diagram"
    r = await author.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    text = svg_texts(r.content)
    assert "草稿新增的材料核查" in text and f"草稿 {draft['draft_id'][:8]}，未发布" in text
    # authorised like the draft: another department's author 403, an applicant 403, unknown 404
    other = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    assert (await other.get(path)).json()["detail"]["code"] == "forbidden_department"
    assert (await stack.applicant().get(path)).status_code == 403
    assert (await author.get(f"/api/items/{body['code']}/drafts/no-such/diagram")).status_code == 404
    assert (await stack.http.get(path)).status_code == 401
    # a draft the schema cannot read is a 422 listing its problems
    broken = {**body, "steps": "not a list"}
    bad = (await author.post(f"/api/items/{body['code']}/drafts", json=broken)).json()
    r = await author.get(f"/api/items/{body['code']}/drafts/{bad['draft_id']}/diagram")
    assert r.status_code == 422 and "steps" in [p["path"] for p in r.json()["detail"]["problems"]]


# ---- command line ----------------------------------------------------------------------------------
def test_cli_draft_and_publish(tmp_path):
    runner = CliRunner()
    data = yaml.safe_load((DEFINITIONS / f"{FOOD}.yaml").read_text(encoding="utf-8"))
    data["code"] = "cli-food"
    data.pop("implementation_code", None)
    data["promised_limit"] = {"value": 30}
    file = tmp_path / "item.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(cli, ["items", "draft", str(file), "--data-dir", str(tmp_path)])
    assert r.exit_code == 1 and "promised_limit" in r.output
    draft = json.loads(r.stdout.strip().splitlines()[0])
    assert draft["version"] is None and draft["problems"][0]["code"] == "promised_exceeds_statutory"
    r = runner.invoke(cli, ["items", "publish", "cli-food", draft["draft_id"], "--data-dir", str(tmp_path)])
    assert r.exit_code == 1 and "promised_exceeds_statutory" in r.output
    data["promised_limit"] = {"value": 10}
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(cli, ["items", "draft", str(file), "--draft-id", draft["draft_id"], "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["items", "publish", "cli-food", draft["draft_id"], "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert json.loads(json_line(r.stdout)) == {"code": "cli-food", "version": 1}
    # an author of another department may not
    ok = runner.invoke(cli, ["users", "add", "amr-author", "--password", "long-enough-1", "--role", "author",
                             "--department", "psb", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    r = runner.invoke(cli, ["items", "draft", str(file), "--as", "amr-author", "--data-dir", str(tmp_path)])
    assert r.exit_code == 1 and "your own department" in r.output
    bad = runner.invoke(cli, ["users", "add", "lost-author", "--password", "long-enough-1", "--role", "author",
                              "--data-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "department" in bad.output


def test_cli_draft_of_a_file_nested_past_any_definition_is_one_line(tmp_path):
    file = tmp_path / "deep.yaml"
    file.write_text("code: cli-deep\nx: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["items", "draft", str(file), "--data-dir", str(tmp_path)])
    assert r.exit_code == 1 and "嵌套过深" in r.output and "nests deeper" in r.output
    assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit))


def test_cli_validate_with_a_data_dir_checks_against_that_catalogue(tmp_path):
    """`banjian items validate FILE --data-dir D` (every command takes --data-dir): the file is checked as
    a draft of that system would be, so a bundle naming an item the system lacks is reported."""
    data = yaml.safe_load((DEFINITIONS / "open-restaurant-bundle.yaml").read_text(encoding="utf-8"))
    data["code"], data["members"] = "cli-bundle", [*data["members"], "no-such-item"]
    data.pop("implementation_code", None)
    file = tmp_path / "bundle.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    (tmp_path / "d").mkdir()
    r = runner.invoke(cli, ["items", "validate", str(file), "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 1, r.output
    assert "members[3]: [unknown_member]" in r.output and "成员事项 'no-such-item' 不存在" in r.output
    good = tmp_path / "good"
    good.mkdir()
    (good / "food.yaml").write_text((DEFINITIONS / f"{FOOD}.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    r = runner.invoke(cli, ["items", "validate", str(good), "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 0 and f"ok    {good / 'food.yaml'}" in r.output, r.output
