"""Service accounts of department systems (外网受理、内网办理): client-credentials tokens that act
for the department with its staff roles, on its cases only, recorded as `system_of:{dept}`."""
from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
from sqlmodel import select
from typer.testing import CliRunner

from banjian.adminlog import AdminLogEntry
from banjian.service_accounts import ServiceAccount, add_account, revoke_account, rotate_account
from services.cli import app as cli
from tests.conftest import application, json_line
from tests.pages_client import PageClient


async def _token(stack, creds: dict, basic: bool = False) -> httpx.Response:
    """A token request from the account's own address (the per-address throttle is another test's)."""
    n = int(creds["client_id"][-6:], 16)
    transport = httpx.ASGITransport(app=stack.app, client=(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test") as http:
        if basic:
            raw = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
            return await http.post("/api/auth/token", data={"grant_type": "client_credentials"},
                                   headers={"Authorization": f"Basic {raw}"})
        return await http.post("/api/auth/token", data={"grant_type": "client_credentials", **creds})


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_department_system_takes_tasks_and_acts_as_system_of_department(stack, people):
    creds = add_account(stack.sessions, f"amr-sys-{uuid.uuid4().hex[:6]}", "amr")
    r = await _token(stack, creds, basic=True)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = (await stack.http.get("/api/me", headers=_auth(token))).json()
    assert me["acts_as"] == "system_of:amr" and me["department"] == "amr"

    case = (await people.applicant().apply("food-business-licence")).json()
    inbox = (await stack.http.get("/api/tasks", params={"scope": "department", "limit": 500},
                                  headers=_auth(token))).json()
    assert case["id"] in {t["case_id"] for t in inbox["items"]}
    r = await stack.http.post(f"/api/cases/{case['id']}/actions", json={"action": "accept"}, headers=_auth(token))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    history = (await people.clerk.get(f"/api/cases/{case['id']}/history")).json()
    entries = history["items"] if isinstance(history, dict) else history
    accept = next(e for e in entries if e["action"] == "accept")
    assert accept["actor"].startswith("amr-sys-") and accept["role"] == "system_of:amr"


async def test_pages_name_a_department_system_in_chinese_never_by_its_role_code(stack, people):
    name = f"amr-page-{uuid.uuid4().hex[:6]}"
    token = (await _token(stack, add_account(stack.sessions, name, "amr"))).json()["access_token"]
    applicant = people.applicant()
    case = (await applicant.apply("food-business-licence")).json()
    r = await stack.http.post(f"/api/cases/{case['id']}/actions", json={"action": "accept"}, headers=_auth(token))
    assert r.status_code == 200, r.text
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    pages = []
    for who, path in ((applicant, f"/cases/{case['id']}"), (auditor, f"/audit/cases/{case['id']}")):
        browser = PageClient(stack)
        try:
            await browser.login(who.username)
            page = await browser.get(path)
        finally:
            await browser.close()
        assert page.status_code == 200, page.text
        pages.append(page.text)
    for html in pages:
        assert name in html and "部门业务系统" in html and "system_of" not in html


async def test_token_of_another_department_cannot_see_or_act_on_the_case(stack, people):
    hcd = await _token(stack, add_account(stack.sessions, f"hcd-sys-{uuid.uuid4().hex[:6]}", "hcd"))
    token = hcd.json()["access_token"]
    case = (await people.applicant().apply("food-business-licence")).json()
    assert (await stack.http.get(f"/api/cases/{case['id']}", headers=_auth(token))).status_code == 404
    r = await stack.http.post(f"/api/cases/{case['id']}/actions", json={"action": "accept"}, headers=_auth(token))
    assert r.status_code == 404
    inbox = (await stack.http.get("/api/tasks", params={"scope": "department"}, headers=_auth(token))).json()
    assert case["id"] not in {t["case_id"] for t in inbox["items"]}


async def test_bad_secret_is_refused_and_throttled_per_client(stack):
    creds = add_account(stack.sessions, f"amr-bad-{uuid.uuid4().hex[:6]}", "amr")
    bad = {**creds, "client_secret": "not-the-secret"}
    statuses = [(await _token(stack, bad)).status_code for _ in range(stack.settings.login_limit + 1)]
    assert statuses[0] == 401 and statuses[-1] == 429
    body = (await _token(stack, bad)).json()
    assert body["detail"]["code"] in ("too_many_attempts", "account_locked")


async def test_rotate_and_revoke(stack):
    name = f"amr-rot-{uuid.uuid4().hex[:6]}"
    old = add_account(stack.sessions, name, "amr")
    token = (await _token(stack, old)).json()["access_token"]
    new = rotate_account(stack.sessions, name)
    assert new["client_id"] == old["client_id"] and new["client_secret"] != old["client_secret"]
    assert (await _token(stack, old)).status_code == 401
    assert (await _token(stack, new)).status_code == 200
    revoke_account(stack.sessions, name)
    stack.app.state.actors.clear()  # the API caches a caller for a few seconds
    assert (await stack.http.get("/api/me", headers=_auth(token))).status_code == 401
    assert (await _token(stack, new)).status_code == 401


def test_cli_prints_credentials_once_and_logs_the_change(tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["accounts", "add", "amr-cli", "--department", "amr", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    creds = json.loads([x for x in out.output.strip().splitlines() if x.startswith("{")][-1])
    assert set(creds) == {"client_id", "client_secret"}
    out = runner.invoke(cli, ["accounts", "revoke", "amr-cli", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    from sqlmodel import Session

    from banjian.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    with Session(engine) as session:
        logged = [e.action for e in session.exec(select(AdminLogEntry).where(AdminLogEntry.target == "amr-cli"))]
        hashes = session.exec(select(ServiceAccount)).all()
    engine.dispose()
    assert logged == ["account.add", "account.revoke"]
    assert creds["client_secret"] not in hashes[0].secret_hash and hashes[0].secret_hash.startswith("$argon2")


async def _me(stack, token: str) -> int:
    return (await stack.http.get("/api/me", headers=_auth(token))).status_code


async def test_rotation_ends_every_token_issued_before_within_the_caller_cache(stack, monkeypatch):
    import api.deps

    monkeypatch.setattr(api.deps, "ACTOR_TTL_S", 0.3)  # the API's caller cache, shortened for the test
    name = f"amr-gen-{uuid.uuid4().hex[:6]}"
    old = add_account(stack.sessions, name, "amr")
    token = (await _token(stack, old)).json()["access_token"]
    assert await _me(stack, token) == 200  # and cached
    new = rotate_account(stack.sessions, name)
    await asyncio.sleep(0.4)
    assert await _me(stack, token) == 401
    fresh = (await _token(stack, new)).json()["access_token"]
    assert await _me(stack, fresh) == 200
    assert await _me(stack, token) == 401  # the new generation's cache entry is not the old token's


async def test_revoke_and_re_add_is_a_new_account_whose_tokens_the_old_ones_never_match(stack):
    name = f"amr-readd-{uuid.uuid4().hex[:6]}"
    first = add_account(stack.sessions, name, "amr")
    token = (await _token(stack, first)).json()["access_token"]
    assert await _me(stack, token) == 200
    revoke_account(stack.sessions, name)
    stack.app.state.actors.clear()  # the API caches a caller for a few seconds
    assert await _me(stack, token) == 401
    again = add_account(stack.sessions, name, "amr")
    stack.app.state.actors.clear()
    assert await _me(stack, token) == 401
    assert (await _token(stack, first)).status_code == 401
    fresh = (await _token(stack, again)).json()["access_token"]
    assert await _me(stack, fresh) == 200
    body = (await stack.http.get("/api/me", headers=_auth(token))).json()
    assert body["detail"]["code"] == "invalid_token"
    # rotating a revoked account brings it back with a new secret, never its old tokens
    revoke_account(stack.sessions, name)
    rotated = rotate_account(stack.sessions, name)
    stack.app.state.actors.clear()
    assert await _me(stack, fresh) == 401 and await _me(stack, token) == 401
    assert await _me(stack, (await _token(stack, rotated)).json()["access_token"]) == 200


async def test_a_token_without_a_credential_generation_is_refused(stack):
    name = f"amr-nokid-{uuid.uuid4().hex[:6]}"
    add_account(stack.sessions, name, "amr")
    legacy = stack.app.state.tokens.issue(name, "service")  # as tokens were issued before generations
    assert await _me(stack, legacy) == 401


def test_cli_lists_accounts_without_secrets(tmp_path):
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    out = runner.invoke(cli, ["accounts", "list", *d])
    assert out.exit_code == 0, out.output
    assert json.loads(json_line(out.output)) == {"items": []}
    created = [json.loads(json_line(runner.invoke(cli, ["accounts", "add", n, "--department", dept, *d]).output))
               for n, dept in (("hcd-sys", "hcd"), ("amr-sys", "amr"))]
    assert runner.invoke(cli, ["accounts", "revoke", "hcd-sys", *d]).exit_code == 0
    rotated = json.loads(json_line(runner.invoke(cli, ["accounts", "rotate", "amr-sys", *d]).output))
    out = runner.invoke(cli, ["accounts", "list", *d])
    assert out.exit_code == 0, out.output
    items = json.loads(json_line(out.output))["items"]
    assert [(i["name"], i["department"], i["state"]) for i in items] == [("amr-sys", "amr", "active"),
                                                                        ("hcd-sys", "hcd", "revoked")]
    assert set(items[0]) == {"name", "client_id", "department", "created_at", "rotated_at", "state"}
    assert items[0]["created_at"].endswith("+08:00") and items[0]["rotated_at"] and items[1]["rotated_at"] is None
    for secret in [c["client_secret"] for c in created] + [rotated["client_secret"]]:
        assert secret not in out.output
    assert "argon2" not in out.output


async def test_token_answers_are_never_cached_and_a_basic_client_is_challenged_with_basic(stack):
    """RFC 6749 5.1 and 5.2: a token answer carries `Cache-Control: no-store`; a client that sent HTTP
    Basic with a wrong secret gets the `Basic` challenge, a form client the default one."""
    creds = add_account(stack.sessions, f"amr-rfc-{uuid.uuid4().hex[:6]}", "amr")
    for basic in (False, True):
        r = await _token(stack, creds, basic=basic)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    bad = {**creds, "client_secret": "not-the-secret"}
    r = await _token(stack, bad, basic=True)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    r = await _token(stack, bad)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_every_answer_of_the_token_route_is_never_cached(stack):
    """An error answer may echo what the credentials looked like: a failed, refused, malformed or
    throttled token request is `Cache-Control: no-store` too, not only a token (RFC 6749 5.1)."""
    n = uuid.uuid4().int
    transport = httpx.ASGITransport(app=stack.app, client=(f"10.{n % 250}.{n // 250 % 250}.{n // 62500 % 250}", 40000))
    user = f"nobody-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test") as http:
        answers = {
            "wrong": await http.post("/api/auth/token", data={"username": user, "password": "wrong-password"}),
            "missing": await http.post("/api/auth/token", data={"username": user}),
            "json": await http.post("/api/auth/token", json={"username": user, "password": "x"}),
            "get": await http.get("/api/auth/token"),
        }
        answers["grant type"] = await http.post("/api/auth/token", data={"grant_type": "implicit"})
        answers["too long"] = await http.post("/api/auth/token", data={"username": "u" * 600, "password": "x"})
        for _ in range(stack.settings.lockout_after + 2):
            throttled = await http.post("/api/auth/token", data={"username": user, "password": "wrong-password"})
        answers["throttled"] = throttled
    for what, r in answers.items():
        assert r.status_code >= 400, (what, r.status_code)
        assert r.headers.get("cache-control") == "no-store" and r.headers.get("pragma") == "no-cache", \
            (what, r.status_code, dict(r.headers))
    assert answers["throttled"].status_code == 429


async def test_wrong_secrets_never_lock_a_service_account(stack):
    """Anyone who knows a client id (not a secret) could otherwise cut the system off with 20 guesses."""
    creds = add_account(stack.sessions, f"amr-lock-{uuid.uuid4().hex[:6]}", "amr")
    bad = {**creds, "client_secret": "not-the-secret"}
    codes = [(await _token(stack, bad)).json()["detail"]["code"] for _ in range(stack.settings.lockout_after + 2)]
    assert codes[-1] == "too_many_attempts" and "account_locked" not in codes
    assert (await _token(stack, creds)).status_code == 200  # the right secret still works


async def test_a_department_system_files_with_the_channel_it_names(stack, people):
    """A department's online hall files what applicants sent it online: recorded as `web` (counted
    online), not as the window a clerk's filing is."""
    creds = add_account(stack.sessions, f"amr-hall-{uuid.uuid4().hex[:6]}", "amr")
    token = (await _token(stack, creds)).json()["access_token"]
    for channel in ("web", "mobile", "window"):
        body = await application(people.applicant(), "food-business-licence", channel=channel)
        r = await stack.http.post("/api/cases", json=body, headers=_auth(token))
        assert r.status_code == 201, r.text
        assert r.json()["channel"] == channel
    clerk_filed = await people.clerk.apply("food-business-licence", applicant=body["applicant"], channel="web")
    assert clerk_filed.status_code == 201 and clerk_filed.json()["channel"] == "window"


async def test_a_token_request_posted_as_json_is_told_to_send_a_form(stack):
    """A department system that posted `{"grant_type": "client_credentials", …}` as JSON was answered 422
    `missing_credentials` "username and password are required", which sent its engineer looking at the
    wrong grant. Now a 415 naming the header and the media type to send; the form still works."""
    creds = add_account(stack.sessions, f"amr-json-{uuid.uuid4().hex[:6]}", "amr")
    for body in ({"grant_type": "client_credentials", **creds}, {"username": "x", "password": "y"}):
        r = await stack.http.post("/api/auth/token", json=body)
        assert r.status_code == 415, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "unsupported_media_type" and detail["field"] == "Content-Type"
        assert "application/x-www-form-urlencoded" in detail["message"]
        assert "application/x-www-form-urlencoded" in detail["message_en"] and "application/json" in detail["message_en"]
    r = await stack.http.post("/api/auth/token", data={"grant_type": "client_credentials", **creds},
                              headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert r.status_code == 200, r.text


async def test_a_department_system_filing_another_departments_item_is_told_whose_item_it_is(stack, people):
    """The 403 said "a clerk files applications for their own department's items only" to a department
    system, which is no clerk and was not told which department the item belongs to."""
    creds = add_account(stack.sessions, f"amr-other-{uuid.uuid4().hex[:6]}", "amr")
    token = (await _token(stack, creds)).json()["access_token"]
    body = await application(people.applicant(), "driving-licence-replacement")
    r = await stack.http.post("/api/cases", json=body, headers=_auth(token))
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert (detail["code"], detail["field"]) == ("forbidden_department", "item_code")
    assert "driving-licence-replacement" in detail["message"] and "psb" in detail["message"]
    assert "department's system" in detail["message_en"] and "psb" in detail["message_en"]
