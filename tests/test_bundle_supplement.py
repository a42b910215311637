"""A supplement inside a bundle (一件事, design 9) and the race of a department asking just after the lead
unit's notice went out (the "late" path), end to end through the API on the time-skipping server."""
from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile

from tests.test_joint import BUNDLE, CONSTRUCTION, actions, answer, open_joint, staff, subs_by_department

FIRE_PLAN = "场所平面布置图及消防设施平面图"
FOOD_RULES = "保证食品安全的规章制度"
ENV_REPORT = "建设项目环境影响报告表"
FIRE_DESIGN = "特殊建设工程消防设计文件"


async def open_bundle(stack):
    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    assert r.status_code == 201, r.text
    case = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    assert case["status"] == "in_review" and case["current_step"] is None
    return applicant, case


def by_item(case: dict) -> dict[str, dict]:
    return {s["item_code"]: s for s in case["sub_cases"]}


async def test_bundle_supplement_one_member_approves_meanwhile_licences_follow(stack):
    applicant, case = await open_bundle(stack)
    cid = case["id"]
    members = by_item(case)
    fire_id = members["fire-safety-inspection"]["id"]
    food_id = members["food-business-licence"]["id"]
    reg = members["individual-business-registration"]

    # fire asks; the business registration approves meanwhile (its licence is its own decision)
    await staff(stack, "fire", "handler").ok(fire_id, "ask_supplement", "平面图未标注疏散通道", missing=[FIRE_PLAN])
    reg_done = await answer(stack, reg["id"], "amr")
    assert reg_done["result"]["licence_id"], reg_done["result"]
    parent = await staff(stack, "gov", "lead").ok(cid, "notify_supplement", "请一次性补正", missing=[FOOD_RULES])
    assert parent["status"] == "supplement_requested" and parent["missing_materials"] == [FIRE_PLAN, FOOD_RULES]
    seen = await applicant.case(cid)
    assert seen["missing_materials"] == [FIRE_PLAN, FOOD_RULES]
    # the applicant's 我的办件 shows it waiting for them
    r = await applicant.get("/api/cases")
    assert {c["id"]: c["status"] for c in r.json()["items"]}[cid] == "supplement_requested"

    parent = await applicant.ok(cid, "submit_supplement", materials=[FIRE_PLAN, FOOD_RULES])
    assert parent["status"] == "in_review" and parent["clock"]["paused"] is False
    # each open member receives the materials of its own item; the concluded one is left alone
    fire = await staff(stack, "fire", "handler").case(fire_id)
    assert fire["status"] in ("accepted", "in_review") and fire["supplement_ask"] is None
    assert {m["name"]: m["version"] for m in fire["materials"]}[FIRE_PLAN] == 2
    food = await staff(stack, "amr", "handler").case(food_id)
    assert {m["name"]: m["version"] for m in food["materials"]}[FOOD_RULES] == 2
    assert FIRE_PLAN not in {m["name"] for m in food["materials"]}
    assert parent["joint_supplement"]["answered_at"]
    sent = [h for h in parent["history"] if h["action"] == "submit_supplement"]
    assert sorted(sent[-1]["data"]["forwarded_to"]) == sorted([fire_id, food_id]), sent

    await asyncio.gather(answer(stack, fire_id, "fire"), answer(stack, food_id, "amr"))
    parent = await applicant.case(cid)
    assert parent["status"] == "decided" and parent["result"]["decision"] == "approved", parent["result"]
    licences = {s["item_code"]: s["licence_id"] for s in parent["sub_cases"]}
    assert licences["individual-business-registration"] and licences["food-business-licence"], licences

    # the auditor: every record verifies and replays, and the archive holds each department's licence
    await staff(stack, "gov", "clerk").ok(cid, "deliver", method="electronic")
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    for case_id in [cid, fire_id, food_id, reg["id"]]:
        assert (await auditor.get(f"/api/cases/{case_id}/verify")).json()["verified"] is True, case_id
        assert (await auditor.get(f"/api/cases/{case_id}/replay")).json()["verified"] is True, case_id
    r = await auditor.get(f"/api/cases/{cid}/archive")
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    result = json.loads(z.read("result.json"))
    # the bundle issued no licence of its own: none is named as its licence; its members' are listed
    assert result["licence_id"] is None and result["licence"] is None, result
    assert {(x["case_id"], x["licence_id"]) for x in result["licences"]} == {
        (reg["id"], licences["individual-business-registration"]), (food_id, licences["food-business-licence"])}
    for sub_id, lid in ((reg["id"], licences["individual-business-registration"]),
                        (food_id, licences["food-business-licence"])):
        signed = json.loads(z.read(f"sub-cases/{sub_id}/licence.json"))
        assert signed["id"] == lid and signed["signature"], signed
    assert "licence.json" not in z.namelist() and f"sub-cases/{fire_id}/licence.json" not in z.namelist()


