"""Text columns hold the longest value the system makes, on PostgreSQL (which enforces a column's
length) as on SQLite (which ignores it): a case number's 43 characters in the rectification's row."""
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
from tests.conftest import drop_postgres, new_postgres_url

STORES = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


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
