"""Reading cases: a case as the contract shows it to its caller (`render`), one case, its history,
a search, a case by its number, and the case once an update has answered. Search results are kept
rendered until the case is next recorded.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlmodel import Session, col, func, or_, select
from temporalio.client import Client

from api.case_access import CaseAccess
from api.reads import CaseRow, case_row, history_rows, state_of
from api.views import case_json, history_json
from banjian import audit, case_numbers
from banjian.calendar import WorkingCalendar, load_calendar
from banjian.catalog import Catalog
from banjian.contracts import Actor, CaseState
from banjian.db import Case
from banjian.enums import Role
from banjian.errors import Conflict, Invalid, NotFound
from banjian.nul_text import refuse_nul
from banjian.settings import Settings
from banjian.timefmt import CHINA

CALENDAR_TTL_S = 10.0
LISTED_CACHE_SIZE = 4096


class CaseReading(CaseAccess):
    def __init__(self, settings: Settings, client: Client, session_factory: Callable[[], Session],
                 catalog: Catalog) -> None:
        super().__init__(settings, client, session_factory, catalog)
        self._calendar: tuple[float, WorkingCalendar] | None = None
        self._listed: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._listed_lock = threading.Lock()

    @staticmethod
    def history_of(db: Session | Connection, case_id: str) -> list[dict[str, Any]]:
        """A case's history entries as the contract shows them (plain columns, in order)."""
        return [history_json(h) for h in history_rows(db, case_id)]

    def calendar(self, db: Session | Connection) -> WorkingCalendar:
        """The working calendar for reads (`clock.working_days_used`), kept for a few seconds:
        deadlines themselves are computed by the workers from the database, never from this copy."""
        now = time.monotonic()
        if self._calendar is None or self._calendar[0] < now:
            if isinstance(db, Session):
                cal = load_calendar(db)
            else:
                with Session(bind=db) as session:  # on the connection's transaction
                    cal = load_calendar(session)
            self._calendar = (now + CALENDAR_TTL_S, cal)
        return self._calendar[1]

    def forget_calendar(self) -> None:
        self._calendar = None

    def render(self, session: Session | Connection | None, actor: Actor, row: CaseRow | None, state: CaseState | None = None,
               with_history: bool = True) -> dict[str, Any]:
        """The case as the contract shows it to `actor`: from its read-model row, or from the state
        an update has just answered with (`row` None: recorded before the answer; the history is read
        from the read model unless the state carries it)."""
        state = state or state_of(row)
        item = self.catalog.effective(state.item_code, state.item_version, state.department,
                                      state.parent_id is not None)
        history = None
        if state.history:
            history = [history_json(h.model_dump()) for h in state.history]
        elif with_history:
            assert session is not None
            history = self.history_of(session, state.id)
        else:
            history = []
        sub_cases = None
        if state.sub_cases is not None:
            sub_cases = [{**c.model_dump(mode="json", exclude={"opened"}), "case_no": _sub_case_no(state, c.id)}
                         for c in state.sub_cases]
            if actor.has(Role.APPLICANT) and state.result is None:
                # departments' internal opinions are not the applicant's until the unified result
                for c in sub_cases:
                    c["opinion"], c["reason"], c["decision"], c["deemed_consent"] = None, None, None, None
                history = hide_opinions(history)
        if session is None:
            with self.connect() as fresh:
                cal = self.calendar(fresh)
        else:
            cal = self.calendar(session)
        return case_json(state, item, actor, cal, recorded_at=row.recorded_at if row is not None else None,
                         history=history, sub_cases=sub_cases)

    def _listed_key(self, actor: Actor, case_id: str, recorded_at: datetime) -> tuple:
        return (case_id, recorded_at, actor.username, actor.department, tuple(actor.roles),
                datetime.now(CHINA).date())

    def listed(self, session: Session, actor: Actor, page: list[tuple[str, datetime]]) -> list[dict[str, Any]]:
        """A page of cases as search results (no history). Lists are read again and again while cases
        stand still, so each rendering is kept until the case is next recorded (per caller and day),
        and only the rows not rendered yet are loaded."""
        keys = [self._listed_key(actor, cid, at) for cid, at in page]
        with self._listed_lock:  # routes run in a thread pool
            found = {k: self._listed[k] for k in keys if k in self._listed}
            for k in found:
                self._listed.move_to_end(k)
        missing = {k[0]: k for k in keys if k not in found}
        if missing:
            rows = session.exec(select(Case).where(col(Case.id).in_(list(missing)))).all()
            fresh = {missing[r.id]: self._listed_one(session, actor, r) for r in rows}
            found.update(fresh)
            with self._listed_lock:
                self._listed.update(fresh)
                while len(self._listed) > LISTED_CACHE_SIZE:
                    self._listed.popitem(last=False)
        return [found[k] for k in keys if k in found]

    def _listed_one(self, session: Session, actor: Actor, row: Case) -> dict[str, Any]:
        """One search result; a case whose stored state no longer reads is listed by its columns, marked
        `unreadable` (one altered row must not hide every other case from a search)."""
        try:
            return self.render(session, actor, row, with_history=False)
        except Conflict as e:
            if e.code != "case_unreadable":
                raise
            return {"id": row.id, "case_no": row.case_no, "item_code": row.item_code, "item_name": row.item_name,
                    "department": row.department, "status": row.status, "unreadable": True}

    def get(self, actor: Actor, case_id: str) -> dict[str, Any]:
        with self.connect() as conn:
            case = self.render(conn, actor, self.view(conn, actor, case_id))
        if actor.has(Role.AUDITOR):
            audit.log_read(self.sessions, actor, case_id, "case")
        return case

    def history(self, actor: Actor, case_id: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            return self.history_of(conn, self.view(conn, actor, case_id).id)

    def search(self, actor: Actor, status: str | None, item_code: str | None, department: str | None,
               warning: str | None, applicant: str | None, q: str | None, kind: str | None,
               limit: int, offset: int) -> dict[str, Any]:
        refuse_nul({"q": q, "applicant": applicant, "item_code": item_code, "department": department,
                    "status": status, "warning": warning, "kind": kind})
        with self.sessions() as session:
            stmt = select(Case.id, Case.recorded_at)
            vis = self.visible_filter(actor)
            if vis is not None:
                stmt = stmt.where(vis)
            for column, value in ((Case.status, status), (Case.item_code, item_code),
                                  (Case.department, department), (Case.warning, warning), (Case.kind, kind)):
                if value:
                    stmt = stmt.where(column == value)
            if applicant:
                stmt = stmt.where(or_(Case.applicant_id_number == applicant, Case.applicant_username == applicant))
            if q:
                # the text is matched as typed: `%` and `_` are escaped, never LIKE wildcards; names
                # ignore letter case on every database (SQLite's LIKE does, PostgreSQL's does not)
                stmt = stmt.where(or_(col(Case.id).contains(q, autoescape=True),
                                      col(Case.case_no).contains(q.upper(), autoescape=True),
                                      col(Case.applicant_name).icontains(q, autoescape=True),
                                      col(Case.item_name).icontains(q, autoescape=True)))
            total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
            # the id breaks ties (cases received in the same instant): pages never overlap nor skip one
            page = session.exec(stmt.order_by(col(Case.submitted_at).desc(), col(Case.id).desc())
                                .offset(offset).limit(limit)).all()
            found = {"items": self.listed(session, actor, [(cid, at) for cid, at in page]), "total": total}
        if actor.has(Role.AUDITOR):
            query = {k: v for k, v in (("status", status), ("item_code", item_code), ("department", department),
                                       ("warning", warning), ("applicant", applicant), ("q", q), ("kind", kind))
                     if v}
            audit.log_read(self.sessions, actor, None, f"search {query} -> {[cid for cid, _ in page]}")
        return found

    def get_by_number(self, actor: Actor, case_no: str) -> dict[str, Any]:
        """GET /api/cases/by-number/{case_no}: the same visibility as GET /api/cases/{id}."""
        try:
            canonical = case_numbers.parse(case_no)
        except case_numbers.CaseNumberError as e:
            raise Invalid(f"invalid_case_no_{e.rule}", e.message, e.message_en, field="case_no") from None
        with self.sessions() as session:
            case_id = session.exec(select(Case.id).where(Case.case_no == canonical)).first()
        try:
            if case_id is None:
                raise NotFound("case_not_found", "", "")
            return self.get(actor, case_id)
        except NotFound:  # unknown, or not the caller's to see: the same answer, naming only the number
            raise NotFound("case_not_found", f"办件 {canonical} 不存在", f"no case {canonical}", field="case_no") from None

    def answer(self, actor: Actor, case_id: str) -> dict[str, Any]:
        """The case once an update has answered: from the read model, which the workflow wrote before
        it answered (read-your-writes), so the update need not carry the state back."""
        with self.connect() as conn:
            row = case_row(conn, case_id)
            if row is None:  # cannot happen once the update answered; say so rather than guess
                raise NotFound("case_not_found", f"办件 {case_id} 不存在", f"no case {case_id}", field="id")
            return self.render(conn, actor, row)


#: What a sub-case report in the parent's history says about a department's opinion.
OPINION_KEYS = ("opinion", "reason", "decision", "deemed_consent")


def hide_opinions(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A joint case's history as the applicant sees it before the unified result: the departments'
    reports keep who answered, not what they answered."""
    return [{**h, "data": {k: v for k, v in h["data"].items() if k not in OPINION_KEYS}}
            if h["action"] == "sub_case_decided" else h for h in history]


def _sub_case_no(parent: CaseState, sub_id: str) -> str | None:
    """A sub-case's `case_no` (`{parent case_no}-NN`, banjian/case_numbers.py), from its id `{parent id}-NN`."""
    head, _, n = sub_id.rpartition("-")
    return case_numbers.sub_case_no(parent.case_no, int(n)) if head == parent.id and n.isdigit() else None
