"""Consultations, complaints and rectifications on the supervisors' warnings board, and the
figures per department of consultations, complaints and no-shows: rows written straight into the
read model (under a department of their own, removed afterwards), on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from activities.calendar import load_calendar
from banjian.appointments import Appointment
from banjian.db import Department, Item
from banjian.figures_inquiries import HEADERS_ZH
from banjian.inquiries import Inquiry
from banjian.rectification_records import Rectification
from banjian.timefmt import CHINA, end_of
from banjian.warnings_board import board
from services.simulation import _skipper
from tests.pages_client import PageClient

STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]
CONTRACTED = {"case_id", "department", "item_code", "level", "cause", "since", "working_days_over"}


@pytest.fixture(scope="module", params=STORES)
def store(request):
    return request.getfixturevalue(request.param)


def at(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=CHINA).astimezone(UTC)


def inquiry(dept: str, item: str, kind: str, filed: datetime, due: date, **kw) -> Inquiry:
    values = dict(id=f"inq-{uuid.uuid4().hex[:12]}", kind=kind, channel="web", department=dept, item_code=item,
                  text="何时办结？", status="open", filed_at=filed, answer_due=due)
    values.update(kw)
    return Inquiry(**values)


def rectification(dept: str, item: str, status: str, due: date, warned: datetime | None) -> Rectification:
    warnings = [{"level": "yellow", "cause": "rectification_overdue", "at": warned.isoformat()}] if warned else []
    return Rectification(id=f"rect-{uuid.uuid4().hex[:12]}", case_id=f"case-{uuid.uuid4().hex[:8]}",
                         case_no="2026-TEST-0001", department=dept, item_code=item, item_name="监督测试事项",
                         rating=1, status=status, due=due, opened_at=at(2026, 2, 20), updated_at=at(2026, 3, 9),
                         warning="yellow" if warned else None, overdue=bool(warned), snapshot={"warnings": warnings})


def booking(dept: str, item: str, day: date, status: str) -> Appointment:
    return Appointment(id=f"apt-{uuid.uuid4().hex[:12]}", item_code=item, department=dept, slot=f"{day}T09:00",
                       day=day, username="zhangsan", status=status, created_at=at(2026, 2, 1),
                       changed_at=at(2026, 2, 1))


@pytest.fixture(scope="module")
def data(store):
    """A department of its own: in March 2026 two consultations (one open and late, one answered on
    time), two complaints (one answered late, one open with a notice), one consultation in April;
    two rectifications (one open and late, one closed); no-shows on 10 March and in April."""
    dept, item = f"ovs{uuid.uuid4().hex[:8]}", f"ovs-item-{uuid.uuid4().hex[:6]}"
    rows = {
        "late": inquiry(dept, item, "consultation", at(2026, 3, 2), date(2026, 3, 5), warning="yellow", overdue=True),
        "on_time": inquiry(dept, item, "consultation", at(2026, 3, 3), date(2026, 3, 6), status="answered",
                           answered_at=at(2026, 3, 4), answer="已答复"),
        "answered_late": inquiry(dept, item, "complaint", at(2026, 3, 2), date(2026, 3, 16), status="answered",
                                 answered_at=at(2026, 3, 20), answer="已处理", warning="yellow", overdue=True),
        "notice": inquiry(dept, None, "complaint", at(2026, 3, 30), date(2026, 4, 13), warning="notice"),
        "april": inquiry(dept, item, "consultation", at(2026, 4, 1), date(2026, 4, 6), status="answered",
                         answered_at=at(2026, 4, 2), answer="好"),
        "rect": rectification(dept, item, "reopened", date(2026, 3, 6), at(2026, 3, 7, 0)),
        "rect_closed": rectification(dept, item, "closed", date(2026, 3, 6), at(2026, 3, 7, 0)),
        "no_show": booking(dept, item, date(2026, 3, 10), "no_show"),
        "kept": booking(dept, item, date(2026, 3, 11), "booked"),
        "no_show_april": booking(dept, item, date(2026, 4, 10), "no_show"),
    }
    with store.sessions() as s:
        s.add(Department(code=dept, name="监督测试局"))
        s.add(Item(code=item, name="监督测试事项", department=dept, kind="01", current_version=1))
        s.commit()
        s.add_all(rows.values())
        s.commit()
    yield dept, item, {k: r.id for k, r in rows.items()}
    with store.sessions() as s:
        for model in (Inquiry, Rectification, Appointment):
            for r in s.exec(select(model).where(model.department == dept)).all():
                s.delete(r)
        s.commit()
        s.delete(s.get(Item, item))
        s.delete(s.get(Department, dept))
        s.commit()


@pytest.fixture(scope="module")
def sup_user(store):
    return store.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")


def test_the_boards_today_is_the_china_day_also_before_eight_in_the_morning(store, data, monkeypatch):
    """At 01:00 on 12 March in China it is still 11 March in UTC: the lateness counts to the China day."""
    import banjian.warnings_board as wb

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime(2026, 3, 12, 1, 0, tzinfo=CHINA).astimezone(tz or UTC)

    monkeypatch.setattr(wb, "datetime", Clock)
    dept, _, ids = data
    with store.sessions() as s:
        cal = load_calendar(s)
        rows, _ = board(s, cal, department=dept)
        expected, _ = board(s, cal, department=dept, today=date(2026, 3, 12))
    late = {r["id"]: r for r in rows}[ids["late"]]
    assert late["working_days_over"] == 5  # 6, 9, 10, 11, 12 March
    assert rows == expected


def test_board_rows_of_inquiries_and_rectifications(store, data):
    dept, item, ids = data
    with store.sessions() as s:
        cal = load_calendar(s)
        rows, total = board(s, cal, department=dept, today=date(2026, 3, 12))
    assert total == 3 and len(rows) == 3
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {ids["late"], ids["notice"], ids["rect"]}  # answered and closed ones are off the board
    late = by_id[ids["late"]]
    assert CONTRACTED <= set(late)
    assert (late["kind"], late["kind_zh"], late["level"], late["cause"]) == ("consultation", "咨询", "yellow",
                                                                             "answer_overdue")
    assert late["due"] == "2026-03-05" and late["department"] == dept and late["item_code"] == item
    assert late["working_days_over"] == 5  # 6, 9, 10, 11, 12 March
    assert late["since"] == "2026-03-06T00:00:00+08:00" and late["url"] == f"/supervision/inquiries/{ids['late']}"
    rect = by_id[ids["rect"]]
    assert (rect["kind"], rect["kind_zh"], rect["cause"], rect["due"]) == ("rectification", "整改",
                                                                            "rectification_overdue", "2026-03-06")
    assert rect["working_days_over"] == 4 and rect["url"] == f"/rectifications/{ids['rect']}"
    assert rect["since"] == "2026-03-07T00:00:00+08:00" and rect["case_id"]
    notice = by_id[ids["notice"]]
    assert (notice["kind_zh"], notice["level"], notice["working_days_over"]) == ("投诉", "notice", 0)
    # yellow before notice, then the oldest first; and paged across the kinds
    assert [r["id"] for r in rows] == [ids["late"], ids["rect"], ids["notice"]]
    with store.sessions() as s:
        page, total = board(s, cal, department=dept, today=date(2026, 3, 12), limit=1, offset=1)
        assert [r["id"] for r in page] == [ids["rect"]] and total == 3
        only, total = board(s, cal, department=dept, level="notice", today=date(2026, 3, 12))
        assert [r["id"] for r in only] == [ids["notice"]] and total == 1
        by_item, _ = board(s, cal, item_code=item, today=date(2026, 3, 12))
        assert {r["id"] for r in by_item} == {ids["late"], ids["rect"]}


async def test_board_api_and_scope(store, sup_user, data):
    dept, _, ids = data
    # as contracted, the board's API lists case warnings unless asked for the other kinds
    r = await sup_user.get("/api/supervision/warnings", params={"department": dept})
    assert r.status_code == 200 and r.json() == {"items": [], "total": 0}, r.text
    r = await sup_user.get("/api/supervision/warnings", params={"department": dept, "kind": "all"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and {x["kind"] for x in body["items"]} == {"consultation", "complaint", "rectification"}
    assert all(CONTRACTED <= set(x) and x["working_days_over"] >= 0 for x in body["items"])
    r = await sup_user.get("/api/supervision/warnings", params={"department": dept, "kind": "complaint"})
    assert r.json()["total"] == 1 and r.json()["items"][0]["kind"] == "complaint"
    r = await sup_user.get("/api/supervision/warnings", params={"kind": "fax"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "kind", r.text
    # case rows say what they are too
    r = await sup_user.get("/api/supervision/warnings", params={"limit": 200, "kind": "all"})
    assert all(x["kind"] in {"case", "consultation", "complaint", "rectification"} for x in r.json()["items"])
    r = await sup_user.get("/api/supervision/warnings", params={"limit": 200})
    assert all(x["kind"] == "case" and x["case_id"] for x in r.json()["items"])
    other = store.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", department="amr")
    r = await other.get("/api/supervision/warnings", params={"limit": 200, "kind": "all"})
    assert ids["late"] not in {x["id"] for x in r.json()["items"]}


EXPECTED = {"consultations": 2, "consultations_answered": 1, "consultations_answered_on_time": 1,
            "consultations_on_time_rate": 1.0, "consultations_overdue": 1,
            "complaints": 2, "complaints_answered": 1, "complaints_answered_on_time": 0,
            "complaints_on_time_rate": 0.0, "complaints_overdue": 1, "no_shows": 1}


async def test_stats_per_department_of_inquiries_and_no_shows(store, sup_user, data):
    dept, _, _ = data
    params = {"from": "2026-03-01", "to": "2026-03-31", "department": dept}
    r = await sup_user.get("/api/supervision/stats", params=params)
    assert r.status_code == 200, r.text
    (row,) = r.json()["departments"]
    assert row["department"] == dept and row["department_name"] == "监督测试局"
    assert {k: row[k] for k in EXPECTED} == EXPECTED
    row = (await sup_user.get("/api/supervision/stats", params={"department": dept})).json()["departments"][0]
    assert (row["consultations"], row["consultations_answered"], row["no_shows"]) == (3, 2, 2)  # April joins in
    assert row["consultations_on_time_rate"] == 1.0

    r = await sup_user.get("/api/supervision/stats", params={**params, "format": "csv", "table": "departments"})
    assert r.status_code == 200
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0] == HEADERS_ZH
    got = dict(zip(lines[0], lines[1], strict=True))
    assert (got["部门编码"], got["咨询受理量"], got["咨询按时答复率"], got["投诉超期"], got["预约爽约次数"]) == (
        dept, "2", "100.0%", "1", "1")
    r = await sup_user.get("/api/supervision/stats", params={**params, "format": "csv"})
    assert "办件量" in r.content.decode("utf-8-sig").splitlines()[0]  # the default table is unchanged
    r = await sup_user.get("/api/supervision/stats", params={**params, "table": "people"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "table"

    r = await sup_user.get("/api/supervision/stats", params={**params, "format": "xlsx"})
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["监察统计", "咨询投诉与预约"]
    sheet = list(wb["咨询投诉与预约"].iter_rows(values_only=True))
    got = dict(zip(sheet[0], sheet[1], strict=True))
    assert got["投诉按时答复率"] == 0.0 and got["咨询超期"] == 1 and got["预约爽约次数"] == 1

    clerk = store.staff("amr", "clerk")
    r = await clerk.get("/api/supervision/stats", params={"from": "2026-03-01", "to": "2026-03-31"})
    assert dept not in {x["department"] for x in r.json()["departments"]}


async def test_supervision_page_shows_the_rows_and_the_figures(store, sup_user, data):
    dept, _, ids = data
    page = PageClient(store)
    try:
        await page.login(sup_user.username)
        r = await page.get("/supervision", params={"department": dept, "from": "2026-03-01", "to": "2026-03-31"})
        assert r.status_code == 200, r.text
        board_html = r.text.split('id="warnings"')[1].split("</table>")[0]
        assert "咨询" in board_html and "投诉" in board_html and "整改" in board_html
        assert f'href="/supervision/inquiries/{ids["late"]}"' in board_html
        assert f'href="/rectifications/{ids["rect"]}"' in board_html and "2026年3月5日" in board_html and "2026-03-05" not in board_html
        figs = r.text.split('id="department-figures"')[1].split("</table>")[0]
        assert "咨询按时答复率" in figs and "监督测试局" in figs and "100.0%" in figs and "预约爽约次数" in figs
        assert "table=departments" in r.text
        r = await page.get(f"/supervision/inquiries/{ids['late']}")
        assert r.status_code == 200 and "何时办结？" in r.text and "2026年3月5日" in r.text and "2026-03-05" not in r.text and "已超期" in r.text
        assert (await page.get("/supervision/inquiries/inq-nosuch")).status_code == 404
    finally:
        await page.close()


async def test_a_real_consultation_past_its_limit_reaches_the_board_and_leaves_it_when_answered(stack, people):
    r = await people.applicant(1).post("/api/inquiries", json={
        "kind": "consultation", "item_code": "food-business-licence", "text": "需要哪些材料？"})
    assert r.status_code == 201, r.text
    iid, due = r.json()["id"], date.fromisoformat(r.json()["answer_due"])
    handle = stack.client.get_workflow_handle(f"inquiry-{iid}")
    await _skipper(stack.client).fast_forward(handle, end_of(due) - datetime.now(UTC) + timedelta(hours=1))
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    row = None
    for _ in range(100):
        items = (await sup.get("/api/supervision/warnings", params={"department": "amr", "limit": 200, "kind": "consultation"})).json()["items"]
        row = next((x for x in items if x["id"] == iid and x["level"] == "yellow"), None)
        if row:
            break
        await asyncio.sleep(0.1)
    assert row is not None, "the overdue consultation is not on the board"
    assert (row["kind"], row["cause"], row["due"], row["department"]) == ("consultation", "answer_overdue",
                                                                          due.isoformat(), "amr")
    assert row["working_days_over"] >= 0 and row["url"] == f"/supervision/inquiries/{iid}"
    stats = (await sup.get("/api/supervision/stats", params={"department": "amr"})).json()["departments"]
    assert stats[0]["department"] == "amr" and stats[0]["consultations_overdue"] >= 1

    r = await people.clerk.post(f"/api/inquiries/{iid}/answer", json={"text": "身份证和营业执照。"})
    assert r.status_code == 200, r.text
    items = (await sup.get("/api/supervision/warnings", params={"department": "amr", "limit": 200, "kind": "consultation"})).json()["items"]
    assert iid not in {x["id"] for x in items}
