"""Rules of an application form's field bounds (`FormField`): which bound fits which type, and
bounds that no value could keep.

* A bound belongs to one type: `minimum`, `maximum`, `integer` to number fields; `max_length` to
  text fields (and `id_kind`, `phone`); `earliest`, `latest` to date fields; `commitment` to boolean fields. On a field of
  another type it is ``bound_not_allowed`` at the bound's path (a label's range that nothing
  enforces is what the bounds are for; a bound that nothing enforces would be the same mistake).
* ``bounds_inverted``: `minimum` above `maximum`, or `earliest` after `latest` when both are of one
  kind (two ISO dates, or two ``today±N``; a mix is judged on the day of submission).
* ``bound_not_integer``: a whole-number field whose bounds are not whole numbers.
* ``commitment_optional``: a commitment (a box the applicant must tick) is required by nature.
* Bundles: a member's field bounds must hold in the bundle's field of the same name
  (`within_member`), else the member's sub-case would receive a value its own form refuses.
"""
from __future__ import annotations

from datetime import date

from banjian.items.problems import Collector
from banjian.items.schema import FormField, ItemDefinition

#: Each bound and the field type it belongs to.
BOUND_TYPES = {"minimum": "number", "maximum": "number", "integer": "number", "max_length": "text",
               "earliest": "date", "latest": "date", "commitment": "boolean", "id_kind": "text",
               "phone": "text"}
TYPE_ZH = {"text": "文本", "number": "数字", "date": "日期", "boolean": "是否", "choice": "选择"}


def _stated(field: FormField, bound: str) -> bool:
    value = getattr(field, bound)
    return value is not None and value is not False


def _date_order(earliest: str, latest: str) -> bool | None:
    """Whether `earliest` ≤ `latest` (None: one is a date and the other relative, not comparable)."""
    rel_a, rel_b = earliest.startswith("today"), latest.startswith("today")
    if rel_a != rel_b:
        return None
    if rel_a:
        return int(earliest[5:] or 0) <= int(latest[5:] or 0)
    return date.fromisoformat(earliest) <= date.fromisoformat(latest)


def check_form_bounds(out: Collector, d: ItemDefinition) -> None:
    for i, f in enumerate(d.form):
        here = f"form[{i}]"
        for bound, kind in BOUND_TYPES.items():
            if _stated(f, bound) and f.type != kind:
                out.add(f"{here}.{bound}", "bound_not_allowed",
                        f"字段 {f.name!r} 是{TYPE_ZH[f.type]}型（{f.type}），不能设置 {bound}（仅用于{TYPE_ZH[kind]}型字段）",
                        f"field {f.name!r} is of type {f.type!r}: {bound} applies to {kind} fields only")
        if f.type == "number":
            if f.minimum is not None and f.maximum is not None and f.minimum > f.maximum:
                out.add(f"{here}.minimum", "bounds_inverted",
                        f"字段 {f.name!r} 的下限 {f.minimum} 大于上限 {f.maximum}",
                        f"field {f.name!r} has a minimum {f.minimum} above its maximum {f.maximum}")
            for bound in ("minimum", "maximum"):
                value = getattr(f, bound)
                if f.integer and value is not None and not float(value).is_integer():
                    out.add(f"{here}.{bound}", "bound_not_integer",
                            f"整数字段 {f.name!r} 的{'下限' if bound == 'minimum' else '上限'}应为整数（实际为 {value}）",
                            f"field {f.name!r} takes whole numbers: its {bound} must be one (got {value})")
        if f.type == "date" and f.earliest and f.latest and _date_order(f.earliest, f.latest) is False:
            out.add(f"{here}.earliest", "bounds_inverted",
                    f"字段 {f.name!r} 的最早日期 {f.earliest} 晚于最晚日期 {f.latest}",
                    f"field {f.name!r} has an earliest day {f.earliest} after its latest day {f.latest}")
        if f.type == "boolean" and f.commitment and not f.required:
            out.add(f"{here}.required", "commitment_optional",
                    f"承诺事项 {f.name!r} 须勾选才能提交，不能设为非必填（required: false）",
                    f"commitment {f.name!r} must be ticked to apply: it cannot be optional (required: false)")


def within_member(mine: FormField, member: FormField) -> bool:
    """Whether every value the bundle's field `mine` accepts is one the member's `member` accepts
    (the bounds only; types and choices are compared by the bundle rules)."""
    if member.minimum is not None and (mine.minimum is None or mine.minimum < member.minimum):
        return False
    if member.maximum is not None and (mine.maximum is None or mine.maximum > member.maximum):
        return False
    if member.integer and not mine.integer:
        return False
    if member.max_length is not None and (mine.max_length is None or mine.max_length > member.max_length):
        return False
    if member.earliest is not None and (mine.earliest is None or _date_order(member.earliest, mine.earliest) is not True):
        return False
    if member.latest is not None and (mine.latest is None or _date_order(mine.latest, member.latest) is not True):
        return False
    if member.id_kind is not None and mine.id_kind != member.id_kind:
        return False
    if member.phone and not mine.phone:
        return False
    return not (member.commitment and not mine.commitment)
