"""Supervision figures and the warnings board on a small hand-computed data set in the read model.

The rows are written straight into the read model (the figures read nothing else), under items of
their own, and removed afterwards (they have no workflow for other files' audits to replay).
"""
from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from activities.calendar import load_calendar
from banjian import figures_summary
from banjian.db import Case, CaseWarning, Item
from banjian.figures import FIGURES
from banjian.figures_export import HEADERS_ZH
from banjian.timefmt import CHINA, aware, china_date
from banjian.warnings_board import refresh as refresh_board
from tests.pages_client import PageClient

DEPT, OTHER = "amr", "civil"
STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=STORES)
def store(request):
    """The session's stack on SQLite, then on PostgreSQL (the figures are SQL: both dialects)."""
    return request.getfixturevalue(request.param)


def at(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    """A China-time instant, stored as the read model stores it (UTC)."""
    return datetime(y, m, d, h, mi, tzinfo=CHINA).astimezone(UTC)


def case_row(item: str, dept: str, submitted: datetime, **kw: Any) -> Case:
    cid = f"fig{uuid.uuid4().hex[:12]}"
    values: dict[str, Any] = dict(
        id=cid, item_code=item, item_version=1, item_name="统计测试事项", department=dept, status="concluded",
        applicant_id_number="x", applicant_name="测试", channel="web", submitted_at=submitted, snapshot={},
        clock_at=submitted, recorded_at=submitted, online=True, site_visits=0, promised_days=10, statutory_days=20)
    values.update(kw)
    return Case(**values)


@pytest.fixture(scope="module")
def data(store):
    """Item A in `amr` (six cases in March 2026 plus three that must not count), item B in `civil`."""
    a, b = f"fig-a-{uuid.uuid4().hex[:6]}", f"fig-b-{uuid.uuid4().hex[:6]}"
    done = dict(status="concluded", concluded_at=at(2026, 3, 20))
    rows = {
        1: case_row(a, DEPT, at(2026, 3, 1, 0, 30), channel="web", on_time=True, working_days_used=5, rating=5, **done),
        2: case_row(a, DEPT, at(2026, 3, 5), channel="mobile", on_time=True, working_days_used=8, rating=3, **done),
        3: case_row(a, DEPT, at(2026, 3, 6), channel="window", online=False, site_visits=1, on_time=False,
                    working_days_used=12, rating=1, rectified=True, warnings_count=2, overdue=True, **done),
        4: case_row(a, DEPT, at(2026, 3, 9), channel="window", online=False, site_visits=2, on_time=False,
                    working_days_used=15, rating=2, warnings_count=2, overdue=True, **done),
        5: case_row(a, DEPT, at(2026, 3, 10), status="in_review", step_id="review", warnings_count=1, overdue=False),
        6: case_row(a, DEPT, at(2026, 3, 31, 23, 0), on_time=True, working_days_used=3, rating=1,
                    rating_void=True, **done),
        # outside the period (28 February, China time), and a joint sub-case: neither counts
        7: case_row(a, DEPT, at(2026, 2, 28, 23, 30), online=False, site_visits=3, **done),
        8: case_row(a, DEPT, at(2026, 3, 12), parent_id="whatever", online=False, **done),
        # on the board only: open and paused; open with an acceptance warning cured by acceptance
        # (9 was 5 working days late, 3 to 9 March, when its clock stopped)
        9: case_row(a, DEPT, at(2026, 2, 1), status="suspended", clock_paused=True, promised_due=date(2026, 3, 2),
                    snapshot={"clock": {"paused": True, "paused_since": at(2026, 3, 9, 15).isoformat()}}),
        10: case_row(a, DEPT, at(2026, 2, 2), status="in_review", accepted_at=at(2026, 2, 10)),
        11: case_row(b, OTHER, at(2026, 3, 2), statutory_due=date(2030, 3, 4), status="in_review",
                     clock_at=at(2030, 3, 11)),
    }
    warns = [(3, "yellow", "promised_overdue", ""), (3, "red", "statutory_overdue", ""),
             (4, "notice", "promised_due_near", ""), (4, "yellow", "promised_overdue", ""),
             (5, "yellow", "step_overdue", "review"), (9, "yellow", "promised_overdue", ""),
             (10, "red", "acceptance_overdue", ""), (11, "red", "statutory_overdue", "")]
    with store.sessions() as s:
        s.add(Item(code=a, name="统计测试事项A", department=DEPT, kind="01", current_version=1))
        s.add(Item(code=b, name="统计测试事项B", department=OTHER, kind="01", current_version=1))
        with figures_summary.tracking(s, [r.id for r in rows.values()]):  # as the recording activity does
            s.add_all(rows.values())
        for n, level, cause, step in warns:
            r = rows[n]
            s.add(CaseWarning(case_id=r.id, department=r.department, item_code=r.item_code, level=level,
                              cause=cause, step_key=step, at=r.submitted_at + timedelta(days=15), reason=cause))
        s.flush()
        refresh_board(s, [r.id for r in rows.values()])  # as the recording activity does after each write
        s.commit()
    yield a, b, {n: r.id for n, r in rows.items()}
    with store.sessions() as s:
        ids = [r.id for r in rows.values()]
        for w in s.exec(select(CaseWarning).where(CaseWarning.case_id.in_(ids))).all():  # type: ignore[attr-defined]
            s.delete(w)
        with figures_summary.tracking(s, ids):
            for c in s.exec(select(Case).where(Case.id.in_(ids))).all():  # type: ignore[attr-defined]
                s.delete(c)
        for code in (a, b):
            s.delete(s.get(Item, code))
        s.commit()


@pytest.fixture(scope="module")
def sup_user(store):
    return store.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")


EXPECTED_A = {
    "cases": 6, "concluded": 5,
    "online_rate": round(4 / 6, 4),          # 1, 2, 5, 6 online
    "on_time_rate": 0.6,                     # 1, 2, 6 of the five concluded
    "compression": 0.5,                      # 1 - 60 / 120
    "ratings": 4, "satisfaction": 0.5,       # 5 and 3 of 5, 3, 1, 2 (6's rating voided by an appeal)
    "bad_ratings": 2, "rectification_rate": 0.5,
    "avg_site_visits": 0.5,                  # (0 + 0 + 1 + 2 + 0 + 0) / 6
    "at_most_one_visit_rate": round(5 / 6, 4), "zero_visit_rate": round(4 / 6, 4),
    "warnings": 5, "overdue": 2,             # cases 3 (2), 4 (2), 5 (1); overdue: 3 and 4
    "working_days_avg": 8.6,                 # (5 + 8 + 12 + 15 + 3) / 5
    "working_days_p90": 15,                  # 5th of 3, 5, 8, 12, 15 (nearest rank: ceil(0.9 * 5))
}


async def test_each_figure_against_hand_computed_numbers(store, sup_user, data):
    a, _, _ = data
    r = await sup_user.get("/api/supervision/stats", params={"from": "2026-03-01", "to": "2026-03-31", "item_code": a})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 1
    row = body["items"][0]
    assert (row["department"], row["item_code"]) == (DEPT, a)
    assert {k: row[k] for k in EXPECTED_A} == EXPECTED_A

    # all time: case 7 (February, 3 visits) and 9, 10 (no visits) join in: zero visits 1, 2, 5, 6, 9, 10
    r = await sup_user.get("/api/supervision/stats", params={"item_code": a})
    row = r.json()["items"][0]
    assert row["cases"] == 9 and row["zero_visit_rate"] == round(6 / 9, 4) and row["avg_site_visits"] == round(6 / 9, 4)  # (1 + 2 + 3) / 9
    assert row["working_days_p90"] == 15 and row["concluded"] == 6  # 7 concluded without a working-day count


async def test_csv_and_xlsx_carry_chinese_headers_and_the_values(store, sup_user, data):
    a, _, _ = data
    params = {"from": "2026-03-01", "to": "2026-03-31", "item_code": a}
    r = await sup_user.get("/api/supervision/stats", params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0] == HEADERS_ZH and "满意率" in lines[0] and "最多跑一次率" in lines[0]
    assert lines[0][:4] == ["部门编码", "部门名称", "事项编码", "事项名称"]
    got = dict(zip(lines[0], lines[1], strict=True))
    assert got["部门编码"] == DEPT and got["部门名称"] == "市市场监督管理局" and got["事项编码"] == a
    assert got["事项名称"] == "统计测试事项" and got["办件量"] == "6" and got["办理用时90分位（工作日）"] == "15"
    # every rate as a percentage with one decimal, as the page shows it
    assert (got["满意率"], got["按时办结率"], got["网上申请率"]) == ("50.0%", "60.0%", "66.7%")
    rates = [f.zh for f in FIGURES if f.rate]
    assert all(re.fullmatch(r"\d{1,3}\.\d%", got[h]) or got[h] == "" for h in rates)

    r = await sup_user.get("/api/supervision/stats", params={**params, "format": "xlsx"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS_ZH
    got = dict(zip(rows[0], rows[1], strict=True))
    assert got["事项编码"] == a and got["按时办结率"] == 0.6 and got["平均办理用时（工作日）"] == 8.6
    assert (got["部门编码"], got["部门名称"]) == (DEPT, "市市场监督管理局")
    # rates stay numbers from 0 to 1, shown as percentages by their number format
    formats = {rows[0][i]: cell.number_format for i, cell in enumerate(ws[2])}
    assert all(formats[f.zh] == "0.0%" for f in FIGURES if f.rate)
    assert formats["办件量"] == "General" and formats["平均办理用时（工作日）"] == "General"
    # every column is wide enough for its Chinese header (two widths per character) and its values
    for i, header in enumerate(rows[0]):
        letter = ws.cell(row=1, column=i + 1).column_letter
        assert ws.column_dimensions[letter].width >= 2 * len(header), header
    assert ws.column_dimensions["C"].width >= len(a)  # the item code
    # the JSON names the department too
    row = (await sup_user.get("/api/supervision/stats", params=params)).json()["items"][0]
    assert (row["department"], row["department_name"], row["item_code"]) == (DEPT, "市市场监督管理局", a)


async def test_staff_see_only_their_department(store, sup_user, data):
    a, b, _ = data
    clerk = store.staff(DEPT, "clerk")
    r = await clerk.get("/api/supervision/stats", params={"from": "2026-03-01", "to": "2026-03-31"})
    assert r.status_code == 200
    rows = r.json()["items"]
    assert {x["department"] for x in rows} == {DEPT} and a in {x["item_code"] for x in rows}
    assert b not in {x["item_code"] for x in rows}
    r = await clerk.get("/api/supervision/stats", params={"department": OTHER})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "department"
    # another department is a 404 before any problem of the data (the contract's order: 404, then 422)
    for params in ({"department": OTHER, "from": "2026-04-01", "to": "2026-03-01"},
                   {"department": OTHER, "item_code": "nosuch-item"}, {"department": "nosuch"}):
        r = await clerk.get("/api/supervision/stats", params=params)
        assert r.status_code == 404 and r.json()["detail"]["field"] == "department", (params, r.text)
    r = await sup_user.get("/api/supervision/stats", params={"department": OTHER, "item_code": b})
    assert [x["item_code"] for x in r.json()["items"]] == [b]
    assert (await store.applicant().get("/api/supervision/stats")).status_code == 403


@pytest.mark.parametrize("params, status, field", [
    ({"from": "2026-04-01", "to": "2026-03-01"}, 422, "from"),
    ({"department": "nosuch"}, 422, "department"),
    ({"item_code": "nosuch-item"}, 422, "item_code"),
    ({"format": "pdf"}, 422, "format"),
    ({"from": "1900-01-01"}, 422, "from"),
    ({"to": "abc"}, 422, "to"),
])
async def test_bad_filters_are_clear_422s(store, sup_user, params, status, field):
    r = await sup_user.get("/api/supervision/stats", params=params)
    assert r.status_code == status, r.text
    if field:
        assert r.json()["detail"]["field"] == field and r.json()["detail"]["message"]


async def test_warnings_board_shows_open_uncured_warnings(store, sup_user, data):
    a, b, ids = data
    r = await sup_user.get("/api/supervision/warnings", params={"item_code": a})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    # 3 and 4 concluded; 10's acceptance warning cured by its acceptance: 5 (its step) and 9 (paused) remain
    assert sorted(x["case_id"] for x in items) == sorted([ids[5], ids[9]])
    paused = next(x for x in items if x["case_id"] == ids[9])
    # a paused clock keeps the lateness accrued until it stopped (not what it would be today)
    assert paused["paused"] is True and paused["working_days_over"] == 5
    assert next(x for x in items if x["case_id"] == ids[5])["cause"] == "step_overdue"

    r = await sup_user.get("/api/supervision/warnings", params={"item_code": b, "level": "red"})
    (red,) = r.json()["items"]
    assert red["case_id"] == ids[11] and red["department"] == OTHER and red["level"] == "red"
    assert red["working_days_over"] == 5  # 5, 6, 7, 8, 11 March 2030 by the case clock
    assert set(red) >= {"case_id", "department", "item_code", "level", "cause", "since", "working_days_over"}
    r = await sup_user.get("/api/supervision/warnings", params={"item_code": b, "level": "yellow"})
    assert r.json() == {"items": [], "total": 0}


async def test_warnings_board_access(store, sup_user, data):
    _, b, _ = data
    assert (await store.staff(DEPT, "head").get("/api/supervision/warnings")).status_code == 403
    dept_sup = store.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", department=DEPT)
    r = await dept_sup.get("/api/supervision/warnings", params={"item_code": b})
    assert r.status_code == 200 and r.json()["total"] == 0  # b's warnings are another department's
    assert (await dept_sup.get("/api/supervision/warnings", params={"department": OTHER})).status_code == 404
    r = await sup_user.get("/api/supervision/warnings", params={"level": "purple"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "level"
    assert r.json()["detail"]["problems"][0]["allowed"] == ["notice", "yellow", "red"]


async def test_a_real_case_writes_its_figure_columns_and_is_rated_once(stack):
    """The recording activity fills the figure columns; rating rules answer 409/422 and change nothing."""
    item = "food-business-licence"
    applicant = stack.applicant()
    staff = {role: stack.staff(DEPT, role) for role in ("clerk", "handler", "approver")}
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    case = (await applicant.apply(item)).json()
    cid = case["id"]
    with stack.sessions() as s:
        row = s.get(Case, cid)
        assert (row.online, row.site_visits, row.promised_days, row.statutory_days) == (True, 0, 10, 20)
        assert row.working_days_used is None and row.on_time is None and row.clock_paused is False
        assert (row.warnings_count, row.overdue) == (0, False)
    assert (await applicant.act(cid, "rate", level=5)).status_code == 409  # not concluded yet
    case = await staff["clerk"].ok(cid, "accept")
    while case["current_step"]["kind"] == "review":
        with stack.sessions() as s:
            assert s.get(Case, cid).step_id == case["current_step"]["id"]
        case = await staff[case["current_step"]["role"]].ok(cid, "pass", "同意")
    await staff["approver"].ok(cid, "approve", "准予许可")
    case = await staff["clerk"].ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded"
    r = await sup.act(cid, "urge", "请加快", reply_by="2026-12-31")
    assert r.status_code == 409  # a concluded case is not urged
    assert (await applicant.act(cid, "rate", level=6)).status_code == 422
    assert (await applicant.ok(cid, "rate", "一般", level=3))["rating"] == 3
    assert (await applicant.act(cid, "rate", level=1)).status_code == 409  # one rating per case
    with stack.sessions() as s:
        row = s.get(Case, cid)
        cal = load_calendar(s)
        received = china_date(aware(row.submitted_at))
        assert (row.rating, row.on_time) == (3, True)
        assert row.working_days_used == cal.working_days_between(received, china_date(aware(row.concluded_at)))
    r = await sup.get("/api/supervision/stats", params={"item_code": item, "department": DEPT})
    (stats,) = r.json()["items"]
    assert stats["cases"] >= 1 and stats["compression"] == 0.5 and 0 < stats["satisfaction"] <= 1


async def test_days_a_suspension_paused_do_not_count_as_working_days_used(stack):
    """Suspended ten working days, then worked to the end: the figures count the days the case's
    clock counted (the case page's 已用工作日), not the pause, and the case is on time."""
    item = "food-business-licence"
    applicant = stack.applicant()
    staff = {role: stack.staff(DEPT, role) for role in ("clerk", "handler", "approver")}
    cid = (await applicant.apply(item)).json()["id"]
    await staff["clerk"].ok(cid, "accept")
    await staff["handler"].ok(cid, "suspend", "等待检验结果")
    await stack.advance(cid, 14)  # two weeks: ten working days, whatever the weekday
    resumed = await staff["handler"].ok(cid, "resume", "检验结果已到")
    paused = resumed["clock"]["paused_working_days"]
    assert paused >= 9
    case = resumed
    while case["current_step"]["kind"] == "review":
        case = await staff[case["current_step"]["role"]].ok(cid, "pass", "同意")
    await staff["approver"].ok(cid, "approve", "准予许可")
    case = await staff["clerk"].ok(cid, "deliver", method="electronic")
    with stack.sessions() as s:
        row = s.get(Case, cid)
        cal = load_calendar(s)
        elapsed = cal.working_days_between(china_date(aware(row.submitted_at)), china_date(aware(row.concluded_at)))
        assert elapsed >= paused
        assert (row.working_days_used, row.on_time) == (elapsed - paused, True)
    assert row.working_days_used == case["clock"]["working_days_used"]  # as the case page says


async def test_supervision_page_and_svg_charts(store, sup_user, data):
    a, b, ids = data
    r = await sup_user.get("/api/supervision/stats", params={"item_code": a, "format": "svg", "chart": "satisfaction"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "满意率" in r.text and "Noto Sans CJK SC" in r.text and "50.0%" in r.text and "<script" not in r.text
    r = await sup_user.get("/api/supervision/stats", params={"item_code": a, "format": "svg", "chart": "cases_per_week"})
    assert "每周办件量" in r.text and "3月2日起" in r.text  # the week of Monday 2 March 2026
    assert (await sup_user.get("/api/supervision/stats", params={"format": "svg", "chart": "pie"})).status_code == 422

    page = PageClient(store)
    try:
        await page.login(sup_user.username)
        r = await page.get("/supervision", params={"department": DEPT})
        assert r.status_code == 200, r.text
        assert "监察预警与统计" in r.text and ids[5] in r.text and "计时暂停" in r.text
        assert "每周办件量" in r.text and "按时办结率" in r.text and "<svg" in r.text
        r = await page.get("/supervision", params={"from": "2026-04-01", "to": "2026-03-01"})
        assert "开始日期不能晚于结束日期" in r.text
        # a department's head reads their department's figures on the same page, without the board
        head = store.staff(DEPT, "head")
        other = PageClient(store)
        try:
            await other.login(head.username)
            assert 'href="/supervision">部门办件统计</a>' in (await other.get("/work")).text
            r = await other.get("/supervision", params={"from": "2026-03-01", "to": "2026-03-31"})
            assert r.status_code == 200 and "本部门办件统计" in r.text and "市市场监督管理局" in r.text
            assert a in r.text and b not in r.text and "<svg" in r.text  # the department's rows, charts
            assert "预警（共" not in r.text and ids[5] not in r.text  # the board is the supervisors'
            assert (await other.get("/supervision", params={"department": OTHER})).status_code == 422
            applicant = store.applicant()
            await other.login(applicant.username)
            assert (await other.get("/supervision")).status_code == 403
        finally:
            await other.close()
    finally:
        await page.close()


async def test_urge_reply_by_is_a_bounded_date(stack):
    case = (await stack.applicant().apply("food-business-licence")).json()
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    for bad in ("2020-01-01", "明天", "2999-01-01", 20261231):
        r = await sup.act(case["id"], "urge", "请加快", reply_by=bad)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "data.reply_by", (bad, r.text)
    assert [h["action"] for h in (await sup.case(case["id"]))["history"]] == ["submitted"]  # nothing changed
    today = china_date(datetime.fromisoformat(case["submitted_at"]))  # the case's today (time skipping moves it)
    ok = await sup.ok(case["id"], "urge", "请加快", reply_by=(today + timedelta(days=5)).isoformat())
    assert ok["history"][-1]["action"] == "urge"
