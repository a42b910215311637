"""Rectification of a bad rating (差评整改): what crosses its workflow's boundary, and its rules.

A rating of 1 or 2 (不满意, 非常不满意) opens a rectification for the case's department, due
`rectification_days` working days after the rating (the item's, default 10). The department
records the call-back to the applicant (`record_callback`, 回访) and the fix (`record_fix`, 整改);
a supervisor then closes it (`close`: the bad rating counts as rectified) or reopens it (`reopen`:
the department records another fix). Once, the department may appeal a mistaken rating (`appeal`,
申诉); the supervisor upholds it (`uphold_appeal`: the rating leaves the figures, and the
rectification ends) or rejects it (`reject_appeal`: the work goes on where it stood). Warnings like a
case's: a notice when `notice_days` working days are left, a yellow card once the due day ended,
while the department still owes work. Pure functions; imports only pydantic and sandbox-safe modules.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from banjian.contracts import Actor, Model, RectificationRef
from banjian.enums import STAFF_ROLES, Role
from banjian.errors import Conflict, Forbidden, Invalid

#: working days the department has, when the item says nothing (local practice: 5 to 15)
DEFAULT_DAYS = 10
BAD_RATING_MAX = 2

Status = Literal["open", "called_back", "fixed", "reopened", "appealed", "closed", "appeal_upheld"]
STATUSES: tuple[str, ...] = ("open", "called_back", "fixed", "reopened", "appealed", "closed", "appeal_upheld")
FINAL = frozenset({"closed", "appeal_upheld"})
#: statuses in which the department still owes work: the deadline's warnings fire only then
OWING = frozenset({"open", "called_back", "reopened", "appealed"})
ACTIONS = ("record_callback", "record_fix", "close", "reopen", "appeal", "uphold_appeal", "reject_appeal")
DEPARTMENT_ACTIONS = frozenset({"record_callback", "record_fix", "appeal"})
SUPERVISOR_ACTIONS = frozenset({"close", "reopen", "uphold_appeal", "reject_appeal"})
ACTION_ZH = {"record_callback": "登记回访", "record_fix": "登记整改", "close": "整改办结", "reopen": "重新整改",
             "appeal": "申诉复核", "uphold_appeal": "申诉成立", "reject_appeal": "驳回申诉"}
#: what the page says once an action went through: what was done and, where someone else acts next, who
DONE_ZH = {"record_callback": "已登记回访。", "record_fix": "已登记整改，待监察人员审核。", "close": "整改已办结。",
           "reopen": "已退回部门重新整改。", "appeal": "申诉复核已提交，待监察人员审核。",
           "uphold_appeal": "已认定申诉成立，该评价不计入统计。", "reject_appeal": "已驳回申诉，整改继续。"}
STATUS_ZH = {"open": "待回访", "called_back": "已回访，待整改", "fixed": "已整改，待审核", "reopened": "重新整改中",
             "appealed": "申诉审核中", "closed": "整改办结", "appeal_upheld": "申诉成立（评价不计入统计）"}
#: where each action may be taken, and where it leads (appeal decisions are handled apart)
MOVES: dict[str, tuple[frozenset[str], str]] = {
    "record_callback": (frozenset({"open"}), "called_back"),
    "record_fix": (frozenset({"called_back", "reopened"}), "fixed"),
    "close": (frozenset({"fixed"}), "closed"),
    "reopen": (frozenset({"fixed"}), "reopened"),
    "appeal": (frozenset({"open", "called_back", "fixed", "reopened"}), "appealed"),
    "uphold_appeal": (frozenset({"appealed"}), "appeal_upheld"),
    "reject_appeal": (frozenset({"appealed"}), ""),  # back to where it stood
}
MAX_COMMENT = 2000


class OpenRequest(Model):
    """Input of the `open_rectification` activity: the bad rating, from the case's workflow."""

    id: str
    case_id: str
    case_no: str | None = None
    department: str
    item_code: str
    item_name: str
    rating: int
    rating_comment: str | None = None
    rated_by: str
    rated_at: datetime
    days: int = DEFAULT_DAYS
    notice_days: int = 2


class RectificationInput(Model):
    """The start of a rectification workflow: the rating and the planned dates."""

    id: str
    case_id: str
    case_no: str | None = None
    department: str
    item_code: str
    item_name: str
    rating: int
    rating_comment: str | None = None
    rated_by: str
    opened_at: datetime
    days: int
    notice_days: int = 2
    due: date
    notice_on: date


class Entry(Model):
    """One line of a rectification's history (and of its case's history)."""

    at: datetime
    actor: str
    role: str
    action: str
    comment: str | None = None
    data: dict[str, Any] = {}


class RectWarning(Model):
    level: Literal["notice", "yellow"]
    cause: Literal["rectification_due_near", "rectification_overdue"]
    at: datetime


