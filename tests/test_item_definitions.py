"""Tests of item definitions: the shipped YAML files and the rules of `banjian.items.validate`.

Convention under test: promised > statutory is reported at ``promised_limit`` (the statutory
limit comes from law; the promised one is the department's choice).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from banjian.enums import ItemKind
from banjian.ids import validate_credit_code
from banjian.items.schema import ItemDefinition
from banjian.items.validate import (
    Problem,
    load_definition_file,
    load_directory,
    to_working_days,
    validate_definition,
)

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "item_definitions"
DEPARTMENTS = {"amr", "nrp", "psb", "civil", "hpf", "hcd", "fire", "env", "ndrc", "gov"}

EXPECTED_ITEMS = {
    "food-business-licence": ("amr", ItemKind.SINGLE),
    "individual-business-registration": ("amr", ItemKind.SINGLE),
    "construction-planning-permit": ("nrp", ItemKind.SINGLE),
    "driving-licence-replacement": ("psb", ItemKind.SINGLE),
    "marriage-registration-appointment": ("civil", ItemKind.SINGLE),
    "housing-fund-deposit-registration": ("hpf", ItemKind.SINGLE),
    "fire-safety-inspection": ("fire", ItemKind.SINGLE),
    "construction-permit-joint": ("hcd", ItemKind.JOINT),
    "completion-acceptance-joint": ("hcd", ItemKind.JOINT),
    "open-restaurant-bundle": ("gov", ItemKind.BUNDLE),
}


# --- helpers -------------------------------------------------------------------------------------


def single(**changes: Any) -> dict[str, Any]:
    """A minimal valid single item, with top-level `changes` applied."""
    data: dict[str, Any] = {
        "code": "test-item",
        "name": "测试事项",
        "department": "amr",
        "implementing_body": {"name": "市市场监督管理局"},
        "legal_basis": ["《中华人民共和国行政许可法》第四十二条"],
        "promised_limit": {"value": 10},
        "statutory_limit": {"value": 20},
        "steps": [
            {"id": "review", "name": "审查", "role": "handler", "limit": {"value": 5}},
            {"id": "decide", "name": "决定", "role": "approver", "kind": "decide"},
        ],
        "materials": [{"name": "申请书"}, {"name": "身份证明"}],
        "form": [{"name": "applicant_name", "label": "申请人姓名"}],
        "result": {"name": "许可证"},
    }
    data.update(copy.deepcopy(changes))
    return data


def participant(department: str, sub_limit: int = 10) -> dict[str, Any]:
    return {
        "department": department,
        "sub_limit": {"value": sub_limit},
        "steps": [
            {"id": "review", "name": "审查", "role": "handler"},
            {"id": "decide", "name": "出具意见", "role": "approver", "kind": "decide"},
        ],
    }


def joint(**changes: Any) -> dict[str, Any]:
    data = single(
        code="test-joint",
        kind="joint",
        department="hcd",
        statutory_limit={"value": 45},
        promised_limit={"value": 20},
        steps=[],
        participants=[participant("fire"), participant("env")],
    )
    data.update(copy.deepcopy(changes))
    return data


def bundle(**changes: Any) -> dict[str, Any]:
    data = single(
        code="test-bundle",
        kind="bundle",
        department="gov",
        steps=[],
        members=["test-item", "test-item-b"],
        materials=[{"name": "申请书"}, {"name": "身份证明"}],
    )
    data.update(copy.deepcopy(changes))
    return data


def problems_of(data: dict[str, Any], **kwargs: Any) -> list[Problem]:
    definition, problems = validate_definition(data, **kwargs)
    assert (definition is None) == bool(problems)
    return problems


def at(problems: list[Problem], path: str) -> list[Problem]:
    return [p for p in problems if p.path == path]


def codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


@pytest.fixture(scope="module")
def shipped() -> tuple[list[ItemDefinition], dict[str, list[Problem]]]:
    return load_directory(DEFINITIONS, known_departments=DEPARTMENTS)


# --- shipped definitions ------------------------------------------------------------------------


def test_every_shipped_definition_validates(
    shipped: tuple[list[ItemDefinition], dict[str, list[Problem]]],
) -> None:
    definitions, problems = shipped
    assert problems == {}, "\n".join(f"{f}: {p}" for f, ps in problems.items() for p in ps)
    files = sorted(DEFINITIONS.glob("*.yaml"))
    assert len(definitions) == len(files)
    for f in files:
        assert yaml.safe_load(f.read_text(encoding="utf-8"))["code"] == f.stem, "file name = item code"


def test_shipped_catalogue(shipped: tuple[list[ItemDefinition], dict[str, list[Problem]]]) -> None:
    by_code = {d.code: d for d in shipped[0]}
    assert {c: (d.department, d.kind) for c, d in by_code.items()} == EXPECTED_ITEMS
    singles = [d for d in by_code.values() if d.kind == ItemKind.SINGLE]
    assert len({d.department for d in singles}) >= 4
    # some item has a form with a choice field and a date field
    assert any({"choice", "date"} <= {f.type for f in d.form} for d in singles)
    assert {p.kind for p in by_code["construction-planning-permit"].special_procedures} >= {
        "expert_review",
        "hearing",
    }
    assert "site_inspection" in {p.kind for p in by_code["food-business-licence"].special_procedures}
    assert by_code["driving-licence-replacement"].channels.fully_online
    assert by_code["driving-licence-replacement"].channels.site_visits == 0
    for d in by_code.values():
        assert d.implementing_body.credit_code is not None
        assert validate_credit_code(d.implementing_body.credit_code) == d.implementing_body.credit_code
        for m in d.materials:
            assert m.required or m.condition, f"{d.code}: conditional material {m.name} needs its condition"


def test_shipped_bundle_asks_each_material_once(
    shipped: tuple[list[ItemDefinition], dict[str, list[Problem]]],
) -> None:
    by_code = {d.code: d for d in shipped[0]}
    restaurant = by_code["open-restaurant-bundle"]
    names = {m.name for m in restaurant.materials}
    fields = {f.name for f in restaurant.form}
    for code in restaurant.members:
        member = by_code[code]
        assert {m.name for m in member.materials} <= names
        assert {f.name for f in member.form} <= fields
        assert to_working_days(restaurant.statutory_limit) >= to_working_days(member.statutory_limit)


def test_no_shipped_item_links_two_materials_to_one_licence_type(
    shipped: tuple[list[ItemDefinition], dict[str, list[Problem]]],
) -> None:
    """An e-licence stands in for a material of the applicant's own (电子证照免提交): the marriage
    appointment's 另一方居民身份证 linked to 居民身份证 would be filled with the applicant's own card,
    and a missing one was explained as "您名下没有有效的“居民身份证”电子证照"."""
    for d in shipped[0]:
        linked = [m.licence_type for m in d.materials if m.licence_type]
        assert len(linked) == len(set(linked)), (d.code, linked)


# --- schema problems (pydantic) -----------------------------------------------------------------


def test_missing_required_fields_are_all_reported() -> None:
    problems = problems_of({})
    missing = {p.path for p in problems if p.code == "missing"}
    assert missing == {
        "code",
        "name",
        "department",
        "implementing_body",
        "legal_basis",
        "promised_limit",
        "statutory_limit",
        "result",
    }
    assert all(p.message and p.message_en for p in problems)
    assert at(problems, "code")[0].message == "缺少必填字段"


def test_extra_unknown_field_reports_its_path() -> None:
    data = single(colour="red")
    data["steps"][0]["colour"] = "blue"
    problems = problems_of(data)
    assert {p.path for p in problems if p.code == "unknown_field"} == {"colour", "steps[0].colour"}


def test_nested_schema_errors_have_indexed_paths_and_translations() -> None:
    data = single(type=1)
    data["steps"][1]["role"] = "nobody"
    data["steps"][0]["limit"] = {"value": -1}
    data["form"][0]["name"] = "Bad Name"
    problems = problems_of(data)
    role = at(problems, "steps[1].role")
    assert [p.code for p in role] == ["enum"]
    assert role[0].message.startswith("取值无效") and "approver" in role[0].message
    assert [p.code for p in at(problems, "steps[0].limit.value")] == ["greater_than_equal"]
    assert at(problems, "steps[0].limit.value")[0].message == "不能小于 0（实际为 -1）"
    assert [p.code for p in at(problems, "form[0].name")] == ["string_pattern_mismatch"]
    assert [p.code for p in at(problems, "type")] == ["literal_error"]


# --- cross-field rules ----------------------------------------------------------------------------


def test_valid_minimal_single_item() -> None:
    definition, problems = validate_definition(single(), known_departments=DEPARTMENTS)
    assert problems == []
    assert definition is not None and definition.code == "test-item"


def test_promised_over_statutory_is_reported_at_promised_limit() -> None:
    problems = problems_of(single(promised_limit={"value": 25}))
    assert [p.code for p in at(problems, "promised_limit")] == ["promised_exceeds_statutory"]
    assert "25" in at(problems, "promised_limit")[0].message


def test_promised_over_statutory_with_mixed_units() -> None:
    # 30 natural days ≈ 30 * 5 // 7 = 21 working days > 20
    over = problems_of(single(promised_limit={"value": 30, "unit": "natural_days"}))
    assert "promised_exceeds_statutory" in codes(at(over, "promised_limit"))
    # 28 natural days ≈ 20 working days: not over
    assert problems_of(single(promised_limit={"value": 28, "unit": "natural_days"})) == []
    # statutory 14 natural days ≈ 10 working days; promised 11 working days is over
    mixed = problems_of(
        single(statutory_limit={"value": 14, "unit": "natural_days"}, promised_limit={"value": 11})
    )
    assert "promised_exceeds_statutory" in codes(mixed)


def test_limits_have_upper_bounds_by_unit() -> None:
    """A limit past any real item's (a deadline decades out, an integer no database column holds) is a
    problem at its value's path; the bound is three years in either unit (`schema.MAX_LIMIT`)."""
    huge = problems_of(single(statutory_limit={"value": 10**30, "unit": "working_days"}))
    assert [(p.path, p.code) for p in huge] == [("statutory_limit.value", "less_than_equal")]
    assert at(huge, "statutory_limit.value")[0].message_en.startswith("must be less than or equal to 750")
    assert problems_of(single(promised_limit={"value": 700}, statutory_limit={"value": 750})) == []
    assert codes(problems_of(single(statutory_limit={"value": 751}))) == {"less_than_equal"}
    natural = single(statutory_limit={"value": 1096, "unit": "natural_days"})
    assert problems_of(natural) == []
    natural["statutory_limit"]["value"] = 1097
    assert [p.path for p in problems_of(natural)] == ["statutory_limit.value"]
    # every limit of a definition has the bound, wherever it is
    data = single(acceptance_limit={"value": 10**6}, pre_review={"limit": {"value": 800}},
                  payment_limit={"value": 2000, "unit": "natural_days"})
    data["steps"][0]["limit"] = {"value": 751}
    assert {p.path for p in problems_of(data)} == {
        "acceptance_limit.value", "pre_review.limit.value", "payment_limit.value", "steps[0].limit.value"}
    sub = joint()
    sub["participants"][1]["sub_limit"] = {"value": 10**30}
    assert [p.path for p in problems_of(sub)] == ["participants[1].sub_limit.value"]
    # within the bounds, promised > statutory is still the rule
    over = problems_of(single(promised_limit={"value": 700}, statutory_limit={"value": 600}))
    assert [(p.path, p.code) for p in over] == [("promised_limit", "promised_exceeds_statutory")]


