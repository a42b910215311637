"""What a third-party client written from the contract, docs/api.md and /openapi.json relies on:
the document describes the errors the server sends, a 405 names every method of the path, a JSON
body sent as another media type is a 415, and an idempotency key stands for one application."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
from sqlalchemy import update

from banjian.auth import actor_of
from banjian.db import Case, User
from services.demo import submit_once
from tests.conftest import application

ITEM = "food-business-licence"


def error_validator(doc: dict[str, Any]) -> Any:
    """A validator of the document's `ErrorResponse`, its references resolved within the document."""
    return jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/ErrorResponse",
                                                "components": doc["components"]})


async def test_the_openapi_document_describes_the_errors_the_server_sends(stack, people):
    doc = (await stack.http.get("/openapi.json")).json()
    assert "HTTPValidationError" not in json.dumps(doc)  # FastAPI's list form is never sent
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            for code in ("422", "4XX") + (("401",) if op.get("security") else ()):
                if code in responses or code != "422":
                    schema = responses[code]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, code)
    valid = error_validator(doc)
    applicant = people.applicant()
    answers = [await applicant.get("/api/cases", params={"limit": 0}),     # request validation
               await applicant.get("/api/cases", params={"status": "x"}),  # a filter's choices
               await stack.http.get("/api/cases"),                         # no token
               await applicant.get("/api/cases/no-such-case"),             # unknown
               await applicant.get("/api/audit/admin-log")]                # not allowed
    assert [r.status_code for r in answers] == [422, 422, 401, 404, 403]
    for r in answers:
        assert valid.is_valid(r.json()), (r.status_code, r.text)
    assert not valid.is_valid({"detail": [{"loc": ["query", "limit"], "msg": "x", "type": "y"}]})


