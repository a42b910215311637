"""Moving open cases from one version of an item to a later one (在办件迁移), the domain rules.

A case can move from version A to version B of its item when
- it is a single-department case (not a joint case, a bundle or a department's sub-case),
- it is open and on version A,
- its current step (if it has one) exists in B with the same kind (`review` / `decide`),
- its deadlines stay lawful: B's statutory limit does not end later than A's (the applicant was told
  A's limit at acceptance; a case in flight never gets a later legal deadline), and B's promised
  limit, counted from acceptance (plus paused working days and an approved extension), has not
  passed already (the move would make the case overdue at once). Limits count in their own unit,
  working or natural days, exactly as the deadline plan counts them, so two limits compare by the
  days they end on (counted from the acceptance; a case not accepted yet: from today).
The same check runs in the API (dry run and real run) and, for the first three, in the workflow's
update validator (`workflows.migration.VersionMigration`), which re-checks under the case's lock.
"""
from __future__ import annotations

from datetime import date

from banjian.calendar import WorkingCalendar
from banjian.contracts import Actor, CaseState, Model
from banjian.enums import CLOSED, ItemKind, LimitUnit
from banjian.errors import Conflict
from banjian.items.schema import ItemDefinition, Limit
from banjian.timefmt import china_date

VERSION_MIGRATED = "version_migrated"


class MigrateInput(Model):
    """The argument of the `migrate_version` update."""

    actor: Actor
    from_version: int
    item: ItemDefinition  # version B, as stored


class Blocked(Conflict):
    """Why a case cannot move (the reason code is the error's `code`)."""


def _due(calendar: WorkingCalendar, start: date, limit: Limit | None, extra: int = 0,
         extra_natural: int = 0) -> date | None:
    """The last day of `limit` counted from `start` in its own unit (working or natural days, as the
    deadline plan counts it: activities/calendar.py), plus `extra_natural` natural days (an extension in
    them) and `extra` working days; None without a limit."""
    if limit is None:
        return None
    due = calendar.add_limit(start, limit.value, limit.unit)
    if extra_natural:
        due = calendar.add_limit(due, extra_natural, LimitUnit.NATURAL_DAYS)
    return calendar.add_working_days(due, extra) if extra else due


def case_today(state: CaseState, today: date) -> date:
    """The day it is for the case: its own clock when that is ahead of `today` (the simulation
    clock moves one case's time on), else `today`."""
    return max(today, china_date(state.clock_at))


def workflow_check(state: CaseState, from_version: int, target: ItemDefinition) -> None:
    """The part of the check the workflow can make itself (no calendar): raises Blocked."""
    if state.kind != ItemKind.SINGLE or state.parent_id is not None:
        raise Blocked("joint_case", "联办件、“一件事”套餐件及其部门子件不能迁移版本，继续按原版本办理",
                      "joint cases, bundles and sub-cases cannot move: they go on under their version")
    if state.status in CLOSED:
        raise Blocked("case_closed", "办件已办结或终止", "the case is closed")
    if state.item_version != from_version:
        raise Blocked("version_mismatch", f"办件使用第 {state.item_version} 版，不是第 {from_version} 版",
                      f"the case is on version {state.item_version}, not {from_version}")
    if target.version <= from_version:
        raise Blocked("version_not_newer", "只能迁移到更新的版本", "a case can only move to a newer version")
    if target.kind != ItemKind.SINGLE:
        raise Blocked("kind_changed", "新版本不是单一事项", "the new version is not a single-department item")
    step = state.current_step
    if step is not None:
        new = next((s for s in target.steps if s.id == step.id), None)
        if new is None:
            raise Blocked("step_missing", f"新版本没有办件当前所在的环节“{step.name}”（{step.id}），"
                          "待办件办完该环节后可再迁移",
                          f"the current step {step.id!r} does not exist in version {target.version}: "
                          "move the case once it has left that step")


def blocked_reason(state: CaseState, old: ItemDefinition, new: ItemDefinition, calendar: WorkingCalendar,
                   today: date) -> Blocked | None:
    """None when the case can move from `old` to `new`, else why not. `today` is the day on the
    case's own clock (ahead of the wall clock where a simulation clock advanced it: `case_today`)."""
    try:
        workflow_check(state, old.version, new)
    except Blocked as b:
        return b
    step = state.current_step
    if step is not None:
        before = next((s for s in old.steps if s.id == step.id), None)
        after = next(s for s in new.steps if s.id == step.id)
        if before is not None and before.kind != after.kind:
            return Blocked("step_kind_changed", f"当前环节“{step.name}”在新版本中的类型不同（审查与决定互换）",
                           f"the current step {step.id!r} is a {after.kind} step in version {new.version}")
    # limits in different units (or natural-day limits) compare by the days they end on, counted from
    # the case's acceptance (today for a case not accepted yet: the earliest it can be accepted)
    start = china_date(state.accepted_at) if state.accepted_at is not None else today
    old_statutory, new_statutory = _due(calendar, start, old.statutory_limit), _due(calendar, start, new.statutory_limit)
    if old_statutory is not None and (new_statutory is None or new_statutory > old_statutory):
        return Blocked("statutory_limit_longer", "新版本的法定办结时限更长，在办件不能延后法定期限",
                       "the new version's statutory limit is longer: a case in flight never gets a later legal deadline")
    promised = new.promised_limit or new.statutory_limit
    if state.accepted_at is not None and promised is not None:
        natural = state.clock.extended_unit == LimitUnit.NATURAL_DAYS
        extra = state.clock.paused_working_days + (0 if natural else state.clock.extended_days)
        due = _due(calendar, start, promised, extra, state.clock.extended_days if natural else 0)
        if due is not None and due < today:
            return Blocked("overdue_at_once", f"按新版本的承诺时限，办件已于 {due} 到期",
                           f"under the new version's promised limit the case was due on {due}")
    return None
