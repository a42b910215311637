"""Definitions that would break cases later are refused now: a fee formula reading a field the form
does not have (or cannot compute with), online payment with nothing to charge, blank names and labels."""
from __future__ import annotations

from typing import Any

import pytest

from banjian.items.validate import validate_definition
from tests.test_item_definitions import single


def problems(data: dict[str, Any]) -> dict[str, str]:
    definition, found = validate_definition(data)
    assert (definition is None) == bool(found)
    return {p.path: p.code for p in found}


def charged(formula: str, form: list[dict[str, Any]], **channels: Any) -> dict[str, Any]:
    return single(form=form, fees={"charged": True, "items": [{"name": "工本费", "standard": "按面积", "formula": formula}]},
                  channels={"online_payment": True, **channels})


AREA = {"name": "area", "label": "面积（平方米）", "type": "number", "minimum": 1}


def test_a_formula_over_required_number_and_boolean_fields_is_accepted():
    urgent = {"name": "urgent", "label": "加急", "type": "boolean"}
    assert problems(charged("max(50, area * 2.5) + 20 * urgent", [AREA, urgent])) == {}


@pytest.mark.parametrize(("formula", "field"), [
    ("2 * aera", None),                                                          # a typo
    ("2 * area", {"name": "area", "label": "面积", "type": "text"}),             # not a number
    ("2 * area", {"name": "area", "label": "面积", "type": "choice", "choices": ["1", "2"]}),
    ("2 * area", {**AREA, "required": False}),                                   # may be left out
])
def test_a_formula_the_case_could_not_compute_is_refused(formula, field):
    found = problems(charged(formula, [field] if field else [AREA]))
    assert found == {"fees.items[0].formula": "fee_formula_field"}


def test_online_payment_needs_an_amount_or_a_formula():
    standard_only = single(fees={"charged": True, "items": [{"name": "工本费", "standard": "按实际收取"}]},
                           channels={"online_payment": True})
    assert problems(standard_only) == {"fees.items": "online_payment_without_amount"}
    paid_elsewhere = single(fees={"charged": True, "items": [{"name": "工本费", "standard": "按实际收取"}]},
                            channels={"online_payment": False})
    assert problems(paid_elsewhere) == {}


def test_blank_names_and_labels_are_refused():
    data = single(name="  ", materials=[{"name": " "}], form=[{"name": "kind", "label": "　", "type": "choice",
                                                               "choices": ["甲", " "]}],
                  special_procedures=[{"kind": "hearing", "name": " ", "expected_days": 5}])
    data["steps"][0]["name"] = "\t"
    assert problems(data) == {"name": "blank_text", "materials[0].name": "blank_text",
                              "form[0].label": "blank_text", "form[0].choices[1]": "blank_text",
                              "steps[0].name": "blank_text", "special_procedures[0].name": "blank_text"}
