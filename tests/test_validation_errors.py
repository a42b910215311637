"""Request-validation 422s in the contract's error shape (`api/validation.py`), unknown filter values
as 422s (`api.bounds.one_of`), and the supervision page's bad filters shown in place."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from activities.licences import LicenceActivities
from api.validation import detail, field_path
from banjian import licences as lic
from banjian.db import session_factory
from banjian.items.schema import LicenceSpec
from banjian.licence_store import master_key
from tests.pages_client import PageClient

CJK = re.compile(r"[\u4e00-\u9fff]")
LONG = "长" * 5001


def check_shape(body: dict[str, Any], field: str | None) -> dict[str, Any]:
    """The documented 4xx body: a `detail` object with code, a Chinese and an English message, a field."""
    d = body["detail"]
    assert isinstance(d, dict), body
    assert set(d) >= {"code", "message", "message_en", "field"}, d
    assert isinstance(d["code"], str) and d["code"], d
    assert CJK.search(d["message"]) and d["message_en"].isascii(), d
    assert d["field"] == field, d
    if field:
        assert field in d["message"] and field in d["message_en"], d
    return d


def test_field_paths_drop_the_source_and_bracket_list_positions():
    assert field_path(("body", "materials", 0, "name")) == "materials[0].name"
    assert field_path(("query", "from")) == "from"
    assert field_path(("body",)) == ""
    assert field_path(("data", "username")) == "data.username"


def test_every_problem_is_kept_and_the_first_leads():
    class Body(BaseModel):
        action: str
        comment: str = Field(min_length=1, max_length=5)
        count: int = Field(ge=1)

    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"comment": "toolong", "count": 0})
    errors = [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]
    d = detail(errors)
    assert d["code"] == "invalid_request" and d["field"] == "action"
    assert [(p["field"], p["code"]) for p in d["problems"]] == [
        ("action", "missing"), ("comment", "string_too_long"), ("count", "greater_than_equal")]
    assert d["problems"][0]["message"] == "字段 action（操作）为必填项，不能缺少"
    assert d["problems"][1]["message"] == "字段 comment（意见或理由）长度不能超过 5 个字符"
    assert d["problems"][2]["message_en"] == "field `count` must be greater than or equal to 1 (got 0)"
    assert d["message"].endswith("；另有 2 处问题") and "2 more problem(s)" in d["message_en"]


def test_a_query_level_is_named_as_the_warning_level_it_filters():
    """`level` in a query string is the warnings board's filter (预警等级), not a rating's level."""
    err = {"type": "enum", "msg": "Input should be 'notice', 'yellow' or 'red'", "input": "purple",
           "ctx": {"expected": "'notice', 'yellow' or 'red'"}}
    d = detail([{**err, "loc": ("query", "level")}])
    assert d["message"].startswith("参数 level（预警等级）") and "评价" not in d["message"]


def test_a_whole_bound_of_a_float_field_reads_as_written():
    """A float field's `le=3650` reaches the message as 3650, not 3650.0; a fractional bound keeps its digits."""
    class Days(BaseModel):
        days: float = Field(gt=0.5, le=3650)

    for given, zh, en in ((5000, "不能大于 3650（", "less than or equal to 3650 ("),
                          (0.25, "必须大于 0.5（", "greater than 0.5 (")):
        with pytest.raises(ValidationError) as e:
            Days(days=given)
        d = detail(e.value.errors())
        assert zh in d["message"] and en in d["message_en"], d


def test_a_body_that_is_no_json_names_no_field():
    d = detail([{"type": "json_invalid", "loc": ("body", 7), "msg": "JSON decode error", "input": {},
                 "ctx": {"error": "Expecting value"}}])
    assert d["field"] is None and d["problems"][0]["code"] == "json_invalid"
    d = detail([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}])
    assert d["field"] is None and d["message"] == "请求体不是有效的 JSON"


@pytest.fixture(scope="module")
def callers(stack, people) -> dict[str, Any]:
    return {"anon": stack.http, "clerk": people.clerk, "approver": people.approver,
            "supervisor": stack.user(f"v422-sup-{uuid.uuid4().hex[:4]}", "supervisor")}


@pytest.fixture(scope="module")
async def targets(stack, people) -> dict[str, str]:
    """What the routes with a path id act on: a bad body is read only after the 404 and 403 checks,
    so the licence is the approver's department's and the inquiry the clerk's department's."""
    holder = people.applicant(0)
    me = (await holder.get("/api/me")).json()
    acts = LicenceActivities(session_factory(stack.engine), master_key(None), "330100")
    licence_id = acts.issue_licence(lic.IssueRequest(
        case_id=uuid.uuid4().hex, item_code="individual-business-registration", item_name="个体工商户设立登记",
        department="amr", implementing_body={"name": "市市场监督管理局", "credit_code": "11330100002548715U"},
        licence=LicenceSpec(type="营业执照", type_code="0001"),
        applicant={"kind": "citizen", "id_number": me["id_number"], "name": me["display_name"],
                   "username": holder.username}, decided_at=datetime.now(UTC)))
    asked = await holder.post("/api/inquiries", json={"kind": "consultation", "item_code": "food-business-licence",
                                                      "text": "需要哪些材料？"})
    assert asked.status_code == 201, asked.text
    return {"licence": licence_id, "inquiry": asked.json()["id"]}


