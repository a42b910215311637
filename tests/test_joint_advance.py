"""The simulation clock on a joint case (并联审批): "advancing the parent advances every open sub-case by
the same days" (the contract), also on a second advance while departments are still working, when the
joint case's own clock still waits for theirs (services/simulation.py)."""
from __future__ import annotations

from datetime import date

from tests.test_joint import CONSTRUCTION, advance_or_fail, open_joint, staff, subs_by_department


async def test_each_advance_moves_the_working_departments_by_its_days(stack):
    _, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    fire_id = subs_by_department(case)["fire"]["id"]
    fire = staff(stack, "fire", "handler")
    start = date.fromisoformat((await fire.case(fire_id))["clock"]["today"])
    await advance_or_fail(stack, cid, 3)
    assert (date.fromisoformat((await fire.case(fire_id))["clock"]["today"]) - start).days == 3
    # the second advance counts from where the departments stand, not from the waiting joint case's clock
    await advance_or_fail(stack, cid, 4)
    assert (date.fromisoformat((await fire.case(fire_id))["clock"]["today"]) - start).days == 7
    # fire's 10 working days pass with a third advance: its lateness reaches the lead unit's page data
    parent = await advance_or_fail(stack, cid, 10)
    assert subs_by_department(parent)["fire"]["overdue"] is True, parent["sub_cases"]
