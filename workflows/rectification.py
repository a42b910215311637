"""The rectification workflow (差评整改): one bad rating's follow-up, its deadline and its appeal.

Started by the rated case (a child workflow that outlives nothing: the case waits for it) with
its dates already planned (`open_rectification`). People act through the `act` update, checked by
`banjian.rectification` in the validator and again under the lock; durable timers raise a notice
when `notice_days` working days are left and a yellow card once the due day has ended, while the
department still owes work. A notice that would come only after the due day ended (the department
owed nothing while the day passed, then was reopened) is skipped (patch `rectification-no-late-notice`).
Every change is written to the read model (`record_rectification`)
and to the case's history (`note_rectification`, an update of the case) before anyone is answered.
"""
from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from banjian import rectification as rules
    from banjian.contracts import SYSTEM, Actor
    from banjian.errors import DomainError
    from banjian.rectification import (
        FINAL,
        OWING,
        ActInput,
        CaseNote,
        Entry,
        RectificationInput,
        RectificationState,
        RectWarning,
    )
    from banjian.timefmt import end_of, start_of
    from workflows.calls import reject, run_activity, run_local_activity

NOTICE, OVERDUE = "rectification_due_near", "rectification_overdue"
#: a notice due only once the due day has ended (reopened, or a fix recorded and rejected, past the
#: deadline) is not raised: the yellow card alone says the deadline passed (as cases of design 3)
LATE_NOTICE_PATCH = "rectification-no-late-notice"
REASONS = {NOTICE: "距整改期限不足 {n} 个工作日（{due}）", OVERDUE: "已超过整改期限（{due}）"}
#: from this patch the notice says what its timing means: at most n working days are left after its day
#: ("fewer than n" before; histories without the marker replay those words)
NOTICE_AT_MOST_PATCH = "rectification-notice-at-most"
NOTICE_REASON = "整改期限（{due}）临近：剩余不超过 {n} 个工作日"


@workflow.defn(name="Rectification")
class RectificationWorkflow:
    @workflow.init
    def __init__(self, inp: RectificationInput) -> None:
        now = workflow.now()
        self.state = RectificationState(inp=inp, updated_at=now, entries=[Entry(
            at=now, actor=SYSTEM.username, role="system", action="rectification_opened",
            comment=f"差评（{inp.rating} 星）整改，期限 {inp.due}",
            data={"rectification_id": inp.id, "due": inp.due.isoformat(), "rating": inp.rating})])
        self.lock = asyncio.Lock()
        self.changed = False

    @workflow.run
    async def run(self, inp: RectificationInput) -> RectificationState:
        async with self.lock:
            await run_local_activity("record_rectification", self.state)
        while self.state.status not in FINAL:
            timers = self._pending()
            if timers and timers[0][0] <= workflow.now():
                async with self.lock:  # every warning due now, each once (re-read under the lock)
                    for at, cause in self._pending():
                        if at > workflow.now():
                            continue
                        if cause == NOTICE and workflow.now() >= end_of(self.state.inp.due) \
                                and workflow.patched(LATE_NOTICE_PATCH):
                            self.state.notice_skipped = True  # a notice never comes after its deadline
                            continue
                        await self._warn(cause)
                continue
            timeout = (timers[0][0] - workflow.now()) if timers else None
            try:
                await workflow.wait_condition(lambda: self.changed, timeout=timeout)
            except TimeoutError:
                pass
            self.changed = False
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    def _pending(self) -> list[tuple[datetime, str]]:
        """The warnings still to come, earliest first: only while the department owes work."""
        s = self.state
        if s.status not in OWING:
            return []
        fired = {w.cause for w in s.warnings} | ({NOTICE} if s.notice_skipped else set())
        out = [(start_of(s.inp.notice_on), NOTICE), (end_of(s.inp.due), OVERDUE)]
        return [t for t in out if t[1] not in fired]

    async def _warn(self, cause: str) -> None:
        s = self.state
        level = "notice" if cause == NOTICE else "yellow"
        s.warnings.append(RectWarning(level=level, cause=cause, at=workflow.now()))  # type: ignore[arg-type]
        if cause == OVERDUE:
            s.overdue = True
        words = NOTICE_REASON if cause == NOTICE and workflow.patched(NOTICE_AT_MOST_PATCH) else REASONS[cause]
        reason = words.format(n=s.inp.notice_days, due=s.inp.due)
        entry = Entry(at=workflow.now(), actor=SYSTEM.username, role="system", action="rectification_warning",
                      comment=reason, data={"rectification_id": s.inp.id, "level": level, "cause": cause})
        s.entries.append(entry)
        s.updated_at = workflow.now()
        await self._record(entry, SYSTEM)

    async def _record(self, entry: Entry, actor: Actor) -> None:
        """The read model, then the case's history (its update answers once the case recorded it)."""
        s = self.state
        await run_local_activity("record_rectification", s)
        await run_activity("note_rectification", CaseNote(
            actor=actor, action=entry.action, comment=entry.comment,
            data={**entry.data, "case_id": s.inp.case_id, "seq": len(s.entries)}, ref=s.ref()))

    @workflow.update
    async def act(self, a: ActInput) -> RectificationState:
        """A person's action; the validator checked it, and it is checked again under the lock."""
        async with self.lock:
            try:
                rules.check(self.state, a)
            except DomainError as e:  # lost a race with another action
                raise reject(e) from None
            entry = rules.apply(self.state, a, workflow.now())
            await self._record(entry, a.actor)
            self.changed = True
            return self.state

    @act.validator
    def validate_act(self, a: ActInput) -> None:
        try:
            rules.check(self.state, a)
        except DomainError as e:
            raise reject(e) from None

    @workflow.update
    async def sync(self) -> RectificationState:
        """Answer once every warning due by now has fired and been recorded (simulation clock)."""
        await workflow.wait_condition(
            lambda: not self.lock.locked() and not any(at <= workflow.now() for at, _ in self._pending()))
        return self.state

    @workflow.query
    def current(self) -> RectificationState:
        return self.state