@pytest.mark.parametrize(
    ("changes", "path", "bound"),
    [
        ({"version": 10**20}, "version", 1_000_000),
        ({"rating_days": 366}, "rating_days", 365),
        ({"rectification_days": 61}, "rectification_days", 60),
        ({"warnings": {"notice_days": 61}}, "warnings.notice_days", 60),
        ({"channels": {"site_visits": 11, "site_visit_reason": "核验"}}, "channels.site_visits", 10),
        ({"materials": [{"name": "申请书", "copies": 101}]}, "materials[0].copies", 100),
        ({"special_procedures": [{"kind": "expert_review", "name": "专家评审", "expected_days": 366}]},
         "special_procedures[0].expected_days", 365),
        ({"fees": {"charged": True, "items": [{"name": "工本费", "standard": "按件", "amount": 1e300}]}},
         "fees.items[0].amount", 100_000_000),
    ],
)
def test_every_number_of_a_definition_has_an_upper_bound(changes: dict[str, Any], path: str, bound: int) -> None:
    problems = problems_of(single(**changes))
    assert [(p.path, p.code) for p in problems] == [(path, "less_than_equal")]
    assert f"不能大于 {bound}" in problems[0].message


def test_code_is_at_most_64_characters_as_on_every_read() -> None:
    assert problems_of(single(code="a" * 64)) == []
    problems = problems_of(single(code="a" * 5000))
    assert [(p.path, p.code) for p in problems] == [("code", "string_too_long")]
    assert "64" in problems[0].message and "64" in problems[0].message_en


