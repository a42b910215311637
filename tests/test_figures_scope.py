"""Which cases the supervision figures count: not a pre-review (预审) that never became an application;
a participating department's sub-case of a joint case or bundle in its own department's row.

Hand-computed rows in the read model (as tests/test_figures.py writes them), and real cases through
the workflow for the columns the recording activity writes.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import select

from banjian import figures, figures_summary
from banjian.db import Case, Item
from tests.test_figures import at, case_row

LEAD, FIRE, ENV = "hcd", "fire", "env"


@pytest.fixture(scope="module")
def joint(stack):
    """A joint item of `hcd`: two applications (one concluded on time after a pre-review, one open),
    a pre-review still waiting and one given up; their departments' sub-cases: fire late on its
    sub-limit (two of its three sub-cases), env on time."""
    code = f"fig-j-{uuid.uuid4().hex[:6]}"
    done = dict(status="concluded", concluded_at=at(2026, 5, 20))
    p1, p2 = f"figp{uuid.uuid4().hex[:12]}", f"figp{uuid.uuid4().hex[:12]}"
    rows = [
        case_row(code, LEAD, at(2026, 5, 4), id=p1, on_time=True, working_days_used=12, warnings_count=3,
                 notices=1, yellow_cards=1, red_cards=1, **done),
        case_row(code, LEAD, at(2026, 5, 6), id=p2, status="in_review"),
        # pre-reviews never received: in pre-review (with its notice), and withdrawn there
        case_row(code, LEAD, at(2026, 5, 7), status="pre_review", pre_review_only=True, warnings_count=1,
                 notices=1),
        case_row(code, LEAD, at(2026, 5, 8), status="withdrawn", pre_review_only=True),
        # the departments' sub-cases
        case_row(code, FIRE, at(2026, 5, 4), parent_id=p1, on_time=False, working_days_used=11, warnings_count=4,
                 overdue=True, notices=1, yellow_cards=2, red_cards=1, **done),
        case_row(code, FIRE, at(2026, 5, 6), parent_id=p2, status="accepted", warnings_count=2, overdue=True),
        case_row(code, ENV, at(2026, 5, 4), parent_id=p1, on_time=True, working_days_used=3, **done),
        case_row(code, ENV, at(2026, 5, 6), parent_id=p2, on_time=True, working_days_used=4, **done),
        # the lead's own sub-case of the same item, in the lead's row beside the applications
        case_row(code, LEAD, at(2026, 5, 4), parent_id=p1, on_time=True, working_days_used=30, **done),
    ]
    with stack.sessions() as s:
        s.add(Item(code=code, name="并联统计测试", department=LEAD, kind="01", current_version=1))
        with figures_summary.tracking(s, [r.id for r in rows]):  # as the recording activity does
            s.add_all(rows)
        s.commit()
    yield code
    with stack.sessions() as s:
        ids = [r.id for r in rows]
        with figures_summary.tracking(s, ids):
            for c in s.exec(select(Case).where(Case.id.in_(ids))).all():  # type: ignore[attr-defined]
                s.delete(c)
        s.delete(s.get(Item, code))
        s.commit()


def by_department(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["department"]: r for r in rows}


async def test_pre_reviews_never_received_are_not_cases_and_sub_cases_count_for_their_department(stack, joint):
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    r = await sup.get("/api/supervision/stats", params={"item_code": joint})
    assert r.status_code == 200, r.text
    rows = by_department(r.json()["items"])
    assert set(rows) == {LEAD, FIRE, ENV}
    lead = rows[LEAD]
    # the two applications only: neither pre-review (nor its notice), nor the lead's own sub-case
    assert (lead["cases"], lead["concluded"], lead["on_time_rate"], lead["warnings"]) == (2, 1, 1.0, 3)
    assert (lead["notices"], lead["yellow_cards"], lead["red_cards"]) == (1, 1, 1)  # 提醒, 黄牌, 红牌
    assert (lead["working_days_avg"], lead["working_days_p90"]) == (12.0, 12)
    assert (lead["sub_cases"], lead["sub_case_on_time_rate"], lead["sub_cases_overdue"]) == (1, 1.0, 0)
    fire = rows[FIRE]
    assert (fire["sub_cases"], fire["sub_case_on_time_rate"], fire["sub_cases_overdue"], fire["sub_case_warnings"]) \
        == (2, 0.0, 2, 6)
    # a department that only took part has no applications of the item: their figures are empty
    assert (fire["cases"], fire["concluded"], fire["on_time_rate"], fire["overdue"], fire["warnings"]) == (0, 0, None,
                                                                                                        0, 0)
    assert (fire["working_days_avg"], fire["working_days_p90"]) == (None, None)
    assert (fire["notices"], fire["yellow_cards"], fire["red_cards"]) == (0, 0, 0)  # the sub-case's: sub_case_warnings
    assert (rows[ENV]["sub_cases"], rows[ENV]["sub_case_on_time_rate"], rows[ENV]["sub_cases_overdue"]) == (2, 1.0, 0)
    # a period of one day, and one department: the sub-case counts on its own day of receipt
    r = await sup.get("/api/supervision/stats", params={"item_code": joint, "from": "2026-05-06", "to": "2026-05-06",
                                                         "department": FIRE})
    (only,) = r.json()["items"]
    assert (only["sub_cases"], only["sub_cases_overdue"], only["sub_case_on_time_rate"]) == (1, 1, None)
    # the CSV carries the new columns by their Chinese names
    r = await sup.get("/api/supervision/stats", params={"item_code": joint, "format": "csv"})
    header = r.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert {"并联子件量", "并联子件按时办结率", "并联子件超期数", "并联子件预警数", "提醒数", "黄牌数", "红牌数"} <= set(header)


def test_the_summary_agrees_with_the_case_rows(stack, joint):
    with stack.sessions() as s:
        assert figures.compute(s, item_code=joint) == figures.compute_from_cases(s, item_code=joint)
        figures_summary.rebuild(s)  # a rebuild (migration 0025's backfill) gives the same rows
        assert figures.compute(s, item_code=joint) == figures.compute_from_cases(s, item_code=joint)
        s.rollback()


async def test_a_real_pre_review_counts_once_it_is_formally_received(stack):
    """Through the workflow: a pre-review waiting and one withdrawn there are no cases (nor is the
    pre-review's own notice a warning of the figures); one passed and confirmed is a case."""
    item = "food-business-licence"
    applicant, clerk = stack.applicant(), stack.staff("amr", "clerk")
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")

    async def count() -> tuple[int, int]:
        r = await sup.get("/api/supervision/stats", params={"item_code": item, "department": "amr"})
        return sum(row["cases"] for row in r.json()["items"]), sum(row["warnings"] for row in r.json()["items"])

    cases, warnings = await count()
    waiting = (await applicant.apply(item, pre_review=True)).json()
    given_up = (await applicant.apply(item, pre_review=True)).json()
    await clerk.ok(given_up["id"], "pre_review_return", "缺少营业执照", missing=["营业执照"])
    await applicant.ok(given_up["id"], "withdraw", "不办了")
    formal = (await applicant.apply(item, pre_review=True)).json()
    case = await clerk.ok(formal["id"], "pre_review_pass", "材料齐全")
    if case["status"] == "pre_review":
        case = await applicant.ok(formal["id"], "confirm_submission")
    assert case["status"] == "submitted"
    # the waiting pre-review's round passes unanswered: its notice is no warning of the figures
    await stack.advance(waiting["id"], 7)
    with stack.sessions() as s:
        rows = {cid: s.get(Case, cid) for cid in (waiting["id"], given_up["id"], formal["id"])}
        assert {cid: r.pre_review_only for cid, r in rows.items()} == {
            waiting["id"]: True, given_up["id"]: True, formal["id"]: False}
        assert (rows[waiting["id"]].warnings_count, rows[formal["id"]].warnings_count) == (1, 0)
    assert await count() == (cases + 1, warnings)


def test_migration_0025_takes_pre_reviews_out_and_counts_sub_cases(tmp_path):
    """A read model at 0022 with a pre-review given up, one waiting, an application and its
    department's sub-case: after 0025 the summary has one case and one sub-case."""
    import json

    from alembic import command
    from sqlalchemy import create_engine, text

    from banjian.migrate import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0022")
        t = "2026-05-04 02:00:00"
        snap = {"pre_review": {"round": 1}, "submitted_at": "2026-05-04T10:00:00+08:00",
                "received_at": "2026-05-04T10:00:00+08:00"}
        formal = dict(snap, received_at="2026-05-05T09:00:00+08:00")
        for cid, status, parent, snapshot in (("w", "withdrawn", None, snap), ("p", "pre_review", None, snap),
                                              ("f", "withdrawn", None, formal), ("a", "concluded", None, {}),
                                              ("a-01", "concluded", "a", {})):
            conn.execute(text(
                "INSERT INTO cases (id, item_code, item_version, item_name, kind, department, status, "
                "applicant_id_number, applicant_name, channel, parent_id, submitted_at, snapshot, rev, clock_at, "
                "recorded_at, online, site_visits, promised_days, statutory_days, warnings_count, overdue) VALUES "
                "(:id, 'x', 1, 'X', 'single', :dept, :status, 'n', 'n', 'web', :parent, :t, :snap, 0, :t, :t, 1, 0, "
                "1, 2, 0, 0)"), {"id": cid, "dept": "fire" if parent else "amr", "status": status, "parent": parent,
                                 "t": t, "snap": json.dumps(snapshot)})
        conn.execute(text("INSERT INTO warnings (case_id, department, item_code, level, cause, step_key, at, reason) "
                          "VALUES ('a', 'amr', 'x', 'red', 'statutory_overdue', '', :t, '超期')"), {"t": t})
        command.upgrade(cfg, "head")
        flags = dict(conn.execute(text("SELECT id, pre_review_only FROM cases")).all())
        sums = conn.execute(text("SELECT department, SUM(cases), SUM(sub_cases), SUM(red_cards) FROM case_figures_daily "
                                 "GROUP BY department ORDER BY department")).all()
    engine.dispose()
    assert {k: bool(v) for k, v in flags.items()} == {"w": True, "p": True, "f": False, "a": False, "a-01": False}
    # `a` (with its red card) and the formal `f`; fire's sub-case
    assert [tuple(r) for r in sums] == [("amr", 2, 0, 1), ("fire", 0, 1, 0)]


async def test_on_time_and_working_days_run_from_acceptance_to_the_decision(stack):
    """Accepted two days after receipt, decided on its promised due date and sent by courier, received
    four days later: on time (the courier's days are not the department's), and the working days
    used are the case clock's, from acceptance to the decision (as the case page shows them)."""
    from datetime import date

    from activities.calendar import load_calendar
    from banjian.timefmt import aware, china_date

    applicant = stack.applicant()
    staff = {role: stack.staff("amr", role) for role in ("clerk", "handler", "approver")}
    cid = (await applicant.apply("food-business-licence")).json()["id"]
    await stack.advance(cid, 2)
    case = await staff["clerk"].ok(cid, "accept")
    due = date.fromisoformat(case["deadlines"]["promised_due"])
    case = await stack.advance(cid, (due - date.fromisoformat(case["clock"]["today"])).days)
    assert case["clock"]["today"] == due.isoformat() and not [w for w in case["warnings"]
                                                              if w["cause"] == "promised_overdue"]
    while case["current_step"]["kind"] == "review":
        case = await staff[case["current_step"]["role"]].ok(cid, "pass", "同意")
    await staff["approver"].ok(cid, "approve", "准予许可")
    await staff["clerk"].ok(cid, "deliver", method="courier", tracking_no="SF1234567890")
    await stack.advance(cid, 4)
    case = await staff["clerk"].ok(cid, "confirm_receipt")
    assert case["status"] == "concluded"
    with stack.sessions() as s:
        row = s.get(Case, cid)
        cal = load_calendar(s)
        expected = cal.working_days_between(china_date(aware(row.accepted_at)), china_date(aware(row.decided_at)))
        assert (row.on_time, row.overdue, row.working_days_used) == (True, False, expected)
        levels = [w["level"] for w in case["warnings"]]
        assert (row.notices, row.yellow_cards, row.red_cards) == tuple(levels.count(lv) for lv in ("notice", "yellow",
                                                                                                 "red"))
        assert row.notices + row.yellow_cards + row.red_cards == row.warnings_count >= 1
    assert row.working_days_used == case["clock"]["working_days_used"]