async def test_a_405_names_every_method_the_path_answers(stack, people):
    admin = people.admin
    r = await stack.http.delete("/api/cases", headers=await admin.headers())
    assert r.status_code == 405 and r.json()["detail"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, POST"
    r = await stack.http.patch("/api/items/food-business-licence/drafts/x", headers=await admin.headers())
    assert r.status_code == 405 and r.headers["allow"] == "GET, PUT, DELETE"  # a draft may be deleted too


async def test_a_json_body_sent_as_another_media_type_is_a_415_and_files_nothing(stack):
    applicant = stack.applicant()
    body = json.dumps(await application(applicant, ITEM), ensure_ascii=False).encode()
    for media_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = await applicant.headers()
        if media_type:
            headers["Content-Type"] = media_type
        r = await stack.http.post("/api/cases", content=body, headers=headers)
        assert r.status_code == 415, (media_type, r.text)
        d = r.json()["detail"]
        assert d["code"] == "unsupported_media_type" and d["field"] is None
        assert "Content-Type" in d["message"] and "Content-Type: application/json" in d["message_en"]
        assert (media_type or "none") in d["message_en"]
    assert (await applicant.get("/api/cases")).json()["total"] == 0
    # JSON that is not an object stays a 422 about the body
    r = await applicant.post("/api/cases", json=[])
    assert r.status_code == 422 and r.json()["detail"]["message"] == "请求体应为 JSON 对象"
    headers = {**await applicant.headers(), "Content-Type": "application/json; charset=utf-8"}
    r = await stack.http.post("/api/cases", content=body, headers=headers)
    assert r.status_code == 201, r.text


async def test_an_idempotency_key_stands_for_one_application(stack):
    applicant = stack.applicant()
    body = await application(applicant, ITEM, idempotency_key=f"k-{uuid.uuid4().hex}")
    first = await applicant.post("/api/cases", json=body)
    assert first.status_code == 201, first.text
    # a retry may send its materials anew (a page uploads its files again): the same application
    retry = {**body, "materials": [*body["materials"], {"name": "自动售货设备相关材料"}]}
    again = await applicant.post("/api/cases", json=retry)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    # another application under the same key is refused, not answered with the earlier case
    other = {**body, "form": {**body["form"], "business_area": 250}}
    r = await applicant.post("/api/cases", json=other)
    assert r.status_code == 422, r.text
    d = r.json()["detail"]
    assert d["code"] == "idempotency_key_reused" and d["field"] == "idempotency_key"
    assert d["case_id"] == first.json()["id"] and d["differs"] == ["form"]
    assert first.json()["case_no"] in d["message"] and "idempotency_key" in d["message_en"]
    listing = (await applicant.get("/api/cases")).json()
    assert listing["total"] == 1
    assert (await applicant.case(first.json()["id"]))["form"] == body["form"]
    other_item = await application(applicant, "individual-business-registration",
                                   idempotency_key=body["idempotency_key"])
    r = await applicant.post("/api/cases", json=other_item)
    assert r.status_code == 422 and r.json()["detail"]["differs"] == ["item_code", "form"], r.text


async def test_a_form_number_out_of_bounds_names_the_bound_in_both_languages(stack):
    applicant = stack.applicant()
    body = await application(applicant, ITEM)
    body["form"]["business_area"] = 10**16
    d = (await applicant.post("/api/cases", json=body)).json()["detail"]
    assert d["field"] == "form.business_area"
    assert "10^15" in d["message"] and "10^15" in d["message_en"] and "e+" not in d["message"]


async def test_cases_received_in_the_same_instant_page_in_one_stable_order(stack):
    """Newest first, and the later id first among cases with the same `submitted_at`: pages of one
    never repeat a case nor skip one, whatever order the database scans its rows in."""
    applicant = stack.applicant()
    ids = [(await applicant.apply(ITEM)).json()["id"] for _ in range(3)]
    with stack.sessions() as session:
        session.exec(update(Case).where(Case.id.in_(ids)).values(submitted_at=datetime(2026, 12, 1, 1, 30, tzinfo=UTC)))
        session.commit()
    listing = (await applicant.get("/api/cases")).json()
    assert [c["id"] for c in listing["items"]] == sorted(ids, reverse=True)
    paged = [(await applicant.get("/api/cases", params={"limit": 1, "offset": n})).json()["items"][0]["id"]
             for n in range(3)]
    assert paged == sorted(ids, reverse=True)


async def test_a_bad_body_answers_after_404_and_403(stack, people):
    """Routes that act on something named in the path check that it exists and that the caller may
    act on it before they read the body (contract: 401 → 404 → 403 → 409 → 422)."""
    applicant, clerk, admin = people.applicant(), people.clerk, people.admin
    bad = {"no_such_field": 1}
    for user, path in ((clerk, "/api/licences/1.2.156.3005.2.X.Y.1.1.Z/actions"),
                       (people.staff("amr", "supervisor"), "/api/rectifications/no-such/actions"),
                       (clerk, "/api/inquiries/no-such/answer"),
                       (applicant, "/api/appointments/no-such/reschedule"),
                       (admin, "/api/simulation/cases/no-such-case/advance")):
        r = await user.post(path, json=bad)
        assert r.status_code == 404, (path, r.text)
    # an inquiry its asker may read but not answer: 403 before the body's 422
    asked = await applicant.post("/api/inquiries", json={"kind": "consultation", "item_code": ITEM, "text": "需要哪些材料？"})
    assert asked.status_code == 201, asked.text
    r = await applicant.post(f"/api/inquiries/{asked.json()['id']}/answer", json=bad)
    assert r.status_code == 403, r.text
    # where the checks pass, the body is read as the framework would: 422 naming the field, or 415
    case = (await applicant.apply(ITEM)).json()
    r = await admin.post(f"/api/simulation/cases/{case['id']}/advance", json={"days": 0})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "days", r.text
    r = await stack.http.post(f"/api/simulation/cases/{case['id']}/advance", content=b'{"days": 1}',
                              headers={**await admin.headers(), "Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["detail"]["code"] == "unsupported_media_type", r.text
    r = await clerk.post(f"/api/inquiries/{asked.json()['id']}/answer", json={"text": ""})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "text", r.text
    assert (await clerk.post(f"/api/inquiries/{asked.json()['id']}/answer", json={"text": "营业执照等"})).status_code == 200
    doc = (await stack.http.get("/openapi.json")).json()["paths"]
    body = doc["/api/licences/{licence_id}/actions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["action", "comment"]  # the body is still documented


async def test_the_demo_finds_the_case_its_key_filed_when_its_sample_form_changed_since(stack):
    """`banjian up --demo` runs again on a later day: its sample dates moved, its keys did not."""
    applicant = stack.applicant()
    with stack.sessions() as session:
        who = actor_of(session.get(User, applicant.username))
    body = await application(applicant, ITEM, idempotency_key=f"demo-{uuid.uuid4().hex}")
    case, created = await submit_once(stack.app.state.cases, who, body)
    assert created
    later = {**body, "form": {**body["form"], "business_area": 99}}
    again, created = await submit_once(stack.app.state.cases, who, later)
    assert not created and again["id"] == case["id"]
    assert (await applicant.get("/api/cases")).json()["total"] == 1


async def test_head_answers_as_get_without_a_body(stack, people):
    """`curl -I` and uptime monitors probe with HEAD (RFC 9110: wherever GET is served)."""
    for path in ("/guide", "/api/public/results", "/licences/verify"):
        get, head = await stack.http.get(path), await stack.http.head(path)
        assert head.status_code == get.status_code == 200, (path, head.status_code)
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == get.headers["content-length"]
    applicant = people.applicant()
    mine = await stack.http.head("/api/me", headers=await applicant.headers())
    assert mine.status_code == 200 and mine.content == b""
    assert (await stack.http.head("/api/me")).status_code == 401
    r = await stack.http.head("/api/auth/token")  # POST only: still 405 naming what it takes
    assert r.status_code == 405 and r.headers["allow"] == "POST"


async def test_every_reference_in_the_openapi_document_resolves(stack):
    """A client generator follows every `$ref`: none may point at a schema the document lacks (the
    draft simulation's `profile` pointed at `Profile`, kept only inside the body's own `$defs`)."""
    doc = (await stack.http.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    found = set(refs(doc))
    assert "#/components/schemas/Profile" in found
    dangling = sorted(r for r in found if r.rsplit("/", 1)[1] not in schemas or not r.startswith("#/components/schemas/"))
    assert not dangling, dangling
