"""A large read model on PostgreSQL, and the supervision reads against it (issue 16, item 6).

    python bench/seed_read_model.py --cases 1000000 --events-per-case 10 [--keep] [--runs 20]

Creates a fresh database on the local server (127.0.0.1:5432), migrates it (`ensure_base`: the
departments and the shipped items), bulk-loads N cases, N × events-per-case history rows, the
warnings of the late cases and the tasks of the open ones with COPY, then times (p50 and p90 over
`--runs` runs, after one warm-up run):
- the figures for one year and one department (`banjian.figures.compute`),
- the warnings board, first page, all departments and one (`banjian.warnings_board.board`),
- a clerk's inbox (`CaseService.tasks`, scope mine and department).
Prints a summary and one JSON line. The database is dropped afterwards unless `--keep`.
The data: submissions spread evenly over 2025-2026, ten departments with their items, 90% concluded
(on time or late), 60% of those rated, 10% open (every open case has a task, a fifth of them warned).
"""
from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from activities.calendar import load_calendar  # noqa: E402
from banjian import figures  # noqa: E402
from banjian.contracts import Actor  # noqa: E402
from banjian.db import Item, make_engine  # noqa: E402
from banjian.enums import Role  # noqa: E402
from banjian.seed import ensure_base  # noqa: E402
from banjian.warnings_board import board  # noqa: E402

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
CHUNK = 50_000
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_S = 2 * 365 * 86400


