"""The footing of `CaseService` (`api/service.py`): its connections to Temporal and the database, and
who may see which case (404 for a case the caller may not see).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, or_
from temporalio.client import Client

from api.numbers import CaseNumbers
from api.reads import CaseRow, case_row, department_of
from banjian.catalog import Catalog
from banjian.contracts import Actor
from banjian.db import Case
from banjian.enums import Role
from banjian.errors import NotFound
from banjian.lenient_rows import case_row as lenient_case_row
from banjian.settings import Settings

T = TypeVar("T")

READ_ALL_ROLES = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)


class CaseAccess:
    """What every part of `CaseService` stands on (see the module's docstring)."""

    def __init__(self, settings: Settings, client: Client, session_factory: Callable[[], Session],
                 catalog: Catalog) -> None:
        self.settings = settings
        self.client = client
        self.sessions = session_factory
        self.catalog = catalog
        self.numbers = CaseNumbers(settings, session_factory)
        with session_factory() as probe:  # a session does no I/O until used: this only finds its engine
            self.engine: Engine = cast(Engine, probe.get_bind())
        self.inline_reads = self.engine.dialect.name == "sqlite"

    # ---- visibility ---------------------------------------------------------------------------
    def can_see(self, actor: Actor, row: CaseRow, session: Session | Connection | None = None) -> bool:
        """Applicants see their own cases (the joint case, not its sub-cases); staff their department's
        cases and sub-cases, and the lead unit the sub-cases of its joint cases; supervisors, auditors
        and admins every case in their scope."""
        if actor.has(*READ_ALL_ROLES) and (actor.department is None or actor.department == row.department):
            return True
        if actor.has(Role.APPLICANT) and row.applicant_username == actor.username and row.parent_id is None:
            return True
        if actor.department is None or actor.has(Role.APPLICANT):
            return False
        if actor.department == row.department:
            return True
        if row.parent_id is not None and session is not None:
            return department_of(session, row.parent_id) == actor.department
        return False

    def visible_filter(self, actor: Actor):
        """A SQL condition selecting the cases `actor` may see."""
        conds = []
        if actor.has(*READ_ALL_ROLES):
            if actor.department is None:
                return None
            conds.append(Case.department == actor.department)
        if actor.has(Role.APPLICANT):
            conds.append((Case.applicant_username == actor.username) & (col(Case.parent_id).is_(None)))
        if actor.department is not None:
            conds.append(Case.department == actor.department)
        return or_(*conds) if conds else Case.id == "\0"

    def row(self, session: Session, actor: Actor, case_id: str, lenient: bool = False) -> Case:
        """The case row, 404 unless the actor may see it; `lenient` (the audit): a row the ORM cannot
        read is read as text (`banjian.lenient_rows`) rather than failing."""
        row = lenient_case_row(session, case_id) if lenient else session.get(Case, case_id)
        if row is None or not self.can_see(actor, row, session):
            raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", field="id")
        return row

    def view(self, db: Session | Connection, actor: Actor, case_id: str) -> CaseRow:
        """`row`'s check on the columns a case is read with (`api.reads`), for the hot paths."""
        row = case_row(db, case_id)
        if row is None or not self.can_see(actor, row, db):
            raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", field="id")
        return row

    async def _read(self, fn: Callable[..., T], *args: Any, light: bool = True) -> T:
        """An action's pre-check or answer: on SQLite run here, on the event loop (a fraction of a
        millisecond of reads that, in WAL mode, never wait for a writer: the hop to a thread and back
        costs more than the reads); on PostgreSQL, whose reads cross the network, or when not `light`
        (work that takes the CPU for longer), in a thread."""
        if self.inline_reads and light:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    def connect(self) -> Connection:
        """A pooled connection for the hot reads (`api.reads`): no ORM session around them."""
        return self.engine.connect()
