"""Cross-field rules of an item's fees (收费): what a fee formula may read, and what online payment needs.

* ``fee_formula_field``: a formula (`fees.items[].formula`, banjian/fees.py) reads form fields by
  name; each must be a *required* number or boolean field of the item's form. Anything else (a typo,
  a text or choice field, an optional field the applicant may leave out) cannot be computed when the
  case is approved: the case would then charge nothing online, with only a note in its history.
* ``online_payment_without_amount``: an item that takes payment online (`channels.online_payment`)
  and charges must give at least one fee item an `amount` or a `formula`; fee items with only a
  published `standard` are paid elsewhere, so such a case never waits for a payment.
* ``fee_formula_unbounded``: a number field a formula reads needs both a `minimum` and a `maximum`:
  without them an applicant's value (a typo of 10⁹ square metres, a negative count) gives a fee of
  any size or a negative one.
* ``fee_formula_out_of_range``: at the corners of those bounds (every combination of each number
  field's minimum and maximum, and of each boolean's 0 and 1), the formula stays within 0 to
  `fees.MAX_FEE` yuan (100,000,000) and computes (no division by zero). A formula that is not
  monotonic may still leave the range inside the bounds: the submission is checked too
  (`applications.check_fee`, 422 `fee_out_of_range`).
"""
from __future__ import annotations

import itertools

from banjian.fees import MAX_FEE, FeeError, FeeOutOfRange, evaluate, names_in
from banjian.items.problems import Collector
from banjian.items.schema import ItemDefinition

#: form field types a formula can compute with (a boolean counts 1 or 0)
NUMERIC_TYPES = {"number", "boolean"}


#: the most fields whose corners are tried (2^10 evaluations); a formula reading more is checked on
#: the first ten (in name order) at their corners and the rest at their minimum
MAX_CORNER_FIELDS = 10


def _check_bounds(out: Collector, d: ItemDefinition, i: int, formula: str) -> None:
    """``fee_formula_unbounded`` / ``fee_formula_out_of_range`` of one formula whose fields are all
    required number or boolean fields of the form."""
    fields = {f.name: f for f in d.form}
    read = sorted(names_in(formula))
    here, fee_name = f"fees.items[{i}].formula", d.fees.items[i].name
    open_ended = [n for n in read if fields[n].type == "number" and (fields[n].minimum is None or fields[n].maximum is None)]
    for name in open_ended:
        out.add(here, "fee_formula_unbounded",
                f"收费项目 {fee_name!r} 的计算公式使用了字段 {name!r}（{fields[name].label}），该字段须设置最小值 minimum "
                f"和最大值 maximum，否则申请人填写的数值可能使收费金额为负数或超过 {MAX_FEE} 元",
                f"the formula of fee item {fee_name!r} reads the number field {name!r}: give it a minimum and a "
                f"maximum, else an applicant's value can make the fee negative or above {MAX_FEE} yuan")
    if open_ended:
        return

    def corners(name: str) -> tuple[float, ...]:
        f = fields[name]
        return (0, 1) if f.type == "boolean" else (f.minimum, f.maximum)  # type: ignore[return-value]

    tried, rest = read[:MAX_CORNER_FIELDS], read[MAX_CORNER_FIELDS:]
    fixed = {n: corners(n)[0] for n in rest}
    for combo in itertools.product(*(corners(n) for n in tried)):
        values = {**fixed, **dict(zip(tried, combo, strict=True))}
        try:
            evaluate(formula, values)
        except FeeOutOfRange as e:
            shown = "，".join(f"{n} = {v:g}" for n, v in values.items())
            out.add(here, "fee_formula_out_of_range",
                    f"收费项目 {fee_name!r} 的计算公式在 {shown} 时得出 {e.amount} 元，收费金额应在 0 至 {MAX_FEE} 元之间；"
                    "请修改公式或收紧字段的取值范围",
                    f"the formula of fee item {fee_name!r} gives {e.amount} yuan at {', '.join(f'{n} = {v:g}' for n, v in values.items())}: "
                    f"a fee must be between 0 and {MAX_FEE} yuan; change the formula or narrow the fields' bounds")
            return
        except FeeError as e:
            shown = "，".join(f"{n} = {v:g}" for n, v in values.items())
            out.add(here, "fee_formula_out_of_range",
                    f"收费项目 {fee_name!r} 的计算公式在 {shown} 时无法计算（如除以 0）",
                    f"the formula of fee item {fee_name!r} cannot be computed at "
                    f"{', '.join(f'{n} = {v:g}' for n, v in values.items())}: {e}")
            return


def check_fees(out: Collector, d: ItemDefinition) -> None:
    form = {f.name: f for f in d.form}
    for i, fee in enumerate(d.fees.items):
        if not fee.formula:
            continue
        readable = all(n in form and form[n].type in NUMERIC_TYPES and form[n].required for n in names_in(fee.formula))
        if readable:
            _check_bounds(out, d, i, fee.formula)
        for name in sorted(names_in(fee.formula)):
            field = form.get(name)
            if field is None:
                why_zh, why_en = "表单中没有该字段", "the form has no such field"
            elif field.type not in NUMERIC_TYPES:
                why_zh, why_en = f"该字段是{field.type}型，公式只能使用数字型或是否型字段", \
                    f"it is a {field.type} field; a formula reads number and boolean fields only"
            elif not field.required:
                why_zh, why_en = "该字段非必填，申请人未填写时无法计算收费金额", \
                    "it is optional: the fee cannot be computed when the applicant leaves it out"
            else:
                continue
            out.add(f"fees.items[{i}].formula", "fee_formula_field",
                    f"收费项目 {fee.name!r} 的计算公式引用了字段 {name!r}：{why_zh}",
                    f"the formula of fee item {fee.name!r} reads the field {name!r}: {why_en}")
    if d.fees.charged and d.channels.online_payment and d.fees.items \
            and not any(f.amount is not None or f.formula for f in d.fees.items):
        out.add("fees.items", "online_payment_without_amount",
                "支持网上缴费的收费事项须至少为一个收费项目填写金额（amount）或计算公式（formula）",
                "an item that takes payment online must give at least one fee item an amount or a formula")
