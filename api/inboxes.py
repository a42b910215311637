"""The inboxes (待办): a page of the tasks a caller's department waits for, with the urges escalated
to the head or to supervision. `mine` also lists the tasks waiting for the caller's signature (加签).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import case
from sqlmodel import Session, and_, col, func, or_, select

from api.case_access import READ_ALL_ROLES, CaseAccess
from banjian import inbox, urge_records
from banjian.contracts import Actor
from banjian.db import Case, Task
from banjian.enums import CLOSED, Role, Status
from banjian.errors import Invalid

TASK_COLUMNS = (Task.case_id, Task.item_code, Task.item_name, Task.status, Task.step_id, Task.step_name,
                Task.step_role, Task.due, Task.warning, Task.claimed_by, Task.roles, Task.parent_id, Task.signers,
                Task.clock_paused)


#: the inbox's warning filter: a level, or `none` (no warning)
WARNING_FILTERS = ("red", "yellow", "notice", "none")
OPEN_STATUSES = tuple(s.value for s in Status if s not in CLOSED)


def check_filters(item_code: str | None, warning: str | None, status: str | None) -> None:
    """The inbox filters' values, each refused with its field named (422)."""
    if warning is not None and warning not in WARNING_FILTERS:
        raise Invalid("invalid_choice", "warning 应为 red（红牌）、yellow（黄牌）、notice（提醒）或 none（无预警）",
                      "warning must be red, yellow, notice or none", field="warning")
    if status is not None and status not in OPEN_STATUSES:
        raise Invalid("invalid_choice", f"status 应为待办办件的状态之一：{'、'.join(OPEN_STATUSES)}",
                      f"status must be one of the open statuses: {', '.join(OPEN_STATUSES)}", field="status")
    if item_code is not None and not 0 < len(item_code) <= 64:
        raise Invalid("invalid_length", "item_code 应为 1 至 64 个字符", "item_code must be 1 to 64 characters",
                      field="item_code")


#: the inbox's order: the most urgent warning first (红牌, 黄牌, 提醒, then none), then the earliest due
WARNING_RANK = {"red": 0, "yellow": 1, "notice": 2}
INBOX_SCOPES = ("mine", "department", "claimed_by_others")


def urgency() -> Any:
    """A task's warning as its rank in the inbox's order (no warning last)."""
    return case(*((col(Task.warning) == level, rank) for level, rank in WARNING_RANK.items()), else_=len(WARNING_RANK))


