"""Fee formulas (收费): a small safe evaluator over form fields, never `eval`."""
from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from banjian.fees import FeeError, evaluate, total_fee
from banjian.items.schema import FeeItem


@pytest.mark.parametrize(("formula", "form", "fee"), [
    ("10 * copies", {"copies": 3}, "30.00"),
    ("max(50, area * 2.5)", {"area": 10}, "50.00"),
    ("max(50, area * 2.5)", {"area": 100.1}, "250.25"),
    ("20 if urgent else 10", {"urgent": True}, "20.00"),
    ("20 if urgent else 10", {"urgent": False}, "10.00"),
    ("ceil(pages / 10) * 1.5", {"pages": 21}, "4.50"),
    ("round(area * 0.333, 2) + 0.005", {"area": 3}, "1.01"),  # half-up to the fen
    ("(area > 100 and 200) or 100", {"area": 150}, "200.00"),
])
def test_fee_formula_cases(formula, form, fee):
    assert evaluate(formula, form) == Decimal(fee)


@pytest.mark.parametrize("formula", [
    "__import__('os').system('true')", "copies.__class__", "copies[0]", "'a' * 3", "2 ** 10000",
    "copies; 1", "lambda: 1", "[x for x in range(9)]", "open('/etc/passwd')", "True",
])
def test_formulas_outside_the_grammar_are_refused(formula):
    with pytest.raises(FeeError):
        evaluate(formula, {"copies": 1})
    with pytest.raises(ValidationError):
        FeeItem(name="费", standard="x", formula=formula)


@pytest.mark.parametrize(("formula", "form"), [
    ("10 * copies", {}),  # missing field
    ("10 * copies", {"copies": "3"}),  # not a number
    ("1 / copies", {"copies": 0}),  # division by zero
    ("0 - copies", {"copies": 5}),  # negative
    ("copies * 1e300", {"copies": 1e10}),  # beyond the bound
])
def test_fees_that_cannot_be_computed_are_refused(formula, form):
    with pytest.raises(FeeError):
        evaluate(formula, form)


def test_total_adds_fixed_and_computed_items():
    items = [FeeItem(name="工本费", standard="10元/本", amount=10), FeeItem(name="加急费", standard="按件",
                                                                          formula="5 * copies")]
    assert total_fee(items, {"copies": 2}) == Decimal("20.00")
