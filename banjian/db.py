"""The read model (SQLModel): what inboxes, search, statistics and pages read.

The workflows are the source of truth for cases; activities keep these tables in step
(idempotent upserts). Users, departments, item versions and the calendar are owned here.
SQLite in the data dir by default, PostgreSQL with DATABASE_URL. The schema is created by
Alembic migrations (`banjian/migrations`), never by `create_all` outside tests.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, event, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel, create_engine

JSONType = JSON().with_variant(JSON(), "postgresql")


class Department(SQLModel, table=True):
    __tablename__ = "departments"
    code: str = Field(primary_key=True, max_length=32)
    name: str
    credit_code: str | None = None


class User(SQLModel, table=True):
    __tablename__ = "users"
    username: str = Field(primary_key=True, max_length=64)
    password_hash: str
    display_name: str = ""
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    department: str | None = Field(default=None, index=True)
    id_kind: str | None = None
    id_number: str | None = Field(default=None, index=True)
    active: bool = True
    created_at: datetime
    # tokens issued before this moment are refused (a new password ends earlier sessions)
    sessions_from: datetime | None = None


class Item(SQLModel, table=True):
    """A service item; its definitions are in `item_versions`."""

    __tablename__ = "items"
    code: str = Field(primary_key=True, max_length=64)
    name: str
    department: str = Field(index=True)
    kind: str
    current_version: int


class ItemVersion(SQLModel, table=True):
    """One immutable version of an item definition."""

    __tablename__ = "item_versions"
    __table_args__ = (UniqueConstraint("code", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, max_length=64)
    version: int
    definition: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    digest: str
    created_at: datetime
    created_by: str | None = None


class Case(SQLModel, table=True):
    """One row per case (and per sub-case): indexed columns plus the workflow's state snapshot."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_dept_status", "department", "status"),
                      Index("ix_cases_dept_submitted", "department", "submitted_at",  # covering (0007)
                            postgresql_include=["item_code", "item_name", "parent_id", "online", "concluded_at",
                                                "on_time", "promised_days", "statutory_days", "rating", "rating_void",
                                                "rectified", "site_visits", "working_days_used",
                                                "warnings_count", "overdue"]),
                      Index("ix_cases_item_submitted", "item_code", "submitted_at"),
                      # an applicant's cases, and those written since they last read their notices (0029)
                      Index("ix_cases_applicant_recorded", "applicant_username", "recorded_at"))
    id: str = Field(primary_key=True, max_length=40)
    case_no: str | None = Field(default=None, max_length=64, unique=True, index=True,
                                description="unified case number (统一受理号码)")
    item_code: str = Field(index=True)
    item_version: int
    item_name: str
    kind: str = "single"
    department: str
    status: str = Field(index=True)
    applicant_username: str | None = Field(default=None)
    applicant_id_number: str = Field(index=True)
    applicant_name: str
    channel: str
    parent_id: str | None = Field(default=None, index=True)
    submitted_at: datetime
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    concluded_at: datetime | None = None
    acceptance_due: date | None = None
    promised_due: date | None = None
    statutory_due: date | None = None
    warning: str | None = Field(default=None, index=True, description="highest warning level")
    rating: int | None = None
    # figure columns (migration 0007), written by `activities/figures.py` with the row
    online: bool | None = Field(default=None, description="applied online (web or mobile)")
    site_visits: int | None = Field(default=None, description="visits to a service site the case needed")
    promised_days: int | None = None
    statutory_days: int | None = None
    working_days_used: int | None = Field(default=None, description="working days from acceptance to the decision")
    on_time: bool | None = Field(default=None, description="concluded within the promised limit")
    clock_paused: bool | None = None
    step_id: str | None = None
    rating_void: bool | None = Field(default=None, description="rating set aside by an upheld appeal")
    rectified: bool | None = Field(default=None, description="the bad rating's rectification was closed")
    warnings_count: int | None = Field(default=None, description="warnings the case received")
    overdue: bool | None = Field(default=None, description="a promised or statutory deadline passed")
    notices: int | None = Field(default=None, description="notices (提醒) among the case's warnings (0025)")
    yellow_cards: int | None = Field(default=None, description="yellow cards (黄牌) among the case's warnings (0025)")
    red_cards: int | None = Field(default=None, description="red cards (红牌) among the case's warnings (0025)")
    pre_review_only: bool | None = Field(default=None, description="an online pre-review (预审) never formally "
                                         "received: not a case in the figures (migration 0025)")
    snapshot: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    rev: int = 0
    clock_at: datetime
    recorded_at: datetime


