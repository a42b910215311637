"""Bounds of an application form's fields: what a definition may state (`banjian/items/form_rules.py`),
and how a value is judged, described and rendered (`banjian/form_values.py`). No server here; the
API's and the apply page's refusals: tests/test_form_bounds_api.py."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from banjian import form_values as fv
from banjian.catalog import digest
from banjian.items.schema import FormField, ItemDefinition
from banjian.items.validate import validate_definition
from tests.test_item_definitions import at, bundle, codes, problems_of, single

DAY = date(2026, 12, 3)


def with_fields(*fields: dict[str, Any]) -> dict[str, Any]:
    return single(form=list(fields))


def field(**kw: Any) -> FormField:
    return FormField.model_validate({"name": "f", "label": "字段", **kw})


# ---- definitions ------------------------------------------------------------------------------
def test_bounds_that_fit_their_types_are_accepted() -> None:
    data = with_fields(
        {"name": "ratio", "label": "缴存比例（%，5—12）", "type": "number", "minimum": 5, "maximum": 12},
        {"name": "staff", "label": "从业人员数", "type": "number", "integer": True, "minimum": 1},
        {"name": "phone", "label": "联系电话", "type": "text", "max_length": 20},
        {"name": "completed", "label": "竣工日期", "type": "date", "latest": "today"},
        {"name": "visit", "label": "预约日期", "type": "date", "earliest": "today", "latest": "today+30"},
        {"name": "since", "label": "成立日期", "type": "date", "earliest": "1949-10-01", "latest": "today"},
        {"name": "declaration", "label": "本人承诺所填信息真实有效", "type": "boolean", "commitment": True},
    )
    definition, problems = validate_definition(data)
    assert problems == [] and definition is not None
    assert definition.form[0].minimum == 5 and definition.form[1].integer and definition.form[6].commitment


@pytest.mark.parametrize(("spec", "path"), [
    ({"type": "text", "minimum": 1}, "form[0].minimum"),
    ({"type": "date", "maximum": 3}, "form[0].maximum"),
    ({"type": "choice", "choices": ["甲"], "integer": True}, "form[0].integer"),
    ({"type": "number", "max_length": 10}, "form[0].max_length"),
    ({"type": "text", "earliest": "today"}, "form[0].earliest"),
    ({"type": "number", "latest": "2026-01-01"}, "form[0].latest"),
    ({"type": "text", "commitment": True}, "form[0].commitment"),
    ({"type": "number", "id_kind": "citizen"}, "form[0].id_kind"),
    ({"type": "choice", "choices": ["甲"], "phone": True}, "form[0].phone"),
])
def test_a_bound_on_a_field_of_another_type_is_refused_at_its_path(spec: dict[str, Any], path: str) -> None:
    problems = problems_of(with_fields({"name": "x", "label": "某字段", **spec}))
    found = at(problems, path)
    assert [p.code for p in found] == ["bound_not_allowed"], problems
    assert "不能设置" in found[0].message and "applies to" in found[0].message_en


def test_empty_ranges_fractional_whole_number_bounds_and_optional_commitments_are_refused() -> None:
    problems = problems_of(with_fields(
        {"name": "a", "label": "甲", "type": "number", "minimum": 12, "maximum": 5},
        {"name": "b", "label": "乙", "type": "number", "integer": True, "minimum": 0.5, "maximum": 3},
        {"name": "c", "label": "丙", "type": "date", "earliest": "today+10", "latest": "today"},
        {"name": "d", "label": "丁", "type": "date", "earliest": "2027-01-02", "latest": "2027-01-01"},
        {"name": "e", "label": "本人承诺", "type": "boolean", "commitment": True, "required": False},
    ))
    assert [p.code for p in at(problems, "form[0].minimum")] == ["bounds_inverted"]
    assert "下限 12 大于上限 5" in at(problems, "form[0].minimum")[0].message
    assert [p.code for p in at(problems, "form[1].minimum")] == ["bound_not_integer"]
    assert at(problems, "form[1].maximum") == []
    assert [p.code for p in at(problems, "form[2].earliest")] == ["bounds_inverted"]
    assert [p.code for p in at(problems, "form[3].earliest")] == ["bounds_inverted"]
    assert [p.code for p in at(problems, "form[4].required")] == ["commitment_optional"]


def test_a_relative_and_an_absolute_date_bound_are_not_compared() -> None:
    assert problems_of(with_fields({"name": "d", "label": "日期", "type": "date", "earliest": "2020-01-01",
                                    "latest": "today"})) == []


@pytest.mark.parametrize(("spec", "path", "code"), [
    ({"type": "text", "max_length": 2001}, "form[0].max_length", "less_than_equal"),
    ({"type": "text", "max_length": 0}, "form[0].max_length", "greater_than_equal"),
    ({"type": "number", "minimum": 10**16}, "form[0].minimum", "less_than_equal"),
    ({"type": "number", "maximum": True}, "form[0].maximum", "float_type"),
    ({"type": "date", "earliest": "tomorrow"}, "form[0].earliest", "string_pattern_mismatch"),
    ({"type": "date", "latest": "2026-02-30"}, "form[0].latest", "date_parsing"),
])
def test_bound_values_are_checked_by_the_schema(spec: dict[str, Any], path: str, code: str) -> None:
    problems = problems_of(with_fields({"name": "x", "label": "某字段", **spec}))
    assert [p.code for p in at(problems, path)] == [code], problems
    assert all(p.message and p.message_en for p in problems)


def test_a_bundle_field_must_be_at_least_as_strict_as_its_members() -> None:
    member = ItemDefinition.model_validate(single(form=[
        {"name": "area", "label": "面积", "type": "number", "minimum": 1},
        {"name": "declaration", "label": "本人承诺", "type": "boolean", "commitment": True}]))
    loose = bundle(form=[{"name": "area", "label": "面积", "type": "number"},
                         {"name": "declaration", "label": "本人承诺", "type": "boolean"}])
    problems = problems_of(loose, known_items={"test-item": member})
    assert [p.code for p in at(problems, "form[0]")] == ["bundle_form_field_bounds"]
    assert [p.code for p in at(problems, "form[1]")] == ["bundle_form_field_bounds"]
    strict = bundle(form=[{"name": "area", "label": "面积", "type": "number", "minimum": 2, "maximum": 9},
                          {"name": "declaration", "label": "本人承诺", "type": "boolean", "commitment": True}])
    assert "bundle_form_field_bounds" not in codes(problems_of(strict, known_items={"test-item": member}))


def test_a_bundle_phone_field_must_be_a_phone_field_when_a_members_is() -> None:
    member = ItemDefinition.model_validate(single(form=[
        {"name": "contact_phone", "label": "联系电话", "type": "text", "phone": True}]))
    loose = bundle(form=[{"name": "contact_phone", "label": "联系电话", "type": "text"}])
    problems = problems_of(loose, known_items={"test-item": member})
    assert [p.code for p in at(problems, "form[0]")] == ["bundle_form_field_bounds"]
    strict = bundle(form=[{"name": "contact_phone", "label": "联系电话", "type": "text", "phone": True}])
    assert "bundle_form_field_bounds" not in codes(problems_of(strict, known_items={"test-item": member}))


def test_a_phone_field_shows_the_dial_pad_and_takes_only_a_phone_number() -> None:
    phone = field(max_length=20, phone=True)
    assert fv.html_attrs(phone, DAY) == {"maxlength": "20", "inputmode": "tel", "autocomplete": "tel"}
    assert fv.hint(phone, DAY) == "手机或固定电话号码，如 13800000000、0571-87654321"  # not 不超过 20 字
    for good in ("13800000000", "0571-88888888", "+86 138 0000 0000", "１３８００００００００", "12345"):
        assert fv.refusal(phone, good, DAY) is None, good
    for bad in ("找店里张三", "1234", "138-0000-0000-0000-0", "13800000000转8", "-13800000000"):
        refused = fv.refusal(phone, bad, DAY)
        assert refused is not None and refused.code == "invalid_phone", bad
    assert fv.refusal(field(max_length=20), "找店里张三", DAY) is None  # a text that is not marked phone


def test_definitions_without_bounds_keep_the_digest_they_had() -> None:
    """Pinned on the code before bounds existed: a stored version's digest must not change (a
    shipped or posted definition would otherwise be refused as `version_immutable`)."""
    data = {"code": "test-item", "name": "测试事项", "department": "amr",
            "implementing_body": {"name": "市市场监督管理局"}, "legal_basis": ["x"],
            "promised_limit": {"value": 10}, "statutory_limit": {"value": 20},
            "form": [{"name": "area", "label": "面积", "type": "number"},
                     {"name": "ok", "label": "是否", "type": "boolean"}],
            "result": {"name": "许可证"}}
    before = "8667d5606997318c0bbc067472a1f7335613728ccca7968c6aee139a93027e15"
    assert digest(ItemDefinition.model_validate(data)) == before
    data["form"][0]["minimum"] = 1
    assert digest(ItemDefinition.model_validate(data)) != before


# ---- values -----------------------------------------------------------------------------------
def test_numbers_are_judged_against_their_range_and_wholeness() -> None:
    ratio = field(type="number", minimum=5, maximum=12)
    assert fv.refusal(ratio, 5, DAY) is None and fv.refusal(ratio, 12, DAY) is None
    low = fv.refusal(ratio, 4.99, DAY)
    assert low is not None and low.code == "out_of_range" and low.zh == "应在 5 至 12 之间"
    assert low.en == "must be between 5 and 12"
    assert fv.refusal(ratio, 13, DAY) is not None
    count = field(type="number", integer=True, minimum=1)
    assert fv.refusal(count, 3, DAY) is None and fv.refusal(count, 3.0, DAY) is None
    frac = fv.refusal(count, 2.5, DAY)
    assert frac is not None and frac.code == "not_integer" and frac.zh == "应为整数"
    zero = fv.refusal(count, 0, DAY)
    assert zero is not None and zero.zh == "应不小于 1" and zero.en == "must be at least 1"
    high = fv.refusal(field(type="number", maximum=0.5), 1, DAY)
    assert high is not None and high.zh == "应不大于 0.5"


def test_texts_dates_and_commitments_are_judged() -> None:
    phone = field(max_length=5)
    assert fv.refusal(phone, "12345", DAY) is None
    long = fv.refusal(phone, "123456", DAY)
    assert long is not None and long.code == "too_long" and long.zh == "不能超过 5 字"
    visit = field(type="date", earliest="today", latest="today+30")
    assert fv.refusal(visit, "2026-12-03", DAY) is None and fv.refusal(visit, "2027-01-02", DAY) is None
    early = fv.refusal(visit, "2026-12-02", DAY)
    assert early is not None and early.code == "out_of_range" and early.zh == "不能早于 2026-12-03（今天）"
    late = fv.refusal(visit, "2027-01-03", DAY)
    assert late is not None and late.en == "must not be after 2027-01-02"
    done = field(type="date", latest="today")
    assert fv.refusal(done, "2026-12-04", DAY) is not None and fv.refusal(done, "1990-01-01", DAY) is None
    pledge = field(type="boolean", commitment=True)
    assert fv.refusal(pledge, True, DAY) is None
    refused = fv.refusal(pledge, False, DAY)
    assert refused is not None and refused.code == "commitment_required"
    assert fv.refusal(field(type="boolean"), False, DAY) is None  # a yes/no question: 否 is an answer


def test_date_bounds_resolve_against_the_day_of_submission() -> None:
    assert fv.resolve("today", DAY) == DAY
    assert fv.resolve("today-365", DAY) == date(2025, 12, 3)
    assert fv.resolve("today+30", DAY) == date(2027, 1, 2)
    assert fv.resolve("2020-02-29", DAY) == date(2020, 2, 29)


def test_bounds_are_said_in_the_hint_and_set_as_html_attributes() -> None:
    ratio = field(type="number", minimum=5, maximum=12)
    assert fv.hint(ratio, DAY) == "请填写 5 至 12 之间的数字"
    assert fv.html_attrs(ratio, DAY) == {"inputmode": "decimal", "step": "any", "min": "5", "max": "12"}
    count = field(type="number", integer=True, minimum=1)
    assert fv.hint(count, DAY) == "请填写不小于 1 的整数"
    assert fv.html_attrs(count, DAY) == {"inputmode": "numeric", "step": "1", "min": "1"}
    assert fv.hint(field(type="number"), DAY) == "请填写数字"
    assert fv.hint(field(max_length=20), DAY) == "不超过 20 字"
    assert fv.html_attrs(field(max_length=20), DAY) == {"maxlength": "20"}
    assert fv.hint(field(), DAY) is None and fv.html_attrs(field(), DAY) == {}
    visit = field(type="date", earliest="today", latest="today+30")
    assert fv.hint(visit, DAY) == "可填 2026-12-03（今天） 至 2027-01-02"
    assert fv.html_attrs(visit, DAY) == {"min": "2026-12-03", "max": "2027-01-02"}
    assert fv.hint(field(type="date", latest="today"), DAY) == "不晚于 2026-12-03（今天）"
    assert fv.hint(field(type="boolean", commitment=True), DAY) == "须勾选确认后才能提交"


@pytest.mark.parametrize("spec", [
    {"type": "number", "minimum": 5, "maximum": 12}, {"type": "number", "integer": True, "minimum": 2.5, "maximum": 9},
    {"type": "number", "maximum": -3}, {"type": "text", "max_length": 1}, {"type": "date", "earliest": "today+3"},
    {"type": "date", "latest": "2020-01-01"}, {"type": "boolean", "commitment": True},
    {"type": "text", "max_length": 18, "id_kind": "citizen"}, {"type": "text", "id_kind": "organisation"},
    {"type": "text", "max_length": 20, "phone": True}, {"type": "text", "max_length": 8, "phone": True},
])
def test_a_sample_value_keeps_the_bounds(spec: dict[str, Any]) -> None:
    f = field(**spec)
    assert fv.refusal(f, fv.sample_value(f, DAY), DAY) is None


def test_an_identifier_field_is_checked_by_its_standard_check_character_included() -> None:
    """另一方公民身份号码 with a wrong last character is refused with the character it should be;
    a 统一社会信用代码 likewise; the hint says the rule, not just a length."""
    citizen = field(max_length=18, id_kind="citizen")
    assert fv.refusal(citizen, "110101199001010015", DAY) is None
    assert fv.refusal(citizen, "11010119900101001x", DAY) is not None  # …001x is not the right check char
    wrong = fv.refusal(citizen, "110101199001010010", DAY)
    assert wrong is not None and wrong.code == "invalid_citizen_id"
    assert "最后一位应为“5”" in wrong.zh and "expected '5'" in wrong.en
    short = fv.refusal(citizen, "11010119900101001", DAY)
    assert short is not None and "18位" in short.zh
    assert fv.hint(citizen, DAY) == "18 位公民身份号码，最后一位可为 X"
    assert fv.html_attrs(citizen, DAY)["autocapitalize"] == "characters"
    org = field(id_kind="organisation")
    assert fv.refusal(org, "91350100M000100Y43", DAY) is None
    bad = fv.refusal(org, "91350100M000100Y44", DAY)
    assert bad is not None and bad.code == "invalid_credit_code" and "校验码错误" in bad.zh
    assert fv.refusal(field(max_length=18), "110101199001010010", DAY) is None  # a plain text stays plain

