"""Texts PostgreSQL refuses and SQLite keeps: a column's length (PostgreSQL enforces it; a case
number's 43 characters in the rectification's row) and the NUL character (refused by the API with a
422 naming the field, before it reaches the case's read-model write)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.rectification import RectificationActivities
from banjian import case_numbers
from banjian.calendar import WorkingCalendar
from banjian.db import make_engine, session_factory
from banjian.rectification import OpenRequest, rectification_id
from banjian.rectification_records import Rectification
from banjian.seed import ensure_base
from tests.conftest import application, drop_postgres, new_postgres_url

STORES = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
STACKS = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]
ITEM = "food-business-licence"


@pytest.fixture(params=STACKS)
def store(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(params=STORES)
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'lengths.db'}" if request.param == "sqlite" else new_postgres_url()
    eng = make_engine(url)
    ensure_base(eng)
    yield eng
    eng.dispose()
    if request.param == "postgres":
        drop_postgres(url)


def test_a_rectification_keeps_the_longest_case_number(engine):
    """A department whose code fills the 16 characters of a case number's department part: the
    rectification's row was refused on PostgreSQL (case_no was 40 characters wide), so the rating's
    update retried its local activity for ever."""
    number = case_numbers.make("330100", "marketsupervision", date(2026, 12, 4), 99_999_999)
    assert len(number.case_no) == 43
    acts = RectificationActivities(session_factory(engine), WorkingCalendar, client=None)  # type: ignore[arg-type]
    req = OpenRequest(id=rectification_id(number.id), case_id=number.id, case_no=number.case_no,
                      department="marketsupervision", item_code="food-business-licence", item_name="食品经营许可",
                      rating=1, rated_by="zhangsan", rated_at=datetime(2026, 12, 4, 2, tzinfo=UTC))
    ActivityEnvironment().run(acts.open_rectification, req)
    with Session(engine) as session:
        row = session.get(Rectification, req.id)
    assert row is not None and row.case_no == number.case_no


async def test_a_nul_in_a_comment_is_a_422_and_the_case_goes_on(store):
    """On PostgreSQL the case's read-model write failed for ever on the NUL: the action's request never
    answered and the case took no further action."""
    applicant, clerk = store.applicant(), store.staff("amr", "clerk")
    case = (await applicant.apply(ITEM)).json()
    r = await clerk.post(f"/api/cases/{case['id']}/actions", json={"action": "accept", "comment": "受理\u0000说明"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "control_character" and detail["field"] == "comment", detail
    assert "U+0000" in detail["message"] and "NUL" in detail["message_en"]
    accepted = await clerk.ok(case["id"], "accept", "受理")
    assert accepted["status"] == "accepted"


async def test_a_nul_in_an_application_or_a_search_is_a_422(store):
    applicant = store.applicant()
    before = (await applicant.get("/api/cases")).json()["total"]
    body = await application(applicant, ITEM)
    body["form"][next(iter(body["form"]))] = "示例\u0000"
    r = await applicant.post("/api/cases", json=body)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "control_character", r.text
    assert r.json()["detail"]["field"].startswith("form."), r.text
    body = await application(applicant, ITEM)
    body["idempotency_key"] = "key\u0000"
    r = await applicant.post("/api/cases", json=body)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "idempotency_key", r.text
    assert (await applicant.get("/api/cases")).json()["total"] == before
    for name in ("q", "applicant"):
        r = await applicant.get("/api/cases", params={name: "a\u0000b"})
        assert r.status_code == 422 and r.json()["detail"]["field"] == name, r.text


async def test_a_nul_in_a_path_or_a_query_parameter_is_a_404_or_a_422_naming_it(store):
    """Every route that looked the text up answered 500 on PostgreSQL."""
    clerk = store.staff("amr", "clerk")
    for path in ("/api/cases/2026%00", "/api/cases/2026%00/history", "/api/items/food%00"):
        r = await clerk.get(path)
        assert r.status_code == 404 and r.json()["detail"]["code"] == "not_found", (path, r.text)
    for path, name in (("/api/tasks?item_code=a%00", "item_code"), ("/api/cases?status=x&q=%00", "q")):
        r = await clerk.get(path)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"]["field"] == name and r.json()["detail"]["code"] == "control_character", r.text
    r = await store.http.get("/cases/2026%00")
    assert r.status_code == 404 and "页面不存在" in r.text and r.headers["content-type"].startswith("text/html")
    r = await store.http.get("/guide?q=%00")
    assert r.status_code == 422 and "空字符" in r.text