def test_case_type_and_promised_limit() -> None:
    assert "immediate_promised_nonzero" in codes(problems_of(single(case_type="immediate")))
    assert "promised_limit_zero" in codes(problems_of(single(promised_limit={"value": 0})))
    immediate = single(case_type="immediate", promised_limit={"value": 0})
    immediate["steps"][0].pop("limit")
    assert problems_of(immediate) == []


def test_fully_online_with_site_visits_is_reported() -> None:
    problems = problems_of(
        single(channels={"fully_online": True, "site_visits": 1, "site_visit_reason": "领证"})
    )
    assert [p.code for p in at(problems, "channels.site_visits")] == ["fully_online_site_visits"]


def test_site_visits_need_a_reason() -> None:
    problems = problems_of(single(channels={"site_visits": 1}))
    assert [p.code for p in at(problems, "channels.site_visit_reason")] == ["site_visit_reason_missing"]


def test_fees() -> None:
    assert [p.path for p in problems_of(single(fees={"charged": True}))] == ["fees.items"]
    extra = single(fees={"charged": False, "items": [{"name": "工本费", "standard": "10元"}]})
    assert codes(problems_of(extra)) == {"fee_items_unexpected"}


def test_unknown_department_is_reported_at_department() -> None:
    problems = problems_of(
        single(department="tax", co_departments=["fire", "nope"]), known_departments=DEPARTMENTS
    )
    assert [p.code for p in at(problems, "department")] == ["unknown_department"]
    assert [p.code for p in at(problems, "co_departments[1]")] == ["unknown_department"]
    # without a department set the codes are not checked
    assert problems_of(single(department="tax")) == []


