"""An e-licence's status is sealed by its issuing department (banjian/licence_seal.py): a status
edited by hand in the read model (revoked back to valid) no longer verifies, is never reused as a
material, and `verify` names it; a real revocation verifies as revoked; licences from before the
seal are sealed at a worker's start only when their status agrees with their recorded changes."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session

from activities.licences import LicenceActivities
from api.routes.pages.oversight import _plain_findings
from banjian import licence_ops as ops
from banjian.db import session_factory
from banjian.licence_store import Licence, master_key
from tests.test_licences import REGISTRATION, approved


def sql(stack, statement: str, **params) -> None:
    with stack.engine.begin() as conn:
        conn.execute(text(statement), params)


def row_of(stack, licence_id: str) -> Licence:
    with Session(stack.engine) as session:
        row = session.get(Licence, licence_id)
        assert row is not None
        return row


async def revoked_licence(stack, people) -> tuple[dict, str]:
    holder = stack.applicant()
    case = await approved(stack, holder, REGISTRATION)
    lid = case["result"]["licence_id"]
    r = await people.staff("amr", "approver").post(f"/api/licences/{lid}/actions",
                                                   json={"action": "revoke", "comment": "以欺骗手段取得"})
    assert r.status_code == 200, r.text
    assert r.json()["status_sealed"] is True
    return case, lid


async def test_a_revoked_licence_set_back_to_valid_by_hand_does_not_verify(stack, people):
    _, lid = await revoked_licence(stack, people)
    v = (await stack.http.get(f"/api/licences/{lid}/verify")).json()
    assert (v["valid"], v["status"], v["status_sealed"]) == (False, "revoked", True)

    sql(stack, "UPDATE licences SET status = 'valid' WHERE id = :id", id=lid)
    v = (await stack.http.get(f"/api/licences/{lid}/verify")).json()
    assert v["valid"] is False and v["reason"] == "status_unsealed" and v["status_sealed"] is False
    assert v["signature_valid"] is True  # the face is intact: only the status was touched
    with Session(stack.engine) as session:  # nor is it attached to a new application in its holder's stead
        assert ops.reusable(session, row_of(stack, lid).holder_id, row_of(stack, lid).type,
                            datetime.now(UTC).date()) is None
    page = await stack.http.get(f"/licences/{lid}/verify")
    assert page.status_code == 200 and "状态记录无法核实" in page.text


async def test_status_and_its_change_record_altered_together_fail_the_case_verification(stack, people):
    case, lid = await revoked_licence(stack, people)
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    await stack.staff("amr", "clerk").ok(case["id"], "deliver", method="electronic")
    assert (await auditor.get(f"/api/cases/{case['id']}/verify")).json()["verified"] is True
    # the revocation's record edited to say 'valid', and the status with it: consistent, but not sealed so
    sql(stack, "UPDATE licence_events SET status = 'valid', action = 'reinstate' WHERE licence_id = :id", id=lid)
    sql(stack, "UPDATE licences SET status = 'valid' WHERE id = :id", id=lid)
    body = (await auditor.get(f"/api/cases/{case['id']}/verify")).json()
    assert body["verified"] is False and body["reason"] == "licence_altered"
    assert [(f["problem"], f["licence_id"]) for f in body["findings"]] == [("status_seal_invalid", lid)]
    [said] = _plain_findings(body)  # the audit page's sentence
    assert lid in said and "与发证部门的状态签章不符" in said


async def test_licences_from_before_the_seal_are_sealed_only_when_their_status_agrees(stack, people):
    _, kept = await revoked_licence(stack, people)
    _, forged = await revoked_licence(stack, people)
    sql(stack, "UPDATE licences SET status_seal = NULL WHERE id IN (:a, :b)", a=kept, b=forged)
    sql(stack, "UPDATE licences SET status = 'valid' WHERE id = :id", id=forged)  # revoked per its records
    acts = LicenceActivities(session_factory(stack.engine), master_key(stack.settings.licence_master_key), "330100")
    acts.seal_legacy()
    assert row_of(stack, kept).status_seal and not row_of(stack, forged).status_seal
    assert (await stack.http.get(f"/api/licences/{kept}/verify")).json()["status_sealed"] is True
    v = (await stack.http.get(f"/api/licences/{forged}/verify")).json()
    assert v["valid"] is False and v["reason"] == "status_unsealed"