async def call(callers: dict[str, Any], who: str, method: str, path: str, params: dict | None,
               body: Any, targets: dict[str, str] | None = None) -> Any:
    path = path.format(**(targets or {}))
    caller = callers[who]
    if who == "anon":
        return await caller.request(method, path, params=params, json=body)
    if method == "GET":
        return await caller.get(path, params=params)
    return await caller.post(path, json=body, params=params)


ROUTES = [  # (who, method, path, params, body, field, problem code, Chinese words of the message)
    ("approver", "POST", "/api/licences/{licence}/actions", None, {}, "action", "missing", "必填"),
    ("approver", "POST", "/api/licences/{licence}/actions", None, {"action": "suspend"}, "comment", "missing", "必填"),
    ("approver", "POST", "/api/licences/{licence}/actions", None, {"action": "suspend", "comment": ""},
     "comment", "string_too_short", "不能少于 1 个字符"),
    ("approver", "POST", "/api/licences/{licence}/actions", None, {"action": "suspend", "comment": "x" * 2001},
     "comment", "string_too_long", "不能超过 2000 个字符"),
    ("approver", "POST", "/api/licences/{licence}/actions", None, {"action": "fly", "comment": "因故"},
     "action", "literal_error", "suspend、reinstate、revoke、cancel"),
    ("anon", "POST", "/api/inquiries", None, {"kind": "consultation", "text": "   "}, "text",
     "string_pattern_mismatch", "不能为空"),
    ("anon", "POST", "/api/inquiries", None, {"kind": "consultation", "text": ""}, "text", "string_too_short",
     "不能少于 1 个字符"),
    ("anon", "POST", "/api/inquiries", None, {"kind": "consultation", "text": LONG}, "text", "string_too_long",
     "不能超过 5000 个字符"),
    ("anon", "POST", "/api/inquiries", None, {"kind": "consultation", "text": "问", "contact": "1" * 201},
     "contact", "string_too_long", "不能超过 200 个字符"),
    ("anon", "POST", "/api/inquiries", None, {"kind": "consultation", "text": "问", "channel": "fax"},
     "channel", "literal_error", "web、window、hotline"),
    ("clerk", "POST", "/api/inquiries/{inquiry}/answer", None, {"text": "答复", "outcome": "bogus"},
     "outcome", "literal_error", "upheld、partly_upheld、not_upheld"),
    ("supervisor", "GET", "/api/supervision/warnings", {"limit": 0}, None, "limit", "greater_than_equal",
     "不能小于 1（实际为 0）"),
    ("supervisor", "GET", "/api/supervision/warnings", {"level": "orange"}, None, "level", "enum",
     "notice、yellow、red"),
    ("supervisor", "GET", "/api/supervision/warnings", {"offset": -1}, None, "offset", "greater_than_equal",
     "不能小于 0"),
    ("supervisor", "GET", "/api/supervision/warnings", {"offset": 10**7}, None, "offset", "less_than_equal",
     "不能大于 100000"),
    ("supervisor", "GET", "/api/supervision/stats", {"format": "pdf"}, None, "format", "literal_error",
     "json、csv、xlsx、svg"),
    ("supervisor", "GET", "/api/supervision/stats", {"from": "1999-01-01"}, None, "from", "greater_than_equal",
     "不能早于 2000-01-01"),
    ("supervisor", "GET", "/api/supervision/stats", {"from": "abc"}, None, "from", "date_from_datetime_parsing",
     "应为有效日期"),
    ("clerk", "GET", "/api/items/food-business-licence/slots", {"from": "abc"}, None, "from",
     "date_from_datetime_parsing", "应为有效日期"),
]


@pytest.mark.parametrize("who, method, path, params, body, field, code, words", ROUTES,
                         ids=[f"{r[2]}:{r[5]}:{r[6]}" for r in ROUTES])
async def test_request_validation_422s_have_the_documented_shape(callers, targets, who, method, path, params, body,
                                                                  field, code, words):
    r = await call(callers, who, method, path, params, body, targets)
    assert r.status_code == 422, r.text
    d = check_shape(r.json(), field)
    assert d["code"] == "invalid_request" and words in d["message"], d
    problems = d["problems"]
    assert problems and problems[0]["field"] == field and problems[0]["code"] == code, problems
    for p in problems:
        assert set(p) >= {"field", "code", "message", "message_en"} and CJK.search(p["message"]), p
        assert not (p["field"] or "").startswith(("body", "query")), p
    if code in ("literal_error", "enum"):
        assert problems[0]["allowed"] == words.split("、"), problems[0]