def test_flow_shape_rules() -> None:
    data = single(
        steps=[
            {"id": "decide", "name": "决定", "role": "handler", "kind": "decide"},
            {"id": "review", "name": "审查", "role": "applicant"},
            {"id": "review", "name": "复审", "role": "handler", "limit": {"value": 11}},
        ]
    )
    problems = problems_of(data)
    assert "decide_step_not_last" in codes(at(problems, "steps[0].kind"))
    assert "decide_role" in codes(at(problems, "steps[0].role"))
    assert "review_role" in codes(at(problems, "steps[1].role"))
    assert "duplicate_step_id" in codes(at(problems, "steps[2].id"))
    assert "step_limit_exceeds" in codes(at(problems, "steps[2].limit"))
    assert codes(problems_of(single(steps=[]))) == {"steps_empty"}
    no_decide = single(steps=[{"id": "review", "name": "审查", "role": "handler"}])
    assert codes(problems_of(no_decide)) == {"decide_step_missing"}


def test_every_cross_field_problem_is_reported_not_just_the_first() -> None:
    data = single(
        promised_limit={"value": 30},
        channels={"fully_online": True, "site_visits": 2},
        fees={"charged": True},
        effective_from="2025-01-01",
        effective_to="2024-01-01",
        legal_basis=["  "],
        materials=[{"name": "申请书"}, {"name": "申请书"}],
        form=[
            {"name": "kind", "label": "类型", "type": "choice"},
            {"name": "kind", "label": "类型", "type": "text", "choices": ["a"]},
        ],
    )
    problems = problems_of(data)
    assert {
        "promised_exceeds_statutory",
        "fully_online_site_visits",
        "site_visit_reason_missing",
        "fee_items_missing",
        "effective_range",
        "empty_legal_basis",
        "duplicate_material",
        "duplicate_form_field",
        "choices_missing",
        "choices_not_allowed",
    } <= codes(problems)
    assert at(problems, "form[0].choices")[0].code == "choices_missing"
    assert at(problems, "form[1].choices")[0].code == "choices_not_allowed"


