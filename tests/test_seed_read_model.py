"""The large read model's seeding script and its measurements, on a tiny size (so they do not rot):
the schema it leaves is the migrations' (the script checks it), the rows are there, the daily summary
it fills equals the figures from scratch, and every read runs."""
from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from banjian import figures
from banjian.db import Case, CaseEvent, CaseWarning, Task, make_engine
from bench.read_model_queries import measure
from bench.seed_read_model import create_database, drop_database, seed

pytestmark = pytest.mark.postgres


def test_seed_and_measure_a_thousand_cases(tmp_path) -> None:
    url = create_database("banjian_scale_test")
    try:
        out = seed(url, 1000, 10)
        assert (out["cases"], out["case_events"]) == (1000, 10_000) and out["tasks"] > 0 and out["warnings"] > 0
        engine = make_engine(url)
        try:
            with Session(engine) as s:
                assert s.exec(select(func.count()).select_from(Case)).one() == 1000
                assert s.exec(select(func.count()).select_from(CaseEvent)).one() == 10_000
                assert s.exec(select(func.count()).select_from(CaseWarning)).one() == out["warnings"]
                open_ = s.exec(select(func.count()).select_from(Case).where(
                    Case.concluded_at.is_(None), Case.status.not_in(["withdrawn", "terminated"]))).one()  # type: ignore[attr-defined]
                assert s.exec(select(func.count()).select_from(Task)).one() == open_
                statuses = set(s.exec(select(Case.status).distinct()).all())
                assert {"concluded", "in_review", "submitted"} <= statuses
                assert figures.compute(s) == figures.compute_from_cases(s) != []
                assert len({r["department"] for r in figures.compute(s)}) == 10
        finally:
            engine.dispose()
        reads = measure(url, runs=1, explain=tmp_path / "plans.txt")
        assert {"stats_year_department", "board", "inbox_mine", "inbox_department"} <= reads.keys()
        assert "Index" in (tmp_path / "plans.txt").read_text()
    finally:
        drop_database(url)
