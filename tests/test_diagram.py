"""The flow diagram matches the flow: an item that charges waits for its payment between approval and
delivery; a special procedure may start at any step under review, not only at the first."""
from __future__ import annotations

import re
from pathlib import Path

from api.diagram import item_diagram, item_graph
from banjian.items.schema import ItemDefinition, Limit, PreReviewPolicy
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


def test_the_optional_pre_review_comes_before_formal_receipt():
    food = item("food-business-licence")
    dot = item_graph(food).source
    assert {("apply", "pre_review"), ("pre_review", "apply"), ("pre_review", "accept"), ("apply", "accept")} \
        <= edges(dot)
    assert "网上预审" in dot and "时限 2 个工作日" in dot and "申请人确认正式提交" in dot  # the default policy
    formal = food.model_copy(update={"pre_review": PreReviewPolicy(limit=Limit(value=3), formal_on_pass=True)})
    dot = item_graph(formal).source
    assert "时限 3 个工作日" in dot and "即正式收件" in dot and "申请人确认正式提交" not in dot


def test_a_bundle_names_its_members_and_a_window_fee_waits_for_nothing():
    bundle = item("open-restaurant-bundle")
    names = {"food-business-licence": "食品经营许可", "fire-safety-inspection": "公众聚集场所投入使用、营业前消防安全检查"}
    svg = item_diagram(bundle, {}, None, names).decode()
    assert "食品经营许可" in svg and "营业前消防安全检查" in svg
    assert ">food-business-licence<" not in svg  # the code names the node only, never its label
    fee = item("driving-licence-replacement")
    at_window = fee.model_copy(update={"channels": fee.channels.model_copy(update={"online_payment": False})})
    dot = item_graph(at_window).source
    assert "payment" not in edges_text(dot) and "网上缴费" not in dot and "窗口缴纳" in dot
    assert (f"step_{fee.decide_step().id}", "deliver") in edges(dot)


def edges_text(source: str) -> str:
    return " ".join(" ".join(e) for e in edges(source))
