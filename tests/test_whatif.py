"""What-if simulation of a draft (POST /api/items/{code}/drafts/{id}/simulate): real case workflows
in virtual time, in a namespace and read model of their own."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from banjian.cli import app as cli_app
from banjian.db import Case
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
])
async def test_bad_profiles_are_422(stack, author, draft, body, field):
    r = await author.post(f"/api/items/{FOOD}/drafts/{draft}/simulate", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == field and detail["message"] and detail["message_en"]


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
    from banjian.whatif_run import simulate

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
