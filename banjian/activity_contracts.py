"""The inputs and outputs of the case workflow's activities (`activities/`): planning deadlines,
counting a pause, recording a transition in the read model, telling a joint case about a sub-case.

One pydantic model per call, sandbox-safe like `banjian/contracts.py` (workflows import it through
`workflow.unsafe.imports_passed_through()`).
"""
from __future__ import annotations

from datetime import date

from pydantic import Field

from banjian.contracts import CaseState, Deadlines, HistoryEntry, Model
from banjian.enums import Status
from banjian.items.schema import Limit
from banjian.joint_contracts import SubCaseRef


class PlanRequest(Model):
    """Input of `plan_deadlines`: the dates a case's clocks started on and its limits."""

    received_on: date
    acceptance_limit: Limit
    accepted_on: date | None = None
    promised_limit: Limit | None = None
    statutory_limit: Limit | None = None
    extra_working_days: int = 0
    # a granted extension counted in natural days (added before the working days above)
    extension_natural_days: int = 0
    notice_days: int = 2
    step_started_on: date | None = None
    step_limit: Limit | None = None
    step_extra_working_days: int = 0
    decided_on: date | None = None
    delivery_limit: Limit | None = None


class NotifyParent(Model):
    """Input of `notify_parent`: a sub-case tells its parent how it stands."""

    parent_id: str
    sub_case: SubCaseRef


class PauseRequest(Model):
    start: date
    end: date


class RecordRequest(Model):
    """Input of `record_case`: the state after a transition and the history entries it added."""

    state: CaseState
    events: list[HistoryEntry]
    item_definition_version: int
    plan: PlanRequest | None = Field(
        default=None, description="record_transition: plan the deadlines first and record the state with them")


class Recorded(Model):
    """Result of `record_transition` (a local activity): what it wrote, kept in the case's Temporal
    history (the activity's marker) as the audit trail of the read model, and the deadlines it planned."""

    events: list[HistoryEntry]
    status: Status
    deadlines: Deadlines | None = None
