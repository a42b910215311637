"""Applying (validation, idempotency), searching, inboxes, the item catalogue and the calendar."""
from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from api.inboxes import WARNING_RANK
from banjian.db import CalendarYear, Case
from tests.conftest import application

ITEM = "food-business-licence"  # amr; citizens and organisations
ITEM2 = "individual-business-registration"  # amr; citizens only
ORG_ONLY = "housing-fund-deposit-registration"  # hpf; organisations only
DEFINITIONS = Path(__file__).resolve().parent.parent / "item_definitions"
TASK_KEYS = {"case_id", "item_code", "item_name", "status", "step", "due", "warning", "claimed_by"}
SUMMARY_KEYS = {"code", "name", "version", "type", "department", "kind", "promised_limit", "statutory_limit",
                "site_visits", "online"}


def definition(name: str = "food-business-licence") -> dict:
    return yaml.safe_load((DEFINITIONS / f"{name}.yaml").read_text(encoding="utf-8"))


def as_json(d: dict) -> str:
    return json.dumps(d, ensure_ascii=False, default=str)


def fresh_item(**over) -> dict:
    """A copy of the food licence under a new code (so the shared catalogue is left alone)."""
    d = definition()
    d["code"] = f"test-food-{uuid.uuid4().hex[:8]}"
    d["name"] = "测试食品经营许可"
    d.pop("implementation_code", None)  # an implementation code names one item: a copy has none of its own
    d["version"] = 1  # a new item starts at 1, whichever version of the food licence it copies
    d.update(over)
    return d


# ---- validation of an application ------------------------------------------------------------------
async def test_missing_required_form_field_is_422(stack):
    u = stack.applicant()
    body = await application(u, ITEM)
    del body["form"]["business_name"]
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["field"] == "form.business_name"
    assert detail["code"] == "missing_required"
    body["form"]["business_name"] = ""
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "form.business_name"
    assert (await u.get("/api/cases")).json()["total"] == 0


async def test_unknown_form_field_is_422(stack):
    u = stack.applicant()
    body = await application(u, ITEM)
    body["form"]["favourite_colour"] = "red"
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "form.favourite_colour"
    assert r.json()["detail"]["code"] == "unknown_field"


async def test_wrong_form_value_type_is_422(stack):
    u = stack.applicant()
    body = await application(u, ITEM)
    body["form"]["business_area"] = "很大"
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "form.business_area"
    body = await application(u, ITEM)
    body["form"]["main_business"] = "不存在的业态"
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "form.main_business"


async def test_missing_required_material_is_422_naming_it(stack):
    u = stack.applicant()
    body = await application(u, ITEM)
    body["materials"] = [m for m in body["materials"] if m["name"] != "营业执照"]
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["code"] == "material_missing"
    assert "营业执照" in detail["message"] and "营业执照" in detail["message_en"]
    assert detail["field"].startswith("materials")


async def test_unknown_material_is_422(stack):
    u = stack.applicant()
    body = await application(u, ITEM)
    body["materials"].append({"name": "户口本"})
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["code"] == "unknown_material"
    assert detail["field"] == f"materials[{len(body['materials']) - 1}].name"
    assert "户口本" in detail["message"]


async def test_optional_material_may_be_given(stack):
    u = stack.applicant()
    body = await application(u, ITEM)
    up = await u.stack.http.post("/api/files", headers=await u.headers(),
                                 files={"file": ("委托书.pdf", b"%PDF-1.4\n%test\n", "application/pdf")})
    assert up.status_code == 201, up.text
    body["materials"].append({"name": "授权委托书及受托人身份证明", "file_id": up.json()["file_id"]})
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 201, r.text
    assert "授权委托书及受托人身份证明" in [m["name"] for m in r.json()["materials"]]


async def test_unknown_item_code_is_422(stack):
    u = stack.applicant()
    body = await application(u, ITEM)
    body["item_code"] = "no-such-item"
    r = await u.post("/api/cases", json=body)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "item_code"