def tsv(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


def copy(raw: Any, table: str, columns: list[str], rows: Iterator[list[Any]]) -> int:
    """COPY rows into a table in chunks; returns the number of rows."""
    n, cur = 0, raw.cursor()
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    while True:
        buf = io.StringIO()
        k = 0
        for row in rows:
            buf.write("\t".join(tsv(v) for v in row))
            buf.write("\n")
            k += 1
            if k == CHUNK:
                break
        if k == 0:
            break
        buf.seek(0)
        cur.copy_expert(sql, buf)
        raw.commit()
        n += k
        if k < CHUNK:
            break
    return n


CASE_COLS = ["id", "case_no", "item_code", "item_version", "item_name", "kind", "department", "status",
             "applicant_id_number", "applicant_name", "channel", "submitted_at", "accepted_at", "concluded_at",
             "acceptance_due", "promised_due", "statutory_due", "warning", "rating", "snapshot", "rev", "clock_at",
             "recorded_at", "online", "site_visits", "promised_days", "statutory_days", "working_days_used",
             "on_time", "clock_paused", "step_id", "warnings_count", "overdue"]
EVENT_COLS = ["case_id", "seq", "at", "actor", "role", "department", "action", "comment", "data", "prev_hash", "hash"]
WARN_COLS = ["case_id", "department", "item_code", "level", "cause", "step_key", "at", "reason", "active",
             "level_rank"]
TASK_COLS = ["case_id", "department", "roles", "item_code", "item_name", "status", "step_id", "step_name",
             "step_role", "due", "warning", "claimed_by"]


class Seeder:
    def __init__(self, items: list[tuple[str, str, str]], n: int, events: int, seed: int = 16) -> None:
        self.items, self.n, self.events = items, n, events
        self.rnd = random.Random(seed)
        self.open: list[tuple[str, str, str, str, datetime, bool]] = []  # id, dept, item, name, at, warned
        self.closed_warned: list[tuple[str, str, str, datetime]] = []  # late concluded cases: off the board

    def cases(self) -> Iterator[list[Any]]:
        rnd = self.rnd
        for i in range(self.n):
            code, name, dept = self.items[i % len(self.items)]
            cid = f"b{i:011d}"
            at = START + timedelta(seconds=rnd.randrange(SPAN_S))
            accepted = at + timedelta(days=1)
            promised_due = (at + timedelta(days=14)).date()
            channel = rnd.choice(("web", "web", "mobile", "window"))
            visits = 1 if channel == "window" else rnd.choice((0, 0, 0, 1))
            if rnd.random() < 0.9:
                used = rnd.randrange(1, 15)
                done = accepted + timedelta(days=used * 7 // 5)
                status, concluded, on_time = "concluded", done, used <= 10
                rating = rnd.choice((5, 5, 5, 4, 4, 3, 2, 1)) if rnd.random() < 0.6 else None
                paused, warned, step = False, False, None
                if not on_time:
                    self.closed_warned.append((cid, dept, code, at))
            else:
                status, concluded, used, on_time, rating = "in_review", None, None, None, None
                paused, warned, step = rnd.random() < 0.1, rnd.random() < 0.2, "review"
                self.open.append((cid, dept, code, name, at, warned))
            yield [cid, f"N{i:011d}", code, 1, name, "single", dept, status, "110101199001011237", "申请人", channel,
                   at, accepted, concluded, (at + timedelta(days=7)).date(), promised_due,
                   (at + timedelta(days=28)).date(), "yellow" if warned else None, rating, "{}", self.events, at,
                   at, channel != "window", visits, 10, 20, used, on_time, paused, step,
                   (2 if warned else 1) if (warned or on_time is False) else 0, bool(warned or on_time is False)]

    def history(self) -> Iterator[list[Any]]:
        for i in range(self.n):
            cid = f"b{i:011d}"
            _, _, dept = self.items[i % len(self.items)]
            at = START + timedelta(seconds=i * 60)
            prev = "0" * 64
            for seq in range(1, self.events + 1):
                h = f"{i:032x}{seq:032x}"
                yield [cid, seq, at + timedelta(minutes=seq), "someone", "handler", dept, "pass", None, "{}", prev, h]
                prev = h

    def warnings(self) -> Iterator[list[Any]]:
        for cid, dept, code, _, at, warned in self.open:
            if warned:
                yield [cid, dept, code, "yellow", "promised_overdue", "", at + timedelta(days=15), "已超过承诺办结期限", True, 1]
                yield [cid, dept, code, "notice", "promised_due_near", "", at + timedelta(days=12), "临近期限", True, 2]

        for cid, dept, code, at in self.closed_warned:
            yield [cid, dept, code, "yellow", "promised_overdue", "", at + timedelta(days=15), "已超过承诺办结期限", False, 1]

    def tasks(self) -> Iterator[list[Any]]:
        for cid, dept, code, name, at, warned in self.open:
            yield [cid, dept, '["handler"]', code, name, "in_review", "review", "审查", "handler",
                   (at + timedelta(days=10)).date(), "yellow" if warned else None, None]


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm-up
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50_ms": round(statistics.median(ms), 1), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--events-per-case", type=int, default=10)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    name = f"banjian_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    engine = make_engine(url)
    out: dict[str, Any] = {"cases": args.cases, "events": args.cases * args.events_per_case}
    try:
        ensure_base(engine)
        with Session(engine) as s:
            items = [(i.code, i.name, i.department) for i in s.exec(select(Item)).all()]
        seeder = Seeder(items, args.cases, args.events_per_case)
        raw = engine.raw_connection()
        t0 = time.perf_counter()
        copy(raw, "cases", CASE_COLS, seeder.cases())
        t1 = time.perf_counter()
        copy(raw, "case_events", EVENT_COLS, seeder.history())
        t2 = time.perf_counter()
        n_warn = copy(raw, "warnings", WARN_COLS, seeder.warnings())
        copy(raw, "tasks", TASK_COLS, seeder.tasks())
        raw.set_isolation_level(0)  # VACUUM runs outside a transaction (autovacuum does the same in service)
        raw.cursor().execute("VACUUM ANALYZE")
        raw.close()
        t3 = time.perf_counter()
        out.update(seed_s={"cases": round(t1 - t0, 1), "events": round(t2 - t1, 1),
                           "warnings_tasks_analyze": round(t3 - t2, 1)}, warnings=n_warn, open=len(seeder.open))
        print(f"seeded {args.cases:,} cases in {t1 - t0:.0f} s, {out['events']:,} history rows in {t2 - t1:.0f} s",
              flush=True)

        from api.service import CaseService
        from banjian.catalog import Catalog
        from banjian.settings import Settings

        def sessions() -> Session:
            return Session(engine, expire_on_commit=False)

        service = CaseService(Settings(database_url=url), None, sessions, Catalog(sessions))  # type: ignore[arg-type]
        clerk = Actor(username="bench-handler", roles=[Role.HANDLER], department="amr")
        with sessions() as s:
            cal = load_calendar(s)
            year = {"from": date(2026, 1, 1), "to": date(2026, 12, 31)}
            out["stats_year_one_department"] = timed(
                lambda: figures.compute(s, year["from"], year["to"], "amr"), args.runs)
            out["stats_year_all"] = timed(lambda: figures.compute(s, year["from"], year["to"]), args.runs)
            out["warnings_board"] = timed(lambda: board(s, cal), args.runs)
            out["warnings_board_one_department"] = timed(lambda: board(s, cal, department="amr"), args.runs)
        out["inbox_mine"] = timed(lambda: service.tasks(clerk, "mine", 50, 0), args.runs)
        out["inbox_department"] = timed(lambda: service.tasks(clerk, "department", 50, 0), args.runs)
        for k, v in out.items():
            print(f"{k:32} {v}")
        print(json.dumps(out, ensure_ascii=False))
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")


if __name__ == "__main__":
    main()
