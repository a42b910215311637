"""Malformed input from an outside caller answers a 4xx naming the field and the rule, on SQLite and
PostgreSQL, and changes nothing: unknown action data fields, malformed supplement materials, ids
longer than their columns, a case row edited by hand."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from api.payments import PaymentService
from banjian.payment_contracts import PaymentNotice
from banjian.payments import SIGNATURE_HEADER, SandboxProvider, provider_for
from tests.pages_client import PageClient, csrf_of

STACKS = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STACKS)
def any_stack(request):
    return request.getfixturevalue(request.param)


def detail(r) -> dict:
    assert r.status_code == 422, (r.status_code, r.text)
    return r.json()["detail"]


async def filed(stack, item: str = "food-business-licence") -> tuple[object, str]:
    applicant = stack.applicant()
    r = await applicant.apply(item)
    assert r.status_code == 201, r.text
    return applicant, r.json()["id"]


# ---- an action's data -------------------------------------------------------------------------------
async def test_a_data_field_the_action_does_not_take_is_refused_naming_it(stack, people):
    _, cid = await filed(stack)
    before = await people.clerk.case(cid)
    d = detail(await people.clerk.act(cid, "accept", note="x"))
    assert d["code"] == "unknown_field" and d["field"] == "data.note", d
    assert "note" in d["message"] and "受理" in d["message"] and "note" in d["message_en"]
    d = detail(await people.clerk.act(cid, "request_supplement", missing=["营业执照"], mising=["x"]))
    assert d["field"] == "data.mising" and "missing" in d["message_en"], d  # says what the action takes
    after = await people.clerk.case(cid)
    assert after["status"] == before["status"] == "submitted" and after["history"] == before["history"]
    case = await people.clerk.ok(cid, "accept")
    while "approve" not in (await people.staff("amr", case["current_step"]["role"]).case(cid))["allowed_actions"]:
        case = await people.staff("amr", case["current_step"]["role"]).ok(cid, "pass")
    await people.staff("amr", "approver").ok(cid, "approve")
    # a misspelt tracking number is not silently dropped from a courier delivery
    d = detail(await people.clerk.act(cid, "deliver", method="window", tracking_number="SF123"))
    assert d["field"] == "data.tracking_number" and "tracking_no" in d["message"], d
    assert (await people.clerk.case(cid))["status"] == "decided"
    assert (await people.clerk.ok(cid, "deliver", method="courier", tracking_no="SF1234567890"))["status"] == "delivered"


async def test_a_data_value_of_the_wrong_type_is_a_422_naming_it_never_a_500(stack, people):
    """A list or an object where a choice is expected (a JSON client's easy slip) is refused like
    any value outside the choices."""
    _, cid = await filed(stack)
    case = await people.clerk.ok(cid, "accept")
    handler = people.staff("amr", case["current_step"]["role"])
    for bad in (["x"], {"x": 1}):
        d = detail(await handler.act(cid, "start_special_procedure", kind=bad))
        assert d["field"] == "data.kind", d
        d = detail(await handler.act(cid, "add_signer", role=bad))
        assert d["field"] == "data.role", d
        d = detail(await handler.act(cid, "add_signer", username="someone", mode=bad))
        assert d["field"] == "data.mode", d
        d = detail(await handler.act(cid, "return_to", "退回", step_id=bad))
        assert d["field"] == "data.step_id", d
        d = detail(await handler.act(cid, "add_signer", username=bad))
        assert d["field"] == "data.username", d
    # the materials a return to the applicant names are the item's, as a list (a text or numbers
    # would be kept in the case as its missing materials, and the case no longer read)
    for bad in ("营业执照", [1], ["没有的材料"], ["营业执照", "营业执照"]):
        d = detail(await handler.act(cid, "return_to", "请补正", step_id="applicant", missing=bad))
        assert d["field"] == "data.missing", d
    assert (await handler.case(cid))["status"] == case["status"]
    while "approve" not in (await people.staff("amr", case["current_step"]["role"]).case(cid))["allowed_actions"]:
        case = await people.staff("amr", case["current_step"]["role"]).ok(cid, "pass")
    await people.staff("amr", "approver").ok(cid, "approve")
    for bad in (["electronic"], {"electronic": 1}):
        d = detail(await people.clerk.act(cid, "deliver", method=bad))
        assert d["field"] == "data.method", d
    assert (await people.clerk.case(cid))["status"] == "decided"


async def test_a_malformed_supplement_material_is_refused_and_the_case_goes_on(stack, people):
    applicant, cid = await filed(stack)
    await people.clerk.ok(cid, "request_supplement", missing=["营业执照"])
    for bad in ({"name": "营业执照", "pages": 3}, {"name": "营业执照", "version": "two"}, 7, None):
        d = detail(await applicant.act(cid, "submit_supplement", materials=[bad]))
        assert d["field"] in ("data.materials[0]", "data.materials"), d
    d = detail(await applicant.act(cid, "submit_supplement", materials=["营业执照", {"name": "营业执照"}]))
    assert d["code"] == "duplicate_material" and d["field"] == "data.materials[1].name", d
    assert (await applicant.case(cid))["status"] == "supplement_requested"
    assert (await applicant.ok(cid, "submit_supplement", materials=[{"name": "营业执照"}]))["status"] == "submitted"


async def test_pre_review_actions_have_the_bounds_and_checks_of_the_others(stack, people):
    applicant = stack.applicant()
    r = await applicant.apply("food-business-licence", pre_review=True)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    clerk = people.clerk
    assert detail(await clerk.act(cid, "pre_review_return", "x" * 4001))["field"] == "comment"
    assert detail(await clerk.act(cid, "pre_review_return", "补正", missing=["没有的材料"]))["code"] == "unknown_material"
    assert detail(await clerk.act(cid, "pre_review_return", "补正", reason="x"))["field"] == "data.reason"
    await clerk.ok(cid, "pre_review_return", "请补充营业执照", missing=["营业执照"])
    d = detail(await applicant.act(cid, "pre_review_resubmit", materials=[{"name": "营业执照", "pages": 3}]))
    assert d["code"] == "invalid_material" and d["field"] == "data.materials[0]", d
    other = stack.applicant()  # someone else's upload is not this applicant's to hand in
    up = await other.post("/api/files", files={"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert up.status_code == 201, up.text
    r = await applicant.act(cid, "pre_review_resubmit", materials=[{"name": "营业执照", "file_id": up.json()["file_id"]}])
    assert r.status_code == 404 and r.json()["detail"]["field"] == "data.materials[0].file_id", r.text
    assert (await applicant.ok(cid, "pre_review_resubmit", materials=["营业执照"]))["status"] == "pre_review"


# ---- a case row edited by hand ------------------------------------------------------------------------
async def test_a_case_row_that_no_longer_reads_answers_409_naming_the_audit(any_stack):
    stack = any_stack
    applicant, cid = await filed(stack)
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    with stack.engine.begin() as conn:
        kept = conn.execute(text("SELECT snapshot FROM cases WHERE id = :id"), {"id": cid}).scalar()
        broken = {**(json.loads(kept) if isinstance(kept, str) else kept), "status": "lost", "deadlines": 3}
        conn.execute(text("UPDATE cases SET snapshot = :s WHERE id = :id"), {"s": json.dumps(broken), "id": cid})
    try:
        for who in (applicant, admin):
            r = await who.get(f"/api/cases/{cid}")
            assert r.status_code == 409, (r.status_code, r.text)
            d = r.json()["detail"]
            assert d["code"] == "case_unreadable" and "审计" in d["message"] and "audit" in d["message_en"], d
        r = await applicant.act(cid, "withdraw")
        assert r.status_code == 409 and r.json()["detail"]["code"] == "case_unreadable", r.text
        listed = await applicant.get("/api/cases")
        assert listed.status_code == 200, listed.text
        assert [c["id"] for c in listed.json()["items"]] == [cid] and listed.json()["items"][0]["unreadable"] is True
        assert (await admin.get(f"/api/cases/{cid}/verify")).status_code == 200  # the auditor's tools read it
    finally:
        with stack.engine.begin() as conn:
            conn.execute(text("UPDATE cases SET snapshot = :s WHERE id = :id"),
                         {"s": kept if isinstance(kept, str) else json.dumps(kept), "id": cid})
    assert (await applicant.case(cid))["status"] == "submitted"


# ---- payment callbacks --------------------------------------------------------------------------------
def signed(stack, **fields) -> tuple[bytes, dict]:
    body = json.dumps({"provider": "sandbox", "order_id": "SBX-1", "case_id": "c-1", "transaction_id": "T1",
                       "amount": "10.00", "paid_at": datetime.now(UTC).isoformat(), **fields}).encode()
    return body, {SIGNATURE_HEADER: provider_for(stack.settings).sign(body), "Content-Type": "application/json"}


@pytest.mark.parametrize(("name", "value", "status"), [("order_id", "O" * 81, 422), ("order_id", "O" * 65, 422),
                                                       ("case_id", "c" * 41, 404), ("transaction_id", "T" * 65, 422)])
async def test_a_sandbox_callback_id_beyond_its_bound_is_refused_naming_it(any_stack, name, value, status):
    body, headers = signed(any_stack, **{"transaction_id": f"T{uuid.uuid4().hex[:12]}", name: value})
    r = await any_stack.http.post("/api/payments/callback", content=body, headers=headers)
    assert r.status_code == status and r.json()["detail"]["field"] == name, r.text


class LaxProvider(SandboxProvider):
    """A provider that lets any id through (as a real one might): the API bounds them itself."""

    def verify_callback(self, body: bytes, signature: str | None) -> PaymentNotice:
        data = json.loads(body)
        return PaymentNotice(provider=self.name, case_id=data["case_id"], order_id=data["order_id"],
                             transaction_id=data["transaction_id"], amount_fen=1000)


async def test_a_provider_callback_with_an_order_id_past_its_column_is_422_not_500(any_stack):
    stack = any_stack
    _, cid = await filed(stack)  # a case that owes nothing: its refusal is kept as a payment issue
    service = PaymentService.of(stack.app)
    stack.app.state.payments = PaymentService(service.cases, LaxProvider("lax"))
    try:
        for name, value in (("order_id", "O" * 81), ("order_id", "")):
            body = json.dumps({"case_id": cid, "order_id": "SBX-1", "transaction_id": f"T{uuid.uuid4().hex[:8]}",
                               name: value}).encode()
            r = await stack.http.post("/api/payments/callback", content=body)
            assert r.status_code == 422, (r.status_code, r.text)
            d = r.json()["detail"]
            assert d["field"] == name and d["code"] == "invalid_length" and "1 至 80" in d["message"], d
        body = json.dumps({"case_id": cid, "order_id": "O" * 80, "transaction_id": f"T{uuid.uuid4().hex[:8]}"})
        r = await stack.http.post("/api/payments/callback", content=body.encode())
        assert r.status_code == 409 and r.json()["detail"]["code"] == "no_payment_due", r.text  # kept, as any
    finally:
        stack.app.state.payments = service


# ---- bodies nested past any real one ------------------------------------------------------------------
async def test_a_body_nested_thousands_deep_is_refused_never_a_500(stack):
    """`json.loads` (and YAML's composer) overflow the stack from about a thousand levels: such a body
    (2 KB of `[`) is unparsable, like any malformed body, wherever a route reads its body itself."""
    applicant, cid = await filed(stack)
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    deep = "[" * 5000 + "]" * 5000
    body = ('{"action": "withdraw", "data": {"missing": ' + deep + "}}").encode()
    for who, method, path, content, media in (
            (applicant, "POST", f"/api/cases/{cid}/actions", body, "application/json"),
            (admin, "POST", f"/api/simulation/cases/{cid}/advance", ('{"days": ' + deep + "}").encode(),
             "application/json"),
            (admin, "POST", "/api/items", ('{"code": ' + deep + "}").encode(), "application/json"),
            (admin, "POST", "/api/items", ("code: " + deep).encode(), "application/yaml"),
            (admin, "POST", "/api/items/food-business-licence/drafts", ('{"code": ' + deep + "}").encode(),
             "application/json"),
            (admin, "POST", "/api/items/food-business-licence/migrations", deep.encode(), "application/json")):
        r = await stack.http.request(method, path, content=content,
                                     headers={**await who.headers(), "Content-Type": media})
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert r.json()["detail"]["field"] in ("", None, "body"), r.text[:300]
    # 64 levels of a known field is still only its value's problem
    r = await applicant.act(cid, "withdraw", note=[[[1]]])
    assert r.status_code == 422 and r.json()["detail"]["field"] == "data.note", r.text
    body, headers = signed(stack, case_id=cid, transaction_id=f"T{uuid.uuid4().hex[:12]}")
    body = body[:-1] + b', "extra": ' + deep[:3000].encode() + deep[-3000:].encode() + b"}"
    headers[SIGNATURE_HEADER] = provider_for(stack.settings).sign(body)
    r = await stack.http.post("/api/payments/callback", content=body, headers=headers)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "invalid_body", r.text
    assert (await applicant.case(cid))["status"] == "submitted"


async def test_a_body_fastapi_cannot_parse_is_named_unparsable_in_both_languages(stack):
    """A route whose body FastAPI parses itself (POST /api/cases) answers its own 400 for a body nested
    past the parser's stack: it said code `error` and only FastAPI's English sentence."""
    applicant, _ = await filed(stack)
    deep = "[" * 5000 + "]" * 5000
    r = await stack.http.post("/api/cases", content=('{"item_code": ' + deep + "}").encode(),
                              headers={**await applicant.headers(), "Content-Type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    d = r.json()["detail"]
    assert d["code"] == "unparsable" and d["field"] is None, d
    assert "无法解析" in d["message"] and "cannot be parsed" in d["message_en"], d


async def test_an_application_listing_more_materials_than_any_item_asks_for_is_refused(stack):
    """Application.materials had no bound: 100,000 entries were each checked against the item."""
    applicant, _ = await filed(stack)
    me = (await stack.http.get("/api/me", headers=await applicant.headers())).json()
    body = {"item_code": "fire-safety-inspection", "form": {}, "channel": "web",
            "applicant": {"kind": "citizen", "id_number": me["id_number"], "name": me["display_name"]},
            "materials": [{"name": f"材料{i}"} for i in range(501)]}
    r = await stack.http.post("/api/cases", json=body, headers=await applicant.headers())
    assert r.status_code == 422, r.text[:300]
    d = r.json()["detail"]
    assert d["field"] == "materials" and d["problems"][0]["code"] == "too_long", d
    assert "500" in d["message"] and "500" in d["message_en"], d


# ---- logging in -----------------------------------------------------------------------------------------
async def test_a_nul_in_a_login_name_is_refused_before_any_lookup(any_stack):
    """PostgreSQL refuses a NUL even in a lookup: POST /api/auth/token and the login page answered 500."""
    stack = any_stack
    for fields in ({"username": "a\x00b", "password": "x"}, {"grant_type": "client_credentials",
                                                             "client_id": "c\x00", "client_secret": "s"}):
        r = await stack.http.post("/api/auth/token", data=fields)
        assert r.status_code == 422, (r.status_code, r.text)
        d = r.json()["detail"]
        assert d["code"] == "control_character" and d["field"] in ("username", "client_id"), d
    page = PageClient(stack)
    try:
        form = await page.get("/login")
        r = await page.http.post("/login", data={"username": "a\x00b", "password": "x", "next": "/",
                                                 "csrf_token": csrf_of(form.text)})
        assert r.status_code == 422 and "用户名不能含有空字符" in r.text, (r.status_code, r.text[:300])
    finally:
        await page.close()


# ---- consultations ----------------------------------------------------------------------------------------
async def test_a_nul_in_a_consultation_is_refused_before_anything_is_filed(any_stack):
    """On PostgreSQL the inquiry's record activity could never store it and retried for ever."""
    stack = any_stack
    asker = stack.applicant()
    r = await asker.post("/api/inquiries", json={"kind": "consultation", "item_code": "food-business-licence",
                                                 "text": "请问\x00需要什么材料"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "text", r.text
    assert r.json()["detail"]["code"] == "control_character"
    assert (await asker.get("/api/inquiries")).json()["total"] == 0


async def test_a_nul_in_a_new_users_name_on_the_admin_page_is_refused_beside_it(any_stack):
    stack = any_stack
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    page = PageClient(stack)
    try:
        await page.login(admin.username)
        form = await page.get("/admin/users")
        r = await page.submit("/admin/users", form.text, {"username": "new\x00user", "password": "pass-word-123",
                                                          "roles": "applicant", "name": "新用户"})
        assert r.status_code == 422 and "不能含有空字符" in r.text, (r.status_code, r.text[:300])
    finally:
        await page.close()