async def test_organisation_only_item_refuses_a_citizen(stack):
    u = stack.applicant()
    item = (await u.get(f"/api/items/{ORG_ONLY}")).json()
    assert item["service_object"] == ["organisation"]
    r = await u.apply(ORG_ONLY)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "applicant.kind"
    # an organisation may apply
    org = stack.applicant(organisation=True)
    r = await org.apply(ORG_ONLY)
    assert r.status_code == 201, r.text
    assert r.json()["applicant"]["kind"] == "organisation"


async def test_unknown_action_is_422(stack):
    u = stack.applicant()
    case = (await u.apply(ITEM)).json()
    clerk = stack.staff("amr", "clerk")
    r = await clerk.act(case["id"], "fly_to_the_moon")
    assert r.status_code == 422
    assert r.json()["detail"]["code"] == "unknown_action"
    assert r.json()["detail"]["field"] == "action"
    # 409 for a known action in the wrong state; 422 for bad data in the right one
    assert (await clerk.act(case["id"], "deliver", method="electronic")).status_code == 409
    r = await clerk.act(case["id"], "refuse_acceptance")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "comment"
    r = await clerk.act(case["id"], "request_supplement", missing=["户口本"])
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data.missing"
    assert (await clerk.case(case["id"]))["status"] == "submitted"


