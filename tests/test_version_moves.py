"""Moving cases in flight from one item version to a later one (POST /api/items/{code}/migrations)."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, time
from pathlib import Path

from temporalio.client import WorkflowHistory
from typer.testing import CliRunner

from banjian.timefmt import CHINA
from services import replay
from services.cli import app as cli_app
from tests.conftest import TEST_CONVERTER, TEST_PAYLOAD_KEYS
from tests.histories.record import new_item, publish_without_review, version_migrated

HISTORIES = Path(__file__).parent / "histories"


async def test_a_case_in_review_moves_dry_run_then_real(stack, people):
    """Version 2 drops the `review` step: a case at `verify` (in review) and a case not yet accepted
    can move; a case still at `review` cannot (its step does not exist in version 2)."""
    code, admin, base = await new_item(stack)
    clerk, handler = people.staff("amr", "clerk"), people.staff("amr", "handler")
    at_verify = (await people.applicant(1).apply(code)).json()
    await clerk.ok(at_verify["id"], "accept")
    at_verify = await handler.ok(at_verify["id"], "pass")
    assert at_verify["current_step"]["id"] == "verify"
    at_review = (await people.applicant(2).apply(code)).json()
    at_review = await clerk.ok(at_review["id"], "accept")
    submitted = (await people.applicant(3).apply(code)).json()
    await publish_without_review(admin, base)

    url = f"/api/items/{code}/migrations"
    r = await admin.post(url, json={"from_version": 1, "to_version": 2, "dry_run": True})
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["cases"] == 3
    assert dry["movable"] == sorted([at_verify["id"], submitted["id"]])
    assert [(b["case_id"], b["reason"]) for b in dry["blocked"]] == [(at_review["id"], "step_missing")]
    assert (await admin.case(at_verify["id"]))["item_version"] == 1  # a dry run changes nothing

    r = await admin.post(url, json={"from_version": 1, "to_version": 2})
    assert r.status_code == 200, r.text
    assert r.json()["movable"] == dry["movable"] and r.json()["blocked"] == dry["blocked"]
    moved = await admin.case(at_verify["id"])
    assert moved["item_version"] == 2 and moved["current_step"]["id"] == "verify"
    entry = next(h for h in moved["history"] if h["action"] == "version_migrated")
    assert entry["data"] == {"from_version": 1, "to_version": 2} and entry["actor"] == admin.username
    assert (await admin.case(at_review["id"]))["item_version"] == 1
    # the moved case goes on under version 2: verify, then the decision
    case = await people.staff("amr", "approver").ok(at_verify["id"], "pass")
    assert case["current_step"]["id"] == "decide"
    r = await admin.post(url, json={"from_version": 1, "to_version": 2, "dry_run": True})
    assert r.json()["cases"] == 1  # only the blocked one is still on version 1


async def test_a_migrated_case_history_replays(stack):
    case = await version_migrated(stack)
    assert case["status"] == "concluded" and case["item_version"] == 2
    history = await stack.client.get_workflow_handle(f"case-{case['id']}").fetch_history()
    report = await replay.replay_history("version_migrated", history, converter=TEST_CONVERTER)
    assert report.verified, report.error


async def test_the_recorded_migrated_history_replays():
    path = HISTORIES / "v4.version_migrated.json"
    history = WorkflowHistory.from_json(f"case-{path.stem}", path.read_text(encoding="utf-8"))
    assert any("migrate_version" in str(e) for e in history.events)  # the update, by name
    report = await replay.replay_history(path.stem, history, converter=TEST_CONVERTER)
    assert report.verified, report.error


async def test_bad_migrations(stack, people):
    code, admin, base = await new_item(stack)
    await publish_without_review(admin, base)
    url = f"/api/items/{code}/migrations"
    for body, field in [({"from_version": 1, "to_version": 9}, "to_version"),
                        ({"from_version": 2, "to_version": 1}, "to_version"),
                        ({"from_version": 2, "to_version": 2}, "to_version"),
                        ({"from_version": 7, "to_version": 9}, "from_version"),
                        ({"from_version": 0, "to_version": 2}, "from_version"),
                        ({"from_version": 1}, "to_version")]:
        r = await admin.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"]["field"] == field, (body, r.text)
    assert (await people.staff("amr", "clerk").post(url, json={"from_version": 1, "to_version": 2})).status_code == 403
    hcd_author = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    assert (await hcd_author.post(url, json={"from_version": 1, "to_version": 2})).status_code == 403
    amr_author = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")
    r = await amr_author.post(url, json={"from_version": 1, "to_version": 2, "dry_run": True})
    assert r.status_code == 200 and r.json() == {**r.json(), "cases": 0, "movable": [], "blocked": []}
    assert (await admin.post("/api/items/no-such-item/migrations", json={"from_version": 1, "to_version": 2})
            ).status_code == 404


async def cli(stack, *args: str):
    """Run the `banjian` command against the stack (in a thread: it runs its own event loop)."""
    env = {"BANJIAN_TEMPORAL_ADDRESS": stack.settings.temporal_target, "BANJIAN_TASK_QUEUE": stack.settings.task_queue,
           "BANJIAN_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}
    return await asyncio.to_thread(CliRunner().invoke, cli_app, [*args, "--data-dir", str(stack.settings.data_dir)],
                                   env=env)


async def test_the_command_line_migrates(stack, people):
    code, admin, base = await new_item(stack)
    case = (await people.applicant(4).apply(code)).json()
    await publish_without_review(admin, base)
    result = await cli(stack, "items", "migrate", code, "--from", "1", "--to", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["movable"] == [case["id"]]
    assert (await admin.case(case["id"]))["item_version"] == 1
    result = await cli(stack, "items", "migrate", code, "--from", "1", "--to", "2")
    assert result.exit_code == 0, result.output
    assert (await admin.case(case["id"]))["item_version"] == 2
    result = await cli(stack, "items", "migrate", code, "--from", "2", "--to", "1")
    assert result.exit_code != 0 and "version_not_newer" not in result.output and "to_version" in result.output


# natural-day limits (`unit: natural_days`) are counted as the deadline plan counts them, not ignored

def _food_item():
    import yaml

    from banjian.items.schema import ItemDefinition

    path = Path(__file__).parent.parent / "item_definitions" / "food-business-licence.yaml"
    return ItemDefinition.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _case(accepted: date | None, status: str = "in_review"):
    from banjian.contracts import Applicant, CaseState

    at = datetime.combine(accepted or date(2026, 3, 2), time(10), CHINA)
    return CaseState(id="c1", item_code="food-business-licence", item_version=1, item_name="食品经营许可",
                     department="amr", status=status if accepted else "submitted",
                     applicant=Applicant(kind="citizen", id_number="330106199001011234", name="王五"),
                     channel="web", submitted_at=at, received_at=at, clock_at=at,
                     accepted_at=at if accepted else None)


def _versions(old: dict, new: dict):
    base = _food_item()
    return (base.model_copy(update={"version": 1, **old}), base.model_copy(update={"version": 2, **new}))


def _limit(value: int, unit: str):
    from banjian.items.schema import Limit

    return Limit(value=value, unit=unit)


def test_a_longer_natural_day_statutory_limit_blocks_the_move():
    from banjian.calendar import WorkingCalendar
    from banjian.version_moves import blocked_reason

    cal = WorkingCalendar()
    old, new = _versions({"statutory_limit": _limit(30, "natural_days"), "promised_limit": _limit(20, "natural_days")},
                         {"statutory_limit": _limit(60, "natural_days"), "promised_limit": _limit(20, "natural_days")})
    why = blocked_reason(_case(date(2026, 3, 2)), old, new, cal, date(2026, 3, 3))
    assert why is not None and why.code == "statutory_limit_longer"
    # the other way round (shorter) moves
    longer, shorter = _versions({"statutory_limit": _limit(60, "natural_days")},
                                {"statutory_limit": _limit(30, "natural_days")})
    assert blocked_reason(_case(date(2026, 3, 2)), longer, shorter, cal, date(2026, 3, 3)) is None


def test_statutory_limits_in_different_units_compare_by_the_day_they_end():
    """Accepted Mon 2 Mar 2026: 20 working days end Mon 30 Mar; 30 natural days end Wed 1 Apr
    (later: blocked); 25 natural days end Fri 27 Mar (earlier: movable)."""
    from banjian.calendar import WorkingCalendar
    from banjian.version_moves import blocked_reason

    cal = WorkingCalendar()
    accepted, today = date(2026, 3, 2), date(2026, 3, 3)
    assert cal.add_limit(accepted, 20, "working_days") == date(2026, 3, 30)
    assert cal.add_limit(accepted, 30, "natural_days") == date(2026, 4, 1)
    promised = {"promised_limit": _limit(10, "working_days")}
    old, later = _versions({"statutory_limit": _limit(20, "working_days"), **promised},
                           {"statutory_limit": _limit(30, "natural_days"), **promised})
    why = blocked_reason(_case(accepted), old, later, cal, today)
    assert why is not None and why.code == "statutory_limit_longer"
    _, earlier = _versions({}, {"statutory_limit": _limit(25, "natural_days"), **promised})
    assert blocked_reason(_case(accepted), old, earlier, cal, today) is None


def test_a_natural_day_promised_limit_that_passed_already_blocks_the_move():
    """Accepted 2 Mar 2026; version 2 promises 7 natural days (ends Mon 9 Mar): on 12 Mar the case
    would be overdue at once. (The old check ignored natural-day promised limits.)"""
    from banjian.calendar import WorkingCalendar
    from banjian.version_moves import blocked_reason

    cal = WorkingCalendar()
    old, new = _versions({"statutory_limit": _limit(20, "working_days"), "promised_limit": _limit(15, "working_days")},
                         {"statutory_limit": _limit(20, "working_days"), "promised_limit": _limit(7, "natural_days")})
    why = blocked_reason(_case(date(2026, 3, 2)), old, new, cal, date(2026, 3, 12))
    assert why is not None and why.code == "overdue_at_once" and "2026-03-09" in why.message
    assert blocked_reason(_case(date(2026, 3, 2)), old, new, cal, date(2026, 3, 9)) is None


# the case's own clock, the task of a step whose role changes, and the blocked reasons in both languages

async def test_a_case_whose_clock_is_past_the_new_promised_limit_is_blocked(stack, people):
    """Accepted today; its clock (the simulation clock) moved 8 days on, past the 5 working days
    version 2 promises: moving it would make it overdue at once, whatever the wall clock says.
    (The check read the wall clock's day: the case moved and got `promised_overdue` at once.)"""
    code, admin, base = await new_item(stack)
    case = (await people.applicant(5).apply(code)).json()
    await people.staff("amr", "clerk").ok(case["id"], "accept")
    await stack.advance(case["id"], 8)
    r = await admin.post("/api/items", json={**base, "version": 2, "promised_limit": {"value": 5, "unit": "working_days"}})
    assert r.status_code == 201, r.text
    r = await admin.post(f"/api/items/{code}/migrations", json={"from_version": 1, "to_version": 2})
    assert r.status_code == 200, r.text
    assert r.json()["movable"] == []
    (blocked,) = r.json()["blocked"]
    assert blocked["reason"] == "overdue_at_once" and blocked["message"] and blocked["message_en"]
    moved = await admin.case(case["id"])
    assert moved["item_version"] == 1 and not any(w["cause"] == "promised_overdue" for w in moved["warnings"])


async def test_a_claimed_task_whose_step_changes_role_is_released(stack, people):
    """Version 2 gives `verify` to the handler instead of the approver. A case at `verify` claimed
    by an approver moves; the claim is released (named in `version_migrated`), so the handler finds
    it in their inbox and passes it. (It stayed claimed by the approver, who could no longer act:
    the case waited in nobody's inbox.)"""
    code, admin, base = await new_item(stack)
    clerk, handler, approver = (people.staff("amr", r) for r in ("clerk", "handler", "approver"))
    case = (await people.applicant(6).apply(code)).json()
    await clerk.ok(case["id"], "accept")
    await handler.ok(case["id"], "pass")
    claimed = await approver.ok(case["id"], "claim")
    assert claimed["claimed_by"] == approver.username
    steps = [({**s, "role": "handler"} if s["id"] == "verify" else s) for s in base["steps"]]
    assert (await admin.post("/api/items", json={**base, "version": 2, "steps": steps})).status_code == 201
    r = await admin.post(f"/api/items/{code}/migrations", json={"from_version": 1, "to_version": 2})
    assert r.json()["movable"] == [case["id"]], r.text
    moved = await admin.case(case["id"])
    assert moved["claimed_by"] is None and moved["current_step"]["role"] == "handler"
    entry = next(h for h in moved["history"] if h["action"] == "version_migrated")
    assert entry["data"] == {"from_version": 1, "to_version": 2, "released_claim": approver.username}
    tasks = (await handler.get("/api/tasks?scope=mine")).json()["items"]
    assert any(t["case_id"] == case["id"] for t in tasks)
    assert (await handler.ok(case["id"], "pass"))["current_step"]["id"] == "decide"
    history = await stack.client.get_workflow_handle(f"case-{case['id']}").fetch_history()
    report = await replay.replay_history("role_changed", history, converter=TEST_CONVERTER)
    assert report.verified, report.error


async def test_bad_migration_bodies_are_worded_in_chinese(stack, people):
    code, admin, base = await new_item(stack)
    await publish_without_review(admin, base)
    for body, field in [({"from_version": True, "to_version": 2}, "from_version"),
                        ({"from_version": 1, "to_version": "2"}, "to_version"),
                        ({"from_version": 1, "to_version": 2, "dryrun": True}, "dryrun")]:
        r = await admin.post(f"/api/items/{code}/migrations", json=body)
        assert r.status_code == 422, (body, r.text)
        detail = r.json()["detail"]
        assert detail["field"] == field and "Input should" not in detail["message"], r.text
