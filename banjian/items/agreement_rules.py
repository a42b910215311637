"""Cross-field rules between sections that must agree: the co-implementing departments and the
implementing one, the appointment channel and its slots, the warning notice and the promised limit.

* ``co_department_is_lead``: `co_departments` names the item's own department (it implements the item
  already); ``duplicate_co_department``: a co-department listed twice (at the later occurrence).
* ``appointments_without_channel``: an `appointments` section (bookable slots) while
  `channels.appointment` is false; ``appointment_slots_missing``: `channels.appointment` true without
  an `appointments` section (the guide would promise appointments nobody can book).
* ``notice_exceeds_promised``: a `warnings.notice_days` other than the default longer than the
  promised limit (in working days, natural days counted as `problems.to_working_days` does): the
  "deadline near" notice would fall due before the case is even accepted. The default (2) is never
  reported, whether stated or not (a definition read back from the API states every field): a short
  item keeps it and simply gets no notice (docs/api.md).
"""
from __future__ import annotations

from banjian.items.problems import Collector, Namer, fmt_en, fmt_zh, to_working_days
from banjian.items.schema import ItemDefinition, WarningPolicy

#: the notice's default lead (working days): a short item keeps it and simply gets no notice
DEFAULT_NOTICE_DAYS: int = WarningPolicy.model_fields["notice_days"].default


def check_agreement(out: Collector, d: ItemDefinition, name: Namer) -> None:
    _co_departments(out, d, name)
    _appointments(out, d)
    _notice(out, d)


def _co_departments(out: Collector, d: ItemDefinition, name: Namer) -> None:
    seen: set[str] = set()
    for i, code in enumerate(d.co_departments):
        here = f"co_departments[{i}]"
        if code == d.department:
            out.add(here, "co_department_is_lead",
                    f"协办部门不能是事项的实施部门本身（{name(code)}）",
                    f"a co-department cannot be the item's own department ({name(code)})")
        elif code in seen:
            out.add(here, "duplicate_co_department", f"协办部门“{name(code)}”重复",
                    f"co-department {name(code)} is listed twice")
        seen.add(code)


def _appointments(out: Collector, d: ItemDefinition) -> None:
    if d.appointments is not None and not d.channels.appointment:
        out.add("appointments", "appointments_without_channel",
                "设置了预约时段（appointments），但未开通预约渠道：请将 channels.appointment 设为 true，或删除预约时段",
                "the item has appointment slots (appointments) but channels.appointment is false: set it to true "
                "or remove the slots")
    if d.appointments is None and d.channels.appointment:
        out.add("channels.appointment", "appointment_slots_missing",
                "开通了预约渠道（channels.appointment），但未设置预约时段（appointments）：申请人无法预约",
                "channels.appointment is true but the item has no appointment slots (appointments): nobody could book")


def _notice(out: Collector, d: ItemDefinition) -> None:
    days = d.warnings.notice_days
    if days != DEFAULT_NOTICE_DAYS and days > to_working_days(d.promised_limit):
        out.add("warnings.notice_days", "notice_exceeds_promised",
                f"临期提醒提前 {days} 个工作日，长于承诺办结时限 {fmt_zh(d.promised_limit)}：提醒会在受理前就到期",
                f"the notice comes {days} working days ahead, longer than the promised limit of "
                f"{fmt_en(d.promised_limit)}: it would fall due before the case is accepted")
