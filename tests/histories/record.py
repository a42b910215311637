"""Record the replay fixtures: run real cases through the whole system in process (the `stack` of
tests/conftest.py) and export each case workflow's history as JSON (`history.to_json()`, the
format the Temporal CLI and Web UI also export; written compact). The scenarios also serve
tests/test_audit.py to make live cases.

    cd /work/main && .venv/bin/python -m tests.histories.record            # every scenario
    .venv/bin/python -m tests.histories.record approved_electronic         # some
    .venv/bin/python -m tests.histories.record --prefix v2. approved_electronic   # as new fixtures
    .venv/bin/python -m tests.histories.record --prefix enc. approved_electronic  # encrypted ones

Payloads are recorded as the system stores them: encrypted with the SM4 codec under the tests'
key ring (`TEST_PAYLOAD_KEYS`); the fixtures recorded before encryption (no `enc.` prefix) hold
plain payloads and must keep replaying through the same codec.

tests/test_audit.py replays every `*.json` here against the current workflow code, so a change
that breaks running cases fails CI. Rule (docs/workflow-versioning.md): once a release has run
cases in production, never re-record an existing fixture to make a failing replay pass — guard the
change with `workflow.patched(...)` instead; add new fixtures for new behaviour.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FOOD = "food-business-licence"


async def _through_review(stack, dept: str, case: dict) -> dict:
    while case["current_step"] and case["current_step"]["kind"] == "review":
        case = await stack.staff(dept, case["current_step"]["role"]).ok(case["id"], "pass", "审核通过")
    return case


async def approved_electronic(stack, applicant=None) -> dict:
    """Apply, accept, every review step, approve, electronic delivery (concluded; awaiting a rating)."""
    applicant = applicant or stack.applicant()
    case = (await applicant.apply(FOOD)).json()
    clerk = stack.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "accept", "材料齐全，予以受理")
    case = await _through_review(stack, "amr", case)
    case = await stack.staff("amr", "approver").ok(case["id"], "approve", "符合条件，准予许可")
    return await clerk.ok(case["id"], "deliver", method="electronic")


async def rated(stack, applicant=None) -> dict:
    """Concluded and rated by the applicant: the workflow completes."""
    applicant = applicant or stack.applicant()
    case = (await applicant.apply(FOOD)).json()
    clerk = stack.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "accept")
    case = await _through_review(stack, "amr", case)
    case = await stack.staff("amr", "approver").ok(case["id"], "approve")
    case = await clerk.ok(case["id"], "deliver", method="courier", tracking_no="SF1234567890")
    r = await applicant.act(case["id"], "confirm_receipt")
    case = r.json() if r.status_code == 200 else await clerk.ok(case["id"], "confirm_receipt")
    return await applicant.ok(case["id"], "rate", level=5)


async def deemed_acceptance(stack, applicant=None) -> dict:
    """Nobody decides on acceptance: deemed accepted by the timer, red card, then warnings as the
    promised deadline nears and passes; then decided and delivered."""
    applicant = applicant or stack.applicant()
    case = (await applicant.apply(FOOD)).json()
    case = await stack.advance(case["id"], 10)
    case = await stack.advance(case["id"], 12)
    case = await _through_review(stack, "amr", case)
    case = await stack.staff("amr", "approver").ok(case["id"], "deny", "经现场核查不符合条件")
    return await stack.staff("amr", "clerk").ok(case["id"], "deliver", method="window")


async def supplement_then_refused(stack, applicant=None) -> dict:
    """One supplement notice, the supplement, then acceptance refused (the workflow completes)."""
    applicant = applicant or stack.applicant()
    case = (await applicant.apply(FOOD)).json()
    clerk = stack.staff("amr", "clerk")
    missing = case["materials"][1]["name"]
    case = await clerk.ok(case["id"], "request_supplement", "请补正材料", missing=[missing])
    case = await applicant.ok(case["id"], "submit_supplement", materials=[missing])
    return await clerk.ok(case["id"], "refuse_acceptance", "不属于本机关职权范围，请向县级部门申请")


async def special_procedure_extension(stack, applicant=None) -> dict:
    """A site inspection, an extension approved by the agency head, then a decision."""
    applicant = applicant or stack.applicant()
    case = (await applicant.apply(FOOD)).json()
    case = await stack.staff("amr", "clerk").ok(case["id"], "accept")
    handler = stack.staff("amr", "handler")
    case = await handler.ok(case["id"], "start_special_procedure", kind="site_inspection")
    case = await handler.ok(case["id"], "end_special_procedure", "现场核查合格")
    case = await handler.ok(case["id"], "request_extension", "需进一步核实设备资料")
    case = await stack.staff("amr", "head").ok(case["id"], "approve_extension")
    case = await _through_review(stack, "amr", case)
    return await stack.staff("amr", "approver").ok(case["id"], "approve")


async def joint_construction_permit(stack, applicant=None) -> dict:
    """A joint case: accepted once, four departments' sub-cases (child workflows), unified result."""
    applicant = applicant or stack.applicant(organisation=True)
    case = (await applicant.apply("construction-permit-joint")).json()
    clerk = stack.staff("hcd", "clerk")
    case = await clerk.ok(case["id"], "accept")
    for sub in case["sub_cases"]:
        dept = sub["department"]
        sc = await _through_review(stack, dept, await stack.staff(dept, "handler").case(sub["id"]))
        await stack.staff(dept, sc["current_step"]["role"]).ok(sub["id"], "approve", "同意")
    case = await stack.staff("hcd", "lead").ok(case["id"], "pass")
    case = await stack.staff("hcd", "approver").ok(case["id"], "approve")
    return await clerk.ok(case["id"], "deliver", method="electronic")


