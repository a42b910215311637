"""Time the supervision reads on a (large) PostgreSQL read model: p50 and p90 over `runs` runs after a
warm-up, in process (no HTTP), with the code the API runs.

    python bench/read_model_queries.py postgresql+psycopg2://postgres@127.0.0.1:5432/banjian_scale_x [--runs 20]

Reads (the department is the largest one, the year 2026, the inbox's clerk a handler there):
- `stats_year_department`: `figures.compute` (the daily summary), target ≤ 200 ms;
  `stats_year_department_from_cases`: the same rows from scratch over the case rows (the former way);
- `stats_year_all`: every department;
- `board`, `board_department`: the first page of the warnings board, target ≤ 100 ms;
- `inbox_mine`, `inbox_department`: `CaseService.tasks`, target ≤ 50 ms; `inbox_mine_python`: the
  former `scope=mine` (every task of the department, roles matched in Python).
`--explain FILE` writes EXPLAIN (ANALYZE, BUFFERS) of every statement each read runs.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, col, or_, select  # noqa: E402

from banjian import figures  # noqa: E402
from banjian.calendar import load_calendar  # noqa: E402
from banjian.contracts import Actor  # noqa: E402
from banjian.db import Task, make_engine, session_factory  # noqa: E402
from banjian.enums import Role  # noqa: E402
from banjian.warnings_board import board  # noqa: E402

TARGETS_MS = {"stats_year_department": 200, "board": 100, "inbox_mine": 50, "inbox_department": 50}


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm-up
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    p90 = ms[max(0, math.ceil(0.9 * len(ms)) - 1)]  # nearest rank
    return {"p50_ms": round(statistics.median(ms), 1), "p90_ms": round(p90, 1)}


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def grab(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def inbox_mine_python(sessions: Callable[[], Session], actor: Actor) -> int:
    """The former `scope=mine`: the department's tasks fetched and their roles matched in Python."""
    with sessions() as s:
        roles = {r.value for r in actor.roles}
        stmt = select(Task).where(Task.department == actor.department,
                                  or_(col(Task.claimed_by).is_(None), Task.claimed_by == actor.username))
        rows = [t for t in s.exec(stmt.order_by(col(Task.due).is_(None), col(Task.due), col(Task.case_id))).all()
                if roles & set(t.roles)]
        return len(rows[:50])


def measure(url: str, runs: int = 20, explain: Path | None = None) -> dict[str, Any]:
    """p50 and p90 of each read; with `explain`, the plans of their statements in that file."""
    engine = make_engine(url)

    sessions = session_factory(engine)

    from api.service import CaseService
    from banjian.catalog import Catalog
    from banjian.settings import Settings

    service = CaseService(Settings(database_url=url), None, sessions, Catalog(sessions))  # type: ignore[arg-type]
    try:
        with sessions() as s:
            dept = s.execute(text("SELECT department FROM cases GROUP BY department ORDER BY count(*) DESC LIMIT 1")
                             ).scalar_one()
            cal = load_calendar(s)
        clerk = Actor(username=f"{dept}-handler-3", roles=[Role.HANDLER], department=dept)
        year = (date(2026, 1, 1), date(2026, 12, 31))

        def stats(fn: Callable[..., Any], department: str | None) -> Callable[[], Any]:
            def run() -> Any:
                with sessions() as s:
                    return fn(s, *year, department)
            return run

        def board_of(department: str | None) -> Callable[[], Any]:
            def run() -> Any:
                with sessions() as s:
                    return board(s, cal, department=department, today=date(2026, 12, 1))
            return run

        reads: dict[str, Callable[[], Any]] = {
            "stats_year_department": stats(figures.compute, dept),
            "stats_year_department_from_cases": stats(figures.compute_from_cases, dept),
            "stats_year_all": stats(figures.compute, None),
            "board": board_of(None),
            "board_department": board_of(dept),
            "inbox_mine": lambda: service.tasks(clerk, "mine", 50, 0),
            "inbox_department": lambda: service.tasks(clerk, "department", 50, 0),
            "inbox_mine_python": lambda: inbox_mine_python(sessions, clerk),
        }
        out: dict[str, Any] = {"department": dept}
        for name, fn in reads.items():
            out[name] = timed(fn, runs)
            if name in TARGETS_MS:
                out[name]["target_ms"] = TARGETS_MS[name]
            print(f"{name:34} {out[name]}", flush=True)
        if explain is not None:
            with explain.open("w") as f:
                for name, fn in reads.items():
                    with captured(engine) as seen:
                        fn()
                    for statement, params in seen:
                        with engine.connect() as conn:
                            plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params).all()
                        f.write(f"== {name}\n{statement}\n{params}\n" + "\n".join(r[0] for r in plan) + "\n\n")
        return out
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--explain", type=Path)
    args = ap.parse_args()
    print(json.dumps(measure(args.url, args.runs, args.explain), ensure_ascii=False))


if __name__ == "__main__":
    main()
