"""The case row's figure columns (migration 0007): what the supervision figures add up in SQL.

Written with the row by `RecordActivities.write`, from the state and the item definition:
- `online`: applied on the web or the mobile app;
- `site_visits`: visits to a service site the case needed: the item's `channels.site_visits`
  (到办事现场次数), and at least one for a case applied for at the window;
- `promised_days`, `statutory_days`: the item's limits (their numbers, for the compression figure);
- `working_days_used`: working days from acceptance (China date, excluded) to the decision (included),
  less those the clock was paused (suspension, special procedures that do not count): the case's
  own clock (`clock.working_days_used` of the case JSON); set once concluded;
- `on_time`: decided no later than the promised due date (a case without one is on time), and the
  promised deadline never passed undecided (no `promised_overdue` card: an extension approved after
  the deadline ended does not make the case on time); what follows the decision (online payment,
  courier or window delivery) is the applicant's time;
- `clock_paused`, `step_id`: what the warnings board needs to tell paused and cured warnings;
- `warnings_count`, `overdue`: the case's warnings, and whether one says a promised or statutory
  deadline passed; `notices`, `yellow_cards`, `red_cards`: how many of them are of each level;
- `pre_review_only`: an online pre-review never formally received (not a case in the figures);
- `rectified`, `rating_void`: the bad rating's rectification was closed; an upheld appeal set the rating
  aside (both from the rectification workflow's reports to the case).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from banjian.calendar import WorkingCalendar
from banjian.contracts import CaseState
from banjian.enums import PAUSED, Channel, Status, WarningCause, WarningLevel
from banjian.items.schema import ItemDefinition
from banjian.timefmt import china_date

ONLINE_CHANNELS = frozenset({Channel.WEB, Channel.MOBILE})
OVERDUE_CAUSES = frozenset({WarningCause.PROMISED_OVERDUE, WarningCause.STATUTORY_OVERDUE})
#: the case row's count of its warnings of each level (提醒, 黄牌, 红牌)
LEVEL_COLUMNS = {WarningLevel.NOTICE: "notices", WarningLevel.YELLOW: "yellow_cards", WarningLevel.RED: "red_cards"}


def site_visits(channel: Channel, item: ItemDefinition) -> int:
    """Site visits of one case: the item's figure, at least one when applied for at the window."""
    n = item.channels.site_visits
    return max(1, n) if channel == Channel.WINDOW else n


def figure_columns(state: CaseState, item: ItemDefinition,
                   calendar: Callable[[], WorkingCalendar]) -> dict[str, Any]:
    """The figure columns of the case row; `calendar` is called only once the case concluded."""
    used = on_time = None
    if state.concluded_at is not None:
        # the time limits run from acceptance to the decision (行政许可法), as the case's own clock
        # counts them (the case page's 已用工作日): the wait for a courier or a window pick-up after
        # the decision, and for an online payment, is not the department's; nor is a paused clock
        # (suspension, a special procedure that does not count), which also moved the promised due date
        decided = china_date(state.decided_at or state.concluded_at)
        start = china_date(state.accepted_at or state.received_at)
        used = max(0, calendar().working_days_between(start, decided) - state.clock.paused_working_days)
        due = state.deadlines.promised_due
        # a promised deadline that already passed (its `promised_overdue` card) stays missed when the
        # date moves on afterwards: an extension approved, or a suspension begun, after it had ended
        # (domain: the extension extends a running limit; on time agrees with the overdue figure)
        missed = any(w.cause == WarningCause.PROMISED_OVERDUE for w in state.warnings)
        on_time = (due is None or decided <= due) and not missed
    return dict(online=state.channel in ONLINE_CHANNELS, site_visits=site_visits(state.channel, item),
                promised_days=item.promised_limit.value, statutory_days=item.statutory_limit.value,
                working_days_used=used, on_time=on_time,
                clock_paused=state.clock.paused or state.status in PAUSED,
                step_id=state.current_step.id if state.current_step else None,
                warnings_count=len(state.warnings), overdue=any(w.cause in OVERDUE_CAUSES for w in state.warnings),
                **{column: sum(1 for w in state.warnings if w.level == level) for level, column in LEVEL_COLUMNS.items()},
                pre_review_only=pre_review_only(state), **_rectification(state))


def pre_review_only(state: CaseState) -> bool:
    """An online pre-review (预审) that never became a formal application: still in pre-review, or
    given up there (withdrawn). Formal receipt moves `received_at` on from the filing time
    (`workflows/pre_review.py` `_formal_receipt`), so a pre-review still at its filing time was never
    received. Such a case is not a case (办件) in the figures."""
    return state.pre_review is not None and (state.status == Status.PRE_REVIEW
                                             or state.received_at == state.submitted_at)


def _rectification(state: CaseState) -> dict[str, Any]:
    """`rectified` (the bad rating's rectification was closed) and `rating_void` (an upheld appeal set the
    rating aside): from the case's view of its rectification; left as they are without one."""
    r = state.rectification
    if r is None:
        return {}
    return {"rectified": r.rectified, "rating_void": r.rating_void}
