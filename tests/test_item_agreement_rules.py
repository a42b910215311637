"""Definition checks between sections that must agree (banjian/items/agreement_rules.py and the
joint rules): co-departments, the appointment channel and its slots, the warning notice and the
promised limit, a joint item's required participant."""
from __future__ import annotations

import re
from typing import Any

import yaml

from banjian.catalog import Catalog
from banjian.db import make_engine, session_factory
from banjian.seed import DEPARTMENTS as SEED_DEPARTMENTS
from banjian.seed import ITEM_DIR, ensure_base
from tests.test_item_definitions import DEPARTMENTS, at, codes, joint, participant, problems_of, single

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


# ---- messages name departments by name (docs/api.md "Errors"); the codes stay in the paths' fields ----
NAMES = {code: name for code, name, _ in SEED_DEPARTMENTS}


def test_problem_messages_name_departments_by_name():
    data = joint(participants=[participant("fire"), participant("fire", sub_limit=30), participant("env")])
    data["co_departments"] = ["hcd", "env", "env"]
    staff = {"fire": {"approver"}, "env": {"handler", "approver"}}
    problems = problems_of(data, known_departments=NAMES, staff=staff)
    found = {p.code: p for p in problems}
    assert {"duplicate_participant", "sub_limit_exceeds_overall", "role_without_staff", "co_department_is_lead",
            "duplicate_co_department"} <= set(found)
    for p in problems:
        assert not re.search(r"'(fire|env|hcd)'", p.message + p.message_en), p
    assert "市消防救援支队" in found["duplicate_participant"].message
    assert "市消防救援支队" in found["sub_limit_exceeds_overall"].message
    assert "市消防救援支队" in found["role_without_staff"].message and "承办人" in found["role_without_staff"].message
    assert "市住房和城乡建设局" in found["co_department_is_lead"].message
    assert "市生态环境局" in found["duplicate_co_department"].message
    assert found["duplicate_participant"].path == "participants[1].department"  # where the code is


def test_the_catalogue_names_departments_in_its_problems(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    ensure_base(engine)
    catalog = Catalog(session_factory(engine))
    assert catalog.known_departments()["fire"] == "市消防救援支队"
    data = yaml.safe_load((ITEM_DIR / "fire-safety-inspection.yaml").read_text(encoding="utf-8"))
    data.update(department="amr", co_departments=["amr"])
    _, problems = catalog.problems(data)
    by_code = {p.code: p.message for p in problems}
    assert "市市场监督管理局" in by_code["co_department_is_lead"]
    assert "市消防救援支队" in by_code["department_changed"] and "'fire'" not in by_code["department_changed"]
