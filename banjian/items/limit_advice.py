"""Advice on a definition's time limits: things that are lawful but likely a mistake, said to the
author beside a draft (`warnings` of a draft, shown on `/admin/items`) without refusing it.

* ``step_limits_exceed_promised``: the step limits of a flow add up to more than the limit that
  watches the whole flow. Steps run one after another, so a case whose every step is on time may
  still pass the promised deadline (承诺办结时限, a yellow card) without any step being late. Judged
  for a single item's steps against its promised limit; for each participant of a joint item,
  its steps against its sub-limit; for a joint item's own steps, the longest sub-limit plus those
  steps against the promised limit (the lanes run in parallel, then the lead unit's steps).
  domain.md makes promised ≤ statutory a rule but sets no rule for step limits (each step limit
  is a ceiling for that step, watched by `step_overdue`), so this is advice, not a problem; a
  single step limit above the promised one is still the problem `step_limit_exceeds`.

Units: when every limit involved is in one unit their values are added; otherwise natural days
count as working days as `problems.to_working_days` says (5 per 7).
"""
from __future__ import annotations

from banjian.items.problems import Problem, to_working_days
from banjian.items.schema import ItemDefinition, Limit, Step


def _sum(limits: list[Limit], whole: Limit) -> tuple[int, int, str, str]:
    """(sum of `limits`, `whole`, unit in Chinese, unit in English) in one unit: theirs if all share
    `whole`'s, else working days."""
    if all(limit.unit == whole.unit for limit in limits):
        if whole.unit.value == "working_days":
            return sum(limit.value for limit in limits), whole.value, "个工作日", "working days"
        return sum(limit.value for limit in limits), whole.value, "个自然日", "natural days"
    return (sum(to_working_days(limit) for limit in limits), to_working_days(whole),
            "个工作日（自然日按每 7 天 5 个工作日折算）", "working days (5 per 7 natural days)")


def _advise(out: list[Problem], path: str, steps: list[Step], whole: Limit, what_zh: str, what_en: str,
            before: Limit | None = None) -> None:
    limits = [s.limit for s in steps if s.limit is not None]
    if before is not None:
        limits = [before, *limits]
    if not limits:
        return
    total, cap, unit, unit_en = _sum(limits, whole)
    if total > cap:
        lead = "最长的并联子时限与" if before is not None else ""
        out.append(Problem(path, "step_limits_exceed_promised",
                           f"{lead}各环节时限合计 {total} {unit}，超过{what_zh} {cap} {unit}：每个环节都按时办完，"
                           f"整个办件仍可能超过{what_zh}（黄牌预警）。请缩短环节时限，或确认这是有意为之",
                           f"the step limits{' and the longest sub-limit' if before is not None else ''} add up to "
                           f"{total} {unit_en}, more than the {what_en} of {cap} {unit_en}: a case whose every step is on time may still pass the "
                           f"{what_en} (a yellow card); shorten the step limits or make sure this is meant"))


def limit_advice(d: ItemDefinition) -> list[Problem]:
    """Every piece of advice on `d`'s limits (empty when there is none)."""
    out: list[Problem] = []
    if d.participants:
        for i, part in enumerate(d.participants):
            _advise(out, f"participants[{i}].steps", part.steps, part.sub_limit, "该部门的子时限", "sub-limit")
        longest = max((p.sub_limit for p in d.participants), key=to_working_days)
        _advise(out, "steps", d.steps, d.promised_limit, "承诺办结时限", "promised limit", before=longest)
    else:
        _advise(out, "steps", d.steps, d.promised_limit, "承诺办结时限", "promised limit")
    return out
