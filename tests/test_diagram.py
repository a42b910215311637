"""The flow diagram matches the flow: an item that charges waits for its payment between approval and
delivery; a special procedure may start at any step under review, not only at the first."""
from __future__ import annotations

import re
from pathlib import Path

from api.diagram import item_diagram, item_graph
from banjian.items.schema import ItemDefinition
from banjian.items.validate import load_definition_file

DEFINITIONS = Path(__file__).resolve().parents[1] / "item_definitions"


def item(code: str) -> ItemDefinition:
    definition, problems = load_definition_file(DEFINITIONS / f"{code}.yaml")
    assert definition is not None, problems
    return definition


def edges(source: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^\s*(\w+) -> (\w+)", source, re.M))


def test_an_item_that_charges_waits_for_the_payment_before_delivery():
    fee = item("driving-licence-replacement")
    assert fee.fees.charged
    dot = item_graph(fee).source
    decide = f"step_{fee.decide_step().id}"
    assert {(decide, "payment"), ("payment", "deliver"), ("payment", "payment_expired")} <= edges(dot)
    assert (decide, "deliver") not in edges(dot)
    assert "网上缴费" in dot and "时限 15 个自然日" in dot
    assert "网上缴费" in item_diagram(fee).decode()
    # an item that charges nothing goes from the decision to delivery
    free = item("food-business-licence")
    assert (f"step_{free.decide_step().id}", "deliver") in edges(item_graph(free).source)
    assert "payment" not in item_graph(free).source


def test_a_special_procedure_hangs_off_every_step_under_review():
    food = item("food-business-licence")
    assert food.special_procedures and len(food.steps) > 2
    dot = item_graph(food).source
    cluster = dot[dot.index("subgraph cluster_review"):]
    cluster = cluster[:cluster.index("}")]
    for step in food.steps:  # every step, the decision included, is inside the phase
        assert f"step_{step.id} [" in cluster
    sp = f"special_{food.special_procedures[0].kind}"
    assert re.search(rf"step_\w+ -> {sp} \[[^]]*ltail=cluster_review", dot)
    assert re.search(rf"{sp} -> step_\w+ \[[^]]*lhead=cluster_review", dot)
    assert "审查期间" in item_diagram(food).decode()
