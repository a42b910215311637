"""The authoring rules of `banjian.items`: every problem at once (schema and cross-field), derived
fields ignored, unknown fields named, and one test per rule added for authors (unreachable step,
role without staff, licence issuer, face data, natural-day limits the calendar cannot meet)."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import yaml

from banjian.calendar import WorkingCalendar
from banjian.items.calendar_rules import fewest_working_days
from banjian.items.schema import DERIVED_FIELDS
from banjian.items.validate import validate_definition
from tests.test_item_definitions import at, codes, joint, problems_of, single

DEFINITIONS = Path(__file__).resolve().parents[1] / "item_definitions"
STAFF = {"amr": {"clerk", "handler", "approver"}, "fire": {"handler", "approver"}, "env": {"handler"}}


def test_derived_fields_of_a_get_are_ignored():
    assert {"versions", "site_visits", "online"} <= DERIVED_FIELDS
    data = single(site_visits=3, online=False, versions=[{"version": 1, "digest": "x"}])
    definition, problems = validate_definition(data)
    assert problems == [] and definition is not None
    assert definition.channels.site_visits == 1  # the derived copy changed nothing


def test_an_unknown_field_is_unknown_field_at_its_path():
    data = single(colour="blue")
    data["channels"] = {"web": True, "fax": True}
    problems = problems_of(data)
    assert {(p.path, p.code) for p in problems} >= {("colour", "unknown_field"), ("channels.fax", "unknown_field")}


def test_schema_and_cross_field_problems_come_together():
    data = single(promised_limit={"value": 30}, colour="blue")  # promised above the statutory 20
    del data["name"]
    data["steps"][0]["role"] = "wizard"
    problems = problems_of(data)
    assert at(problems, "name")[0].code == "missing"
    assert at(problems, "colour")[0].code == "unknown_field"
    assert at(problems, "steps[0].role")[0].code == "enum"
    # the cross-field rules ran on the valid part of the definition
    assert at(problems, "promised_limit")[0].code == "promised_exceeds_statutory"
    # a rule needing the invalid field (the steps) is skipped rather than guessing
    assert "steps_empty" not in codes(problems)


def test_a_step_after_the_decide_step_is_unreachable():
    data = single()
    data["steps"].append({"id": "archive", "name": "归档", "role": "clerk"})
    problems = problems_of(data)
    assert at(problems, "steps[2]")[0].code == "unreachable_step"
    assert "decide_step_not_last" in codes(problems)


def test_a_step_role_nobody_in_the_department_holds():
    data = single()
    data["steps"][0]["role"] = "head"
    problems = problems_of(data, staff=STAFF)
    assert at(problems, "steps[0].role")[0].code == "role_without_staff"
    assert problems_of(single(), staff=STAFF) == []
    # a department without any staff yet is being set up: not judged
    assert problems_of(single(department="civil"), staff=STAFF) == []


def test_a_participant_step_role_is_judged_in_the_participant_department():
    problems = problems_of(joint(), known_departments=None, staff=STAFF)  # env has no approver
    assert [p.path for p in problems if p.code == "role_without_staff"] == ["participants[1].steps[1].role"]


def test_a_licence_type_without_an_issuer():
    data = single(result={"name": "许可证", "licence_type": "测试许可证"})
    assert at(problems_of(data), "result.licence_type")[0].code == "licence_issuer_missing"
    data["implementing_body"] = {"name": "市市场监督管理局", "credit_code": "11330100002548715U"}
    assert problems_of(data) == []
    spec = single(result={"name": "许可证", "licence_type": "测试许可证"},
                  licence={"type": "测试许可证", "issuer": {"name": "市市场监督管理局"}})
    assert at(problems_of(spec), "licence.issuer")[0].code == "licence_issuer_missing"
    spec["licence"]["issuer"]["credit_code"] = "11330100002548715U"
    assert problems_of(spec) == []


def test_licence_type_must_agree_with_the_result():
    data = single(result={"name": "许可证", "licence_type": "甲证"},
                  licence={"type": "乙证", "issuer": {"name": "局", "credit_code": "11330100002548715U"}})
    assert at(problems_of(data), "licence.type")[0].code == "licence_type_mismatch"


def test_face_data_must_come_from_an_existing_form_field():
    issuer = {"name": "局", "credit_code": "11330100002548715U"}
    face = [{"name": "holder", "label": "持证人", "source": "applicant.name"},
            {"name": "shop", "label": "经营场所", "source": "form.shop_address"},
            {"name": "kind", "label": "类别", "source": "applicant.shoe_size"}]
    data = single(result={"name": "许可证", "licence_type": "证"},
                  licence={"type": "证", "issuer": issuer, "validity": {"value": 5}, "face_data": face})
    problems = problems_of(data)
    assert at(problems, "licence.face_data[1].source")[0].code == "face_data_unknown_field"
    assert at(problems, "licence.face_data[2].source")[0].code == "face_data_unknown_source"
    data["form"].append({"name": "shop_address", "label": "经营场所"})
    data["licence"]["face_data"] = face[:2]
    assert problems_of(data) == []


def test_a_natural_day_limit_the_calendar_cannot_meet():
    cal = WorkingCalendar()
    # the Spring Festival holiday of 2026 (15–23 February): 5 natural days after 14 February hold none
    fewest, start = fewest_working_days(cal, 5, (2026,))
    assert (fewest, start) == (0, date(2026, 2, 14))
    assert not any(cal.is_working_day(date(2026, 2, 15 + i)) for i in range(5))
    # 24 September – 7 October 2026 holds 4 working days (Mid-Autumn on the 25th, then National Day)
    fewest, start = fewest_working_days(cal, 14, (2026,))
    assert (fewest, start) == (4, date(2026, 9, 23))
    assert sum(cal.is_working_day(date(2026, 9, 24) + timedelta(days=i)) for i in range(14)) == 4
    data = single()
    data["steps"][0]["limit"] = {"value": 5, "unit": "natural_days"}
    problems = problems_of(data, calendar=cal, today=date(2026, 3, 1))
    assert at(problems, "steps[0].limit")[0].code == "calendar_cannot_meet"
    # a promise of 14 natural days cannot hold review steps of 9 working days over the holidays
    long = single(promised_limit={"value": 14, "unit": "natural_days"})
    long["steps"][0]["limit"] = {"value": 9}
    problems = problems_of(long, calendar=cal, today=date(2026, 3, 1))
    assert at(problems, "promised_limit")[0].code == "calendar_cannot_meet"
    long["steps"][0]["limit"] = {"value": 3}
    assert problems_of(long, calendar=cal, today=date(2026, 3, 1)) == []


def test_every_demo_item_round_trips_through_validation():
    """What the API returns for a demo item (its definition plus derived fields) validates again to
    the same definition."""
    from api.views import item_summary

    for file in sorted(DEFINITIONS.glob("*.yaml")):
        definition, problems = validate_definition(yaml.safe_load(file.read_text(encoding="utf-8")),
                                                   known_items=None)
        assert problems == [], (file.name, problems)
        assert definition is not None
        got = {**definition.model_dump(mode="json"), **item_summary(definition),
               "versions": [{"version": definition.version, "digest": "d"}]}
        again, problems = validate_definition(got)
        assert problems == [], (file.name, problems)
        assert again == definition


def test_a_repeated_material_is_reported_beside_a_bad_form_field():
    # an invalid form field (the form's rules are skipped) does not hide the rules of the other lists
    data = single(materials=[{"name": "申请书"}, {"name": "申请书"}],
                  form=[{"name": "site", "label": "地点", "max_length": 5000}])
    data["special_procedures"] = [{"kind": "hearing", "name": "听证", "expected_days": 5},
                                  {"kind": "hearing", "name": "再次听证", "expected_days": 5}]
    problems = problems_of(data)
    assert at(problems, "form[0].max_length")[0].code == "less_than_equal"
    assert at(problems, "materials[1].name")[0].code == "duplicate_material"
    assert at(problems, "special_procedures[1].kind")[0].code == "duplicate_special_procedure"


def test_a_repeated_form_field_is_reported_beside_a_bad_material():
    data = single(form=[{"name": "site", "label": "地点"}, {"name": "site", "label": "地址"},
                        {"name": "kind", "label": "类型", "type": "choice"}])
    data["materials"] = [{"name": "申请书", "copies": 1000}]
    problems = problems_of(data)
    assert at(problems, "materials[0].copies")[0].code == "less_than_equal"
    assert at(problems, "form[1].name")[0].code == "duplicate_form_field"
    assert at(problems, "form[2].choices")[0].code == "choices_missing"


def test_an_unknown_step_role_names_the_roles_a_step_may_take():
    data = single()
    data["steps"][0]["role"] = "reviewer"
    (p,) = at(problems_of(data), "steps[0].role")
    assert p.code == "enum"
    assert "'handler'" in p.message and "'approver'" in p.message and "reviewer" in p.message
    assert "handler" in p.message_en
    # roles nobody performs a step in are not offered
    for role in ("applicant", "supervisor", "auditor", "admin", "author", "system"):
        assert role not in p.message and role not in p.message_en


def test_a_bad_fee_formula_is_said_in_chinese_and_english():
    data = single(form=[{"name": "area", "label": "面积", "type": "number"}],
                  fees={"charged": True, "items": [{"name": "审批费", "standard": "每平方米2元", "formula": "area ** 2"}]})
    (p,) = at(problems_of(data), "fees.items[0].formula")
    assert p.code == "fee_formula_invalid"
    assert "乘方" in p.message and "area ** 2" in p.message and "Value error" not in p.message
    assert "Pow is not allowed" in p.message_en and "Value error" not in p.message_en
    data["fees"]["items"][0]["formula"] = "area *"
    (p,) = at(problems_of(data), "fees.items[0].formula")
    assert p.message.startswith("收费公式不是有效的算式") and "not an expression" in p.message_en


def test_bad_appointment_times_are_said_in_chinese_and_english():
    data = single(appointments={"times": ["9:00-10:00"], "capacity": 3})
    data["channels"] = {"appointment": True}
    (p,) = at(problems_of(data), "appointments.times")
    assert p.code == "appointment_times_invalid"
    assert "HH:MM-HH:MM" in p.message and "格式不正确" in p.message and "Value error" not in p.message_en
    data["appointments"]["times"] = ["10:00-09:00"]
    (p,) = at(problems_of(data), "appointments.times")
    assert "结束时间须晚于开始时间" in p.message and "in order" in p.message_en


def test_a_boolean_is_no_number_of_days():
    # YAML's `yes` / JSON's true read as 1 day before; now the rule is named at the field
    data = single(materials=[{"name": "申请书", "copies": True}], rating_days=False)
    data["steps"][0]["limit"] = {"value": True}
    problems = problems_of(data)
    for path in ("steps[0].limit.value", "materials[0].copies", "rating_days"):
        (p,) = at(problems, path)
        assert p.code == "int_type" and p.message.startswith("应为整数") and "integer" in p.message_en
    assert problems_of(single(rating_days=0)) == []  # 0 is a number (the rating period may be none)
