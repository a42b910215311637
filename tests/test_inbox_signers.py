"""Two things an inbox tells a member of staff beyond "which role it waits for": an added signer
(加签) finds the case in their own 我的待办 while their signature is wanted, whoever has claimed it;
and a case whose clock is paused (a special procedure that does not count, a suspension) says 计时暂停
rather than 已超期, since its due date moves once the clock runs again. On SQLite and PostgreSQL.
food-business-licence (amr): steps review (handler), verify (approver), decide (approver)."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import delete
from sqlmodel import Session, select

from banjian.db import Department, Task
from banjian.db import User as UserRow
from tests.conftest import Stack, User, drop_postgres, new_postgres_url
from tests.pages_client import PageClient

FOOD = "food-business-licence"
STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=STORES)
def store(request) -> Stack:
    return request.getfixturevalue(request.param)


async def mine(user: User, case_id: str) -> list[dict]:
    """The case's rows in the user's 我的待办 (`GET /api/tasks`, scope mine)."""
    r = await user.get("/api/tasks", params={"scope": "mine", "limit": 1000})
    assert r.status_code == 200, r.text
    return [t for t in r.json()["items"] if t["case_id"] == case_id]


def deadlines(page) -> str:
    """The case page's 期限与计时 list."""
    assert page.status_code == 200, page.text
    return page.text.split("期限与计时</h2>", 1)[1].split("</dl>", 1)[0]


async def accepted_and_claimed(store: Stack) -> tuple[str, User]:
    """A case at its first review step, claimed by its handler."""
    clerk, handler = store.staff("amr", "clerk"), store.staff("amr", "handler")
    cid = (await store.applicant().apply(FOOD)).json()["id"]
    await clerk.ok(cid, "accept")
    await handler.ok(cid, "claim")
    return cid, handler


async def test_a_named_signer_finds_the_case_in_their_inbox_once_asked_and_not_after_signing(store):
    cid, handler = await accepted_and_claimed(store)
    signer, other_head = store.staff("amr", "head"), store.staff("amr", "head")
    await handler.ok(cid, "add_signer", username=signer.username, position="after")
    assert await mine(signer, cid) == []  # signs after the owner: not asked yet

    await handler.ok(cid, "pass")  # the owner's pass now waits for the signature
    [row] = await mine(signer, cid)
    assert row["claimed_by"] == handler.username and row["signers"] == [f"user:{signer.username}"]
    assert row["step"]["id"] == "review"
    assert await mine(other_head, cid) == []  # asked by name: not every head
    [own] = await mine(handler, cid)  # the owner still has it, waiting for the signer
    assert own["signers"] == [f"user:{signer.username}"]

    case = await signer.ok(cid, "pass", "同意")
    assert case["current_step"]["id"] == "verify"
    assert await mine(signer, cid) == []


async def test_a_signer_role_finds_the_case_whoever_has_claimed_it(store):
    cid, handler = await accepted_and_claimed(store)
    head, approver = store.staff("amr", "head"), store.staff("amr", "approver")
    await handler.ok(cid, "add_signer", role="head", position="before")
    [row] = await mine(head, cid)
    assert row["signers"] == ["role:head"] and row["claimed_by"] == handler.username
    assert await mine(approver, cid) == []  # neither the step's role nor the signer's

    await head.ok(cid, "pass")
    assert await mine(head, cid) == []  # signed: back with its owner
    [own] = await mine(handler, cid)
    assert own["signers"] == []


async def test_a_paused_clock_is_in_the_inbox_and_on_the_case_page(store):
    cid, handler = await accepted_and_claimed(store)
    [row] = await mine(handler, cid)
    assert row["clock_paused"] is False
    await handler.ok(cid, "suspend", "等待司法机关认定")
    [row] = await mine(handler, cid)
    assert row["clock_paused"] is True and row["status"] == "suspended"

    browser = PageClient(store)
    try:
        await browser.login(handler.username)
        limits = deadlines(await browser.get(f"/cases/{cid}"))
        assert re.search(r"<dt>承诺办结</dt><dd>\d+年\d+月\d+日（计时暂停）", limits), limits
        assert re.search(r"<dt>本环节到期</dt><dd>\d+年\d+月\d+日（计时暂停）", limits), limits
        assert not re.search(r"(剩余 \d+|已超期 \d+) 个工作日", limits)
        await handler.ok(cid, "resume", "认定完毕")
        [row] = await mine(handler, cid)
        assert row["clock_paused"] is False
        limits = deadlines(await browser.get(f"/cases/{cid}"))
        assert "（计时暂停）" not in limits and re.search(r"<dt>本环节到期</dt><dd>[^<]*（剩余 \d+ 个工作日）", limits)
    finally:
        await browser.close()


