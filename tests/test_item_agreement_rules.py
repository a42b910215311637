"""Definition checks between sections that must agree (banjian/items/agreement_rules.py and the
joint rules): co-departments, the appointment channel and its slots, the warning notice and the
promised limit, a joint item's required participant."""
from __future__ import annotations

from typing import Any

from tests.test_item_definitions import DEPARTMENTS, at, codes, joint, problems_of, single

ONE_DAY_STEPS = [{"id": "decide", "name": "决定", "role": "approver", "kind": "decide"}]
SLOTS = {"times": ["09:00-10:00"], "capacity": 5}


def code_at(problems: list, path: str) -> list[str]:
    return [p.code for p in at(problems, path)]


def test_co_departments_may_not_name_the_item_own_department_or_repeat():
    problems = problems_of(single(co_departments=["fire", "amr", "fire", "env"]), known_departments=DEPARTMENTS)
    assert code_at(problems, "co_departments[1]") == ["co_department_is_lead"]
    assert code_at(problems, "co_departments[2]") == ["duplicate_co_department"]
    assert at(problems, "co_departments[0]") == [] and at(problems, "co_departments[3]") == []
    assert problems_of(single(co_departments=["fire", "env"]), known_departments=DEPARTMENTS) == []


def test_appointment_slots_and_the_appointment_channel_go_together():
    def channels(**over: Any) -> dict[str, Any]:
        return {"window": True, "web": True, "site_visits": 1, "site_visit_reason": "核验原件", **over}

    no_channel = problems_of(single(appointments=SLOTS, channels=channels(appointment=False)))
    assert code_at(no_channel, "appointments") == ["appointments_without_channel"]
    assert code_at(problems_of(single(appointments=SLOTS)), "appointments") == ["appointments_without_channel"]
    no_slots = problems_of(single(channels=channels(appointment=True)))
    assert code_at(no_slots, "channels.appointment") == ["appointment_slots_missing"]
    assert problems_of(single(appointments=SLOTS, channels=channels(appointment=True))) == []


def test_a_notice_longer_than_the_promised_limit():
    short = problems_of(single(promised_limit={"value": 5}, warnings={"notice_days": 6}))
    assert code_at(short, "warnings.notice_days") == ["notice_exceeds_promised"]
    assert "5 个工作日" in short[0].message
    assert problems_of(single(promised_limit={"value": 5}, warnings={"notice_days": 5})) == []
    # the default notice on a short item is no problem, stated or not (a definition read back from the
    # API states it): that item simply gets no notice
    one_day = {"promised_limit": {"value": 1}, "steps": ONE_DAY_STEPS}
    assert problems_of(single(**one_day)) == []
    assert problems_of(single(**one_day, warnings={"notice_days": 2})) == []
    assert codes(problems_of(single(**one_day, warnings={"notice_days": 3}))) == {"notice_exceeds_promised"}


def test_a_joint_item_needs_a_required_participant():
    data = joint()
    for part in data["participants"]:
        part["required"] = False
    assert code_at(problems_of(data), "participants") == ["no_required_participant"]
    data["participants"][1]["required"] = True
    assert problems_of(data) == []