def test_credit_code_of_implementing_body_is_checked() -> None:
    problems = problems_of(
        single(implementing_body={"name": "市市场监督管理局", "credit_code": "11330100002548715A"})
    )
    assert [p.code for p in at(problems, "implementing_body.credit_code")] == ["invalid_credit_code"]


# --- joint items -----------------------------------------------------------------------------------


def test_valid_minimal_joint_item() -> None:
    assert problems_of(joint(), known_departments=DEPARTMENTS) == []
    # the lead department may itself be a participant
    lead_too = joint(participants=[participant("hcd"), participant("fire")])
    assert problems_of(lead_too, known_departments=DEPARTMENTS) == []


def test_joint_sub_limit_over_the_overall_limit() -> None:
    problems = problems_of(joint(participants=[participant("fire"), participant("env", sub_limit=25)]))
    found = at(problems, "participants[1].sub_limit")
    assert [p.code for p in found] == ["sub_limit_exceeds_overall"]
    assert "sub-limit exceeds the overall limit" in found[0].message_en


def test_joint_rules() -> None:
    dup = problems_of(joint(participants=[participant("fire"), participant("fire")]))
    assert [p.code for p in at(dup, "participants[1].department")] == ["duplicate_participant"]
    assert "too_few_participants" in codes(problems_of(joint(participants=[participant("fire")])))
    assert "joint_statutory_exceeds_max" in codes(
        at(problems_of(joint(statutory_limit={"value": 46})), "statutory_limit")
    )
    bad = participant("env")
    bad["steps"] = [bad["steps"][1], bad["steps"][0]]
    assert "decide_step_not_last" in codes(
        at(problems_of(joint(participants=[participant("fire"), bad])), "participants[1].steps[0].kind")
    )
    unknown = problems_of(
        joint(participants=[participant("fire"), participant("tax")]), known_departments=DEPARTMENTS
    )
    assert [p.code for p in at(unknown, "participants[1].department")] == ["unknown_department"]


def test_single_item_must_not_have_participants_or_members() -> None:
    problems = problems_of(single(participants=[participant("fire")], members=["x"]))
    assert codes(problems) == {"participants_not_allowed", "members_not_allowed"}


# --- bundles -----------------------------------------------------------------------------------------


def known_single() -> dict[str, ItemDefinition]:
    """The two single items `bundle()` names as its members."""
    known = {}
    for code in ("test-item", "test-item-b"):
        definition, problems = validate_definition(single(code=code))
        assert definition is not None, problems
        known[code] = definition
    return known


def test_valid_minimal_bundle() -> None:
    assert problems_of(bundle(), known_items=known_single()) == []


def test_bundle_member_unknown_is_reported() -> None:
    problems = problems_of(bundle(members=["test-item", "no-such-item"]), known_items=known_single())
    assert [p.code for p in at(problems, "members[1]")] == ["unknown_member"]


