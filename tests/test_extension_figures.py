"""An extension (延期, +10 working days once, approved by the agency head) extends a running limit:
a case decided by its extended date is on time; one whose promised deadline had already passed
(its 黄牌 `promised_overdue`) when the extension came stays late in the figures, as it stays in the
overdue count (domain.md; docs/metrics.md `on_time`)."""
from __future__ import annotations

import asyncio
from datetime import date

from banjian.db import Case
from tests.test_urges import DEPT, ITEM, case_today


async def decided_after_extension(stack, late_before_extension: bool) -> tuple[dict, Case]:
    staff = {role: stack.staff(DEPT, role) for role in ("clerk", "handler", "approver", "head")}
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    cid = case["id"]
    await staff["clerk"].ok(cid, "accept")
    await staff["handler"].ok(cid, "pass", "审查通过")
    case = await staff["approver"].ok(cid, "pass", "审核通过")
    promised = date.fromisoformat(case["deadlines"]["promised_due"])
    if late_before_extension:  # the promised day ends undecided: a yellow card
        case = await stack.advance(cid, (promised - case_today(case)).days + 2)
        assert "promised_overdue" in [w["cause"] for w in case["warnings"]]
    await staff["approver"].ok(cid, "request_extension", "需补充现场核查")
    extended = await staff["head"].ok(cid, "approve_extension", "同意延期")
    new_due = date.fromisoformat(extended["deadlines"]["promised_due"])
    assert new_due > promised
    # decided after the original promised day, before the extended one
    if not late_before_extension:
        extended = await stack.advance(cid, (promised - case_today(extended)).days + 2)
        assert "promised_overdue" not in [w["cause"] for w in extended["warnings"]]
    decided = await staff["approver"].ok(cid, "approve", "准予许可")
    assert promised < date.fromisoformat(decided["decided_at"][:10]) <= new_due
    await staff["clerk"].ok(cid, "deliver", method="window")
    done = await applicant.ok(cid, "confirm_receipt")
    assert done["status"] == "concluded"
    for _ in range(100):  # the recording activity writes the row after the action answers
        with stack.sessions() as s:
            row = s.get(Case, cid)
            if row is not None and row.on_time is not None:
                return done, row
        await asyncio.sleep(0.1)
    raise AssertionError("the concluded case's figure columns were not written")


async def test_extension_approved_in_time_makes_a_later_decision_on_time(stack):
    _, row = await decided_after_extension(stack, late_before_extension=False)
    assert (row.on_time, row.overdue) == (True, False)


async def test_extension_after_the_promised_day_passed_leaves_the_case_late(stack):
    _, row = await decided_after_extension(stack, late_before_extension=True)
    # late, as its yellow card and the overdue figure say: not "on time" and "overdue" at once
    assert (row.overdue, row.on_time) == (True, False)


def test_migration_0034_brings_existing_rows_to_the_rule(tmp_path):
    """At 0029: two concluded cases written as on time, one of them with a promised_overdue card (an
    extension after the day had passed), and its earlier notice still on the board; answered urges'
    cards left on the board beside one still owed. After 0034 that case is late, its notice and the
    answered urges' cards off the board, and the summary counts one on-time case."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from banjian.migrate import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0029")
        t = "2026-05-04 02:00:00"
        for cid in ("late", "fine"):
            conn.execute(text(
                "INSERT INTO cases (id, item_code, item_version, item_name, kind, department, status, "
                "applicant_id_number, applicant_name, channel, submitted_at, concluded_at, snapshot, rev, clock_at, "
                "recorded_at, online, site_visits, promised_days, statutory_days, warnings_count, overdue, on_time) "
                "VALUES (:id, 'x', 1, 'X', 'single', 'amr', 'concluded', 'n', 'n', 'web', :t, :t, '{}', 0, :t, :t, "
                "1, 0, 10, 20, 0, :overdue, 1)"), {"id": cid, "t": t, "overdue": cid == "late"})
        for cid, level, cause, active in (("late", "notice", "promised_due_near", True),
                                          ("late", "yellow", "promised_overdue", True),
                                          ("fine", "notice", "promised_due_near", True)):
            conn.execute(text("INSERT INTO warnings (case_id, department, item_code, level, cause, step_key, at, "
                              "reason, active) VALUES (:cid, 'amr', 'x', :level, :cause, '', :t, 'r', :active)"),
                         {"cid": cid, "level": level, "cause": cause, "t": t, "active": active})
        # two answered urges' cards left on the board, one still owed (its urge open)
        for cid, n, open_ in (("late", 1, False), ("fine", 1, False), ("fine", 2, True)):
            conn.execute(text("INSERT INTO case_urges (case_id, n, key, department, by, at, reply_by, board_on, "
                              "departments, escalated, open) VALUES (:cid, :n, :key, 'amr', 's', :t, '2026-05-05', "
                              "'2026-05-08', '[]', 2, :open)"), {"cid": cid, "n": n, "key": f"urge-{n}", "t": t,
                                                                 "open": open_})
            conn.execute(text("INSERT INTO warnings (case_id, department, item_code, level, cause, step_key, at, "
                              "reason, active) VALUES (:cid, 'amr', 'x', 'red', 'urge_unanswered', :key, :t, 'r', 1)"),
                         {"cid": cid, "key": f"urge-{n}", "t": t})
        command.upgrade(cfg, "head")
        on_time = dict(conn.execute(text("SELECT id, on_time FROM cases")).all())
        active = {(r[0], r[1] + r[2]): bool(r[3]) for r in conn.execute(
            text("SELECT case_id, cause, step_key, active FROM warnings"))}
        summed = conn.execute(text("SELECT SUM(concluded), SUM(on_time) FROM case_figures_daily")).one()
    engine.dispose()
    assert {k: bool(v) for k, v in on_time.items()} == {"late": False, "fine": True}
    assert active == {("late", "promised_due_near"): False, ("late", "promised_overdue"): True,
                      ("fine", "promised_due_near"): True, ("late", "urge_unanswered" + "urge-1"): False,
                      ("fine", "urge_unanswered" + "urge-1"): False, ("fine", "urge_unanswered" + "urge-2"): True}
    assert tuple(summed) == (2, 1)
