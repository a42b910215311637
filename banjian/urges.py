"""Urges (督办) and their escalation: the rules, pure and sandbox-safe.

A supervisor (or a joint case's lead unit) urges an open case with a reply date (`data.reply_by`,
default `DEFAULT_REPLY_DAYS` working days on) and a comment. The department's staff answer with
`reply_urge`. An urge still unanswered when its reply date has ended escalates to the department's
head (`urge_escalated`, level 1); still unanswered `BOARD_AFTER_DAYS` working days later it
escalates again, to the supervisor's warnings board (level 2: a red `urge_unanswered` warning).
An urge on a joint case goes to the departments still working: each of their sub-cases keeps and
escalates its own copy. Timers come from the dates here (`escalations`); the working-day dates are
planned by the `add_limit` activity when the urge is taken.
"""
from __future__ import annotations

from datetime import datetime

from banjian.contracts import Actor, CaseState, Urge
from banjian.enums import CLOSED, STAFF_ROLES, Opinion
from banjian.errors import Forbidden
from banjian.timefmt import end_of

#: working days to reply when the urge names no date (local practice; configurable later per item)
DEFAULT_REPLY_DAYS = 5
#: working days after the reply date until the second escalation, to the supervisor's board
BOARD_AFTER_DAYS = 3
#: escalation levels: 1 to the department's head, 2 to the supervisor's board
TO_HEAD, TO_BOARD = 1, 2


def open_urges(state: CaseState) -> list[Urge]:
    """The urges this case must still answer (a joint case's forwarded urges are answered by its
    sub-cases, not by the joint case itself)."""
    if state.status in CLOSED:
        return []
    return [u for u in state.urges if u.replied_at is None and not u.departments]


def working_departments(state: CaseState) -> list[str]:
    """A joint case's departments still working: their sub-cases are open and have not answered."""
    return [c.department for c in state.sub_cases or []
            if c.status not in CLOSED and c.opinion not in (Opinion.AGREE, Opinion.AGREE_WITH_REFERRAL,
                                                            Opinion.DISAGREE)]


def escalations(state: CaseState) -> list[tuple[datetime, int]]:
    """(instant, urge number) of every escalation still to come: the end of the reply date for the
    first, the end of `board_on` for the second."""
    out = []
    for u in open_urges(state):
        if u.escalated == 0:
            out.append((end_of(u.reply_by), u.n))
        elif u.escalated == TO_HEAD:
            out.append((end_of(u.board_on), u.n))
    return out


def authorise_reply(state: CaseState, actor: Actor) -> None:
    """`reply_urge`: any staff member of the case's department (its system account too); 403 otherwise."""
    if actor.has(*STAFF_ROLES) and actor.department is not None and actor.department == state.department:
        return
    raise Forbidden("forbidden_role", "只有承办部门的工作人员可以回复督办",
                    "only the case department's staff reply to an urge", field="action")

