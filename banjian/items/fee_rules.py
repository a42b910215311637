"""Cross-field rules of an item's fees (收费): what a fee formula may read, and what online payment needs.

* ``fee_formula_field``: a formula (`fees.items[].formula`, banjian/fees.py) reads form fields by
  name; each must be a *required* number or boolean field of the item's form. Anything else (a typo,
  a text or choice field, an optional field the applicant may leave out) cannot be computed when the
  case is approved: the case would then charge nothing online, with only a note in its history.
* ``online_payment_without_amount``: an item that takes payment online (`channels.online_payment`)
  and charges must give at least one fee item an `amount` or a `formula`; fee items with only a
  published `standard` are paid elsewhere, so such a case never waits for a payment.
"""
from __future__ import annotations

from banjian.fees import names_in
from banjian.items.problems import Collector
from banjian.items.schema import ItemDefinition

#: form field types a formula can compute with (a boolean counts 1 or 0)
NUMERIC_TYPES = {"number", "boolean"}


def check_fees(out: Collector, d: ItemDefinition) -> None:
    form = {f.name: f for f in d.form}
    for i, fee in enumerate(d.fees.items):
        if not fee.formula:
            continue
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
