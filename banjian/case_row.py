"""The case row's plain columns: what lists, inboxes and searches read of a case without its snapshot.

One function says which column holds what of the case state. The record activity writes the row
with it (activities/records.py), and the audit checks a row against the state the workflow last
recorded with it (banjian/audit/snapshot.py). A column edited by hand (a status, an applicant's name,
a due date) then fails the audit like an edited snapshot does. The figure columns are left out: they
also depend on the calendar and the item, and their own figures are checked by the supervision tests.
"""
from __future__ import annotations

from typing import Any

from banjian.contracts import CaseState, WarningLevel

LEVEL_RANK = {None: 0, WarningLevel.NOTICE: 1, WarningLevel.YELLOW: 2, WarningLevel.RED: 3}


def highest_warning(state: CaseState) -> str | None:
    """The highest level among the case's warnings (the row's `warning` column), None without any."""
    levels = [w.level for w in state.warnings]
    return max(levels, key=lambda lv: LEVEL_RANK[lv]).value if levels else None


def row_columns(state: CaseState) -> dict[str, Any]:
    """The case row's columns that follow from the case state alone (not the snapshot, not figures)."""
    d = state.deadlines
    return dict(
        case_no=state.case_no, item_code=state.item_code, item_version=state.item_version,
        item_name=state.item_name, kind=state.kind, department=state.department, status=state.status.value,
        applicant_username=state.applicant.username, applicant_id_number=state.applicant.id_number,
        applicant_name=state.applicant.name, channel=state.channel.value, parent_id=state.parent_id,
        submitted_at=state.submitted_at, accepted_at=state.accepted_at, decided_at=state.decided_at,
        concluded_at=state.concluded_at, acceptance_due=d.acceptance_due, promised_due=d.promised_due,
        statutory_due=d.statutory_due, warning=highest_warning(state), rating=state.rating, clock_at=state.clock_at)

