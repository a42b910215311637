"""Joint approval's texts name departments for people and keep the codes for machines: the rule
that allows only a denial, the error carried through a workflow rejection, and older histories,
whose inputs carry no names (their texts keep naming the codes, so they replay as recorded)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from banjian.contracts import Actor, Applicant, CaseInput, CaseState
from banjian.enums import Action, Channel, IdKind, Opinion, Role, Status
from banjian.errors import Conflict, DomainError, from_application_error
from banjian.items.schema import ItemDefinition
from banjian.joint_contracts import SubCaseRef
from banjian.rules import admissible
from workflows.calls import reject

JOINT = ItemDefinition.model_validate(yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "item_definitions" / "construction-permit-joint.yaml")
    .read_text(encoding="utf-8")))
APPROVER = Actor(username="hcd-approver", roles=[Role.APPROVER], department="hcd")
NOW = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)


def at_decision(names: dict[str, str]) -> CaseState:
    """The joint case at its decide step; fire (required) disagreed, env agreed."""
    subs = [SubCaseRef(id=f"c-0{n}", department=d, department_name=names.get(d), item_code=JOINT.code,
                       item_name=JOINT.name, status=Status.CONCLUDED, opinion=o)
            for n, (d, o) in enumerate((("fire", Opinion.DISAGREE), ("env", Opinion.AGREE)), start=1)]
    return CaseState(id="c", item_code=JOINT.code, item_version=JOINT.version, item_name=JOINT.name, kind="joint",
                     department="hcd", status=Status.IN_REVIEW, channel=Channel.WEB, submitted_at=NOW,
                     received_at=NOW, clock_at=NOW, step_index=1, sub_cases=subs,
                     applicant=Applicant(kind=IdKind.ORGANISATION, id_number="x", name="星河公司"))


def test_only_a_denial_names_the_departments_that_did_not_agree():
    with pytest.raises(Conflict) as caught:
        admissible(Action.APPROVE, JOINT, at_decision({"fire": "市消防救援支队", "env": "市生态环境局"}), APPROVER)
    e = caught.value
    assert e.message.endswith("以下必需部门未同意，只能作出不予许可决定：市消防救援支队") and "fire" not in e.message
    assert "did not agree (市消防救援支队 (fire))" in e.message_en
    assert e.detail()["departments"] == ["fire"] and e.detail()["code"] == "invalid_state"


def test_a_case_recorded_before_the_names_names_the_codes():
    with pytest.raises(Conflict) as caught:
        admissible(Action.APPROVE, JOINT, at_decision({}), APPROVER)
    assert caught.value.message.endswith("只能作出不予许可决定：fire")
    assert caught.value.detail()["departments"] == ["fire"]
    # an input recorded before `department_names` existed decodes with none
    recorded = CaseInput(case_id="c", item=JOINT, department="hcd", submitted_by=APPROVER,
                         applicant=Applicant(kind=IdKind.ORGANISATION, id_number="x", name="星河公司"))
    old = recorded.model_dump(mode="json")
    del old["department_names"]
    assert CaseInput.model_validate(old).department_names == {}


def test_the_codes_survive_a_workflow_rejection():
    err = Conflict("invalid_state", "…：市消防救援支队", "… (市消防救援支队 (fire))", field="action",
                   extra={"departments": ["fire"]})
    failure = reject(err)
    back = from_application_error(failure.type, list(failure.details))
    assert back is not None and back.status == 409 and back.detail() == err.detail()
    plain = reject(DomainError("x", "中文", "english", "f", status=422))
    again = from_application_error(plain.type, list(plain.details))
    assert again is not None and again.detail() == {"code": "x", "message": "中文", "message_en": "english", "field": "f"}