async def new_item(stack) -> tuple[str, Any, dict]:
    """A fresh copy of the food licence as version 1: its code, an admin user, the definition."""
    import uuid

    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    base = (await admin.get(f"/api/items/{FOOD}")).json()
    code = f"t-mig-{uuid.uuid4().hex[:6]}"
    # without the implementation code, which names the food licence alone
    base = {**{k: v for k, v in base.items() if k not in ("version", "versions", "implementation_code")}, "code": code}
    r = await admin.post("/api/items", json={**base, "version": 1})
    assert r.status_code == 201, r.text
    return code, admin, base


async def publish_without_review(admin, base: dict) -> None:
    """Version 2 of `new_item`'s item: its first review step dropped, `verify` given 4 days."""
    steps = [({**s, "limit": {"value": 4, "unit": "working_days"}} if s["id"] == "verify" else s)
             for s in base["steps"] if s["id"] != "review"]
    r = await admin.post("/api/items", json={**base, "version": 2, "steps": steps})
    assert r.status_code == 201, r.text


async def version_migrated(stack, applicant=None) -> dict:
    """A case in review (at `verify`) moved from version 1 to version 2 of its item, then decided on
    version 2 and delivered."""
    applicant = applicant or stack.applicant()
    code, admin, base = await new_item(stack)
    case = (await applicant.apply(code)).json()
    case = await stack.staff("amr", "clerk").ok(case["id"], "accept", "材料齐全，予以受理")
    case = await stack.staff("amr", "handler").ok(case["id"], "pass", "审查通过")
    await publish_without_review(admin, base)
    r = await admin.post(f"/api/items/{code}/migrations", json={"from_version": 1, "to_version": 2})
    assert r.status_code == 200 and r.json()["movable"] == [case["id"]], r.text
    case = await _through_review(stack, "amr", await admin.case(case["id"]))
    case = await stack.staff("amr", "approver").ok(case["id"], "approve", "符合条件，准予许可")
    return await stack.staff("amr", "clerk").ok(case["id"], "deliver", method="electronic")


async def paid_then_refunded(stack, applicant=None) -> dict:
    """A driving-licence replacement (a fee is charged): approved, then awaiting payment; the sandbox
    pays (its callback twice: one payment), a second payment is refunded; then delivered."""
    from banjian.payments import SIGNATURE_HEADER, provider_for

    applicant = applicant or stack.applicant()
    case = (await applicant.apply("driving-licence-replacement")).json()
    case = await stack.staff("psb", "clerk").ok(case["id"], "accept")
    case = await _through_review(stack, "psb", case)
    case = await stack.staff("psb", "approver").ok(case["id"], "approve", "准予补领")
    r = await applicant.post(f"/api/payments/sandbox/{case['id']}/pay")
    assert r.status_code == 200, r.text
    body, signature = provider_for(stack.settings).callback(
        case["payment"]["order_id"], case["id"], 1000, "RECORD-SECOND-PAYMENT", datetime.now(UTC))
    r = await stack.http.post("/api/payments/callback", content=body, headers={SIGNATURE_HEADER: signature})
    assert r.status_code == 200 and r.json()["outcome"] == "refunded", r.text
    return await stack.staff("psb", "clerk").ok(case["id"], "deliver", method="electronic")


async def deemed_then_paid(stack, applicant=None) -> dict:
    """Design 3: a one-day item nobody accepts is deemed accepted past its promised deadline (the
    overdue cards, no notice that the deadline is near), then approved; the sandbox starts the
    payment (`begin_payment`) and pays; then delivered."""
    applicant = applicant or stack.applicant()
    case = (await applicant.apply("driving-licence-replacement")).json()
    case = await stack.advance(case["id"], 10)
    assert "promised_due_near" not in [w["cause"] for w in case["warnings"]], case["warnings"]
    case = await _through_review(stack, "psb", case)
    case = await stack.staff("psb", "approver").ok(case["id"], "approve", "准予补领")
    r = await applicant.post(f"/api/payments/sandbox/{case['id']}/pay")
    assert r.status_code == 200, r.text
    return await stack.staff("psb", "clerk").ok(case["id"], "deliver", method="electronic")


