"""Urges (督办) on a case: the case workflow's side of `urge`, `reply_urge` and their escalation.

Mixed into `CaseWorkflow`; the rules are in `banjian/urges.py`. Taking an urge plans its dates with
the `add_limit` local activity (working days: the calendar never enters workflow code); the
escalations are durable timers of the case's main loop (`workflows/clock.py` lists them). An urge
on a joint case is forwarded, by signal, to the sub-cases of the departments still working.
Cases started before this code (patch `urge-escalation`) keep the bare count of urges.
"""
from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian.contracts import (
        SYSTEM,
        ActionInput,
        Actor,
        CaseInput,
        CaseState,
        Urge,
        UrgeForward,
        WarningRecord,
    )
    from banjian.enums import CLOSED, Role, WarningCause, WarningLevel
    from banjian.items.schema import Limit
    from banjian.pre_review import LimitFrom
    from banjian.timefmt import china_date
    from banjian.urges import (
        BOARD_AFTER_DAYS,
        DEFAULT_REPLY_DAYS,
        TO_BOARD,
        TO_HEAD,
        open_urges,
        working_departments,
    )
    from workflows.calls import run_local_activity, takes_path

URGE_PATCH = "urge-escalation"


class Urging:
    state: CaseState
    inp: CaseInput
    lock: asyncio.Lock
    wake: bool

    if TYPE_CHECKING:  # provided by CaseWorkflow
        def _log(self, actor: Actor, action: str, comment: str | None = None, data: dict | None = None) -> None: ...
        async def _record(self, notify: bool = True) -> None: ...
        def _timers_moved(self) -> bool: ...

    async def _add_working_days(self, start: date, days: int) -> date:
        return await run_local_activity("add_limit", LimitFrom(start=start, limit=Limit(value=days)), date)

    async def _urge(self, a: ActionInput) -> dict[str, Any]:
        """Take an urge: its reply date (given, or the default), its board date, and for a joint case
        the departments still working, to whose sub-cases it is forwarded. Returns the history data."""
        s = self.state
        s.urged += 1
        if not takes_path(self.inp.design, URGE_PATCH):
            return {}
        raw = (a.data or {}).get("reply_by")
        reply_by = date.fromisoformat(raw) if raw else await self._add_working_days(
            china_date(workflow.now()), DEFAULT_REPLY_DAYS)
        board_on = await self._add_working_days(reply_by, BOARD_AFTER_DAYS)
        departments = working_departments(s) if s.sub_cases else []
        role = Role.SUPERVISOR if a.actor.has(Role.SUPERVISOR) else next(iter(a.actor.roles), Role.SUPERVISOR)
        urge = Urge(n=len(s.urges) + 1, by=a.actor.username, by_name=a.actor.display_name or None, role=str(role),
                    at=workflow.now(), comment=a.comment, reply_by=reply_by, board_on=board_on,
                    departments=departments)
        s.urges.append(urge)
        for sub in s.sub_cases or []:
            if sub.department in departments:
                await workflow.get_external_workflow_handle(f"case-{sub.id}").signal(
                    "urge_forwarded", UrgeForward(urge=urge, actor=a.actor, parent_id=s.id))
        out: dict[str, Any] = {"n": urge.n, "reply_by": reply_by.isoformat(), "board_on": board_on.isoformat()}
        if departments:
            out["departments"] = departments
        return out

    @workflow.signal(name="urge_forwarded")
    async def urge_forwarded(self, fw: UrgeForward) -> None:
        """A joint case's urge reaches this department's sub-case, which keeps and escalates its copy."""
        async with self.lock:
            s = self.state
            if s.status in CLOSED:
                return
            u = fw.urge
            s.urged += 1
            s.urges.append(u.model_copy(update={"n": len(s.urges) + 1, "departments": [], "forwarded_from": fw.parent_id}))
            self._log(fw.actor, "urge", u.comment, {"reply_by": u.reply_by.isoformat(), "board_on": u.board_on.isoformat(),
                                                    "forwarded_from": fw.parent_id, "n": len(s.urges)})
            await self._record(notify=False)
            if self._timers_moved():
                self.wake = True

    def _reply_urge(self, a: ActionInput) -> dict[str, Any]:
        """The department's answer closes every urge it still owes."""
        answered = []
        for u in open_urges(self.state):
            u.replied_at, u.replied_by, u.reply = workflow.now(), a.actor.username, a.comment
            answered.append(u.n)
        return {"urges": answered}

    def _escalate_urge(self, n: int) -> None:
        """An urge's timer fired unanswered: to the department's head, then to the supervisor's board."""
        s = self.state
        u = next((x for x in s.urges if x.n == n), None)
        if u is None or u.replied_at is not None or u.escalated >= TO_BOARD:
            return
        u.escalated += 1
        if u.escalated == TO_HEAD:
            self._log(SYSTEM, "urge_escalated", comment=f"督办逾期未回复（{u.reply_by}），已升级至部门负责人",
                      data={"n": n, "level": TO_HEAD, "to": "head", "department": s.department,
                            "reply_by": u.reply_by.isoformat()})
            return
        # the person by name, as people read it (an urge kept before `by_name`: the username)
        reason = f"督办（{u.by_name or u.by}，回复期限 {u.reply_by}）仍未回复，已报监察"
        self._log(SYSTEM, "urge_escalated", comment=reason,
                  data={"n": n, "level": TO_BOARD, "to": "supervisor", "department": s.department,
                        "board_on": u.board_on.isoformat()})
        s.warnings.append(WarningRecord(level=WarningLevel.RED, cause=WarningCause.URGE_UNANSWERED,
                                        step_id=f"urge-{n}", at=workflow.now(), reason=reason))
        self._log(SYSTEM, "warning", comment=reason, data={
            "level": WarningLevel.RED, "cause": WarningCause.URGE_UNANSWERED, "step_id": f"urge-{n}",
            "reason_en": f"urge {n} still unanswered after its escalation to the head: reported to supervision"})
