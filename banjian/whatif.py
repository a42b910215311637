"""What-if simulation of a draft (试运行): the profile an author gives, and the figures of a run.

A profile says how long each part of a case takes, in working days, as a distribution:
a triangular one `{"min", "mode"?, "max"}` (mode defaults to the middle) or a discrete one
`{"days": [...], "weights"?: [...]}`. A draw is a whole number of working days (a triangular
draw is rounded to the nearest day). The runner (`services.whatif_run`) drives real case workflows
with these draws in virtual time; this module holds only the pure parts (validation, draws, figures).

A joint item or a bundle runs in lanes: one per participating department (joint: the lane is the
department's code) or member item (bundle: the member's code), each a sub-case with its own steps;
their steps are named `{lane}.{step id}` in the profile and in `by_step`. The parent's own steps
(a joint item's consolidation and unified decision) keep their ids and follow the lanes.
Step limits count in their own unit: a natural-day limit is turned into the working days it allows
from the day the step started (`allowed_days`), as the deadline plan counts it.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from banjian.calendar import WorkingCalendar
from banjian.enums import ItemKind, LimitUnit
from banjian.errors import Invalid
from banjian.items.problems import to_working_days
from banjian.items.schema import ItemDefinition, Limit, Step

MAX_DAYS = 365  # one part of a case takes at most a year of working days in a profile
MAX_CASES = 500
MAX_WEIGHT = 1_000_000  # a discrete distribution's weights are relative: any finite range will do

#: the profile's own rules (a distribution's shape), said in Chinese and English; the error type
#: is the key, so the API words a broken rule in both languages (`api/routes/whatif.py`)
RULES: dict[str, tuple[str, str]] = {
    "days_and_range": ("只能给出 days（离散分布）或 min/mode/max（三角分布）之一",
                       "give either days (discrete) or min/mode/max (triangular), not both"),
    "days_range": (f"days 中的天数须为 0 至 {MAX_DAYS} 的整数", f"days must be whole numbers from 0 to {MAX_DAYS}"),
    "weights_length": ("weights 的个数须与 days 相同", "weights must have one number per entry of days"),
    "weights_values": ("weights 不能为负数，也不能全为 0", "weights must not be negative and must not all be 0"),
    "weights_alone": ("weights 须与 days 一起给出", "weights go with days"),
    "min_max_missing": ("须给出 min 和 max（mode 可选），或给出 days", "give min and max (and optionally mode), or days"),
    "mode_order": ("须满足 min ≤ mode ≤ max", "min <= mode <= max must hold"),
}


def _broken(rule: str) -> PydanticCustomError:
    return PydanticCustomError(rule, RULES[rule][1])


class Days(BaseModel):
    """A distribution of working days."""

    model_config = ConfigDict(extra="forbid")
    min: float | None = Field(default=None, ge=0, le=MAX_DAYS)
    mode: float | None = Field(default=None, ge=0, le=MAX_DAYS)
    max: float | None = Field(default=None, ge=0, le=MAX_DAYS)
    days: list[int] | None = Field(default=None, min_length=1, max_length=50)
    weights: list[float] | None = Field(default=None, min_length=1, max_length=50)  # finite, 0 to MAX_WEIGHT

    @model_validator(mode="after")
    def _shape(self) -> Days:
        if self.days is not None:
            if self.min is not None or self.max is not None or self.mode is not None:
                raise _broken("days_and_range")
            if any(not 0 <= d <= MAX_DAYS for d in self.days):
                raise _broken("days_range")
            if self.weights is not None:
                if len(self.weights) != len(self.days):
                    raise _broken("weights_length")
                # NaN and infinity fail the range too (random.choices needs a finite positive total)
                if not all(0 <= w <= MAX_WEIGHT for w in self.weights) or sum(self.weights) <= 0:
                    raise _broken("weights_values")
            return self
        if self.weights is not None:
            raise _broken("weights_alone")
        if self.min is None or self.max is None:
            raise _broken("min_max_missing")
        mode = self.mode if self.mode is not None else (self.min + self.max) / 2
        if not self.min <= mode <= self.max:
            raise _broken("mode_order")
        return self

    @classmethod
    def fixed(cls, days: int) -> Days:
        return cls(days=[days])

    def draw(self, rng: random.Random) -> int:
        if self.days is not None:
            return rng.choices(self.days, weights=self.weights)[0]
        assert self.min is not None and self.max is not None
        mode = self.mode if self.mode is not None else (self.min + self.max) / 2
        return int(rng.triangular(self.min, self.max, mode) + 0.5)


class Profile(BaseModel):
    """How long each part of a simulated case takes (working days), and how often it detours."""

    model_config = ConfigDict(extra="forbid")
    acceptance: Days = Field(default_factory=lambda: Days.fixed(0), description="receipt to acceptance")
    steps: dict[str, Days] = Field(default={}, description="step id (a lane's: `{lane}.{step id}`) -> days at "
                                   "that step", max_length=50)
    default_step: Days | None = Field(default=None, description="steps not named in `steps` (default: "
                                      "1 working day to the step's limit, mode at half of it; a step without "
                                      "a limit: its share of what the promised limit leaves, 0 when nothing)")
    delivery: Days = Field(default_factory=lambda: Days.fixed(0), description="decision to delivery")
    supplement_share: float = Field(default=0, ge=0, le=1, description="share of cases asked for a supplement")
    supplement_days: Days = Field(default_factory=lambda: Days(min=1, mode=2, max=5),
                                  description="notice to the applicant's supplement")
    special_procedure_share: float = Field(default=0, ge=0, le=1,
                                           description="share of cases with a special procedure")
    special_procedure_days: Days | None = Field(default=None, description="default: the procedure's expected days")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="for a repeatable run")


@dataclass(frozen=True)
class Lane:
    """One sub-case of a joint item (a participating department) or bundle (a member item)."""

    key: str  # the department (joint) or the member item's code (bundle)
    department: str
    item_code: str
    item_name: str
    steps: tuple[Step, ...]
    limit: Limit | None  # the sub-case's limit (a participant's sub-limit, a member's promised limit)


@dataclass(frozen=True)
class FlowStep:
    """A step of the simulated flow: a lane's (`lane` set) or the parent's own."""

    key: str  # the profile's and `by_step`'s name: the step id, or `{lane}.{step id}`
    step: Step
    lane: str | None
    department: str
    share: int = 2  # a step without a limit: the working days it may take by default (see `unlimited_share`)


def unlimited_share(steps: tuple[Step, ...] | list[Step], limit: Limit | None) -> int:
    """The working days each step without a step limit may take by default: what the case's limit
    (the item's promised limit, a lane's sub-limit) leaves after the limited steps' limits, shared
    evenly (0 for an item decided on the spot, 即办件, promised in 0 days); 2 without a limit."""
    if limit is None:
        return 2
    free = [s for s in steps if s.limit is None]
    used = sum(to_working_days(s.limit) for s in steps if s.limit is not None)
    return max(0, to_working_days(limit) - used) // max(1, len(free))


def lanes(item: ItemDefinition, members: list[ItemDefinition] | None = None) -> list[Lane]:
    """The lanes of a joint item (its participants) or a bundle (`members`: its member items)."""
    if item.kind == ItemKind.JOINT:
        return [Lane(p.department, p.department, item.code, item.name, tuple(p.steps), p.sub_limit)
                for p in item.participants]
    if item.kind == ItemKind.BUNDLE:
        return [Lane(m.code, m.department, m.code, m.name, tuple(m.steps), m.promised_limit or m.statutory_limit)
                for m in members or []]
    return []


def flow(item: ItemDefinition, members: list[ItemDefinition] | None = None) -> list[FlowStep]:
    """Every step a simulated case passes, in order: the lanes' (they run in parallel), then the
    parent's own."""
    out = [FlowStep(f"{lane.key}.{st.id}", st, lane.key, lane.department, unlimited_share(lane.steps, lane.limit))
           for lane in lanes(item, members) for st in lane.steps]
    # the parent's own steps of a joint item or bundle follow the lanes: they share what is left of
    # the promised limit after the longest lane's limit
    longest = max((to_working_days(ln.limit) for ln in lanes(item, members) if ln.limit is not None), default=0)
    promised = item.promised_limit or item.statutory_limit
    left = Limit(value=max(0, to_working_days(promised) - longest), unit=LimitUnit.WORKING_DAYS)
    share = unlimited_share(item.steps, left)
    return out + [FlowStep(st.id, st, None, item.department, share) for st in item.steps]