class Inboxes(CaseAccess):
    def _scoped(self, session: Session, actor: Actor, scope: str, item_code: str | None, warning: str | None,
                status: str | None) -> Any:
        """The statement of the caller's tasks in `scope` that match the filters; None when the caller
        reads no department's tasks."""
        stmt: Any = select(*TASK_COLUMNS)
        if item_code is not None:
            stmt = stmt.where(Task.item_code == item_code)
        if warning is not None:
            stmt = stmt.where(col(Task.warning).is_(None) if warning == "none" else Task.warning == warning)
        if status is not None:
            stmt = stmt.where(Task.status == status)
        if actor.department is not None:
            stmt = stmt.where(Task.department == actor.department)
        elif not actor.has(*READ_ALL_ROLES):
            return None
        if scope == "mine":  # waiting for one of my roles, not claimed by someone else; or for my signature
            dialect = session.get_bind().dialect.name
            roles = [r.value for r in actor.roles]
            stmt = stmt.where(or_(
                and_(or_(col(Task.claimed_by).is_(None), Task.claimed_by == actor.username),
                     inbox.waits_for_any(dialect, roles)),
                inbox.signs_for(dialect, actor.username, roles)))  # 加签: whoever has claimed it
        elif scope == "claimed_by_others":
            stmt = stmt.where(col(Task.claimed_by).is_not(None), Task.claimed_by != actor.username)
        elif scope != "department":
            raise Invalid("invalid_choice", "scope 应为 mine、department 或 claimed_by_others",
                          "scope must be mine, department or claimed_by_others", field="scope")
        return stmt

    def tasks(self, actor: Actor, scope: str, limit: int, offset: int, *, item_code: str | None = None,
              warning: str | None = None, status: str | None = None) -> dict[str, Any]:
        """A page of the caller's inbox in `scope`, the most urgent warning first (红牌, 黄牌, 提醒, none),
        then earliest due; `item_code`, `warning` (a level or `none`) and `status` keep only the tasks
        that match (the escalated urges too)."""
        check_filters(item_code, warning, status)
        with self.sessions() as session:
            # plain column rows, not ORM objects: an inbox page is read often and may list many tasks
            stmt = self._scoped(session, actor, scope, item_code, warning, status)
            if stmt is None:
                return {"items": [], "total": 0}
            # due first within a level, undated last (ix_tasks_dept_due serves the order within a level)
            order = (urgency(), col(Task.due).asc().nulls_last(), col(Task.case_id))
            total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
            page = session.exec(stmt.order_by(*order).offset(offset).limit(limit)).all()
            items = [{
                "case_id": t.case_id, "item_code": t.item_code, "item_name": t.item_name, "status": t.status,
                "step": {"id": t.step_id, "name": t.step_name, "role": t.step_role} if t.step_id else None,
                "due": t.due.isoformat() if t.due else None, "warning": t.warning, "claimed_by": t.claimed_by,
                "roles": t.roles, "parent_id": t.parent_id, "signers": t.signers or [],
                "clock_paused": bool(t.clock_paused)} for t in page]
            if scope == "mine" and offset == 0:  # the escalated urges, after the first page's tasks
                items += self._urges_of(session, actor, {i["case_id"] for i in items}, item_code, warning, status)
            total += len(items) - len(page)
            urged = urge_records.badges(session, [i["case_id"] for i in items])
            numbers = inbox.case_numbers_of(session, [i["case_id"] for i in items])
            for i in items:
                i["urge"] = urged.get(i["case_id"])
                i["case_no"] = numbers.get(i["case_id"])
            return {"items": items, "total": total}

    def counts(self, actor: Actor, *, item_code: str | None = None, warning: str | None = None,
               status: str | None = None) -> dict[str, int]:
        """How many cases each inbox tab lists with the same filters (the `/work` tabs' counts): the
        tasks of the scope, and in `mine` the escalated urges of cases not among them."""
        check_filters(item_code, warning, status)
        out: dict[str, int] = {}
        with self.sessions() as session:
            for scope in INBOX_SCOPES:
                stmt = self._scoped(session, actor, scope, item_code, warning, status)
                if stmt is None:
                    out[scope] = 0
                    continue
                out[scope] = session.exec(select(func.count()).select_from(stmt.subquery())).one()
                if scope == "mine":
                    urges = self._urges_of(session, actor, set(), item_code, warning, status)
                    ids = [u["case_id"] for u in urges]
                    listed = set(session.exec(select(stmt.subquery().c.case_id)
                                              .where(stmt.subquery().c.case_id.in_(ids))).all()) if ids else set()
                    out[scope] += len(set(ids) - listed)
        return out

    def _urges_of(self, session: Session, actor: Actor, listed: set[str], item_code: str | None,
                  warning: str | None, status: str | None) -> list[dict[str, Any]]:
        """The urges escalated to the caller (a head: to the head; a supervisor: to supervision) of
        cases not in `listed`, that answer to the inbox's filters."""
        items: list[dict[str, Any]] = []
        if actor.has(Role.HEAD) and actor.department is not None:
            items += self._escalated_urges(session, actor.department, listed)
        if actor.has(Role.SUPERVISOR):
            items += self._escalated_urges(session, actor.department, listed, to_supervisor=True)
        return [i for i in items if (item_code is None or i["item_code"] == item_code)
                and (status is None or i["status"] == status)
                and (warning is None or i["warning"] == (None if warning == "none" else warning))]

    @staticmethod
    def _escalated_urges(session: Session, department: str | None, listed: set[str],
                         to_supervisor: bool = False) -> list[dict[str, Any]]:
        """The head's inbox also lists the department's urges escalated to the head (督办升级), on the
        first page, after the tasks: the case may wait for someone else, but the head must see it.
        A supervisor's inbox lists in the same way the urges escalated to supervision (the second
        escalation, `due` its `board_on`), of their department or, without one, of every department."""
        out: list[dict[str, Any]] = []
        if to_supervisor:
            found = urge_records.escalated_to_supervision(session, department)
        else:
            assert department is not None
            found = urge_records.escalated_to_head(session, department)
        role = Role.SUPERVISOR if to_supervisor else Role.HEAD
        for u in found:
            if u.case_id in listed:
                continue
            listed.add(u.case_id)
            row = session.get(Case, u.case_id)
            if row is None:
                continue
            out.append({"case_id": row.id, "item_code": row.item_code, "item_name": row.item_name,
                        "status": row.status, "step": None,
                        "due": (u.board_on if to_supervisor else u.reply_by).isoformat(), "warning": row.warning,
                        "claimed_by": None, "roles": [role.value], "parent_id": row.parent_id, "signers": [],
                        "clock_paused": bool((row.snapshot.get("clock") or {}).get("paused"))})
        return out
