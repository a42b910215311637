"""Security (issue 12 item 9): login throttling and lockout, the password rule, production mode,
security headers, and the admin log."""
from __future__ import annotations

import math
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from banjian.adminlog import AdminLogEntry
from banjian.auth import Tokens, add_user, check_password
from banjian.errors import Invalid, Unauthorised
from banjian.licence_store import DEFAULT_MASTER_KEY
from banjian.logins import LoginLock
from banjian.production import problems, refusal
from banjian.sessions import EndedSession, end_session, ended_tokens, token_digest
from banjian.settings import Settings
from services.cli import app as cli_app
from tests.conftest import PASSWORD
from tests.pages_client import PageClient, csrf_of


@asynccontextmanager
async def from_address(stack, address: str | None = None):
    """An HTTP client of the in-process API whose requests come from `address` (a fresh one by default)."""
    address = address or f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    transport = httpx.ASGITransport(app=stack.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test") as http:
        yield http


async def login(http, username: str, password: str) -> httpx.Response:
    return await http.post("/api/auth/token", data={"username": username, "password": password})


def log_entries(stack, action: str, target: str) -> list[AdminLogEntry]:
    with stack.sessions() as s:
        return list(s.exec(select(AdminLogEntry).where(AdminLogEntry.action == action,
                                                       AdminLogEntry.target == target)).all())


# ---- login throttling ----------------------------------------------------------------------------------
async def test_more_than_ten_failures_for_a_user_answer_429_but_the_right_password_still_works(stack):
    u = stack.applicant()
    async with from_address(stack) as http:
        started = time.monotonic()
        for _ in range(10):
            assert (await login(http, u.username, "wrong-pass-1")).status_code == 401
        r = await login(http, u.username, "wrong-pass-1")
        assert r.status_code == 429, r.text
        assert r.json()["detail"]["code"] == "too_many_attempts" and r.json()["detail"]["message"]
        # until the second failure leaves the 15-minute window: 900 s less the time these logins took
        assert 900 - math.ceil(time.monotonic() - started) - 1 <= int(r.headers["Retry-After"]) <= 900
        assert (await login(http, u.username, PASSWORD)).status_code == 200
    async with from_address(stack) as other:  # the same user from elsewhere: still throttled
        assert (await login(other, u.username, "wrong-pass-1")).status_code == 429


async def test_more_than_ten_failures_from_one_address_answer_429_for_every_user(stack):
    users = [stack.applicant() for _ in range(3)]
    async with from_address(stack) as http:
        for i in range(10):
            assert (await login(http, users[i % 2].username, "wrong-pass-1")).status_code == 401
        r = await login(http, f"nobody-{uuid.uuid4().hex[:6]}", "wrong-pass-1")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert (await login(http, users[2].username, PASSWORD)).status_code == 200  # right password: accepted
    async with from_address(stack) as elsewhere:  # the users themselves are below the limit
        assert (await login(elsewhere, users[0].username, "wrong-pass-1")).status_code == 401


async def test_twenty_failures_lock_the_user_until_an_admin_lifts_it(stack, people):
    u = stack.applicant()
    async with from_address(stack) as http:
        codes = [(await login(http, u.username, "wrong-pass-1")).status_code for _ in range(20)]
        assert codes == [401] * 10 + [429] * 10
        r = await login(http, u.username, PASSWORD)  # the right password, but locked
        assert r.status_code == 429 and r.json()["detail"]["code"] == "account_locked"
        assert 850 <= int(r.headers["Retry-After"]) <= 900
    [locked] = log_entries(stack, "login.lockout", u.username)
    assert locked.actor == "system" and locked.detail["failures"] == 20 and locked.address
    # auditors read it
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    log = (await auditor.get("/api/audit/admin-log", params={"action": "login."})).json()
    assert any(e["target"] == u.username and e["action"] == "login.lockout" for e in log["items"])
    # a clerk may not lift it; an admin may
    assert (await people.clerk.post(f"/api/admin/users/{u.username}/unlock")).status_code == 403
    r = await people.admin.post(f"/api/admin/users/{u.username}/unlock")
    assert r.status_code == 200 and r.json()["was_locked"] is True
    async with from_address(stack) as http:
        assert (await login(http, u.username, PASSWORD)).status_code == 200
        assert (await login(http, u.username, "wrong-pass-1")).status_code == 401  # failures forgotten
    [lifted] = log_entries(stack, "login.unlock", u.username)
    assert lifted.actor == people.admin.username


async def test_a_lock_ends_by_itself(stack):
    u = stack.applicant()
    async with from_address(stack) as http:
        for _ in range(20):
            await login(http, u.username, "wrong-pass-1")
        assert (await login(http, u.username, PASSWORD)).status_code == 429
        with stack.sessions() as s:  # fifteen minutes later
            lock = s.get(LoginLock, u.username)
            lock.until = datetime.now(UTC) - timedelta(seconds=1)
            s.add(lock)
            s.commit()
        assert (await login(http, u.username, PASSWORD)).status_code == 200


# ---- tokens -------------------------------------------------------------------------------------------
def test_a_token_verified_once_is_refused_after_it_expires_and_a_forged_one_never_passes():
    """Tokens.claims remembers verified tokens (each request carries one): expiry still applies."""
    tokens = Tokens("k" * 64, 1)
    token = tokens.issue("zhangsan")
    assert tokens.claims(token) == ("zhangsan", None)
    assert tokens.claims(token) == ("zhangsan", None)  # the remembered verification
    time.sleep(1.1)
    with pytest.raises(Unauthorised):
        tokens.claims(token)
    with pytest.raises(Unauthorised):  # signed with another key: refused although the payload is the same
        tokens.claims(Tokens("x" * 64, 60).issue("zhangsan"))


async def test_a_new_password_ends_the_sessions_issued_before_it(stack):
    """An admin replacing a user (`banjian users add` again, after a stolen password) ends every
    token issued before: the old token is 401 saying why, a token from the new password works."""
    u = stack.applicant()
    old = await u.token()
    me = await stack.http.get("/api/me", headers={"Authorization": f"Bearer {old}"})
    assert me.status_code == 200
    time.sleep(1.05)  # tokens carry whole seconds: a token of the reset's own second stays valid
    add_user(stack.sessions, u.username, "a-new-pass-2026", ["applicant"], id_number=me.json()["id_number"])
    stack.app.state.actors.pop(u.username, None)  # the few seconds the API remembers a caller are over
    r = await stack.http.get("/api/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "密码已更改" in r.text and "password was changed" in r.text
    r = await stack.http.post("/api/auth/token", data={"username": u.username, "password": "a-new-pass-2026"})
    fresh = r.json()["access_token"]
    assert (await stack.http.get("/api/me", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200
    # a user created once has no such moment: its first token works
    v = stack.applicant()
    assert (await stack.http.get("/api/me", headers=await v.headers())).status_code == 200


async def test_a_logout_is_kept_in_the_read_model_for_every_api_process(stack):
    """Logging out in one API process ends the token in all of them, and after a restart: the ended
    token is in `ended_sessions` (as a digest), not in the process's memory."""
    u = stack.applicant()
    browser = PageClient(stack)
    try:
        assert (await browser.login(u.username)).status_code == 303
        token = browser.http.cookies["banjian_token"]
        other = await u.token()  # the same user's session on another device
        page = await browser.get("/")
        assert (await browser.http.post("/logout", data={"csrf_token": csrf_of(page.text)})).status_code == 303
    finally:
        await browser.close()
    stack.app.state.actors.clear()  # another process, or this one restarted: nothing in memory
    r = await stack.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "已退出登录" in r.text
    with stack.sessions() as s:
        [row] = s.exec(select(EndedSession).where(EndedSession.username == u.username)).all()
    assert row.token_sha256 == token_digest(token) != token
    assert (await stack.http.get("/api/me", headers={"Authorization": f"Bearer {other}"})).status_code == 200


def test_ended_sessions_are_swept_once_their_tokens_expire(stack):
    name = f"gone-{uuid.uuid4().hex[:6]}"
    end_session(stack.sessions, "expired-token", name, datetime.now(UTC) - timedelta(seconds=1))
    end_session(stack.sessions, "live-token", name, datetime.now(UTC) + timedelta(hours=1))
    end_session(stack.sessions, "live-token", name, datetime.now(UTC) + timedelta(hours=1))  # twice: one row
    with stack.sessions() as s:
        assert ended_tokens(s, name) == {token_digest("live-token")}
        assert len(s.exec(select(EndedSession).where(EndedSession.username == name)).all()) == 1


# ---- passwords -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("password", ["short1", "abcdefghij", "1234567890", "密码密码密码密码密码1"[:9]])
def test_weak_passwords_are_refused(password):
    with pytest.raises(Invalid) as e:
        check_password(password)
    assert e.value.code == "weak_password"


def test_the_password_rule_of_the_contract():
    for ok in ("abcdefghi1", "secret-123", PASSWORD, "长密码abcdefg9"):
        check_password(ok)


def test_users_add_refuses_a_weak_password_and_logs_a_good_one(tmp_path, stack):
    runner = CliRunner()
    r = runner.invoke(cli_app, ["users", "add", "weak", "--password", "abcdefghij", "--role", "applicant",
                                "--data-dir", str(tmp_path)])
    assert r.exit_code == 1 and "10" in r.output
    with pytest.raises(Invalid):
        add_user(stack.sessions, f"w-{uuid.uuid4().hex[:6]}", "short-1", ["applicant"])
    r = runner.invoke(cli_app, ["users", "add", "strong", "--password", "long-enough-1", "--role", "auditor",
                                "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli_app, ["keys", "rotate", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0 and "k2" in r.output, r.output
    from sqlmodel import Session

    from banjian.db import make_engine

    with Session(make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")) as s:
        actions = [(e.actor, e.action, e.target) for e in s.exec(select(AdminLogEntry)).all()]
    assert ("cli", "user.add", "strong") in actions and ("cli", "key.rotate", "payload") in actions
    assert not any(t == "weak" for _, _, t in actions)


# ---- production mode -----------------------------------------------------------------------------------
def _good_production(tmp_path: Path) -> dict:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    return dict(env="production", data_dir=tmp_path, token_secret="Zq8v" + uuid.uuid4().hex + "Xy7w",
                payload_keys=f"p1:{uuid.uuid4().hex}", temporal_address="temporal.gov.example:7233",
                temporal_tls_ca=ca, licence_master_key=uuid.uuid4().hex,
                payment_secret="Pq7w" + uuid.uuid4().hex + "Kd3m", progress_secret="Rn4k" + uuid.uuid4().hex + "Tb8j")


def test_production_accepts_real_secrets_and_tls(tmp_path):
    assert problems(Settings(**_good_production(tmp_path))) == []
    assert problems(Settings(data_dir=tmp_path)) == []  # development: anything goes


@pytest.mark.parametrize("change, says", [
    ({"token_secret": None}, "BANJIAN_TOKEN_SECRET is not set"),
    ({"token_secret": "changeme"}, "default or weak"),
    ({"payload_keys": None}, "BANJIAN_PAYLOAD_KEYS is not set"),
    ({"payload_keys": "p1:" + "00" * 16}, "weak key"),
    ({"temporal_tls_ca": None}, "no TLS settings for Temporal"),
    ({"temporal_address": None}, "TEMPORAL_ADDRESS is not set"),
    ({"simulation": True}, "simulation clock"),
    ({"licence_master_key": None}, "BANJIAN_LICENCE_MASTER_KEY"),
    ({"licence_master_key": DEFAULT_MASTER_KEY}, "BANJIAN_LICENCE_MASTER_KEY"),
    ({"licence_master_key": "00" * 16}, "weak key"),
    ({"payment_secret": None}, "BANJIAN_PAYMENT_SECRET"),
    ({"payment_secret": "changeme"}, "BANJIAN_PAYMENT_SECRET"),
])
def test_production_refuses(tmp_path, change, says):
    s = Settings(**{**_good_production(tmp_path), **change})
    line = refusal(s)
    assert line is not None and says in line and "\n" not in line


def test_production_start_fails_in_one_line_without_a_traceback(tmp_path, monkeypatch):
    for name in ("BANJIAN_TOKEN_SECRET", "BANJIAN_PAYLOAD_KEYS", "TEMPORAL_ADDRESS", "BANJIAN_TEMPORAL_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    for args in (["api"], ["worker"], ["up", "--port", "18390", "--temporal-port", "18391"]):
        r = runner.invoke(cli_app, [*args, "--data-dir", str(tmp_path)], env={"BANJIAN_ENV": "production"})
        assert r.exit_code == 1, (args, r.output)
        assert r.output.count("\n") == 1 and r.output.startswith("production mode refuses to start: ")
        assert "Traceback" not in r.output
    good = _good_production(tmp_path)
    env = {"BANJIAN_ENV": "production", "BANJIAN_TOKEN_SECRET": good["token_secret"],
           "BANJIAN_PAYLOAD_KEYS": good["payload_keys"], "TEMPORAL_ADDRESS": good["temporal_address"],
           "BANJIAN_TEMPORAL_TLS_CA": str(good["temporal_tls_ca"]),
           "BANJIAN_LICENCE_MASTER_KEY": good["licence_master_key"],
           "BANJIAN_PAYMENT_SECRET": good["payment_secret"], "BANJIAN_PROGRESS_SECRET": good["progress_secret"]}
    r = runner.invoke(cli_app, ["up", "--demo", "--data-dir", str(tmp_path)], env=env)
    assert r.exit_code == 1 and "--demo" in r.output


# ---- headers ---------------------------------------------------------------------------------------------
async def test_security_headers_on_every_response(stack, people):
    responses = [await stack.http.get("/api/health"), await stack.http.get("/api/me"),
                 await stack.http.get("/no/such/page"), await people.admin.get("/api/items"),
                 await stack.http.get("/openapi.json")]
    for r in responses:
        h = r.headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "script-src 'self';" in h["content-security-policy"]
        assert h["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in h  # plain http here
    # what a signed-in caller is answered is never stored; public answers and assets may be
    assert responses[3].headers["cache-control"] == "no-store"
    assert "cache-control" not in responses[4].headers  # /openapi.json (/api/health may be a 503 while a worker starts)
    page = await stack.http.get("/no/such/page", headers={"Cookie": "banjian_token=x"})
    assert page.headers["cache-control"] == "no-store" and page.headers["pragma"] == "no-cache"
    css = await stack.http.get("/static/app.css", headers={"Cookie": "banjian_token=x"})
    assert css.status_code == 200 and "no-store" not in css.headers.get("cache-control", "")
    assert {r.status_code for r in responses} == {200, 401, 404}
    docs = await stack.http.get("/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://banjian.test") as tls:
        r = await tls.get("/api/health")
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")


# ---- the admin log ---------------------------------------------------------------------------------------
async def test_admin_actions_are_in_the_admin_log_that_auditors_read(stack, people):
    admin = people.admin
    cal = (await admin.get("/api/calendar/2026")).json()
    r = await admin.put("/api/calendar/2026", json={"year": 2026, "official": True, "holidays": cal["holidays"],
                                                   "workdays": cal["workdays"]})
    assert r.status_code == 200, r.text
    yaml_text = (Path(__file__).parent.parent / "item_definitions" / "food-business-licence.yaml").read_text()
    r = await stack.http.post("/api/items", content=yaml_text.encode(),
                              headers={**await admin.headers(), "Content-Type": "application/yaml"})
    assert r.status_code in (200, 201), r.text  # stored as a new version, or the same one again
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    log = (await auditor.get("/api/audit/admin-log", params={"limit": 50})).json()
    mine = [e for e in log["items"] if e["actor"] == admin.username]
    assert any(e["action"] == "calendar.load" and e["target"] == "2026" for e in mine)
    assert any(e["action"] == "item.store" and e["target"] == "food-business-licence" for e in mine)
    assert log["total"] >= len(log["items"]) and all(e["at"].endswith("+08:00") for e in log["items"])
    # newest first, filtered by actor
    only = (await auditor.get("/api/audit/admin-log", params={"actor": admin.username})).json()
    assert only["items"] and {e["actor"] for e in only["items"]} == {admin.username}
    ids = [e["id"] for e in only["items"]]
    assert ids == sorted(ids, reverse=True)
    for user in (people.clerk, people.applicant(), stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")):
        assert (await user.get("/api/audit/admin-log")).status_code == 403
    assert (await stack.http.get("/api/audit/admin-log")).status_code == 401
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"offset": 10**12}):
        assert (await auditor.get("/api/audit/admin-log", params=bad)).status_code == 422


def test_two_tokens_issued_in_one_second_differ():
    """A logout ends one token by its digest: a sign-in again within the same second must get another."""
    tokens = Tokens("k" * 64, 60)
    assert tokens.issue("zhangsan") != tokens.issue("zhangsan")