def check_profile(item: ItemDefinition, profile: Profile, members: list[ItemDefinition] | None = None) -> None:
    """422 for a profile that names a step the draft does not have."""
    ids = {f.key for f in flow(item, members)}
    unknown = sorted(set(profile.steps) - ids)
    if unknown:
        raise Invalid("unknown_step", f"草稿没有这些环节：{'、'.join(unknown)}",
                      f"the draft has no step {', '.join(unknown)}", field="profile.steps")


def step_days(item: ItemDefinition, profile: Profile, step_id: str,
              members: list[ItemDefinition] | None = None) -> Days:
    if step_id in profile.steps:
        return profile.steps[step_id]
    if profile.default_step is not None:
        return profile.default_step
    f = next(f for f in flow(item, members) if f.key == step_id)
    step = f.step
    if step.limit is not None:
        top = max(1, to_working_days(step.limit))
    elif f.share == 0:  # nothing left of the case's limit (an item decided on the spot): the same day
        return Days.fixed(0)
    else:
        top = f.share
    return Days(min=1, mode=max(1, top / 2), max=top)


def allowed_days(calendar: WorkingCalendar, start: date, limit: Limit) -> int:
    """The working days a step limit allows from the day the step started (its unit honoured: a
    natural-day limit ends on a calendar day, moved to the next working day, as the plan counts it)."""
    return calendar.working_days_between(start, calendar.add_limit(start, limit.value, limit.unit))


