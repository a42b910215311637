"""The daily figures summary kept by the recording activity equals the figures computed from scratch
over the case rows, through submissions, conclusions, ratings, warnings, a retried recording and a
stale one; and `rebuild` (the migration's backfill) writes the same rows. SQLite and PostgreSQL."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from temporalio.testing import ActivityEnvironment

from activities.records import RecordActivities
from banjian import figures, figures_summary
from banjian.activity_contracts import RecordRequest
from banjian.contracts import CaseState, HistoryEntry
from banjian.db import Case, CaseEvent, CaseWarning, Task
from banjian.figures_summary import SUMMARY, S

ITEM = "food-business-licence"
STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]
#: a year no other test's cases are submitted in: the figures of this period are this file's cases only
YEAR = 2035
PERIOD = (date(YEAR, 1, 1), date(YEAR, 12, 31))


@pytest.fixture(scope="module", params=STORES)
def store(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
async def template(store) -> dict[str, Any]:
    """A real case's state, the model for the made-up ones (which have no workflow behind them)."""
    assert (await store.applicant().apply(ITEM)).status_code == 201
    with store.sessions() as s:
        row = s.exec(select(Case).where(Case.item_code == ITEM)).first()  # type: ignore[call-overload]
        return dict(row[0].snapshot)


@pytest.fixture
def made_up(store):
    ids: list[str] = []
    yield ids
    with store.sessions() as s:  # leave nothing for other files' audits to trip on
        with figures_summary.tracking(s, ids):
            for table, key in ((CaseEvent, CaseEvent.case_id), (CaseWarning, CaseWarning.case_id),
                               (Task, Task.case_id), (Case, Case.id)):
                s.execute(delete(table).where(key.in_(ids)))  # type: ignore[attr-defined]
        s.commit()


def request(template: dict[str, Any], case_id: str, day: int, n_events: int, **state: Any) -> RecordRequest:
    at = datetime(YEAR, 3, day, 1, 0, tzinfo=UTC)
    values = {**template, "id": case_id, "case_no": None, "history": [], "status": "submitted", "warnings": [],
              "claimed_by": None, "parent_id": None, "kind": "single", "step_index": None, "current_step": None,
              "submitted_at": at, "received_at": at, "accepted_at": None, "decided_at": None, "concluded_at": None,
              "rating": None, "deadlines": {"promised_due": date(YEAR, 3, 20)}, "clock_at": at}
    values.update(state)
    events = [HistoryEntry(seq=i, at=at + timedelta(minutes=i), actor="someone", role="applicant",
                           action="submitted" if i == 1 else "urge", comment=None, data={})
              for i in range(1, n_events + 1)]
    return RecordRequest(state=CaseState.model_validate(values), events=events, item_definition_version=1)


def summary_rows(store) -> list[tuple[Any, ...]]:
    with store.sessions() as s:
        q = select(SUMMARY).where(S.day.between(*PERIOD)).order_by(*[S[k] for k in figures_summary.KEY_NAMES])
        return [tuple(r) for r in s.execute(q)]


def assert_summary_is_the_figures(store) -> list[dict[str, Any]]:
    with store.sessions() as s:
        kept = figures.compute(s, *PERIOD, item_code=ITEM)
        scratch = figures.compute_from_cases(s, *PERIOD, item_code=ITEM)
        assert kept == scratch
        assert figures.daily_counts(s, *PERIOD, item_code=ITEM) == [
            (d, n) for d, n in _days_from_cases(s)]
    return kept


def _days_from_cases(s) -> list[tuple[date, int]]:
    day = figures.china_day(s.get_bind().dialect.name)
    q = (select(day, figures.C.id).where(figures.C.item_code == ITEM, figures.C.parent_id.is_(None),
                                         figures.C.submitted_at >= datetime(YEAR - 1, 12, 31, tzinfo=UTC)))
    counts: dict[date, int] = {}
    for d, _ in s.execute(q):
        d = d if isinstance(d, date) else date.fromisoformat(d)
        if PERIOD[0] <= d <= PERIOD[1]:
            counts[d] = counts.get(d, 0) + 1
    return sorted(counts.items())


async def test_summary_follows_the_recordings_and_equals_the_figures_from_scratch(store, template, made_up):
    acts = RecordActivities(store.sessions, store.app.state.catalog.effective)
    env = ActivityEnvironment()
    a, b, c = (f"sum{uuid.uuid4().hex[:10]}" for _ in range(3))
    made_up.extend([a, b, c])
    done = datetime(YEAR, 3, 9, 2, 0, tzinfo=UTC)
    late = datetime(YEAR, 3, 23, 2, 0, tzinfo=UTC)
    overdue = {"level": "yellow", "cause": "promised_overdue", "at": late, "reason": "超期"}

    for cid in (a, b, c):  # three submissions, on 2 and 3 March
        env.run(acts.record_case, request(template, cid, 2 if cid != c else 3, 1))
    (row,) = assert_summary_is_the_figures(store)
    assert (row["cases"], row["concluded"], row["working_days_p90"]) == (3, 0, None)

    # a concludes on time and is rated 5; b concludes late with a warning and is rated 1
    concl_a = request(template, a, 2, 3, status="concluded", concluded_at=done, rating=5)
    env.run(acts.record_case, concl_a)
    env.run(acts.record_case, request(template, b, 2, 4, status="concluded", concluded_at=late, warnings=[overdue]))
    (row,) = assert_summary_is_the_figures(store)
    assert (row["ratings"], row["warnings"]) == (1, 1)
    # then b is rated 1: the case stays on its summary row, whose sums change
    env.run(acts.record_case, request(template, b, 2, 5, status="concluded", concluded_at=late, rating=1,
                                      warnings=[overdue]))
    (row,) = assert_summary_is_the_figures(store)
    assert (row["cases"], row["concluded"], row["on_time_rate"], row["ratings"], row["satisfaction"]) == (
        3, 2, 0.5, 2, 0.5)
    assert (row["bad_ratings"], row["warnings"], row["overdue"]) == (1, 1, 1)
    kept = summary_rows(store)
    assert len({r[:5] for r in kept}) == len(kept) and any(r[4] >= 0 for r in kept)  # a and b moved off used = -1

    # the same recording again (an activity retry), and a stale one (an older state): nothing changes
    env.run(acts.record_case, concl_a)
    env.run(acts.record_case, request(template, a, 2, 2, status="submitted"))
    assert summary_rows(store) == kept
    assert_summary_is_the_figures(store)

    # a case that leaves the figures' period (its submission moved) leaves its summary row too
    env.run(acts.record_case, request(template, c, 3, 2, status="withdrawn",
                                      submitted_at=datetime(YEAR + 1, 1, 5, tzinfo=UTC)))
    (row,) = assert_summary_is_the_figures(store)
    assert row["cases"] == 2
    assert all(r[1] != date(YEAR, 3, 3) for r in summary_rows(store))  # no empty row is left behind

    # the backfill from scratch writes the very rows the recordings kept (checked, then rolled back)
    kept = summary_rows(store)
    with store.sessions() as s:
        figures_summary.rebuild(s)
        q = select(SUMMARY).where(S.day.between(*PERIOD)).order_by(*[S[k] for k in figures_summary.KEY_NAMES])
        assert [tuple(r) for r in s.execute(q)] == kept
        s.rollback()
