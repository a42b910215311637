"""Identity and access: who may read and act on which case, and who may apply for whom."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest

from banjian.ids import make_citizen_id, make_credit_code
from tests.conftest import application

ITEM = "food-business-licence"  # department amr, citizens and organisations
ERROR_KEYS = {"code", "message", "message_en", "field"}
ROOT = Path(__file__).resolve().parent.parent


def bad_check_char(id_number: str) -> str:
    """The same id number with a wrong check character."""
    last = id_number[-1]
    alphabet = "0123456789"
    return id_number[:-1] + next(c for c in alphabet if c != last)


async def submitted(stack, applicant=None) -> tuple[object, dict]:
    applicant = applicant or stack.applicant()
    r = await applicant.apply(ITEM)
    assert r.status_code == 201, r.text
    return applicant, r.json()


# ---- 401 -------------------------------------------------------------------------------------------
async def test_no_token_is_401_with_error_body(stack):
    r = await stack.http.get("/api/me")
    assert r.status_code == 401
    detail = r.json()["detail"]
    assert set(detail) >= ERROR_KEYS
    assert detail["code"] == "not_authenticated"
    assert detail["message"] and detail["message_en"]
    assert r.headers.get("www-authenticate") == "Bearer"


async def test_bad_token_is_401_with_error_body(stack):
    r = await stack.http.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    detail = r.json()["detail"]
    assert set(detail) >= ERROR_KEYS
    assert detail["code"] == "invalid_token"


async def test_401_comes_before_404(stack):
    r = await stack.http.get("/api/cases/no-such-case")
    assert r.status_code == 401
    r = await stack.http.post("/api/cases/no-such-case/actions", json={"action": "accept"})
    assert r.status_code == 401
    r = await stack.http.post("/api/cases", json={})
    assert r.status_code == 401


async def test_wrong_password_is_401(stack):
    u = stack.applicant()
    r = await stack.http.post("/api/auth/token", data={"username": u.username, "password": "wrong-password"})
    assert r.status_code == 401
    assert r.json()["detail"]["code"] == "bad_credentials"
    r = await stack.http.post("/api/auth/token", data={"username": "nobody-" + uuid.uuid4().hex,
                                                       "password": "whatever-123"})
    assert r.status_code == 401


async def test_token_shape(stack):
    u = stack.applicant()
    r = await stack.http.post("/api/auth/token", data={"username": u.username, "password": "test-password-1"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0


# ---- /api/me -------------------------------------------------------------------------------------
async def test_me_fields(stack):
    idn = make_citizen_id("330106", date(1991, 5, 17), 123)
    name = f"me-{uuid.uuid4().hex[:6]}"
    u = stack.user(name, "applicant", id_number=idn, name="王五")
    r = await u.get("/api/me")
    assert r.status_code == 200
    assert r.json() == {"username": name, "display_name": "王五", "roles": ["applicant"], "department": None,
                        "id_kind": "citizen", "id_number": idn}
    clerk = stack.staff("amr", "clerk")
    me = (await clerk.get("/api/me")).json()
    assert me["roles"] == ["clerk"] and me["department"] == "amr"
    assert me["id_kind"] is None and me["id_number"] is None
    org = stack.applicant(organisation=True)
    me = (await org.get("/api/me")).json()
    assert me["id_kind"] == "organisation"


# ---- reading ----------------------------------------------------------------------------------------
async def test_applicant_sees_only_own_cases(stack):
    alice, a_case = await submitted(stack)
    bob, b_case = await submitted(stack)
    assert (await alice.get(f"/api/cases/{a_case['id']}")).status_code == 200
    r = await alice.get(f"/api/cases/{b_case['id']}")
    assert r.status_code == 404
    assert r.json()["detail"]["code"] == "case_not_found"
    assert (await alice.get(f"/api/cases/{b_case['id']}/history")).status_code == 404
    # acting on another's case: 404, not 403 (the case is invisible)
    r = await alice.act(b_case["id"], "withdraw")
    assert r.status_code == 404
    assert (await bob.case(b_case["id"]))["status"] == "submitted"
    listing = (await alice.get("/api/cases")).json()
    assert [c["id"] for c in listing["items"]] == [a_case["id"]]
    assert listing["total"] == 1
    # the applicant filter cannot widen what an applicant sees
    listing = (await alice.get("/api/cases", params={"applicant": bob.username})).json()
    assert listing["total"] == 0 and listing["items"] == []


async def test_unknown_case_is_404(stack):
    clerk = stack.staff("amr", "clerk")
    r = await clerk.get("/api/cases/20260101999999")
    assert r.status_code == 404
    assert set(r.json()["detail"]) >= ERROR_KEYS
    r = await clerk.act("20260101999999", "accept")
    assert r.status_code == 404


async def test_staff_of_another_department_get_404(stack):
    _, case = await submitted(stack)
    other = stack.staff("civil", "clerk")
    assert (await other.get(f"/api/cases/{case['id']}")).status_code == 404
    r = await other.act(case["id"], "accept")
    assert r.status_code == 404
    listing = (await other.get("/api/cases", params={"item_code": ITEM})).json()
    assert case["id"] not in [c["id"] for c in listing["items"]]
    assert (await stack.staff("amr", "clerk").case(case["id"]))["status"] == "submitted"


async def test_wrong_role_of_the_department_gets_403(stack):
    _, case = await submitted(stack)
    handler = stack.staff("amr", "handler")
    got = await handler.case(case["id"])
    assert "accept" not in got["allowed_actions"]
    r = await handler.act(case["id"], "accept")
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert detail["code"] == "forbidden_role"
    assert set(detail) >= ERROR_KEYS
    assert (await handler.case(case["id"]))["status"] == "submitted"
    # 403 comes before 409: a clerk-only action in a state where it is not allowed is still 403
    r = await handler.act(case["id"], "deliver", method="electronic")
    assert r.status_code == 403
    # and 403 before 422: bad data from the wrong role
    r = await handler.act(case["id"], "refuse_acceptance")
    assert r.status_code == 403


async def test_auditor_reads_every_case_but_acts_on_none(stack):
    _, case = await submitted(stack)
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    got = await auditor.case(case["id"])
    assert got["id"] == case["id"]
    assert got["allowed_actions"] == []
    assert (await auditor.get(f"/api/cases/{case['id']}/history")).status_code == 200
    listing = (await auditor.get("/api/cases", params={"q": case["id"]})).json()
    assert [c["id"] for c in listing["items"]] == [case["id"]]
    for action, data in (("accept", {}), ("urge", {}), ("withdraw", {}), ("claim", {}),
                         ("refuse_acceptance", {})):
        r = await auditor.post(f"/api/cases/{case['id']}/actions", json={"action": action, "data": data})
        assert r.status_code == 403, (action, r.text)
    assert (await auditor.case(case["id"]))["status"] == "submitted"


async def test_supervisor_may_urge_only(stack):
    _, case = await submitted(stack)
    supervisor = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    got = await supervisor.case(case["id"])
    assert got["allowed_actions"] == ["urge"]
    r = await supervisor.act(case["id"], "accept")
    assert r.status_code == 403
    r = await supervisor.act(case["id"], "withdraw")
    assert r.status_code == 403
    after = await supervisor.ok(case["id"], "urge", "请加快办理")
    assert after["status"] == "submitted"
    last = after["history"][-1]
    assert (last["action"], last["actor"], last["role"], last["comment"]) == (
        "urge", supervisor.username, "supervisor", "请加快办理")
    # a supervisor of another department does not see the case
    other = stack.user(f"sup-civil-{uuid.uuid4().hex[:6]}", "supervisor", department="civil")
    assert (await other.get(f"/api/cases/{case['id']}")).status_code == 404
    assert (await other.act(case["id"], "urge")).status_code == 404


async def test_admin_changes_no_case(stack):
    _, case = await submitted(stack)
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    got = await admin.case(case["id"])
    assert got["allowed_actions"] == []
    for action in ("accept", "urge", "withdraw", "approve", "claim"):
        r = await admin.act(case["id"], action)
        assert r.status_code == 403, (action, r.text)
    assert (await admin.case(case["id"]))["status"] == "submitted"
    # an admin does not apply either
    body = await application(admin, ITEM, applicant={"kind": "citizen", "name": "某人",
                                                     "id_number": make_citizen_id("330106", date(1990, 1, 1), 5)})
    assert (await admin.post("/api/cases", json=body)).status_code == 403


# ---- applying -------------------------------------------------------------------------------------------
async def test_applicant_only_applies_as_themself(stack):
    u = stack.applicant()
    other_id = make_citizen_id("330106", date(1970, 2, 3), 77)
    r = await u.apply(ITEM, applicant={"kind": "citizen", "id_number": other_id, "name": "别人"})
    assert r.status_code == 403
    assert r.json()["detail"]["code"] == "apply_as_self"
    assert r.json()["detail"]["field"] == "applicant.id_number"
    assert (await u.get("/api/cases")).json()["total"] == 0


async def test_applicant_at_the_window_channel_is_web(stack):
    u = stack.applicant()
    r = await u.apply(ITEM, channel="window")
    assert r.status_code == 201
    assert r.json()["channel"] == "web"


async def test_clerk_applies_on_behalf_of_an_applicant(stack):
    owner = stack.applicant()
    me = (await owner.get("/api/me")).json()
    clerk = stack.staff("amr", "clerk")
    body = await application(owner, ITEM, channel="window")
    r = await clerk.post("/api/cases", json=body)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["channel"] == "window"
    assert case["applicant"]["id_number"] == me["id_number"]
    assert case["department"] == "amr"
    assert case["history"][0]["action"] == "submitted"
    assert case["history"][0]["actor"] == clerk.username
    # the applicant whose id number it is sees the case as their own
    assert (await owner.case(case["id"]))["id"] == case["id"]
    assert "withdraw" in (await owner.case(case["id"]))["allowed_actions"]
    # a clerk's application is always a window application
    r = await clerk.post("/api/cases", json={**body, "channel": "web"})
    assert r.status_code == 201
    assert r.json()["channel"] == "window"


async def test_clerk_applies_for_someone_without_an_account(stack):
    clerk = stack.staff("amr", "clerk")
    idn = make_citizen_id("330106", date(1965, 9, 9), 311)
    body = await application(clerk, ITEM, channel="window",
                             applicant={"kind": "citizen", "id_number": idn, "name": "赵六"})
    r = await clerk.post("/api/cases", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["applicant"] == {"kind": "citizen", "id_number": idn, "name": "赵六"}


async def test_clerk_of_another_department_cannot_apply(stack):
    owner = stack.applicant()
    clerk = stack.staff("civil", "clerk")
    r = await clerk.post("/api/cases", json=await application(owner, ITEM, channel="window"))
    assert r.status_code == 403
    assert r.json()["detail"]["code"] == "forbidden_department"


async def test_handler_cannot_apply(stack):
    owner = stack.applicant()
    handler = stack.staff("amr", "handler")
    r = await handler.post("/api/cases", json=await application(owner, ITEM))
    assert r.status_code == 403


# ---- identity numbers --------------------------------------------------------------------------------------
async def test_bad_citizen_check_char_is_422(stack):
    clerk = stack.staff("amr", "clerk")
    good = make_citizen_id("330106", date(1980, 4, 4), 12)
    body = await application(clerk, ITEM, applicant={"kind": "citizen", "id_number": bad_check_char(good),
                                                     "name": "某人"})
    r = await clerk.post("/api/cases", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["field"] == "applicant.id_number"
    assert set(detail) >= ERROR_KEYS and detail["message"] and detail["message_en"]


async def test_bad_credit_code_check_char_is_422(stack):
    clerk = stack.staff("amr", "clerk")
    good = make_credit_code("91330106MA2B3C4D")
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")
    body = await application(clerk, ITEM, applicant={"kind": "organisation", "id_number": bad, "name": "某公司"})
    r = await clerk.post("/api/cases", json=body)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "applicant.id_number"
    # the good one is accepted
    body["applicant"]["id_number"] = good
    assert (await clerk.post("/api/cases", json=body)).status_code == 201


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BANJIAN_DATA_DIR": str(data_dir)}
    exe = ROOT / ".venv" / "bin" / "banjian"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "services.cli"]
    return subprocess.run([*cmd, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


def test_users_add_rejects_a_bad_id_number(tmp_path):
    good = make_citizen_id("330106", date(1985, 7, 7), 9)
    r = run_cli("users", "add", "wangwu", "--password", "secret-123", "--role", "applicant",
                "--id-number", bad_check_char(good), data_dir=tmp_path)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "id_number" in out
    assert "Traceback" not in out
    r = run_cli("users", "add", "wangwu", "--password", "secret-123", "--role", "applicant",
                "--id-number", good, "--name", "王五", data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wangwu" in r.stdout


@pytest.mark.parametrize("id_number", [
    "12345",
    "33010619900101123",  # 17 characters
    make_credit_code("91330106MA2B3C4D")[:-1] + "Z",  # Z is not in the credit-code alphabet
])
def test_users_add_rejects_malformed_ids(tmp_path, id_number):
    r = run_cli("users", "add", "bad", "--password", "secret-123", "--role", "applicant",
                "--id-number", id_number, data_dir=tmp_path)
    assert r.returncode != 0
    assert "id_number" in r.stdout + r.stderr