def test_bundle_rules() -> None:
    known = known_single()
    assert codes(problems_of(bundle(members=[]))) == {"members_empty"}
    dup = problems_of(bundle(members=["test-item", "test-item"]), known_items=known)
    assert [p.code for p in at(dup, "members[1]")] == ["duplicate_member"]
    missing = problems_of(bundle(materials=[{"name": "申请书"}]), known_items=known)
    assert {p.code for p in at(missing, "materials")} == {"bundle_material_missing"}  # once per member
    assert "身份证明" in at(missing, "materials")[0].message
    short = problems_of(bundle(statutory_limit={"value": 15}), known_items=known)
    assert "bundle_statutory_below_member" in codes(at(short, "statutory_limit"))
    inner, _ = validate_definition(bundle(), known_items=known)
    assert inner is not None
    nested = problems_of(
        bundle(code="outer", members=["test-bundle"]), known_items={**known, "test-bundle": inner}
    )
    assert [p.code for p in at(nested, "members[0]")] == ["member_not_single"]


# --- files -------------------------------------------------------------------------------------------


def test_yaml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("code: broken\nname: 坏文件\nsteps:\n  - id: review\n   name: [unclosed\n", encoding="utf-8")
    definition, problems = load_definition_file(f)
    assert definition is None
    assert len(problems) == 1
    assert problems[0].path == "" and problems[0].code == "yaml_syntax"
    assert "第 5 行" in problems[0].message and "line 5" in problems[0].message_en


def test_yaml_document_must_be_a_mapping(tmp_path: Path) -> None:
    f = tmp_path / "list.yaml"
    f.write_text("- a\n- b\n", encoding="utf-8")
    assert [p.code for p in load_definition_file(f)[1]] == ["not_a_mapping"]


def test_load_directory_loads_bundles_after_singles(tmp_path: Path) -> None:
    # the bundle's file name sorts first, yet its member is known when it is checked
    (tmp_path / "a-bundle.yaml").write_text(yaml.safe_dump(bundle(), allow_unicode=True), encoding="utf-8")
    (tmp_path / "b-single.yaml").write_text(yaml.safe_dump(single(), allow_unicode=True), encoding="utf-8")
    (tmp_path / "c-copy.yaml").write_text(yaml.safe_dump(single(), allow_unicode=True), encoding="utf-8")
    (tmp_path / "d-broken.yaml").write_text("code: [\n", encoding="utf-8")
    (tmp_path / "e-single.yaml").write_text(yaml.safe_dump(single(code="test-item-b"), allow_unicode=True),
                                            encoding="utf-8")
    definitions, problems = load_directory(tmp_path, known_departments=DEPARTMENTS)
    assert [d.code for d in definitions] == ["test-item", "test-item-b", "test-bundle"]
    assert set(problems) == {"c-copy.yaml", "d-broken.yaml"}
    assert problems["c-copy.yaml"][0].code == "duplicate_code"
    assert problems["d-broken.yaml"][0].code == "yaml_syntax"


def test_a_joint_item_is_extended_by_fifteen_working_days_unless_it_says_otherwise():
    """Domain: a single item +10 working days, joint (centralised) handling 45 +15."""
    assert ItemDefinition.model_validate(single()).extension_limit.value == 10
    assert ItemDefinition.model_validate(joint()).extension_limit.value == 15
    assert ItemDefinition.model_validate(joint(extension_limit={"value": 12})).extension_limit.value == 12
    as_stored = ItemDefinition.model_validate(joint()).model_dump(mode="json")
    assert ItemDefinition.model_validate(as_stored).extension_limit.value == 15


def test_an_item_booked_as_a_window_slot_asks_the_visit_day_only_in_the_booking(
    shipped: tuple[list[ItemDefinition], dict[str, list[Problem]]],
) -> None:
    """The marriage appointment's visit is its booking (预约日期, 预约时段 of the slot): its form asks
    neither again (version 1 asked both, and nothing tied the typed day to the booked one)."""
    booked = [d for d in shipped[0] if d.appointments is not None]
    assert "marriage-registration-appointment" in {d.code for d in booked}
    for d in booked:
        asked = [f.label for f in d.form if f.type == "date" or any(w in f.label for w in ("日期", "时段", "时间"))]
        assert not asked, (d.code, asked)
