"""A large read model on PostgreSQL for the supervision reads (issue 16, item 6).

    python bench/seed_read_model.py --cases 1000000 --events-per-case 10 [--keep] [--runs 20]

Creates a fresh database `banjian_scale_<hex>` on the local server (127.0.0.1:5432), migrates it
(`ensure_base`: the schema, the departments and the shipped items), adds a tail of made-up items
per department, then bulk-loads with COPY: N cases, N × events-per-case history rows, the warnings
and the tasks of the open cases; fills the daily figures summary from the cases (`rebuild`, what
the recording activity keeps) and runs `VACUUM ANALYZE` (what autovacuum does in service).
The indexes and unique constraints of the loaded tables are dropped for the load and re-created from
their own definitions afterwards; the script checks that the schema is then exactly the one the
migrations built. Then `bench/read_model_queries.py` measures the reads (unless `--runs 0`), and the
database is dropped (unless `--keep`).

The data (fixed random seed), over the two years before `NOW`:
- ten departments, weighted 1/rank (the largest about a third of the cases); in each, the shipped
  items and made-up ones up to twelve, weighted 1/rank (a few items carry most of the cases);
- submissions on working hours, fewer at weekends; 50% web, 30% mobile, 20% at the window;
- a case submitted in the last two weeks is mostly open, older ones mostly closed (94% concluded,
  3% refused, 2% withdrawn, 1% terminated) with 1% stuck open; working days used around half the
  item's promised limit (a few % late), 60% of concluded cases rated (70/15/8/4/3% for 5..1),
  three quarters of bad ratings rectified, 5% voided by an appeal;
- warnings as the workflow raises them: a notice near the promised due date, a yellow card past it,
  a red card past the statutory one; on the board while the case is open;
- history: on average events-per-case entries per case (between n-2 and n+2), hash-chained text;
- tasks: every open case waits for the role of its status (clerk, handler, approver or head), a
  third of them claimed.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from banjian import figures_summary  # noqa: E402
from banjian.db import make_engine  # noqa: E402
from banjian.seed import ensure_base  # noqa: E402

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # the seeded world's today (noon in China)
SPAN_DAYS = 730
START = NOW - timedelta(days=SPAN_DAYS)
ITEMS_PER_DEPARTMENT = 12
LOADED = ("cases", "case_events", "warnings", "tasks")
SNAPSHOT = json.dumps({"form": {"name": "某某有限公司", "address": "某市某区某路1号", "scope": "食品销售"},
                       "materials": [{"id": "m1", "name": "营业执照"}, {"id": "m2", "name": "场所证明"}]},
                      ensure_ascii=False)


def tsv(v: Any) -> str:
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)


class Lines(io.RawIOBase):
    """A readable stream of COPY text over an iterator of rows (COPY reads while we generate)."""

    def __init__(self, rows: Iterator[list[Any]], batch: int = 5000) -> None:
        self.rows, self.batch, self.count = rows, batch, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        out = []
        for row in self.rows:
            out.append("\t".join(tsv(v) for v in row))
            if len(out) == self.batch:
                break
        self.count += len(out)
        return ("\n".join(out) + "\n").encode() if out else b""


def copy(raw: Any, table: str, columns: list[str], rows: Iterator[list[Any]]) -> int:
    """COPY rows into a table in one stream; the number of rows."""
    stream = Lines(rows)
    with raw.cursor() as cur:
        cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", stream, size=1 << 20)
    raw.commit()
    return stream.count


CASE_COLS = ["id", "case_no", "item_code", "item_version", "item_name", "kind", "department", "status",
             "applicant_username", "applicant_id_number", "applicant_name", "channel", "submitted_at",
             "accepted_at", "decided_at", "concluded_at", "acceptance_due", "promised_due", "statutory_due", "warning",
             "rating", "snapshot", "rev", "clock_at", "recorded_at", "online", "site_visits", "promised_days",
             "statutory_days", "working_days_used", "on_time", "clock_paused", "step_id", "rating_void", "rectified",
             "warnings_count", "overdue"]
EVENT_COLS = ["case_id", "seq", "at", "actor", "role", "department", "action", "comment", "data", "prev_hash", "hash"]
WARN_COLS = ["case_id", "department", "item_code", "level", "cause", "step_key", "at", "reason", "active",
             "level_rank"]
TASK_COLS = ["case_id", "department", "roles", "item_code", "item_name", "status", "step_id", "step_name",
             "step_role", "due", "warning", "claimed_by"]
OPEN = (("submitted", 15, "clerk"), ("accepted", 10, "handler"), ("in_review", 55, "handler"),
        ("suspended", 5, "handler"), ("special_procedure", 3, "handler"), ("decided", 12, "clerk"))
CLOSED = (("concluded", 94), ("refused", 3), ("withdrawn", 2), ("terminated", 1))
ACTIONS = ("submitted", "accept", "claim", "pass", "pass", "approve", "deliver", "rate", "comment", "urge",
           "reply_urge", "comment", "urge", "comment")
ROLE_OF = {"submitted": "applicant", "accept": "clerk", "claim": "handler", "pass": "handler", "approve": "approver",
           "deliver": "clerk", "rate": "applicant", "comment": "handler", "urge": "supervisor",
           "reply_urge": "handler"}
LEVEL_RANK = {"red": 0, "yellow": 1, "notice": 2}
ZH = {"promised_due_near": "临近承诺办结期限", "promised_overdue": "已超过承诺办结期限",
      "statutory_overdue": "已超过法定办结期限"}


def workdays_later(at: datetime, days: int) -> datetime:
    return at + timedelta(days=days * 7 // 5)


class Seeder:
    """Generates the rows; `items` are (code, name, department, promised, statutory, site visits, weight)."""

    def __init__(self, items: list[tuple[str, str, str, int, int, int, float]], n: int, events: int,
                 seed: int = 16) -> None:
        self.items, self.n, self.events = items, n, events
        self.rnd = random.Random(seed)
        self.cum: list[float] = []
        total = 0.0
        for it in items:
            total += it[6]
            self.cum.append(total)
        self.warnings: list[list[Any]] = []
        self.tasks: list[list[Any]] = []
        self.closing: list[tuple[datetime, datetime | None, str]] = []  # per case: submitted, concluded, dept

    def submitted(self) -> datetime:
        rnd = self.rnd
        while True:
            day = START + timedelta(days=rnd.randrange(SPAN_DAYS))
            if day.weekday() < 5 or rnd.random() < 0.25:  # China working hours: 08:30-17:30 is 00:30-09:30 UTC
                return day.replace(hour=0, minute=30) + timedelta(seconds=rnd.randrange(9 * 3600))

    def cases(self) -> Iterator[list[Any]]:
        rnd = self.rnd
        for i in range(self.n):
            code, name, dept, promised, statutory, item_visits, _ = rnd.choices(self.items, cum_weights=self.cum)[0]
            cid = f"s{i:011d}"
            at = self.submitted()
            channel = rnd.choices(("web", "mobile", "window"), (50, 30, 20))[0]
            visits = max(1, item_visits) if channel == "window" else item_visits
            age = (NOW - at).days
            p_open = 0.9 if age < 14 else 0.3 if age < 30 else 0.01
            accepted = at + timedelta(hours=rnd.randrange(2, 48)) if rnd.random() > 0.02 else None
            base = accepted or at
            promised_due, statutory_due = workdays_later(base, promised), workdays_later(base, statutory)
            decided = concluded = used = on_time = rating = void = rectified = None
            step = None
            if rnd.random() < p_open:
                status, _, role = rnd.choices(OPEN, [o[1] for o in OPEN])[0]
                if status in ("submitted",):
                    accepted = None
                step = "review" if status in ("accepted", "in_review", "suspended", "special_procedure") else None
                end = NOW
            else:
                status = rnd.choices(CLOSED, [c[1] for c in CLOSED])[0][0]
                used = max(1, round(rnd.gauss(promised * 0.5, promised * 0.25)))
                end = min(workdays_later(base, used), NOW)
                if status in ("concluded", "refused"):
                    decided = concluded = end
                    on_time = end.date() <= promised_due.date()
                    if status == "concluded" and rnd.random() < 0.6:
                        rating = rnd.choices((5, 4, 3, 2, 1), (70, 15, 8, 4, 3))[0]
                        if rating <= 2:
                            void, rectified = rnd.random() < 0.05, rnd.random() < 0.75
                else:
                    used = None
            is_open = concluded is None and status not in ("withdrawn", "terminated")
            warns = []
            if end >= promised_due - timedelta(days=3):
                warns.append(("notice", "promised_due_near", promised_due - timedelta(days=3)))
            if end > promised_due + timedelta(days=1):
                warns.append(("yellow", "promised_overdue", promised_due + timedelta(days=1)))
            if end > statutory_due + timedelta(days=1):
                warns.append(("red", "statutory_overdue", statutory_due + timedelta(days=1)))
            active = is_open and status not in ("withdrawn", "terminated")
            for level, cause, w_at in warns:
                self.warnings.append([cid, dept, code, level, cause, "", w_at, ZH[cause], active, LEVEL_RANK[level]])
            top = min(warns, key=lambda w: LEVEL_RANK[w[0]])[0] if warns else None
            if active:
                claimed = f"{dept}-{role}-{rnd.randrange(20)}" if rnd.random() < 0.33 else None
                roles = json.dumps([role if rnd.random() < 0.9 else "approver"])
                due = promised_due.date() if status != "submitted" else (at + timedelta(days=7)).date()
                self.tasks.append([cid, dept, roles, code, name, status, step, "审查" if step else None,
                                   "handler" if step else None, due, top, claimed])
            self.closing.append((at, concluded, dept))
            yield [cid, f"{at:%Y%m%d}{i:08d}", code, 1, name, "single", dept, status, f"u{i % 400_000}",
                   f"110101199001{i % 10000:04d}", "申请人", channel, at, accepted, decided, concluded,
                   (at + timedelta(days=7)).date(), promised_due.date(), statutory_due.date(), top, rating, SNAPSHOT,
                   0, end, end, channel != "window", visits, promised, statutory, used, on_time,
                   status in ("suspended", "special_procedure"), step, void, rectified, len(warns),
                   any(w[0] in ("yellow", "red") for w in warns)]

    def history(self) -> Iterator[list[Any]]:
        """Entries per case: events - 2 .. events + 2 (cycling: the total is n × events for n a multiple of 5)."""
        spread = (-2, -1, 0, 1, 2) if self.events >= 3 else (0,)
        for i, (at, concluded, dept) in enumerate(self.closing):
            cid = f"s{i:011d}"
            k = self.events + spread[i % len(spread)]
            step = ((concluded or NOW) - at) / k
            prev = "0" * 64
            for seq in range(1, k + 1):
                action = ACTIONS[(seq - 1) % len(ACTIONS)]
                h = f"{i:016x}{seq:016x}{i * 7919 % (1 << 64):016x}{seq * 104729:016x}"
                yield [cid, seq, at + step * (seq - 1), f"{dept}-{ROLE_OF[action]}-{seq % 20}", ROLE_OF[action],
                       dept, action, None, "{}", prev, h]
                prev = h


# ---- the schema: dropped indexes come back exactly as they were -------------------------------------

def schema(conn: Any) -> list[tuple[str, ...]]:
    """Every index and constraint of the public schema, by name and definition."""
    rows = conn.execute(text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
    cons = conn.execute(text("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE connamespace = 'public'::regnamespace"))
    cols = conn.execute(text("SELECT table_name, column_name, data_type || coalesce(column_default, '') || is_nullable "
                             "FROM information_schema.columns WHERE table_schema = 'public'"))
    return sorted([("index", *r) for r in rows] + [("constraint", *r) for r in cons] + [("column", *r) for r in cols])


def drop_indexes(conn: Any, tables: tuple[str, ...]) -> list[str]:
    """Drop the primary keys, unique constraints and indexes of `tables`; the statements that restore them."""
    restore: list[str] = []
    for table in tables:
        cons = conn.execute(text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                                 "CAST(:t AS regclass) AND contype IN ('p', 'u')"), {"t": table}).all()
        for name, definition in cons:
            conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for name, definition in conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"),
                                             {"t": table}).all():
            conn.execute(text(f'DROP INDEX "{name}"'))
            restore.append(definition)
    return restore


# ---- seeding -------------------------------------------------------------------------------------------

def items_of(engine: Engine) -> list[tuple[str, str, str, int, int, int, float]]:
    """The shipped single items and made-up ones, ITEMS_PER_DEPARTMENT per department, with weights."""
    with engine.begin() as conn:
        shipped = conn.execute(text(
            "SELECT i.code, i.name, i.department, v.definition FROM items i JOIN item_versions v "
            "ON v.code = i.code AND v.version = i.current_version ORDER BY i.code")).all()
        depts = [d for (d,) in conn.execute(text("SELECT code FROM departments ORDER BY code"))]
        by_dept: dict[str, list[tuple[str, str, int, int, int]]] = {d: [] for d in depts}
        for code, name, dept, definition in shipped:
            d = definition if isinstance(definition, dict) else json.loads(definition)
            if d.get("kind", "single") in ("joint", "bundle") or code.endswith(("-joint", "-bundle")):
                continue
            by_dept.setdefault(dept, []).append((code, name, d["promised_limit"]["value"],
                                                 d["statutory_limit"]["value"],
                                                 d.get("channels", {}).get("site_visits", 0)))
        rnd = random.Random(7)
        for dept in depts:
            for k in range(len(by_dept[dept]), ITEMS_PER_DEPARTMENT):
                code, statutory = f"{dept}-bench-{k:02d}", rnd.choice((10, 15, 20, 30, 60))
                by_dept[dept].append((code, f"{dept}模拟事项{k:02d}", max(1, statutory // 2), statutory,
                                      rnd.choice((0, 0, 1, 2))))
                conn.execute(text("INSERT INTO items (code, name, department, kind, current_version) "
                                  "VALUES (:c, :n, :d, '01', 1)"), {"c": code, "n": f"{dept}模拟事项{k:02d}", "d": dept})
    out = []
    for rank_d, dept in enumerate(depts, 1):
        for rank_i, (code, name, promised, statutory, visits) in enumerate(by_dept[dept], 1):
            out.append((code, name, dept, promised, statutory, visits, 1 / rank_d / rank_i))
    return out


def seed(url: str, cases: int, events: int) -> dict[str, Any]:
    """Migrate and fill the database at `url`; what was loaded and how long it took."""
    engine = make_engine(url)
    try:
        t = time.perf_counter()
        ensure_base(engine)
        items = items_of(engine)
        with engine.connect() as conn:
            migrated = schema(conn)
        seeder = Seeder(items, cases, events)
        out: dict[str, Any] = {"cases": cases, "items": len(items), "seconds": {}}
        with engine.begin() as conn:
            restore = drop_indexes(conn, LOADED)
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                cur.execute("SET synchronous_commit = off")
            for table, cols, rows in (("cases", CASE_COLS, seeder.cases), ("case_events", EVENT_COLS, seeder.history),
                                      ("warnings", WARN_COLS, lambda: iter(seeder.warnings)),
                                      ("tasks", TASK_COLS, lambda: iter(seeder.tasks))):
                t0 = time.perf_counter()
                out[table] = copy(raw, table, cols, rows())
                out["seconds"][table] = round(time.perf_counter() - t0, 1)
                print(f"{table}: {out[table]:,} rows in {out['seconds'][table]} s", flush=True)
        finally:
            raw.close()
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("SET maintenance_work_mem = '256MB'"))
            for statement in restore:
                conn.execute(text(statement))
        out["seconds"]["indexes"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        with Session(engine) as s:
            out["summary_rows"] = figures_summary.rebuild(s)
            s.commit()
        out["seconds"]["summary"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            if schema(conn) != migrated:
                raise RuntimeError("the seeded schema differs from the migrated one")
        out["seconds"]["vacuum_analyze"] = round(time.perf_counter() - t0, 1)
        out["seconds"]["total"] = round(time.perf_counter() - t, 1)
        return out
    finally:
        engine.dispose()


def create_database(prefix: str = "banjian_scale") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--events-per-case", type=int, default=10)
    ap.add_argument("--runs", type=int, default=20, help="runs per read (0: seed only)")
    ap.add_argument("--explain", type=Path, help="write EXPLAIN ANALYZE of every read's statements here")
    ap.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    args = ap.parse_args()
    url = create_database()
    print(f"database {url}", flush=True)
    try:
        out = seed(url, args.cases, args.events_per_case)
        if args.runs:
            from bench.read_model_queries import measure
            out["reads"] = measure(url, args.runs, args.explain)
        print(json.dumps(out, ensure_ascii=False, default=str))
    finally:
        if not args.keep:
            drop_database(url)
        else:
            print(f"kept {url}")


if __name__ == "__main__":
    main()
