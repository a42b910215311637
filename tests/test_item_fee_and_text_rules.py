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


AREA = {"name": "area", "label": "面积（平方米）", "type": "number", "minimum": 1, "maximum": 100000}


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


def test_names_texts_and_lists_have_bounds():
    """A whole document pasted into a material's name, or thousands of materials, is refused with the
    path and the bound, not stored for every applicant's form to carry."""
    data = single(name="事" * 201, materials=[{"name": f"材料{i}"} for i in range(201)],
                  legal_basis=["《某法》" + "条" * 4000])
    data["steps"][0]["name"] = "审" * 200  # at the bound: accepted
    found = validate_definition(data)[1]
    assert {p.path: p.code for p in found} == {"name": "text_too_long", "materials": "too_many_entries",
                                               "legal_basis[0]": "text_too_long"}
    by_path = {p.path: p for p in found}
    assert "200" in by_path["name"].message and "201" in by_path["name"].message
    assert by_path["materials"].message_en == "must have at most 200 entries (has 201)"
    assert "4000" in by_path["legal_basis[0]"].message


@pytest.mark.parametrize("hidden", ["\u202e", "\x00", "\x1b", "\u200b", "\ufeff", "\u2066"])
def test_invisible_control_characters_are_refused_where_they_are(hidden):
    data = single(materials=[{"name": "身份证明", "note": f"原件{hidden}复印件"}])
    data["steps"][0]["name"] = f"初审{hidden}"
    found = validate_definition(data)[1]
    assert {p.path: p.code for p in found} == {"materials[0].note": "control_character",
                                               "steps[0].name": "control_character"}
    assert f"U+{ord(hidden):04X}" in found[0].message and f"U+{ord(hidden):04X}" in found[0].message_en


def test_tabs_newlines_and_right_to_left_marks_pass():
    data = single(materials=[{"name": "身份证明", "note": "第一行\n第二行\t（原件）"}],
                  legal_basis=["《法》\r\n第一条", "\u0645\u0631\u062d\u0628\u0627\u200f"])
    assert problems(data) == {}
