"""What-if simulation of a draft (POST /api/items/{code}/drafts/{id}/simulate): real case workflows
in virtual time, in a namespace and read model of their own."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from banjian.db import Case
from services.cli import app as cli_app
from tests.conftest import TEST_CONVERTER, TEST_PAYLOAD_KEYS

FOOD = "food-business-licence"


@pytest.fixture(scope="module")
def author(stack):
    return stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="amr")


@pytest.fixture(scope="module")
async def draft(stack, people, author) -> str:
    people.staff("amr", "handler"), people.staff("amr", "approver")
    got = (await author.get(f"/api/items/{FOOD}")).json()
    r = await author.post(f"/api/items/{FOOD}/drafts", json=got)
    assert r.status_code == 201, r.text
    assert r.json()["problems"] == []
    return r.json()["draft_id"]


async def test_a_known_profile_gives_the_on_time_rate_derived_by_hand(stack, author, draft):
    """food-business-licence: promised limit 10 working days from acceptance; steps review (limit 5),
    verify (3), decide (2). Profile: accepted at once, verify 2 days, decide 1 day, delivered at once,
    review 3 days with weight 3 or 12 days with weight 1 (P = 1/4).
    A case takes 3+2+1 = 6 working days (on time: 6 <= 10) or 12+2+1 = 15 (late: 15 > 10, and the
    review step ran over its 5 days, so that case has exactly one `step_overdue` yellow card and one
    `promised_overdue` red card; it also passes the notice day, 2 days before the due date:
    `promised_due_near`). Expected on-time rate: 3/4. With N = 40 independent cases the rate is a
    binomial mean with standard deviation sqrt(0.75 * 0.25 / 40) = 0.068; the tolerance is 3 sigma
    = 0.21 (the seed makes the run repeatable; the tolerance holds for any seed but 0.3 % of them).
    Working days from submission (= acceptance day) to conclusion are then exactly 6 or 15."""
    with Session(stack.engine) as s:
        before = len(s.exec(select(Case.id)).all())
    profile = {"seed": 7, "acceptance": {"days": [0]}, "delivery": {"days": [0]},
               "steps": {"review": {"days": [3, 12], "weights": [3, 1]}, "verify": {"days": [2]},
                         "decide": {"days": [1]}}}
    r = await author.post(f"/api/items/{FOOD}/drafts/{draft}/simulate", json={"cases": 40, "profile": profile})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["cases"] == 40
    assert abs(got["on_time_rate"] - 0.75) <= 0.21
    late = round((1 - got["on_time_rate"]) * 40)
    assert got["warnings"].get("step_overdue", 0) == late  # one yellow card per late case, at review
    assert got["warnings"].get("promised_overdue", 0) == late
    assert got["working_days"]["p50"] == 6
    assert got["working_days"]["p90"] == (15 if late > 4 else 6)
    steps = {s["step_id"]: s for s in got["by_step"]}
    assert list(steps) == ["review", "verify", "decide"]
    assert steps["review"]["overdue"] == late and steps["verify"]["overdue"] == 0
    assert steps["review"]["lost"] and not steps["verify"]["lost"]
    with Session(stack.engine) as s:  # nothing reached the real read model
        assert len(s.exec(select(Case.id)).all()) == before
        assert not s.exec(select(Case).where(Case.id.startswith("whatif-"))).first()


@pytest.mark.parametrize("body,field", [
    ({"cases": 5, "profile": {"steps": {"review": {"min": -1, "max": 3}}}}, "profile.steps.review.min"),
    ({"cases": 5, "profile": {"supplement_share": 1.5}}, "profile.supplement_share"),
    ({"cases": 5, "profile": {"special_procedure_share": -0.1}}, "profile.special_procedure_share"),
    ({"cases": 5, "profile": {"steps": {"review": {"min": 5, "mode": 1, "max": 3}}}}, "profile.steps.review"),
    ({"cases": 5, "profile": {"steps": {"nope": {"days": [1]}}}}, "profile.steps"),
    ({"cases": 0}, "cases"),
    ({"cases": 100000}, "cases"),
    ({"cases": 5, "profile": {"colour": "red"}}, "profile.colour"),
    # weights that are not finite made random.choices fail: a 500
    ({"cases": 5, "profile": {"steps": {"review": {"days": [1, 2], "weights": [float("inf"), 1]}}}},
     "profile.steps.review"),
    ({"cases": 5, "profile": {"steps": {"review": {"days": [1, 2], "weights": [1e308, 1e308]}}}},
     "profile.steps.review"),
    ({"cases": True}, "cases"),  # not a number of cases (it ran one)
    ({"cases": "5"}, "cases"),
])
async def test_bad_profiles_are_422(stack, author, draft, body, field):
    # as JSON text: `Infinity` too (Python's json reads it), which httpx will not write
    r = await stack.http.post(f"/api/items/{FOOD}/drafts/{draft}/simulate", content=json.dumps(body),
                              headers={**await author.headers(), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == field and detail["message"] and detail["message_en"]
    # the Chinese message is Chinese (it carried pydantic's English: "Input should be ...")
    assert "Input should" not in detail["message"] and " must " not in detail["message"], detail["message"]


async def test_only_authors_of_the_department_simulate(stack, people, draft):
    clerk = people.staff("amr", "clerk")
    r = await clerk.post(f"/api/items/{FOOD}/drafts/{draft}/simulate", json={"cases": 1})
    assert r.status_code == 403
    other = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department="hcd")
    r = await other.post(f"/api/items/{FOOD}/drafts/{draft}/simulate", json={"cases": 1})
    assert r.status_code == 403


async def test_the_command_line_simulates(stack, draft, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text("seed: 3\nsteps:\n  review: {days: [1]}\n  verify: {days: [1]}\n  decide: {days: [1]}\n",
                       encoding="utf-8")
    env = {"BANJIAN_TEMPORAL_ADDRESS": stack.settings.temporal_target, "BANJIAN_TASK_QUEUE": stack.settings.task_queue,
           "BANJIAN_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS}
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, [
        "items", "simulate", FOOD, draft, "--cases", "3", "--profile", str(profile),
        "--data-dir", str(stack.settings.data_dir)], env=env)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["cases"] == 3 and got["on_time_rate"] == 1.0 and got["working_days"] == {"p50": 3, "p90": 3}
    bad = tmp_path / "bad.yaml"
    bad.write_text("supplement_share: 2\n", encoding="utf-8")
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, [
        "items", "simulate", FOOD, draft, "--profile", str(bad), "--data-dir", str(stack.settings.data_dir)], env=env)
    assert result.exit_code != 0 and "supplement_share" in result.output


async def test_a_server_without_time_skipping_answers_503(stack, author, draft):
    """A Temporal server started without frontend.WorkflowTimeSkippingEnabled (as a production
    cluster may be): the run stops at its first fast-forward with a clear 503, before any case."""
    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment

    from banjian.contracts import Actor
    from banjian.drafts import Drafts
    from banjian.enums import Role
    from banjian.errors import Unavailable
    from banjian.temporal import temporal_cli
    from banjian.whatif import Profile
    from services.whatif_run import simulate

    admin = Actor(username="test-admin", roles=[Role.ADMIN])
    item = Drafts(stack.app.state.catalog, stack.sessions).definition(admin, FOOD, draft)
    async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=TEST_CONVERTER,
            dev_server_extra_args=["--namespace", "default-whatif"]) as env:
        plain = await Client.connect(env.client.service_client.config.target_host, data_converter=TEST_CONVERTER)
        with pytest.raises(Unavailable) as raised:
            await simulate(plain, stack.settings, stack.sessions, item, 2, Profile())
    assert raised.value.status == 503 and raised.value.code == "time_skipping_unavailable"
    assert "WorkflowTimeSkippingEnabled" in raised.value.message_en


# joint items and bundles run in lanes; natural-day step limits count as the deadline plan counts them

JOINT = "construction-permit-joint"
BUNDLE = "open-restaurant-bundle"


async def _draft_of(stack, code: str, department: str) -> tuple:
    for role in ("clerk", "handler", "approver", "lead"):
        stack.staff(department, role)
    author = stack.user(f"author-{uuid.uuid4().hex[:6]}", "author", department=department)
    got = (await author.get(f"/api/items/{code}")).json()
    r = await author.post(f"/api/items/{code}/drafts", json=got)
    assert r.status_code == 201, r.text
    assert r.json()["problems"] == [], r.json()["problems"]
    return author, r.json()["draft_id"]


def _calendar_and_today(stack):
    from datetime import UTC, datetime

    from banjian.catalog import Catalog
    from banjian.timefmt import china_date

    return Catalog(stack.sessions).calendar(), china_date(datetime.now(UTC))


async def test_a_joint_item_simulates_with_figures_per_department(stack):
    """construction-permit-joint: four departments in parallel (hcd 15, fire 10, env 15, ndrc 10 working
    days of sub-limit; a department silent past its sub-limit is taken to consent), then the lead
    unit's consolidation (limit 3) and unified decision (2); promised limit 20. Profile: every step
    1 day except fire's technical review, 12 days (its limit is 6). By hand: fire's technical review
    runs past its 6 days (a `step_overdue` yellow card) and past fire's sub-limit of 10 working days
    from acceptance (day d, the day of submission): at 00:00 on the day after its due day the
    sub-case gets a `statutory_overdue` red card and is answered by deemed consent. So the review took
    10 working days, plus 1 when that day after is a working day (w), i.e. 4 + w over its limit, and
    fire's decide none; hcd and env answer after 3 days, ndrc 2. The parent follows the last answer,
    then takes 1 + 1 days: 12 + w working days from submission to conclusion, on time (<= 20).
    Every case is the same, so the figures are exact."""
    from datetime import timedelta

    cal, today = _calendar_and_today(stack)
    w = int(cal.is_working_day(cal.add_working_days(today, 10) + timedelta(days=1)))
    author, draft = await _draft_of(stack, JOINT, "hcd")
    profile = {"seed": 3, "default_step": {"days": [1]}, "steps": {"fire.technical_review": {"days": [12]}}}
    r = await author.post(f"/api/items/{JOINT}/drafts/{draft}/simulate", json={"cases": 3, "profile": profile})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["cases"] == 3 and got["on_time_rate"] == 1.0
    assert got["working_days"] == {"p50": 12 + w, "p90": 12 + w}
    assert got["warnings"]["step_overdue"] == 3 and got["warnings"]["statutory_overdue"] == 3
    steps = {s["step_id"]: s for s in got["by_step"]}
    assert list(steps)[-2:] == ["consolidate", "decide"] and steps["consolidate"]["lane"] is None
    assert {s["lane"] for s in got["by_step"]} == {"hcd", "fire", "env", "ndrc", None}
    tech = steps["fire.technical_review"]
    assert tech["department"] == "fire" and tech["p50"] == 10 + w and tech["limit_days"] == 6
    assert tech["overdue"] == 3 and tech["days_over_limit"] == 4 + w and tech["lost"]
    assert tech["department_name"] == "市消防救援支队" and steps["consolidate"]["department_name"] == "市住房和城乡建设局"
    assert steps["fire.decide"]["p50"] == 0
    assert steps["hcd.review"]["overdue"] == 0 and steps["consolidate"]["overdue"] == 0
    lanes = {d["lane"]: d for d in got["by_department"]}
    assert set(lanes) == {"hcd", "fire", "env", "ndrc"}
    assert lanes["fire"]["p50"] == 10 + w and lanes["fire"]["overdue"] == 3 and lanes["fire"]["on_time_rate"] == 0
    assert lanes["fire"]["limit_days"] == 10 and lanes["fire"]["warnings"]["statutory_overdue"] == 3
    assert lanes["fire"]["department_name"] == "市消防救援支队"
    assert lanes["hcd"]["p50"] == 3 and lanes["hcd"]["overdue"] == 0 and lanes["ndrc"]["p50"] == 2


async def test_a_bundle_simulates_with_its_member_items_in_parallel(stack):
    """open-restaurant-bundle (lead: gov; promised 10 working days): individual-business-registration
    (amr), food-business-licence (amr) and fire-safety-inspection (fire, promised 5) in parallel, then
    the combined result at once. Profile: every step 1 day, fire's site check 6 days (limit 2).
    By hand: the fire member answers after 1 + 6 + 1 + 1 = 9 working days (past its promised 5: a
    `promised_overdue` on the sub-case; its statutory 10 is kept), the others after 2 and 3; the
    bundle concludes with the last answer, 9 working days: on time (9 <= 10)."""
    author, draft = await _draft_of(stack, BUNDLE, "gov")
    profile = {"default_step": {"days": [1]}, "steps": {"fire-safety-inspection.site_check": {"days": [6]}}}
    r = await author.post(f"/api/items/{BUNDLE}/drafts/{draft}/simulate", json={"cases": 2, "profile": profile})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["on_time_rate"] == 1.0 and got["working_days"]["p50"] == 9
    lanes = {d["lane"]: d for d in got["by_department"]}
    assert list(lanes) == ["individual-business-registration", "food-business-licence", "fire-safety-inspection"]
    assert lanes["fire-safety-inspection"]["department"] == "fire" and lanes["fire-safety-inspection"]["p50"] == 9
    assert lanes["fire-safety-inspection"]["overdue"] == 2 and lanes["food-business-licence"]["overdue"] == 0
    assert lanes["food-business-licence"]["p50"] == 3 and lanes["individual-business-registration"]["p50"] == 2
    site = next(s for s in got["by_step"] if s["step_id"] == "fire-safety-inspection.site_check")
    assert site["overdue"] == 2 and site["days_over_limit"] == 4 and site["lost"]
    r = await author.post(f"/api/items/{BUNDLE}/drafts/{draft}/simulate",
                          json={"cases": 1, "profile": {"steps": {"site_check": {"days": [1]}}}})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "profile.steps", r.text  # a lane's step needs its lane


async def test_a_natural_day_step_limit_counts_in_natural_days(stack, author):
    """food-business-licence with its review step limited to 14 natural days: from the day of
    acceptance d (= submission) that allows the working days up to the 14th calendar day after d (moved
    to the next working day if that is a holiday): 10 in two ordinary weeks. 12 working days at review
    run 12 minus those past the limit. (The old figures compared 12 with 14: never over.)"""
    from banjian.items.schema import Limit
    from banjian.whatif import allowed_days

    cal, today = _calendar_and_today(stack)
    over = 12 - allowed_days(cal, today, Limit(value=14, unit="natural_days"))
    assert over >= 1
    got = (await author.get(f"/api/items/{FOOD}")).json()
    got["steps"] = [({**s, "limit": {"value": 14, "unit": "natural_days"}} if s["id"] == "review" else s)
                    for s in got["steps"]]
    r = await author.post(f"/api/items/{FOOD}/drafts", json=got)
    assert r.status_code == 201 and r.json()["problems"] == [], r.text
    profile = {"default_step": {"days": [1]}, "steps": {"review": {"days": [12]}}}
    r = await author.post(f"/api/items/{FOOD}/drafts/{r.json()['draft_id']}/simulate",
                          json={"cases": 2, "profile": profile})
    assert r.status_code == 200, r.text
    review = next(s for s in r.json()["by_step"] if s["step_id"] == "review")
    assert review["limit_days"] == 14 and review["limit_unit"] == "natural_days"
    assert review["overdue"] == 2 and review["days_over_limit"] == over


async def test_a_case_accepted_by_law_starts_its_review_then(stack, author, draft):
    """A profile whose clerk would take 7 working days to accept: the law accepts the case at the end
    of its 5th working day (deemed acceptance, a red `acceptance_overdue` card) and review starts
    then, not when the clerk would have acted. So the case takes the working days up to the day
    after its acceptance due day, then 3 + 2 + 1 at the steps: its promised limit, counted from
    receipt, has passed. (The run went on waiting the 7 days: 13 working days where there were 12.)"""
    from datetime import timedelta

    cal, today = _calendar_and_today(stack)
    review_from = cal.add_working_days(today, 5) + timedelta(days=1)
    expected = cal.working_days_between(today, cal.add_working_days(review_from, 6))
    profile = {"acceptance": {"days": [7]}, "steps": {"review": {"days": [3]}, "verify": {"days": [2]},
                                                     "decide": {"days": [1]}}}
    r = await author.post(f"/api/items/{FOOD}/drafts/{draft}/simulate", json={"cases": 2, "profile": profile})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["warnings"]["acceptance_overdue"] == 2 and got["warnings"]["promised_overdue"] == 2
    assert got["working_days"] == {"p50": expected, "p90": expected}
    assert [s["p50"] for s in got["by_step"]] == [3, 2, 1] and not any(s["overdue"] for s in got["by_step"])


DRIVING = "driving-licence-replacement"


async def test_an_item_that_charges_simulates_with_its_fee_paid(stack):
    """driving-licence-replacement charges a fee online: an approved case waits for the payment.
    The run pays it at once (it answered 422 `simulation_failed`: delivery refused while the case
    awaited payment). Its decide step has no step limit and the promised limit (1 working day) is
    the review step's: by default the decision takes no further day, so the unchanged item is
    on time (the old default of 1-2 days made every case late)."""
    author, draft = await _draft_of(stack, DRIVING, "psb")
    r = await author.post(f"/api/items/{DRIVING}/drafts/{draft}/simulate", json={"cases": 3, "profile": {"seed": 1}})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["cases"] == 3 and got["on_time_rate"] == 1.0 and got["warnings"] == {}
    assert got["working_days"] == {"p50": 1, "p90": 1}
    assert [(s["step_id"], s["p50"], s["department_name"]) for s in got["by_step"]] == [
        ("review", 1, "市公安局交通警察支队"), ("decide", 0, "市公安局交通警察支队")]


def test_steps_without_a_limit_share_what_the_promised_limit_leaves():
    """The default profile of a step without a step limit: its share of the working days the
    promised limit (a lane's limit) leaves after the limited steps; 0 for an item decided on the
    spot (即办件, promised in 0 days), whose steps took 1-2 days each and made it always late."""
    from pathlib import Path

    import yaml

    from banjian.items.schema import ItemDefinition
    from banjian.whatif import Profile, flow, step_days

    folder = Path(__file__).parent.parent / "item_definitions"

    def item(code: str) -> ItemDefinition:
        return ItemDefinition.model_validate(yaml.safe_load((folder / f"{code}.yaml").read_text(encoding="utf-8")))

    spot = item("individual-business-registration")
    assert spot.case_type == "immediate" and all(s.limit is None for s in spot.steps)
    assert [step_days(spot, Profile(), s.id).days for s in spot.steps] == [[0], [0]]
    bundle, members = item(BUNDLE), [item(c) for c in item(BUNDLE).members]
    for f in flow(bundle, members):
        if f.lane == "individual-business-registration":
            assert step_days(bundle, Profile(), f.key, members).days == [0]
    free = spot.model_copy(update={"case_type": "promised", "promised_limit": spot.statutory_limit})  # 3 days, 2 steps
    assert step_days(free, Profile(), "review").max == 1
    food = item(FOOD)  # every step has its own limit: 1 to the limit
    assert step_days(food, Profile(), "review").model_dump(exclude_none=True) == {"min": 1, "mode": 2.5, "max": 5}