class RectificationState(Model):
    """The rectification as its workflow holds it; the read model (`rectifications`) mirrors it."""

    inp: RectificationInput
    status: Status = "open"
    before_appeal: Status | None = None
    appeal: Literal["pending", "upheld", "rejected"] | None = None
    reopened: int = 0
    warnings: list[RectWarning] = []
    overdue: bool = False
    #: the notice came due only after the due day had ended (a reopening past it): never raised
    notice_skipped: bool = False
    entries: list[Entry] = []
    updated_at: datetime

    def ref(self) -> RectificationRef:
        """What the case keeps of it (the figure columns read `rectified` and `rating_void`)."""
        return RectificationRef(id=self.inp.id, status=self.status, due=self.inp.due,
                                rectified=self.status == "closed", rating_void=self.status == "appeal_upheld",
                                open=self.status not in FINAL)


class ActInput(Model):
    """A person's action on a rectification (update `act`)."""

    action: str
    actor: Actor
    comment: str | None = None


class CaseNote(Model):
    """An entry of the rectification for its case's history (update `rectification_note` of the case)."""

    actor: Actor
    action: str
    comment: str | None = None
    data: dict[str, Any] = {}
    ref: RectificationRef


def rectification_id(case_id: str) -> str:
    """One rating per case, so one rectification: its id follows from the case's."""
    return f"R{case_id}"


def authorise(state: RectificationState, a: ActInput) -> None:
    """403 unless the actor may take the action: the department's staff record and appeal; a
    supervisor (of the department, or of none) closes, reopens and decides appeals."""
    actor, dept = a.actor, state.inp.department
    if a.action in DEPARTMENT_ACTIONS and actor.has(*STAFF_ROLES) and actor.department == dept:
        return
    if a.action in SUPERVISOR_ACTIONS and actor.has(Role.SUPERVISOR) and actor.department in (None, dept):
        return
    who = "承办部门工作人员" if a.action in DEPARTMENT_ACTIONS else "监察人员"
    raise Forbidden("forbidden_role", f"只有{who}可以执行“{ACTION_ZH[a.action]}”",
                    f"only {'the department staff' if a.action in DEPARTMENT_ACTIONS else 'a supervisor'} may "
                    f"'{a.action}' this rectification", field="action")


def admissible(state: RectificationState, action: str) -> None:
    """409 unless the action is allowed in the rectification's current status."""
    if action == "appeal" and state.appeal is not None:
        raise Conflict("appeal_decided" if state.appeal != "pending" else "appeal_pending",
                       "每件差评只能申诉一次，申诉已提出" + ("并已处理" if state.appeal != "pending" else ""),
                       "a rating is appealed once only: the appeal was already made"
                       + (" and decided" if state.appeal != "pending" else ""), field="action")
    allowed, _ = MOVES[action]
    if state.status not in allowed:
        raise Conflict("invalid_state", f"整改当前状态为“{STATUS_ZH[state.status]}”，不能执行“{ACTION_ZH[action]}”",
                       f"cannot '{action}' a rectification in status '{state.status}'", field="action")


def check(state: RectificationState, a: ActInput) -> None:
    """Every check in the contract's order: 422 for an unknown action, then 403, 409, 422 (data)."""
    if a.action not in MOVES:
        raise Invalid("unknown_action", f"未知的整改操作：{a.action}（可选：{'、'.join(ACTIONS)}）",
                      f"unknown action {a.action!r}: one of {', '.join(ACTIONS)}", field="action")
    authorise(state, a)
    admissible(state, a.action)
    if a.action != "close" and not (a.comment or "").strip():
        raise Invalid("comment_required", f"“{ACTION_ZH[a.action]}”须填写说明", f"'{a.action}' needs a comment",
                      field="comment")


def apply(state: RectificationState, a: ActInput, now: datetime) -> Entry:
    """Apply a checked action; returns the history entry it makes."""
    data: dict[str, Any] = {"rectification_id": state.inp.id}
    before = state.status
    if a.action == "appeal":
        state.before_appeal, state.appeal, state.status = state.status, "pending", "appealed"
    elif a.action == "reject_appeal":
        state.appeal, state.status = "rejected", state.before_appeal or "open"
    elif a.action == "uphold_appeal":
        state.appeal, state.status = "upheld", "appeal_upheld"
    else:
        state.status = MOVES[a.action][1]  # type: ignore[assignment]
        if a.action == "reopen":
            state.reopened += 1
    data.update({"from": before, "to": state.status})
    role = next((r for r in a.actor.roles if r != Role.APPLICANT), a.actor.roles[0] if a.actor.roles else "")
    entry = Entry(at=now, actor=a.actor.username, role=str(a.actor.acts_as or role), action=a.action,
                  comment=a.comment, data=data)
    state.entries.append(entry)
    state.updated_at = now
    return entry


def allowed_actions(state: RectificationState, actor: Actor) -> list[str]:
    """The actions this actor may take now."""
    out = []
    for action in ACTIONS:
        try:
            authorise(state, ActInput(action=action, actor=actor))
            admissible(state, action)
        except (Forbidden, Conflict):
            continue
        out.append(action)
    return out
