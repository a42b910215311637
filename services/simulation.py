"""The simulation clock: Temporal per-workflow time skipping, wrapped in one place because the
SDK marks it experimental. Only used when BANJIAN_SIMULATION=1 (tests and demos).

Two facts of the server shape how a joint case is advanced:
- a workflow with a running child workflow cannot skip time (the server waits for the child);
- a workflow started during a parent's fast-forward would inherit the parent's skipping unless
  propagation is disabled (it is, here: sub-cases move only when they are advanced).
So a joint case is advanced in phases: the parent alone while it has no open sub-case (up to
the moment its deemed acceptance would start them), then every open sub-case concurrently, then
the parent again — up to the sub-cases' time — once none of them is open. While departments are
still working the parent's own clock waits for theirs; its warnings fire when it catches up.
A case whose bad rating opened a rectification (差评整改, a child workflow the case waits for) is
in the same position: while the rectification is open, advancing the case advances the
rectification (its warnings reach the case's history through the case's `rectification_note`).

A licence issued on the case keeps its validity in a workflow of its own (`licence-{id}`, started
from an activity, so it does not inherit the case's skipping): after the case, that workflow is
brought to the case's time, so a licence advanced past its last valid day expires as it would in
real time (its `expire` event, feed event and status are stored when the advance answers).
"""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import TimeSkipper
from temporalio.testing._timeskipping import TimeSkippingConfig

from banjian.contracts import CaseState
from banjian.db import Case
from banjian.enums import CLOSED, ItemKind, Status
from banjian.licence_store import Licence
from banjian.timefmt import end_of

MARGIN = timedelta(seconds=1)


def _skipper(client: Client) -> TimeSkipper:
    return TimeSkipper(client, config=TimeSkippingConfig(disable_propagation=True))


async def _now(client: Client, case_id: str) -> datetime:
    return await _skipper(client).get_current_time(client.get_workflow_handle(f"case-{case_id}"))


async def fast_forward(client: Client, case_id: str, by: timedelta) -> None:
    """Advance one case's virtual clock by `by`, then wait until its due timers were handled."""
    from workflows.case import CaseWorkflow

    if by <= timedelta(0):
        return
    handle = client.get_workflow_handle(f"case-{case_id}")
    try:
        await _skipper(client).fast_forward(handle, by)
    except RPCError as e:  # the workflow completed during the advance (e.g. its rating period closed)
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return
    try:
        await handle.execute_update(CaseWorkflow.sync)
    except Exception:  # a workflow that completed during the advance has nothing left to settle
        pass


def _open_sub_cases(sessions: Any, case_id: str) -> list[str]:
    with sessions() as session:
        return list(session.exec(select(Case.id).where(
            Case.parent_id == case_id, Case.status.not_in([s.value for s in CLOSED]))).all())


def _state(sessions: Any, case_id: str) -> CaseState:
    with sessions() as session:
        return CaseState.model_validate(session.get(Case, case_id).snapshot)


async def advance_case(client: Client, sessions: Any, case_id: str, by: timedelta) -> None:
    """Advance a case, every open sub-case of it and the case's licence by `by` (see the module's note).
    A case whose bad rating's rectification is open waits for it (a child workflow): then the
    rectification's clock is the one that moves."""
    rid = _open_rectification(sessions, case_id)
    if rid is not None:
        target = await advance_rectification(client, rid, by)
    else:
        start = await _now(client, case_id)
        # while departments work, the joint case's clock waits for theirs (see the module's note): the
        # days are counted from the latest of them, so each advance moves every open sub-case by `by`
        subs = await asyncio.gather(*(_now(client, s) for s in _open_sub_cases(sessions, case_id)))
        start = max([start, *subs])
        target = start + by
        await _advance_case(client, sessions, case_id, start, target)
    await follow_licence(client, sessions, case_id, target, by)


def _open_rectification(sessions: Any, case_id: str) -> str | None:
    """The id of the case's rectification while it is open (the case can skip no time meanwhile)."""
    r = _state(sessions, case_id).rectification
    return r.id if r is not None and r.open else None


async def advance_rectification(client: Client, rectification_id: str, by: timedelta) -> datetime:
    """Advance a rectification's clock by `by`, then wait until its due warnings were recorded (on the
    rectification and in its case's history); returns the time it was advanced to."""
    handle = client.get_workflow_handle(f"rectification-{rectification_id}")
    skipper = _skipper(client)
    target = datetime.now(UTC) + by
    try:
        target = await skipper.get_current_time(handle) + by
        await skipper.fast_forward(handle, by)
        await handle.execute_update("sync")
    except RPCError as e:  # ended meanwhile (closed by a supervisor): nothing left to move
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
    except WorkflowUpdateFailedError:  # completed before the update could run
        pass
    return target


def _licence_term(sessions: Any, case_id: str) -> tuple[str, datetime] | None:
    """The case's licence and the moment it expires (00:00 China time after `valid_to`), if it has a last day."""
    with sessions() as session:
        row = session.exec(select(Licence).where(Licence.case_id == case_id)).first()
        if row is None or row.valid_to is None:
            return None
        return row.id, end_of(row.valid_to)


async def follow_licence(client: Client, sessions: Any, case_id: str, target: datetime, by: timedelta) -> None:
    """Bring the expiry workflow of the case's licence to `target` (the case's time), or `by` past its
    own time if that is later: a concluded case's workflow closes at the end of its rating window and
    its clock stops there, while its licence lives on. When that passes the licence's last day, wait
    until the workflow has stored the expiry."""
    from workflows.licence_expiry import licence_workflow_id

    term = _licence_term(sessions, case_id)
    if term is None:
        return
    handle = client.get_workflow_handle(licence_workflow_id(term[0]))
    skipper = _skipper(client)
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return  # expired already
        now = await skipper.get_current_time(handle)
        target = max(target, now + by)
        await skipper.fast_forward(handle, target - now)
        if target >= term[1]:
            await asyncio.wait_for(handle.result(), timeout=60)
    except RPCError as e:  # not started yet (the issuing activity is late) or long gone: nothing to move
        if e.status != RPCStatusCode.NOT_FOUND:
            raise


async def _advance_case(client: Client, sessions: Any, case_id: str, start: datetime, target: datetime) -> None:
    by = target - start
    state = _state(sessions, case_id)
    if not _open_sub_cases(sessions, case_id):
        first = by
        if state.kind != ItemKind.SINGLE and state.status == Status.SUBMITTED and state.deadlines.acceptance_due:
            first = min(by, end_of(state.deadlines.acceptance_due) - start + MARGIN)  # stop where children start
        await fast_forward(client, case_id, first)
    subs = _open_sub_cases(sessions, case_id)
    if not subs:
        await fast_forward(client, case_id, target - await _now(client, case_id))
        return
    async def catch_up(sub_id: str) -> None:
        await fast_forward(client, sub_id, target - await _now(client, sub_id))

    await asyncio.gather(*(catch_up(s) for s in subs))
    if not _open_sub_cases(sessions, case_id):
        await fast_forward(client, case_id, target - await _now(client, case_id))
