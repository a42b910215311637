"""An application's form and materials, checked against the item before a case is filed
(`POST /api/cases`, the apply page through it): each value of its field's type and within the
field's bounds (banjian/form_values.py), every material one the item asks for, none twice, none
required missing."""
from __future__ import annotations

import math
from datetime import date
from typing import Any

from banjian import fees, form_values
from banjian.contracts import MaterialRef
from banjian.errors import Invalid
from banjian.items import schema
from banjian.items.schema import ItemDefinition

#: a form's numbers (areas, amounts, counts) are bounded like every number the API takes
MAX_FORM_EXPONENT = 15
MAX_FORM_NUMBER = 10.0**MAX_FORM_EXPONENT


#: a form's text field (names, addresses, descriptions): a long description is a few hundred characters
MAX_FORM_TEXT = schema.MAX_FORM_TEXT


def check_form(item: ItemDefinition, form: dict[str, Any], materials: list[dict[str, Any]],
               day: date | None = None) -> list[MaterialRef]:
    """The form (each value of its field's type, within the field's bounds on `day`, the day of
    submission) and the materials; the first problem is raised, naming its field."""
    day = day or form_values.today()
    known = {f.name: f for f in item.form}
    for name in form:
        if name not in known:
            raise Invalid("unknown_field", f"本事项的申请表没有字段 {name}", f"the form has no field {name}",
                          field=f"form.{name}")
    for f in item.form:
        value = form.get(f.name)
        if value is None or value == "":
            if f.required:
                raise Invalid("missing_required", f"缺少必填项：{f.label}", f"required field missing: {f.name}",
                              field=f"form.{f.name}")
            continue
        ok = {"text": isinstance(value, str) and len(value) <= MAX_FORM_TEXT, "number": _bounded_number(value),
              "boolean": isinstance(value, bool), "choice": value in (f.choices or []),
              "date": isinstance(value, str) and _is_date(value)}[f.type]
        if not ok:
            rule = {"text": f"不超过 {MAX_FORM_TEXT} 字的文本", "number": f"绝对值不超过 10^{MAX_FORM_EXPONENT} 的数字", "boolean": "是或否", "date": "日期（YYYY-MM-DD）",
                    "choice": "以下之一：" + "、".join(f.choices or [])}[f.type]
            raise Invalid("invalid_value", f"{f.label}应为{rule}", f"form.{f.name} must be a {f.type}"
                          + (f" ({', '.join(f.choices or [])})" if f.type == "choice" else "")
                          + (f" of at most {MAX_FORM_TEXT} characters" if f.type == "text" else "")
                          + (f" of at most 10^{MAX_FORM_EXPONENT} in size" if f.type == "number" else ""),
                          field=f"form.{f.name}")
        broken = form_values.refusal(f, value, day)
        if broken is not None:
            raise Invalid(broken.code, f"{f.label}{broken.zh}", f"form.{f.name} {broken.en}",
                          field=f"form.{f.name}")
    check_fee(item, form)
    refs: list[MaterialRef] = []
    seen: set[str] = set()
    for i, m in enumerate(materials):
        name = m.get("name")
        if item.material(name) is None:
            raise Invalid("unknown_material", f"本事项不需要材料：{name}", f"the item asks for no material {name!r}",
                          field=f"materials[{i}].name")
        if name in seen:
            raise Invalid("duplicate_material", f"材料重复：{name}", f"material given twice: {name}",
                          field=f"materials[{i}].name")
        seen.add(name)
        refs.append(MaterialRef(name=name, file_id=m.get("file_id"), licence_id=m.get("licence_id")))
    for m in item.materials:
        if m.required and m.name not in seen:
            raise Invalid("material_missing", f"缺少必需材料：{m.name}", f"required material missing: {m.name}",
                          field="materials")
    return refs


def _bounded_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return abs(value) <= MAX_FORM_NUMBER  # an int is compared exactly: no conversion that could overflow


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
        return True
    except ValueError:
        return False


def check_fee(item: ItemDefinition, form: dict[str, Any]) -> None:
    """A fee computed from this form (`fees.items[].formula`) within 0–`MAX_FEE` yuan: else 422
    `fee_out_of_range` naming the form field the formula reads, before any case exists (at
    approval the fee could not be charged)."""
    if not item.fees.charged or not any(f.formula for f in item.fees.items):
        return
    try:
        fees.total_fee(item.fees.items, form)
    except fees.FeeOutOfRange as e:
        named = [f for f in item.form if f.name in e.names]
        labels = "、".join(f.label for f in named) or "申请表"
        raise Invalid("fee_out_of_range", f"{labels}的填写使收费金额为 {e.amount} 元，超出 0 至 {fees.MAX_FEE} 元的范围，请核对",
                      f"{', '.join('form.' + f.name for f in named) or 'the form'}: the fee it gives is {e.amount} yuan, "
                      f"outside 0 to {fees.MAX_FEE} yuan", field=f"form.{named[0].name}" if named else "form") from None
    except fees.FeeError:
        return  # any other problem is said in the case's history when it is approved, as before