# ---- idempotency -----------------------------------------------------------------------------------------
async def test_same_idempotency_key_returns_the_same_case(stack):
    u = stack.applicant()
    body = await application(u, ITEM, idempotency_key=f"k-{uuid.uuid4().hex}")
    first = await u.post("/api/cases", json=body)
    assert first.status_code == 201, first.text
    again = await u.post("/api/cases", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert (await u.get("/api/cases")).json()["total"] == 1
    # a different key is a different case
    other = await u.post("/api/cases", json={**body, "idempotency_key": f"k-{uuid.uuid4().hex}"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert (await u.get("/api/cases")).json()["total"] == 2


async def test_idempotency_keys_are_per_user(stack):
    key = f"k-{uuid.uuid4().hex}"
    a, b = stack.applicant(), stack.applicant()
    ra = await a.post("/api/cases", json=await application(a, ITEM, idempotency_key=key))
    rb = await b.post("/api/cases", json=await application(b, ITEM, idempotency_key=key))
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"]


async def test_concurrent_double_submit_makes_one_case(stack):
    u = stack.applicant()
    body = await application(u, ITEM, idempotency_key=f"k-{uuid.uuid4().hex}")
    await u.token()
    r1, r2 = await asyncio.gather(u.post("/api/cases", json=body), u.post("/api/cases", json=body))
    assert {r1.status_code, r2.status_code} <= {200, 201}, (r1.text, r2.text)
    assert r1.json()["id"] == r2.json()["id"]
    assert sorted([r1.status_code, r2.status_code]) == [200, 201]
    listing = (await u.get("/api/cases")).json()
    assert listing["total"] == 1
    history = (await u.get(f"/api/cases/{r1.json()['id']}/history")).json()
    assert [h["action"] for h in history] == ["submitted"]


# ---- search -------------------------------------------------------------------------------------------------
async def test_case_search_filters_and_pagination(stack):
    u = stack.applicant()
    clerk = stack.staff("amr", "clerk")
    a = (await u.apply(ITEM)).json()
    b = (await u.apply(ITEM)).json()
    c = (await u.apply(ITEM2)).json()
    assert {a["status"], b["status"], c["status"]} == {"submitted"}
    await clerk.ok(b["id"], "accept")
    await stack.advance(c["id"], 10)  # deemed acceptance: a red card

    async def ids(**params) -> tuple[set[str], int]:
        r = await u.get("/api/cases", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        return {x["id"] for x in body["items"]}, body["total"]

    assert await ids() == ({a["id"], b["id"], c["id"]}, 3)
    assert await ids(status="submitted") == ({a["id"]}, 1)
    assert await ids(status="accepted") == ({b["id"], c["id"]}, 2)
    assert await ids(item_code=ITEM) == ({a["id"], b["id"]}, 2)
    assert await ids(item_code=ITEM2) == ({c["id"]}, 1)
    assert await ids(warning="red") == ({c["id"]}, 1)
    assert await ids(warning="yellow") == (set(), 0)
    assert await ids(q=b["id"]) == ({b["id"]}, 1)
    assert await ids(q=c["item_name"]) == ({c["id"]}, 1)
    assert await ids(status="accepted", item_code=ITEM) == ({b["id"]}, 1)
    page1, total1 = await ids(limit=2, offset=0)
    page2, total2 = await ids(limit=2, offset=2)
    assert total1 == total2 == 3
    assert len(page1) == 2 and len(page2) == 1 and page1 | page2 == {a["id"], b["id"], c["id"]}
    # staff of the department find the case by applicant and department
    got, total = await ids_as(clerk, applicant=u.username)
    assert got == {a["id"], b["id"], c["id"]} and total == 3
    got, total = await ids_as(clerk, applicant=a["applicant"]["id_number"], status="submitted")
    assert got == {a["id"]}
    # list items are the case shape, without the history
    item = next(x for x in (await u.get("/api/cases", params={"q": a["id"]})).json()["items"])
    assert item["id"] == a["id"] and item["status"] == "submitted" and "deadlines" in item
    assert item["history"] == []
    assert (await u.get("/api/cases", params={"limit": 0})).status_code == 422


async def test_case_search_matches_the_text_as_typed(stack):
    """`q` is a text, never a LIKE pattern: `%` and `_` match only themselves (and `/`, the escape)."""
    plain = stack.applicant()
    a = (await plain.apply(ITEM)).json()
    odd = stack.applicant(username=f"app_100%/-{uuid.uuid4().hex[:6]}")  # the name is "申请人" + username
    b = (await odd.apply(ITEM)).json()
    clerk = stack.staff("amr", "clerk")  # sees every case of the department
    for q in ("%", "_", "100%", "%%", "a_p", "/"):
        got, total = await ids_as(plain, q=q)
        assert (got, total) == (set(), 0), q
        got, _ = await ids_as(clerk, q=q)
        assert a["id"] not in got, q
    for q in ("%", "_", "100%", "app_100%/", "/"):
        got, _ = await ids_as(clerk, q=q)
        assert b["id"] in got, q
        assert await ids_as(odd, q=q) == ({b["id"]}, 1), q
    assert await ids_as(odd, q="a_p") == (set(), 0)
    assert await ids_as(odd, q=b["id"]) == ({b["id"]}, 1)


async def ids_as(user, **params) -> tuple[set[str], int]:
    r = await user.get("/api/cases", params=params)
    assert r.status_code == 200, r.text
    return {x["id"] for x in r.json()["items"]}, r.json()["total"]


# ---- inboxes ---------------------------------------------------------------------------------------------------
async def tasks(user, scope: str | None = None) -> dict:
    r = await user.get("/api/tasks", params={"scope": scope} if scope else None)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])  # under the default limit
    return body


def find(body: dict, case_id: str) -> dict | None:
    return next((t for t in body["items"] if t["case_id"] == case_id), None)


def assert_earliest_due_first(body: dict) -> None:
    """Most urgent first: 红牌, 黄牌, 提醒, then no warning (api/inboxes.py), each by due date, undated last."""
    items = body["items"]
    ranks = [WARNING_RANK.get(t["warning"], len(WARNING_RANK)) for t in items]
    assert ranks == sorted(ranks)
    for rank in set(ranks):
        dues = [t["due"] for t, r in zip(items, ranks, strict=True) if r == rank]
        dated = [d for d in dues if d is not None]
        assert dated == sorted(dated)
        assert dues[:len(dated)] == dated  # undated last


async def test_task_scopes(stack):
    u = stack.applicant()
    case = (await u.apply(ITEM)).json()
    cid = case["id"]
    clerk1, clerk2 = stack.staff("amr", "clerk"), stack.staff("amr", "clerk")
    handler = stack.staff("amr", "handler")

    mine = await tasks(clerk1)  # default scope: mine
    t = find(mine, cid)
    assert t is not None
    assert TASK_KEYS <= set(t)
    assert t["item_code"] == ITEM and t["item_name"] == "食品经营许可"
    assert t["status"] == "submitted" and t["step"] is None and t["warning"] is None
    assert t["claimed_by"] is None
    assert t["due"] == case["deadlines"]["acceptance_due"]
    assert_earliest_due_first(mine)
    assert find(await tasks(handler), cid) is None  # not waiting for a handler
    assert find(await tasks(handler, "department"), cid) is not None
    assert find(await tasks(stack.staff("civil", "clerk"), "department"), cid) is None

    await clerk1.ok(cid, "claim")
    assert find(await tasks(clerk1, "mine"), cid)["claimed_by"] == clerk1.username
    assert find(await tasks(clerk2, "mine"), cid) is None
    assert find(await tasks(clerk2, "claimed_by_others"), cid)["claimed_by"] == clerk1.username
    assert find(await tasks(clerk1, "claimed_by_others"), cid) is None
    assert find(await tasks(clerk2, "department"), cid) is not None
    # a colleague cannot take a claimed task's work
    assert (await clerk2.act(cid, "accept")).status_code == 409

    accepted = await clerk1.ok(cid, "accept")
    assert find(await tasks(clerk1), cid) is None
    t = find(await tasks(handler), cid)
    assert t is not None
    assert t["step"] == {"id": "review", "name": "审查", "role": "handler"}
    assert t["status"] == "accepted" and t["claimed_by"] is None
    assert t["due"] == accepted["deadlines"]["step_due"]
    dept = await tasks(handler, "department")
    assert_earliest_due_first(dept)
    r = await handler.get("/api/tasks", params={"scope": "everything"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "scope"


async def test_concluded_and_withdrawn_cases_are_in_no_inbox(stack):
    u = stack.applicant()
    staff = {role: stack.staff("amr", role) for role in ("clerk", "handler", "approver")}
    clerk = staff["clerk"]
    case = (await u.apply(ITEM)).json()
    cid = case["id"]
    case = await clerk.ok(cid, "accept")
    while case["current_step"]["kind"] == "review":
        case = await staff[case["current_step"]["role"]].ok(cid, "pass")
    case = await staff["approver"].ok(cid, "approve")
    assert find(await tasks(clerk), cid) is not None  # waiting for delivery
    case = await clerk.ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded"
    for user in staff.values():
        assert find(await tasks(user, "department"), cid) is None
    gone = (await u.apply(ITEM)).json()
    await u.ok(gone["id"], "withdraw")
    assert find(await tasks(clerk, "department"), gone["id"]) is None
    # an applicant has no inbox
    assert await tasks(u) == {"items": [], "total": 0}


# ---- the item catalogue ---------------------------------------------------------------------------------------
async def test_items_list_and_detail_shapes(stack):
    u = stack.applicant()
    items = (await u.get("/api/items")).json()
    codes = {i["code"] for i in items}
    assert {ITEM, ITEM2, ORG_ONLY, "open-restaurant-bundle", "construction-permit-joint"} <= codes
    for i in items:
        assert SUMMARY_KEYS <= set(i), i
        assert i["kind"] in ("single", "joint", "bundle")
        for lim in (i["promised_limit"], i["statutory_limit"]):
            assert set(lim) == {"value", "unit"} and lim["unit"] in ("working_days", "natural_days")
        assert isinstance(i["online"], bool) and isinstance(i["site_visits"], int)
    food = next(i for i in items if i["code"] == ITEM)
    assert food["department"] == "amr" and food["kind"] == "single" and food["type"] == "01"
    assert food["promised_limit"] == {"value": 10, "unit": "working_days"}
    assert food["statutory_limit"] == {"value": 20, "unit": "working_days"}
    assert food["site_visits"] == 0 and food["online"] is True
    kinds = {i["code"]: i["kind"] for i in items}
    assert kinds["open-restaurant-bundle"] == "bundle" and kinds["construction-permit-joint"] == "joint"

    r = await u.get(f"/api/items/{ITEM}")
    assert r.status_code == 200
    d = r.json()
    assert d["code"] == ITEM and d["name"] == "食品经营许可"
    assert d["versions"][0]["version"] == d["version"]
    assert d["version"] == d["versions"][-1]["version"]
    assert {m["name"] for m in d["materials"]} >= {"营业执照", "食品经营许可申请书"}
    for m in d["materials"]:
        assert isinstance(m["required"], bool)
    by_name = {f["name"]: f for f in d["form"]}
    assert by_name["main_business"]["type"] == "choice"
    assert by_name["main_business"]["choices"] == ["食品销售经营者", "餐饮服务经营者", "单位食堂"]
    assert by_name["business_area"]["type"] == "number" and by_name["business_area"]["required"] is True
    assert {f["type"] for f in d["form"]} <= {"text", "number", "date", "boolean", "choice"}
    assert [s["id"] for s in d["steps"]] == ["review", "verify", "decide"]
    r = await u.get("/api/items/no-such-item")
    assert r.status_code == 404 and r.json()["detail"]["field"] == "item_code"


async def test_publish_item_versions_json_and_yaml(stack):
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    v1 = fresh_item()
    code = v1["code"]
    headers = {**await admin.headers(), "Content-Type": "application/json"}
    r = await stack.http.post("/api/items", content=as_json(v1).encode(), headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["code"] == code and r.json()["version"] == 1
    assert [v["version"] for v in r.json()["versions"]] == [1]
    assert r.json()["versions"][0]["created_at"].endswith("+08:00")
    assert r.json()["versions"][0]["created_by"] == admin.username

    # the same content again: 200, no new version
    r = await stack.http.post("/api/items", content=as_json(v1).encode(), headers=headers)
    assert r.status_code == 200, r.text
    assert [v["version"] for v in (await admin.get(f"/api/items/{code}")).json()["versions"]] == [1]

    # a new version as YAML
    v2 = copy.deepcopy(v1)
    v2["version"] = 2
    v2["promised_limit"] = {"value": 8, "unit": "working_days"}
    yheaders = {**await admin.headers(), "Content-Type": "application/yaml"}
    r = await stack.http.post("/api/items", content=yaml.safe_dump(v2, allow_unicode=True).encode(),
                              headers=yheaders)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    got = (await admin.get(f"/api/items/{code}")).json()
    assert got["version"] == 2 and got["promised_limit"] == {"value": 8, "unit": "working_days"}
    assert [v["version"] for v in got["versions"]] == [1, 2]
    assert next(i for i in (await admin.get("/api/items")).json() if i["code"] == code)["version"] == 2

    # the same YAML again: 200
    r = await stack.http.post("/api/items", content=yaml.safe_dump(v2, allow_unicode=True).encode(),
                              headers=yheaders)
    assert r.status_code == 200

    # other content under an existing version: 409 (versions are immutable)
    changed = copy.deepcopy(v2)
    changed["promised_limit"] = {"value": 5, "unit": "working_days"}
    r = await stack.http.post("/api/items", content=as_json(changed).encode(), headers=headers)
    assert r.status_code == 409
    assert r.json()["detail"]["field"] == "version"
    older = copy.deepcopy(v1)
    older["name"] = "旧版本改名"
    r = await stack.http.post("/api/items", content=as_json(older).encode(), headers=headers)
    assert r.status_code == 409
    assert (await admin.get(f"/api/items/{code}")).json()["promised_limit"]["value"] == 8


async def test_publish_invalid_definition_lists_every_problem(stack):
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    headers = {**await admin.headers(), "Content-Type": "application/json"}
    bad = fresh_item(promised_limit={"value": 30, "unit": "working_days"}, department="nowhere")
    r = await stack.http.post("/api/items", content=as_json(bad).encode(), headers=headers)
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]["problems"]
    by_path = {p["path"]: p for p in problems}
    assert by_path["promised_limit"]["code"] == "promised_exceeds_statutory"
    assert by_path["department"]["code"] == "unknown_department"
    for p in problems:
        assert p["message"] and p["message_en"]

    missing = fresh_item()
    del missing["name"], missing["department"]
    missing["steps"] = [*missing["steps"], {"id": "extra"}]
    r = await stack.http.post("/api/items", content=as_json(missing).encode(), headers=headers)
    assert r.status_code == 422
    paths = {p["path"] for p in r.json()["detail"]["problems"]}
    assert {"name", "department", "steps[3].name", "steps[3].role"} <= paths
    assert (await admin.get(f"/api/items/{missing['code']}")).status_code == 404

    r = await stack.http.post("/api/items", content=b"code: [unclosed", headers={
        **await admin.headers(), "Content-Type": "application/yaml"})
    assert r.status_code == 422
    r = await stack.http.post("/api/items", content=b"[1, 2]", headers=headers)
    assert r.status_code == 422


async def test_only_admin_publishes_items(stack):
    body = as_json(fresh_item()).encode()
    for user in (stack.staff("amr", "clerk"), stack.applicant(), stack.user(f"aud-{uuid.uuid4().hex[:6]}", "auditor")):
        r = await stack.http.post("/api/items", content=body,
                                  headers={**await user.headers(), "Content-Type": "application/json"})
        assert r.status_code == 403, r.text
    # 403 comes before 422
    clerk = stack.staff("amr", "clerk")
    r = await stack.http.post("/api/items", content=b"{}", headers={**await clerk.headers(),
                                                                     "Content-Type": "application/json"})
    assert r.status_code == 403
    r = await stack.http.post("/api/items", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401


async def test_a_case_keeps_running_on_its_item_version(stack):
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    headers = {**await admin.headers(), "Content-Type": "application/json"}
    v1 = fresh_item()
    code = v1["code"]
    assert (await stack.http.post("/api/items", content=as_json(v1).encode(), headers=headers)).status_code == 201
    u = stack.applicant()
    old = await u.apply(code)
    assert old.status_code == 201, old.text
    old = old.json()
    assert old["item_version"] == 1
    clerk = stack.staff("amr", "clerk")
    old = await clerk.ok(old["id"], "accept")
    assert old["current_step"]["id"] == "review"

    # version 2: one review step fewer, a shorter promised limit
    v2 = copy.deepcopy(v1)
    v2["version"] = 2
    v2["promised_limit"] = {"value": 6, "unit": "working_days"}
    v2["steps"] = [s for s in v2["steps"] if s["id"] != "verify"]
    r = await stack.http.post("/api/items", content=as_json(v2).encode(), headers=headers)
    assert r.status_code == 201, r.text

    # the running case keeps version 1: its steps and its deadlines
    handler = stack.staff("amr", "handler")
    case = await handler.ok(old["id"], "pass")
    assert case["item_version"] == 1
    assert case["current_step"]["id"] == "verify"
    assert case["deadlines"]["promised_due"] == old["deadlines"]["promised_due"]

    new = (await u.apply(code)).json()
    assert new["item_version"] == 2
    new = await clerk.ok(new["id"], "accept")
    new = await handler.ok(new["id"], "pass")
    assert new["current_step"]["id"] == "decide"
    with stack.sessions() as session:
        assert session.get(Case, old["id"]).item_version == 1
        assert session.get(Case, new["id"]).item_version == 2


# ---- the calendar ----------------------------------------------------------------------------------------------
async def test_calendar_reads(stack):
    u = stack.applicant()
    r = await u.get("/api/calendar/2026")
    assert r.status_code == 200
    y = r.json()
    assert y["year"] == 2026 and y["official"] is True
    assert "2026-10-01" in y["holidays"] and "2026-01-01" in y["holidays"]
    assert all(date.fromisoformat(d).weekday() >= 5 for d in y["workdays"])
    assert y["workdays"], "2026 has adjusted weekend workdays"
    r = await u.get("/api/calendar/2031")
    assert r.status_code == 200
    y = r.json()
    assert y["year"] == 2031 and y["official"] is False
    assert "2031-10-01" in y["holidays"]
    assert (await stack.http.get("/api/calendar/2026")).status_code == 401


async def test_calendar_put_needs_holidays_and_workdays(stack):
    """An empty body wiped the year (no holidays, not official) and re-planned every open case: a
    missing `holidays` or `workdays` is a 422 naming it, and nothing changes."""
    year = 2034
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    before = (await admin.get(f"/api/calendar/{year}")).json()
    with stack.sessions() as session:
        stored = session.get(CalendarYear, year)
        stored_schedule = copy.deepcopy(stored.schedule) if stored else None
    for bad, field in (({}, "holidays"), ({"year": year, "official": True}, "holidays"),
                       ({"holidays": before["holidays"]}, "workdays"), ({"workdays": []}, "holidays")):
        r = await admin.put(f"/api/calendar/{year}", json=bad)
        assert r.status_code == 422, (bad, r.text)
        detail = r.json()["detail"]
        assert detail["field"] == field and field in detail["message"] and field in detail["message_en"], r.text
        assert "recomputed_cases" not in r.text
    assert (await admin.get(f"/api/calendar/{year}")).json() == before
    with stack.sessions() as session:
        row = session.get(CalendarYear, year)
        assert (row.schedule if row else None) == stored_schedule


async def test_calendar_put(stack):
    year = 2035
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    clerk = stack.staff("amr", "clerk")
    before = (await admin.get(f"/api/calendar/{year}")).json()
    with stack.sessions() as session:
        stored = session.get(CalendarYear, year)
        stored_schedule = copy.deepcopy(stored.schedule) if stored else None
    body = {"year": year, "official": True, "holidays": [*before["holidays"], "2035-06-13"],
            "workdays": ["2035-06-16"]}
    try:
        r = await clerk.put(f"/api/calendar/{year}", json=body)
        assert r.status_code == 403
        for bad, field in (({**body, "holidays": ["2035-02-30"]}, "holidays"),
                           ({**body, "holidays": ["2034-12-31"]}, "holidays"),
                           ({**body, "workdays": ["2035-06-13"]}, "workdays"),  # a Wednesday
                           ({**body, "holidays": "2035-06-13"}, "holidays"),
                           ({"year": 2036, "holidays": [], "workdays": []}, "year"),
                           ({**body, "official": "yes"}, "official"),
                           ({**body, "holidays": [*body["holidays"], "2035-06-13"]}, "holidays"),  # twice
                           ({**body, "workdays": ["2035-06-16", "2035-06-16"]}, "workdays"),
                           ({**body, "holidays": ["20350614"]}, "holidays"),
                           ({**body, "holidays": ["2035-W24-4"]}, "holidays"),
                           ({**body, "colour": "red"}, "colour")):
            r = await admin.put(f"/api/calendar/{year}", json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["detail"]["field"] == field, r.text
        assert (await admin.get(f"/api/calendar/{year}")).json()["holidays"] == before["holidays"]

        r = await admin.put(f"/api/calendar/{year}", json=body)
        assert r.status_code == 200, r.text
        assert isinstance(r.json()["recomputed_cases"], int)
        got = (await clerk.get(f"/api/calendar/{year}")).json()
        assert "2035-06-13" in got["holidays"] and got["workdays"] == ["2035-06-16"]
        assert got["official"] is True
        r = await admin.put(f"/api/calendar/{year}", json=got)  # the GET's body (its `source` too) goes back
        assert r.status_code == 200, r.text
    finally:
        with stack.sessions() as session:
            row = session.exec(select(CalendarYear).where(CalendarYear.year == year)).first()
            if stored_schedule is None:
                if row is not None:
                    session.delete(row)
            else:
                row.schedule = stored_schedule
                row.loaded_at = datetime.now(UTC)  # workers re-read a calendar by its load time
                session.add(row)
            session.commit()
    after = (await admin.get(f"/api/calendar/{year}")).json()
    assert after["holidays"] == before["holidays"] and after["official"] == before["official"]


STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store(request):
    return request.getfixturevalue(request.param)


async def test_case_search_ignores_letter_case_on_every_database(store):
    """`q` finds an applicant named in Latin letters whatever their case, on PostgreSQL as on SQLite
    (PostgreSQL's LIKE is case-sensitive: `q=zhao` missed 申请人Zhao… there)."""
    tag = uuid.uuid4().hex[:6]
    u = store.applicant(username=f"Zhao-Gongsi-{tag}")
    case = (await u.apply(ITEM)).json()
    clerk = store.staff("amr", "clerk")
    for q in (f"zhao-gongsi-{tag}", f"ZHAO-GONGSI-{tag.upper()}", f"Zhao-Gongsi-{tag}"):
        assert await ids_as(u, q=q) == ({case["id"]}, 1), q
        got, _ = await ids_as(clerk, q=q)
        assert case["id"] in got, q