@dataclass
class Plan:
    """What one simulated case will do: every draw made before it starts (repeatable by seed)."""

    acceptance: int
    supplement: int | None  # working days until the supplement arrives; None: no supplement
    special: tuple[int, int] | None  # (index in `flow` of the parent's step it happens in, working days)
    steps: list[int]  # working days at each step of `flow(...)`
    delivery: int


def plan_case(item: ItemDefinition, profile: Profile, rng: random.Random,
              members: list[ItemDefinition] | None = None) -> Plan:
    steps = flow(item, members)
    supplement = profile.supplement_days.draw(rng) if rng.random() < profile.supplement_share else None
    special = None
    own = [i for i, f in enumerate(steps) if f.lane is None]
    if item.special_procedures and own and rng.random() < profile.special_procedure_share:
        spec = item.special_procedures[0]
        days = profile.special_procedure_days.draw(rng) if profile.special_procedure_days else spec.expected_days
        review = [i for i in own if steps[i].step.kind == "review"] or own[:1]
        special = (rng.choice(review), days)
    return Plan(acceptance=profile.acceptance.draw(rng), supplement=supplement, special=special,
                steps=[step_days(item, profile, f.key, members).draw(rng) for f in steps],
                delivery=profile.delivery.draw(rng))


@dataclass
class Outcome:
    """What one simulated case came to (read from the workflow's own state)."""

    on_time: bool
    working_days: int
    warnings: list[str]
    step_days: list[int]  # per step of `flow(...)`
    step_overdue: set[str] = field(default_factory=set)  # keys of the steps with a `step_overdue` card
    step_over: list[int] = field(default_factory=list)  # working days past each step's limit (0: within)
    lane_days: dict[str, int] = field(default_factory=dict)  # lane -> working days, dispatch to its answer
    lane_overdue: set[str] = field(default_factory=set)  # lanes past their sub-limit (`statutory_overdue`)
    lane_warnings: dict[str, list[str]] = field(default_factory=dict)  # lane -> its sub-case's warnings


def percentile(values: list[int], p: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def figures(item: ItemDefinition, outcomes: list[Outcome], members: list[ItemDefinition] | None = None,
            names: dict[str, str] | None = None) -> dict[str, Any]:
    """The answer of a run: on-time rate, warnings by cause (the sub-cases' included), working days
    p50/p90, per step the days spent and how often it ran over its limit (`lost`: the step where
    most time is lost), and for a joint item or bundle per lane (`by_department`). `names`: the
    departments' names (code → name) for `department_name`, the code where one is missing."""
    n = len(outcomes)
    names = names or {}
    warnings = Counter(c for o in outcomes for c in o.warnings)
    total = [o.working_days for o in outcomes]
    by_step = []
    for i, f in enumerate(flow(item, members)):
        step = f.step
        spent = [o.step_days[i] for o in outcomes]
        over = sum(1 for o in outcomes if f.key in o.step_overdue)
        excess = sum(o.step_over[i] for o in outcomes) / n if step.limit is not None and n else 0.0
        by_step.append({"step_id": f.key, "name": step.name, "lane": f.lane, "department": f.department,
                        "department_name": names.get(f.department, f.department),
                        "limit_days": step.limit.value if step.limit is not None else None,
                        "limit_unit": str(step.limit.unit) if step.limit is not None else None,
                        "p50": percentile(spent, 50), "p90": percentile(spent, 90),
                        "mean": round(sum(spent) / n, 2) if n else 0.0,
                        "overdue": over, "overdue_rate": round(over / n, 4) if n else 0.0,
                        "days_over_limit": round(excess, 2), "lost": False})
    if by_step:
        worst = max(by_step, key=lambda s: (s["days_over_limit"], s["overdue"], s["mean"]))
        worst["lost"] = True
    out = {"cases": n, "on_time_rate": round(sum(o.on_time for o in outcomes) / n, 4) if n else 0.0,
           "warnings": dict(sorted(warnings.items())),
           "working_days": {"p50": percentile(total, 50), "p90": percentile(total, 90)},
           "by_step": by_step}
    if item.kind != ItemKind.SINGLE:
        out["by_department"] = [_lane_figures(lane, outcomes, names) for lane in lanes(item, members)]
    return out


def _lane_figures(lane: Lane, outcomes: list[Outcome], names: dict[str, str]) -> dict[str, Any]:
    n = len(outcomes)
    days = [o.lane_days.get(lane.key, 0) for o in outcomes]
    over = sum(1 for o in outcomes if lane.key in o.lane_overdue)
    causes = Counter(c for o in outcomes for c in o.lane_warnings.get(lane.key, []))
    return {"lane": lane.key, "department": lane.department,
            "department_name": names.get(lane.department, lane.department),
            "item_code": lane.item_code, "name": lane.item_name,
            "limit_days": lane.limit.value if lane.limit else None,
            "limit_unit": str(lane.limit.unit) if lane.limit else None,
            "p50": percentile(days, 50), "p90": percentile(days, 90),
            "mean": round(sum(days) / n, 2) if n else 0.0, "overdue": over,
            "on_time_rate": round(1 - over / n, 4) if n else 0.0, "warnings": dict(sorted(causes.items()))}