async def test_work_says_paused_not_overdue_for_a_paused_task_past_its_due_date(store):
    """Tasks of a department of their own, both past their due date: the running one is overdue,
    the paused one says its clock is paused."""
    dept = f"paused{uuid.uuid4().hex[:6]}"
    past = date.today() - timedelta(days=20)
    with store.sessions() as s:
        s.add(Department(code=dept, name="计时测试局"))
        s.add_all([Task(case_id=f"{dept}-running", department=dept, roles=["handler"], item_code="x",
                        item_name="测试", status="in_review", due=past),
                   Task(case_id=f"{dept}-paused", department=dept, roles=["handler"], item_code="x",
                        item_name="测试", status="suspended", due=past, clock_paused=True)])
        s.commit()
    handler = store.user(f"{dept}-handler", "handler", department=dept)
    browser = PageClient(store)
    try:
        page = (await handler.get("/api/tasks")).json()
        assert {t["case_id"]: t["clock_paused"] for t in page["items"]} == {f"{dept}-running": False,
                                                                          f"{dept}-paused": True}
        await browser.login(handler.username)
        html = (await browser.get("/work")).text
        rows = {cid: next(tr for tr in html.split("<tr>") if f"/cases/{cid}" in tr)
                for cid in (f"{dept}-running", f"{dept}-paused")}
        assert "已超期" in rows[f"{dept}-running"] and "计时暂停" not in rows[f"{dept}-running"]
        assert "计时暂停" in rows[f"{dept}-paused"] and "已超期" not in rows[f"{dept}-paused"]
    finally:
        await browser.close()
        with store.sessions() as s:
            s.execute(delete(Task).where(Task.department == dept))  # type: ignore[arg-type]
            s.execute(delete(UserRow).where(UserRow.department == dept))  # type: ignore[arg-type]
            s.execute(delete(Department).where(Department.code == dept))  # type: ignore[arg-type]
            s.commit()


# ---- the migration fills in the open tasks of existing cases ---------------------------------------------
def snapshot(countersign: dict | None = None, paused: bool = False) -> dict:
    return {"countersign": countersign, "clock": {"paused": paused}}


@pytest.mark.parametrize("db", [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_migration_records_pending_signers_and_paused_clocks_of_open_tasks(db, tmp_path):
    from alembic import command

    from banjian.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}" if db == "sqlite" else new_postgres_url()
    engine = sa.create_engine(url)
    try:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0020")  # the read model before the columns
        now = datetime.now(UTC)
        cases = sa.table("cases", *(sa.column(c) for c in (
            "id", "item_code", "item_version", "item_name", "kind", "department", "status", "applicant_id_number",
            "applicant_name", "channel", "submitted_at", "rev", "clock_at", "recorded_at")),
            sa.column("snapshot", sa.JSON()))
        tasks = sa.table("tasks", *(sa.column(c) for c in ("case_id", "department", "item_code", "item_name",
                                                            "status")), sa.column("roles", sa.JSON()))
        before = {"slots": ["role:head"], "position": "before", "signed": [], "added_by": "h", "active": True}
        waiting = {"slots": ["user:boss"], "position": "after", "signed": [], "added_by": "h", "active": False}
        given = {"signing": ("in_review", snapshot(before)), "not-yet": ("in_review", snapshot(waiting)),
                 "suspended": ("suspended", snapshot(paused=True)), "plain": ("accepted", snapshot()),
                 "submitted": ("submitted", {})}
        with engine.begin() as conn:
            for cid, (status, snap) in given.items():
                conn.execute(cases.insert().values(
                    id=cid, item_code="x", item_version=1, item_name="x", kind="single", department="amr",
                    status=status, applicant_id_number="1", applicant_name="a", channel="web", submitted_at=now,
                    rev=1, clock_at=now, recorded_at=now, snapshot=snap))
                conn.execute(tasks.insert().values(case_id=cid, department="amr", item_code="x", item_name="x",
                                                   status=status, roles=["handler"]))
        upgrade(engine)
        with Session(engine) as s:
            got = {t.case_id: (t.signers, t.clock_paused) for t in s.exec(select(Task)).all()}
        assert got == {"signing": (["role:head"], False), "not-yet": ([], False), "suspended": ([], True),
                       "plain": ([], False), "submitted": ([], False)}
    finally:
        engine.dispose()
        if db == "postgres":
            drop_postgres(url)