class CaseEvent(SQLModel, table=True):
    """A case's history, one row per entry, hash-chained (SM3) per case for tamper evidence."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=40)
    seq: int
    at: datetime
    actor: str
    role: str
    department: str | None = None
    action: str = Field(index=True)
    comment: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    prev_hash: str
    hash: str


class Task(SQLModel, table=True):
    """What a case waits for now, and from whom: the inboxes."""

    __tablename__ = "tasks"
    #: an inbox page in its order (due first, undated last) straight from the index (0014)
    __table_args__ = (Index("ix_tasks_dept_due", "department", "due", "case_id"),)
    case_id: str = Field(primary_key=True, max_length=40)
    department: str = Field(index=True)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    item_code: str
    item_name: str
    status: str
    step_id: str | None = None
    step_name: str | None = None
    step_role: str | None = None
    due: date | None = Field(default=None, index=True)
    warning: str | None = None
    claimed_by: str | None = Field(default=None, index=True)
    parent_id: str | None = None
    #: the added signers (加签) still to sign, as `Countersign` slots ("user:NAME", "role:ROLE"): their
    #: `mine` inbox lists the task whoever has claimed it (0021)
    signers: list[str] = Field(default_factory=list,
                               sa_column=Column(JSONType, nullable=False, server_default=text("'[]'")))
    #: the case's clock is paused (a special procedure that does not count, a suspension): its due date
    #: waits for the clock to run again, and the task is not overdue meanwhile (0021)
    clock_paused: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


class CaseWarning(SQLModel, table=True):
    """Every warning (notice, yellow and red card) once, for supervision figures."""

    __tablename__ = "warnings"
    __table_args__ = (UniqueConstraint("case_id", "cause", "step_key"),
                      Index("ix_warnings_level_dept", "level", "department"),
                      Index("ix_warnings_board", "level_rank", "at", "id", postgresql_where=text("active"),
                            sqlite_where=text("active")),
                      # one department's board: its page and its count from the index alone (0014)
                      Index("ix_warnings_board_dept", "department", "level_rank", "at", "id",
                            postgresql_where=text("active"), sqlite_where=text("active")))
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=40)
    department: str = Field(index=True)
    item_code: str
    level: str
    cause: str
    step_key: str = ""
    at: datetime
    reason: str
    # the warnings board (migration 0007): on the board now (open case, cause not cured); 0 red, 1 yellow, 2 notice
    active: bool | None = None
    level_rank: int | None = None


class CalendarYear(SQLModel, table=True):
    """An administrator's schedule for one year (overrides the packaged official data)."""

    __tablename__ = "calendar_years"
    year: int = Field(primary_key=True)
    schedule: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    loaded_at: datetime
    loaded_by: str | None = None


class IdempotencyKey(SQLModel, table=True):
    """A submission's idempotency key, per user: the same key returns the same case."""

    __tablename__ = "idempotency_keys"
    key: str = Field(primary_key=True, max_length=200)
    case_id: str
    case_no: str | None = Field(default=None, max_length=64)
    created_at: datetime


class CaseSequence(SQLModel, table=True):
    """The last case serial drawn on one day of receipt (China time): case numbers come from it."""

    __tablename__ = "case_sequences"
    day: date = Field(primary_key=True)
    last: int = 0


class AuditRead(SQLModel, table=True):
    """Every read by an auditor (审计留痕)."""

    __tablename__ = "audit_reads"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True)
    case_id: str | None = Field(default=None, index=True)
    what: str
    at: datetime


class Archive(SQLModel, table=True):
    """The archive package (电子文件归档) written when a case concludes."""

    __tablename__ = "archives"
    case_id: str = Field(primary_key=True, max_length=40)
    path: str
    sm3: str
    size: int
    created_at: datetime


class ChainHead(SQLModel, table=True):
    """The daily chain head over all cases' records, signed with SM2 by the system key."""

    __tablename__ = "chain_heads"
    day: date = Field(primary_key=True)
    head: str
    records: int
    signature: str
    public_key: str
    created_at: datetime


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 10, pool_timeout: float = 30.0) -> Engine:
    """An engine for the read model; SQLite gets WAL and a busy timeout so several processes share it.
    The API and the worker each get their own pool (`Settings.pool_options`)."""
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def session_factory(engine: Engine) -> Callable[[], Session]:
    """New sessions of `engine` whose objects stay readable after a commit (every layer's activities,
    services and commands work with them so)."""
    return functools.partial(Session, engine, expire_on_commit=False)


log = logging.getLogger("banjian")
_WRITERS: dict[str, threading.Lock] = {}
#: the longest a writer waits for the write queue (seconds) before it goes on without it
WRITE_QUEUE_WAIT = 15.0
_WRITERS_GUARD = threading.Lock()


@contextlib.contextmanager
def write_transaction(session: Session) -> Iterator[None]:
    """A write transaction of `session`, queued behind the process's other writers of the same SQLite
    file (a no-op queue on PostgreSQL). SQLite lets one writer in at a time and makes the others wait
    in its busy handler, which sleeps with growing back-off (up to 100 ms) instead of waking when the
    lock is free: ten threads writing at once wait hundreds of milliseconds at the tail. Queued on a
    lock in the process instead, each enters as soon as the one before commits (the busy handler
    still covers writers in other processes). The block ends with its commit; on an error the
    transaction is rolled back before the next writer enters."""
    url = session.get_bind().url
    if url.get_backend_name() != "sqlite":
        yield
        return
    key = url.database or ""
    with _WRITERS_GUARD:
        lock = _WRITERS.setdefault(key, threading.Lock())
    # The queue is an optimisation, not the guard (SQLite's own locking is): a writer never waits on
    # it for ever. A holder that does not come back (a thread interrupted between taking the lock and
    # entering the block, as the SDK's cancellation of a running sync activity can do) would
    # otherwise stop every later writer; after WRITE_QUEUE_WAIT the queue is replaced and this writer
    # goes on under SQLite's busy handler alone.
    acquired = lock.acquire(timeout=WRITE_QUEUE_WAIT)
    if not acquired:
        log.warning("the SQLite write queue of %s was held for %.0f s: starting a new one", key, WRITE_QUEUE_WAIT)
        with _WRITERS_GUARD:
            if _WRITERS.get(key) is lock:
                _WRITERS[key] = threading.Lock()
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    finally:
        if acquired:
            lock.release()


def connection_of(db: Session | Connection) -> Connection:
    """The connection a session works on (in its transaction), or the connection itself: for statements
    run with SQLAlchemy Core on the hot paths, without the ORM's execution layer."""
    return db.connection() if isinstance(db, Session) else db


__all__ = ["SQLModel", "Session", "connection_of", "make_engine", "write_transaction"]