async def test_a_case_action_with_a_bad_body_is_shaped_too(stack, people):
    case = (await people.applicant(0).apply("food-business-licence")).json()
    r = await people.clerk.post(f"/api/cases/{case['id']}/actions", json={"action": "accept", "comment": "x" * 5001})
    assert r.status_code == 422
    d = check_shape(r.json(), "comment")
    assert d["problems"][0]["code"] == "string_too_long" and "不能超过" in d["message"]
    r = await stack.http.post(f"/api/cases/{case['id']}/actions", content=b"{not json",
                              headers={**await people.clerk.headers(), "Content-Type": "application/json"})
    assert r.status_code == 422
    d = check_shape(r.json(), None)
    assert d["problems"][0]["code"] == "json_invalid" and "JSON" in d["message"]


FILTERS = [  # (who, path, params, field, allowed)
    ("supervisor", "/api/cases", {"warning": "purple"}, "warning", ["notice", "yellow", "red"]),
    ("supervisor", "/api/cases", {"status": "bogus"}, "status", None),
    ("supervisor", "/api/cases", {"kind": "pair"}, "kind", ["single", "joint", "bundle"]),
    ("clerk", "/api/appointments", {"scope": "department", "status": "bogus"}, "status",
     ["booked", "cancelled", "rescheduled", "no_show"]),
    ("clerk", "/api/appointments", {"status": "bogus"}, "status", ["booked", "cancelled", "rescheduled", "no_show"]),
]


@pytest.mark.parametrize("who, path, params, field, allowed", FILTERS, ids=[f"{f[1]}:{f[3]}" for f in FILTERS])
async def test_an_unknown_filter_value_is_a_422_listing_the_choices(callers, who, path, params, field, allowed):
    r = await call(callers, who, "GET", path, params, None)
    assert r.status_code == 422, r.text
    d = check_shape(r.json(), field)
    assert d["code"] == "invalid_choice" and f"（实际为 {params[field]}）" in d["message"]
    assert d["problems"] == [{"field": field, "code": "invalid_choice", "message": d["message"],
                              "message_en": d["message_en"], "allowed": d["allowed"]}]
    if allowed:
        assert d["allowed"] == allowed and "、".join(allowed) in d["message"], d
    else:
        assert "concluded" in d["allowed"] and "submitted" in d["message"], d


async def test_known_and_empty_filter_values_still_filter(callers):
    sup, clerk = callers["supervisor"], callers["clerk"]
    for params in ({"warning": "red"}, {"warning": ""}, {"status": "submitted", "kind": "single"}):
        assert (await sup.get("/api/cases", params=params)).status_code == 200, params
    r = await clerk.get("/api/appointments", params={"scope": "department", "status": "no_show"})
    assert r.status_code == 200 and all(a["status"] == "no_show" for a in r.json()["items"])


@pytest.mark.parametrize("params, words", [
    ({"from": "abc"}, "开始日期“abc”不是有效日期"),
    ({"from": "1990-01-01"}, "开始日期应在 2000-01-01 至 2100-12-31 之间"),
    ({"to": "2026-02-30"}, "结束日期“2026-02-30”不是有效日期"),
    ({"from": "2026-04-01", "to": "2026-03-01"}, "开始日期不能晚于结束日期"),
])
async def test_the_supervision_page_shows_a_bad_filter_in_place(stack, callers, params, words):
    page = PageClient(stack)
    try:
        await page.login(callers["supervisor"].username)
        r = await page.get("/supervision", params=params)
        assert r.status_code == 422, r.text[:300]
        alert = re.search(r'<div class="check check--bad" role="alert"[^>]*>(.*?)</div>', r.text, re.S)
        assert alert and words in alert.group(1), r.text[:2000]
        for name, value in params.items():  # the user's input is kept in the form
            assert re.search(rf'id="{name}" name="{name}" value="{re.escape(value)}"', r.text), name
        # nothing shown as if the filter had been applied: no board (not even an empty one), no figures
        assert "预警（共" not in r.text and "当前没有预警" not in r.text and 'id="figures"' not in r.text
        ok = await page.get("/supervision", params={"from": "2026-03-01"})
        assert ok.status_code == 200 and 'role="alert"' not in ok.text
    finally:
        await page.close()


async def test_the_rectifications_page_shows_an_unknown_status_in_place(stack, callers):
    page = PageClient(stack)
    try:
        await page.login(callers["supervisor"].username)
        r = await page.get("/rectifications", params={"status": "bogus"})
        assert r.status_code == 422
        alert = re.search(r'<div class="check check--bad" role="alert"[^>]*>(.*?)</div>', r.text, re.S)
        assert alert and "状态“bogus”无效" in alert.group(1) and "待回访" in alert.group(1), r.text[:2000]
        ok = await page.get("/rectifications", params={"status": "open"})
        assert ok.status_code == 200 and 'role="alert"' not in ok.text
    finally:
        await page.close()