async def joint_paused_then_terminated(stack, applicant=None) -> dict:
    """Design 8: a joint case suspended (every department's clock pauses with it), a department's own
    suspension inside, the joint case resumed (the department stays suspended), one department
    answers, then the joint case is terminated (the open sub-cases end as terminated)."""
    applicant = applicant or stack.applicant(organisation=True)
    case = (await applicant.apply("construction-permit-joint")).json()
    case = await stack.staff("hcd", "clerk").ok(case["id"], "accept")
    subs = {s["department"]: s["id"] for s in case["sub_cases"]}
    approver = stack.staff("hcd", "approver")
    await approver.ok(case["id"], "suspend", "等待规划许可变更")
    await stack.staff("fire", "approver").ok(subs["fire"], "suspend", "等待特殊建设工程认定")
    await approver.ok(case["id"], "resume")
    sc = await _through_review(stack, "ndrc", await stack.staff("ndrc", "handler").case(subs["ndrc"]))
    await stack.staff("ndrc", sc["current_step"]["role"]).ok(subs["ndrc"], "approve", "同意")
    return await approver.ok(case["id"], "terminate", "建设单位项目已取消")


async def joint_supplement_answered(stack, applicant=None) -> dict:
    """Design 9: two departments of a joint case ask for a supplement through the lead unit, which sends the
    applicant one consolidated notice (every clock pauses); the applicant answers once, the materials reach
    every department, the departments agree and the joint case is approved and delivered."""
    applicant = applicant or stack.applicant(organisation=True)
    case = (await applicant.apply("construction-permit-joint")).json()
    clerk = stack.staff("hcd", "clerk")
    case = await clerk.ok(case["id"], "accept")
    subs = {s["department"]: s["id"] for s in case["sub_cases"]}
    await stack.staff("fire", "handler").ok(subs["fire"], "ask_supplement", "未提交特殊建设工程消防设计文件",
                                            missing=["特殊建设工程消防设计文件"])
    await stack.staff("env", "handler").ok(subs["env"], "ask_supplement", "缺环境影响报告表",
                                           missing=["建设项目环境影响报告表"])
    await stack.staff("hcd", "lead").ok(case["id"], "notify_supplement", "请一次性补正以下材料")
    await applicant.ok(case["id"], "submit_supplement", materials=["特殊建设工程消防设计文件", "建设项目环境影响报告表"])
    for dept, sub_id in subs.items():
        sc = await _through_review(stack, dept, await stack.staff(dept, "handler").case(sub_id))
        await stack.staff(dept, sc["current_step"]["role"]).ok(sub_id, "approve", "同意")
    case = await stack.staff("hcd", "lead").ok(case["id"], "pass")
    case = await stack.staff("hcd", "approver").ok(case["id"], "approve")
    return await clerk.ok(case["id"], "deliver", method="electronic")


SCENARIOS: dict[str, Callable[..., Awaitable[dict]]] = {
    f.__name__: f for f in (approved_electronic, rated, deemed_acceptance, supplement_then_refused,
                            special_procedure_extension, joint_construction_permit, version_migrated,
                            paid_then_refunded, deemed_then_paid, joint_paused_then_terminated,
                            joint_supplement_answered)}


async def export(stack, name: str, case: dict, out: Path = HERE) -> list[Path]:
    """Write the case's history (and its sub-cases') as {name}.json and {name}.sub-{dept}.json."""
    written = []
    for cid, suffix in [(case["id"], "")] + [(s["id"], f".sub-{s['department']}") for s in case.get("sub_cases") or []]:
        history = await stack.client.get_workflow_handle(f"case-{cid}").fetch_history()
        path = out / f"{name}{suffix}.json"
        compact = json.dumps(json.loads(history.to_json()), ensure_ascii=False, separators=(",", ":"))
        path.write_text(compact + "\n", encoding="utf-8")
        written.append(path)
    return written


async def main(names: list[str], prefix: str = "") -> None:
    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment

    from banjian.temporal import TIME_SKIPPING_FLAG, temporal_cli
    from tests.conftest import TEST_CONVERTER, make_stack

    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    tmp = Path(tempfile.mkdtemp(prefix="banjian-record-"))
    try:
        async with await WorkflowEnvironment.start_time_skipping_v2(
                dev_server_existing_path=shutil.which("temporal") or temporal_cli(),
                dev_server_extra_args=TIME_SKIPPING_FLAG, data_converter=TEST_CONVERTER) as env:
            client = await Client.connect(env.client.service_client.config.target_host,
                                          data_converter=TEST_CONVERTER)
            async for stack in make_stack(env, client, tmp, None):
                for name in names or list(SCENARIOS):
                    case = await SCENARIOS[name](stack)
                    await asyncio.sleep(1)  # let a closed case write its archive package first
                    for path in await export(stack, prefix + name, case):
                        print(f"recorded {path.relative_to(HERE.parent.parent)} ({case['status']})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    prefix = ""
    if args[:1] == ["--prefix"]:
        prefix, args = args[1], args[2:]
    asyncio.run(main(args, prefix))