async def test_a_request_after_the_notice_is_recorded_late_and_answered_with_the_rest(stack):
    """Two departments ask at nearly the same moment as the lead unit's notice: whichever the joint case
    hears after its notice is `supplement_asked_late`; the applicant's one answer puts it back to work."""
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    await staff(stack, "fire", "handler").ok(subs["fire"]["id"], "ask_supplement", "缺消防设计文件",
                                             missing=[FIRE_DESIGN])
    lead = staff(stack, "hcd", "lead")
    env = staff(stack, "env", "handler")
    await lead.token(), await env.token()
    notice, late = await asyncio.gather(
        lead.act(cid, "notify_supplement", "请一次性补正"),
        env.act(subs["env"]["id"], "ask_supplement", "环评报告表缺失", missing=[ENV_REPORT]))
    assert notice.status_code == 200, notice.text
    parent = await lead.case(cid)
    js = parent["joint_supplement"]
    if late.status_code == 409:  # the sub-case heard of the notice first: refused, nothing changed
        env_case = await env.case(subs["env"]["id"])
        assert env_case["supplement_notified"] and env_case["supplement_ask"] is None
        return
    assert late.status_code == 200, late.text
    env_side = "late" if [a["department"] for a in js["late"]] == ["env"] else "asks"
    if env_side == "asks":  # it reached the joint case before the notice: part of the notice
        assert ENV_REPORT in parent["missing_materials"]
        return
    # the late path: recorded, not in the notice, answered with the rest
    assert [h["data"]["department"] for h in parent["history"] if h["action"] == "supplement_asked_late"] == ["env"]
    assert ENV_REPORT not in parent["missing_materials"]
    parent = await applicant.ok(cid, "submit_supplement", materials=parent["missing_materials"])
    env_case = await env.case(subs["env"]["id"])
    assert env_case["status"] in ("accepted", "in_review") and env_case["supplement_ask"] is None
    assert env_case["clock"]["paused"] is False
    assert "supplement_received" in actions(env_case)


async def test_a_material_named_twice_is_refused_and_changes_nothing(stack):
    """The one notice names each material once: a request or a notice naming one twice is a 422 naming
    the field and the material, and the case stays as it was."""
    applicant, case = await open_bundle(stack)
    cid = case["id"]
    fire_id = by_item(case)["fire-safety-inspection"]["id"]
    fire = staff(stack, "fire", "handler")
    r = await fire.act(fire_id, "ask_supplement", "缺", missing=[FIRE_PLAN, FIRE_PLAN])
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert (detail["code"], detail["field"]) == ("duplicate_material", "data.missing") and FIRE_PLAN in detail["message"]
    assert (await fire.case(fire_id))["status"] == "accepted"
    await fire.ok(fire_id, "ask_supplement", "缺", missing=[FIRE_PLAN])
    lead = staff(stack, "gov", "lead")
    r = await lead.act(cid, "notify_supplement", "告知", missing=[FOOD_RULES, FOOD_RULES])
    assert r.status_code == 422 and r.json()["detail"]["code"] == "duplicate_material", r.text
    assert (await lead.case(cid))["status"] == "in_review"
    parent = await lead.ok(cid, "notify_supplement", "告知", missing=[FOOD_RULES])
    assert parent["missing_materials"] == [FIRE_PLAN, FOOD_RULES]
    # the applicant's answer names the item's materials only: an unknown one is a 422, nothing is added
    r = await applicant.act(cid, "submit_supplement", materials=["不存在的材料", FIRE_PLAN, FOOD_RULES])
    assert r.status_code == 422, r.text
    assert (r.json()["detail"]["code"], r.json()["detail"]["field"]) == ("unknown_material", "data.materials")
    parent = await applicant.case(cid)
    assert parent["status"] == "supplement_requested" and "不存在的材料" not in {m["name"] for m in parent["materials"]}
