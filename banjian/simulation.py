"""The simulation clock: Temporal per-workflow time skipping, wrapped in one place because the
SDK marks it experimental. Only used when BANJIAN_SIMULATION=1 (tests and demos)."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.testing import TimeSkipper


async def fast_forward(client: Client, workflow_id: str, by: timedelta) -> None:
    """Advance one workflow's virtual clock by `by`, then wait until its due timers were handled."""
    from workflows.case import CaseWorkflow

    handle = client.get_workflow_handle(workflow_id)
    await TimeSkipper(client).fast_forward(handle, by)
    try:
        await handle.execute_update(CaseWorkflow.sync)
    except Exception:  # a workflow that completed during the advance has nothing left to settle
        pass


async def advance_case(client: Client, cases: Any, case_id: str, by: timedelta) -> None:
    """Advance a case and every open sub-case of it by the same time (children first, concurrently)."""
    from sqlmodel import select

    from banjian.db import Case
    from banjian.enums import CLOSED

    with cases.sessions() as session:
        subs = session.exec(select(Case.id).where(Case.parent_id == case_id,
                                                  Case.status.not_in([s.value for s in CLOSED]))).all()
    if subs:
        await asyncio.gather(*(fast_forward(client, f"case-{s}", by) for s in subs),
                             fast_forward(client, f"case-{case_id}", by))
    else:
        await fast_forward(client, f"case-{case_id}", by)
