"""An author's mistakes caught where they are made: duplicate form labels, a one-member bundle, a
copied item's implementation code, fee formulas of any size, YAML errors said in Chinese, step
limits adding up past the promised limit (advice), and an item's effective dates."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from banjian.applications import check_fee, check_form
from banjian.errors import Conflict, Invalid
from banjian.fees import FeeOutOfRange, total_fee
from banjian.item_effective import check_effective, effective_note
from banjian.items.limit_advice import limit_advice
from banjian.items.schema import FeeItem, ItemDefinition
from banjian.items.validate import load_definition_file, validate_definition
from banjian.items.yaml_text import DefinitionTextError, parse_definition_text
from tests.test_item_definitions import at, bundle, codes, known_single, participant, problems_of, single


def test_two_form_fields_with_one_label_are_refused_at_the_later():
    form = [{"name": "area", "label": "面积"}, {"name": "phone", "label": "联系电话"},
            {"name": "area2", "label": " 面积： "}]
    (p,) = at(problems_of(single(form=form)), "form[2].label")
    assert p.code == "duplicate_form_label"
    assert "面积" in p.message and "'area'" in p.message and "label" in p.message_en
    assert problems_of(single(form=form[:2])) == []


def test_a_bundle_needs_two_different_members():
    known = known_single()
    (p,) = at(problems_of(bundle(members=["test-item"]), known_items=known), "members")
    assert p.code == "members_too_few" and "两个" in p.message and "two" in p.message_en
    assert "members_too_few" in codes(problems_of(bundle(members=["test-item", "test-item"]), known_items=known))
    assert problems_of(bundle(), known_items=known) == []


def test_a_copy_may_not_keep_the_implementation_code_of_another_item():
    original = ItemDefinition.model_validate(single(implementation_code="11330100002548715U400011701200001"))
    copy = single(code="test-copy", implementation_code=original.implementation_code)
    (p,) = at(problems_of(copy, known_items={original.code: original}), "implementation_code")
    assert p.code == "duplicate_implementation_code" and "test-item" in p.message and "实施编码" in p.message
    # a new version of the same item keeps its own code; a copy with a code of its own or none passes
    assert problems_of(single(implementation_code=original.implementation_code), known_items={"test-item": original}) == []
    assert problems_of(single(code="test-copy"), known_items={"test-item": original}) == []


def charged(formula: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return single(form=list(fields), channels={"online_payment": True},
                  fees={"charged": True, "items": [{"name": "工本费", "standard": "按面积", "formula": formula}]})


AREA = {"name": "area", "label": "面积（平方米）", "type": "number", "minimum": 1, "maximum": 1000}


@pytest.mark.parametrize(("formula", "field", "code"), [
    ("area * 2", {**AREA, "maximum": None}, "fee_formula_unbounded"),      # 10^15 m² typed by mistake
    ("area * 2", {**AREA, "minimum": None}, "fee_formula_unbounded"),      # a negative area
    ("area * 1000000", AREA, "fee_formula_out_of_range"),                 # 10^9 yuan at the maximum
    ("500 - area", AREA, "fee_formula_out_of_range"),                     # negative at the maximum
    ("100 / (area - 1)", AREA, "fee_formula_out_of_range"),              # division by zero at the minimum
])
def test_a_fee_formula_must_stay_within_its_bounds(formula, field, code):
    (p,) = at(problems_of(charged(formula, {k: v for k, v in field.items() if v is not None})),
              "fees.items[0].formula")
    assert p.code == code and "工本费" in p.message


def test_a_bounded_formula_passes_and_an_applicants_value_is_checked_on_submission():
    assert problems_of(charged("max(50, area * 2.5)", AREA)) == []
    item = ItemDefinition.model_validate(charged("max(50, area * 2.5) - 60", {**AREA, "minimum": 0}))
    with pytest.raises(Invalid) as e:
        check_fee(item, {"area": 1})  # 50 - 60 = -10 yuan
    assert (e.value.code, e.value.field) == ("fee_out_of_range", "form.area")
    assert "面积（平方米）" in e.value.message and "-10.00" in e.value.message and "form.area" in e.value.message_en
    check_fee(item, {"area": 100})  # 190 yuan
    with pytest.raises(Invalid) as filed:  # what POST /api/cases checks before a case exists
        check_form(item, {"area": 1}, [])
    assert filed.value.code == "fee_out_of_range"


def test_the_total_of_many_fee_items_is_bounded_too():
    items = [FeeItem(name=f"费{i}", standard="x", formula="area * 100000") for i in range(3)]
    assert total_fee(items[:1], {"area": 1000}) == Decimal("100000000.00")
    with pytest.raises(FeeOutOfRange):
        total_fee(items, {"area": 1000})


@pytest.mark.parametrize(("text", "zh", "where"), [
    ("code: x\nname: a: b\n", "冒号", "第 2 行第 8 列"),
    ("code: x\nsteps:\n\t- id: a\n", "制表符", "第 3 行第 1 列"),
    ("code: x\nlegal_basis: [a, b\n", "方括号", "第 3 行第 1 列"),
    ("code: x\nname: \"测试\n", "引号未闭合", "第 3 行第 1 列"),
    ("code: x\nname: @a\n", "加引号", "第 2 行第 7 列"),
])
def test_yaml_errors_are_said_in_chinese_with_line_and_column(text, zh, where, tmp_path: Path):
    with pytest.raises(DefinitionTextError) as e:
        parse_definition_text(text, as_yaml=True)
    assert zh in e.value.zh and where in e.value.zh
    assert not any(word in e.value.zh for word in ("mapping", "found", "expected", "while"))  # no PyYAML English
    assert "line" in str(e.value) and "column" in str(e.value)
    f = tmp_path / "item.yaml"  # `banjian items validate` says the same
    f.write_text(text, encoding="utf-8")
    (p,) = load_definition_file(f)[1]
    assert p.code == "yaml_syntax" and zh in p.message and where in p.message


def test_step_limits_adding_up_past_the_promised_limit_are_advice_not_a_problem():
    data = single()
    data["steps"][0]["limit"] = {"value": 8}
    data["steps"][1]["limit"] = {"value": 5}
    definition, problems = validate_definition(data)
    assert problems == [] and definition is not None  # lawful: each step limit is within the promised one
    (advice,) = limit_advice(definition)
    assert (advice.path, advice.code) == ("steps", "step_limits_exceed_promised")
    assert "13" in advice.message and "10" in advice.message and "承诺办结时限" in advice.message
    assert limit_advice(ItemDefinition.model_validate(single())) == []


def test_a_joint_items_lanes_and_own_steps_are_judged_against_their_limits():
    lane = participant("fire", sub_limit=10)
    lane["steps"][0]["limit"] = {"value": 8}
    lane["steps"][1]["limit"] = {"value": 4}
    data = single(code="test-joint", kind="joint", department="hcd", statutory_limit={"value": 45},
                  promised_limit={"value": 20}, participants=[lane, participant("env", sub_limit=15)],
                  steps=[{"id": "decide", "name": "出具结果", "role": "approver", "kind": "decide",
                          "limit": {"value": 6}}])
    found = {(a.path, a.code) for a in limit_advice(ItemDefinition.model_validate(data))}
    assert found == {("participants[0].steps", "step_limits_exceed_promised"),  # 12 > 10
                     ("steps", "step_limits_exceed_promised")}                   # 15 + 6 > 20


def test_an_item_takes_applications_only_between_its_effective_dates():
    item = ItemDefinition.model_validate(single(effective_from="2027-01-01", effective_to="2027-07-01"))
    with pytest.raises(Conflict) as early:
        check_effective(item, date(2026, 12, 31))
    assert (early.value.code, early.value.field) == ("item_not_effective", "item_code")
    assert "2027年1月1日起生效" in early.value.message and "2027-01-01" in early.value.message_en
    check_effective(item, date(2027, 1, 1))
    check_effective(item, date(2027, 6, 30))
    with pytest.raises(Conflict) as late:
        check_effective(item, date(2027, 7, 1), member_of="bundle")
    assert late.value.code == "member_not_effective" and "已于2027年7月1日失效" in late.value.message
    assert effective_note(ItemDefinition.model_validate(single()), date(2026, 12, 4)) is None
