"""The legal time limits of a single-department case, enforced by durable timers (time skipping).

Every case starts on the real clock; `Sim` advances its own virtual clock through the simulation
route to an exact instant (a due day is overdue at 24:00 China time). Expected dates are computed
with the working-day calendar in force (`load_calendar` over the stack's database) from the case's
own dates, so the tests hold whatever day they run on.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from banjian.calendar import WorkingCalendar, YearSchedule, load_calendar
from banjian.contracts import CASE_DESIGN, CaseState
from banjian.db import CalendarYear, Case
from banjian.timefmt import CHINA, end_of, start_of
from services.calendar_admin import recompute_open_cases
from workflows.case import CaseWorkflow
from workflows.clock import NO_NOTICE_AFTER_DUE, notice_is_moot, pending_timers

FOOD = "food-business-licence"  # amr: promised 10 / statutory 20; steps review 5, verify 3, decide 2
PLANNING = "construction-planning-permit"  # nrp: expert_review and hearing pause the clock
HOUR = timedelta(hours=1)


# ---- helpers ---------------------------------------------------------------------------------------
def at(s: str) -> datetime:
    return datetime.fromisoformat(s)


def day(s: str) -> date:
    """The China calendar day of a `*_at` timestamp."""
    return at(s).astimezone(CHINA).date()


def due(case: dict, name: str) -> date | None:
    v = case["deadlines"][name]
    return date.fromisoformat(v) if v else None


def calendar(stack) -> WorkingCalendar:
    with stack.sessions() as session:
        return load_calendar(session)


def warnings(case: dict, cause: str | None = None) -> list[tuple[str, str, str | None]]:
    return [(w["level"], w["cause"], w["step_id"]) for w in case["warnings"] if cause in (None, w["cause"])]


def actions(case: dict) -> list[str]:
    return [h["action"] for h in case["history"]]


def fired_at(case: dict, cause: str, step_id: str | None = None) -> datetime:
    [w] = [w for w in case["warnings"] if w["cause"] == cause and (step_id is None or w["step_id"] == step_id)]
    return at(w["at"])


def assert_fired_at(case: dict, cause: str, instant: datetime, step_id: str | None = None) -> None:
    """The warning was raised by the timer due at `instant` (not earlier, not an advance later)."""
    got = fired_at(case, cause, step_id)
    assert instant <= got < instant + timedelta(minutes=5), (cause, got, instant)


class Sim:
    """A case's own clock: where it stands now, and advancing it to an instant."""

    def __init__(self, stack, case: dict) -> None:
        self.stack, self.id = stack, case["id"]
        self.now = at(case["submitted_at"])

    async def to(self, instant: datetime) -> dict:
        assert instant > self.now, (instant, self.now)
        days = (instant - self.now).total_seconds() / 86400
        self.now = instant
        return await self.stack.advance(self.id, days)

    async def by(self, days: float) -> dict:
        return await self.to(self.now + timedelta(days=days))


async def submitted(people, item: str = FOOD):
    applicant = people.applicant()
    r = await applicant.apply(item)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "submitted"
    return applicant, case


async def accepted(people, item: str = FOOD, department: str = "amr"):
    applicant, case = await submitted(people, item)
    clerk = people.staff(department, "clerk")
    case = await clerk.ok(case["id"], "accept")
    assert case["status"] == "accepted"
    return applicant, case


# ---- acceptance --------------------------------------------------------------------------------------
async def test_deemed_acceptance_after_five_working_days_from_receipt(stack, people):
    _, case = await submitted(people)
    cal = calendar(stack)
    received = day(case["submitted_at"])
    acceptance_due = cal.add_working_days(received, 5)
    assert case["received_at"] == case["submitted_at"]
    assert due(case, "acceptance_due") == acceptance_due
    assert case["deadlines"]["provisional"] is cal.is_provisional(received, acceptance_due)
    assert case["deadlines"]["promised_due"] is None and case["accepted_at"] is None

    case = await Sim(stack, case).to(end_of(acceptance_due) + HOUR)

    assert case["status"] == "accepted"
    assert case["accepted_at"] == case["submitted_at"]  # accepted by law from the day of receipt
    assert warnings(case) == [("red", "acceptance_overdue", None)]
    assert_fired_at(case, "acceptance_overdue", end_of(acceptance_due))
    assert actions(case) == ["submitted", "deemed_acceptance", "warning"]
    deemed = case["history"][1]
    assert (deemed["actor"], deemed["role"]) == ("system", "system")
    assert deemed["data"]["acceptance_due"] == acceptance_due.isoformat()
    assert case["history"][2]["data"]["cause"] == "acceptance_overdue"
    # the review clock counts from the day of receipt
    assert due(case, "promised_due") == cal.add_working_days(received, 10)
    assert due(case, "statutory_due") == cal.add_working_days(received, 20)
    assert due(case, "acceptance_due") == acceptance_due
    assert case["current_step"]["id"] == "review"
    # the first step started when the system accepted (00:00 after the acceptance day)
    assert due(case, "step_due") == cal.add_working_days(acceptance_due + timedelta(days=1), 5)


async def test_deemed_acceptance_past_the_promised_deadline_warns_overdue_not_near(stack, people):
    """A one-day item deemed accepted after five working days is past its promised deadline already:
    the case gets the overdue warning, never a notice that the (passed) deadline is near."""
    _, case = await submitted(people, "driving-licence-replacement")  # promised 1 working day
    acceptance_due = due(case, "acceptance_due")
    sim = Sim(stack, case)
    case = await sim.to(end_of(acceptance_due) + HOUR)

    assert "deemed_acceptance" in actions(case)
    assert due(case, "promised_due") < acceptance_due  # counted from receipt: passed before acceptance
    causes = [w["cause"] for w in case["warnings"]]
    assert "promised_overdue" in causes and "promised_due_near" not in causes, causes
    assert_fired_at(case, "promised_overdue", end_of(acceptance_due))
    assert [h["data"]["cause"] for h in case["history"] if h["action"] == "warning"].count("promised_due_near") == 0
    case = await sim.by(10)  # nor later
    assert "promised_due_near" not in [w["cause"] for w in case["warnings"]]
    assert [w["cause"] for w in case["warnings"]].count("promised_overdue") == 1

    # the rule is the case's generation: a case of design 2 (before it) would still owe the notice now,
    # and fire it; replays of such cases keep doing so
    with stack.sessions() as session:
        state = CaseState.model_validate(session.get(Case, case["id"]).snapshot)
    item = stack.app.state.catalog.effective(state.item_code, state.item_version, state.department, False)
    assert state.design >= NO_NOTICE_AFTER_DUE
    assert "promised_due_near" not in [t.event for t in pending_timers(state, item)]
    assert notice_is_moot(state, sim.now)
    older = state.model_copy(update={"design": NO_NOTICE_AFTER_DUE - 1})
    assert "promised_due_near" in [t.event for t in pending_timers(older, item)]
    assert not notice_is_moot(older, sim.now)


async def test_no_deemed_acceptance_before_the_fifth_working_day_ends(stack, people):
    _, case = await submitted(people)
    acceptance_due = calendar(stack).add_working_days(day(case["submitted_at"]), 5)

    case = await Sim(stack, case).to(end_of(acceptance_due) - HOUR)

    assert case["status"] == "submitted"
    assert case["accepted_at"] is None
    assert case["warnings"] == []
    assert actions(case) == ["submitted"]
    # the last hour of the last day is still on time: an acceptance now carries no warning
    clerk = people.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "accept")
    assert case["status"] == "accepted"
    assert day(case["accepted_at"]) == acceptance_due
    assert case["warnings"] == []
    assert actions(case) == ["submitted", "accept"]


async def test_supplement_restarts_acceptance_clock(stack, people):
    applicant, case = await submitted(people)
    clerk = people.staff("amr", "clerk")
    cid = case["id"]
    sim = Sim(stack, case)
    missing = "保证食品安全的规章制度"

    r = await clerk.act(cid, "request_supplement", missing=["营业执照", "不存在的材料"])
    assert r.status_code == 422 and r.json()["detail"]["code"] == "unknown_material", r.text
    r = await clerk.act(cid, "request_supplement", missing=[])
    assert r.status_code == 422, r.text
    case = await clerk.ok(cid, "request_supplement", "请补正", missing=[missing])
    assert case["status"] == "supplement_requested"
    assert case["missing_materials"] == [missing]
    assert case["deadlines"]["acceptance_due"] is None

    # waiting for the applicant does not count: no deemed acceptance, however long it takes
    case = await sim.by(10)
    assert case["status"] == "supplement_requested"
    assert case["warnings"] == [] and case["accepted_at"] is None
    assert case["deadlines"]["acceptance_due"] is None
    assert actions(case) == ["submitted", "request_supplement"]

    r = await applicant.act(cid, "submit_supplement", materials=["营业执照"])
    assert r.status_code == 422 and r.json()["detail"]["code"] == "material_missing", r.text
    r = await clerk.act(cid, "submit_supplement", materials=[missing])
    assert r.status_code == 403, r.text
    case = await applicant.ok(cid, "submit_supplement", materials=[{"name": missing}])
    assert case["status"] == "submitted"
    assert case["missing_materials"] == []
    resubmitted = at(case["received_at"])
    assert sim.now <= resubmitted < sim.now + timedelta(minutes=5)
    assert case["submitted_at"] != case["received_at"]
    acceptance_due = calendar(stack).add_working_days(day(case["received_at"]), 5)
    assert due(case, "acceptance_due") == acceptance_due

    # the one-time notice was used up
    r = await clerk.act(cid, "request_supplement", missing=[missing])
    assert r.status_code == 409, r.text

    case = await sim.to(end_of(acceptance_due) + HOUR)
    assert case["status"] == "accepted"
    assert case["accepted_at"] == case["received_at"]  # deemed accepted from the complete supplement
    assert warnings(case) == [("red", "acceptance_overdue", None)]
    assert_fired_at(case, "acceptance_overdue", end_of(acceptance_due))
    assert actions(case) == ["submitted", "request_supplement", "submit_supplement", "deemed_acceptance",
                             "warning"]


# ---- review-clock warnings --------------------------------------------------------------------------
async def test_notice_when_two_working_days_left(stack, people):
    _, case = await accepted(people)
    cal = calendar(stack)
    accepted_on = day(case["accepted_at"])
    promised_due = cal.add_working_days(accepted_on, 10)
    assert due(case, "promised_due") == promised_due
    notice_on = cal.working_day_before(promised_due, 2)
    assert cal.working_days_between(notice_on, promised_due) == 2

    case = await Sim(stack, case).to(start_of(notice_on) + HOUR)

    assert warnings(case, "promised_due_near") == [("notice", "promised_due_near", None)]
    assert_fired_at(case, "promised_due_near", start_of(notice_on))
    assert warnings(case, "promised_overdue") == []
    [w] = [w for w in case["warnings"] if w["cause"] == "promised_due_near"]
    assert "2" in w["reason"]
    # the only other card so far: the first step ran past its 5 days
    assert warnings(case) == [("yellow", "step_overdue", "review"), ("notice", "promised_due_near", None)]


async def test_yellow_card_when_promised_deadline_passes(stack, people):
    _, case = await accepted(people)
    cal = calendar(stack)
    promised_due = cal.add_working_days(day(case["accepted_at"]), 10)
    statutory_due = cal.add_working_days(day(case["accepted_at"]), 20)

    case = await Sim(stack, case).to(end_of(promised_due) + HOUR)

    assert warnings(case, "promised_overdue") == [("yellow", "promised_overdue", None)]
    assert_fired_at(case, "promised_overdue", end_of(promised_due))
    assert warnings(case, "statutory_overdue") == []
    assert case["status"] in ("accepted", "in_review")
    assert case["deadlines"]["statutory_due"] == statutory_due.isoformat()
    assert case["clock"]["working_days_used"] == cal.working_days_between(
        day(case["accepted_at"]), promised_due + timedelta(days=1))


async def test_red_card_when_statutory_deadline_passes(stack, people):
    _, case = await accepted(people)
    cal = calendar(stack)
    accepted_on = day(case["accepted_at"])
    statutory_due = cal.add_working_days(accepted_on, 20)
    assert due(case, "statutory_due") == statutory_due

    case = await Sim(stack, case).to(end_of(statutory_due) + HOUR)

    assert warnings(case, "statutory_overdue") == [("red", "statutory_overdue", None)]
    assert_fired_at(case, "statutory_overdue", end_of(statutory_due))
    # every earlier card, in the order their timers fired
    assert warnings(case) == [("yellow", "step_overdue", "review"), ("notice", "promised_due_near", None),
                              ("yellow", "promised_overdue", None), ("red", "statutory_overdue", None)]
    fired = [at(w["at"]) for w in case["warnings"]]
    assert fired == sorted(fired)
    logged = [h for h in case["history"] if h["action"] == "warning"]
    assert [(h["actor"], h["data"]["cause"]) for h in logged] == [
        ("system", "step_overdue"), ("system", "promised_due_near"), ("system", "promised_overdue"),
        ("system", "statutory_overdue")]


async def test_each_warning_fires_once(stack, people):
    _, case = await accepted(people)
    sim = Sim(stack, case)
    first = await sim.by(40)
    again = await sim.by(40)
    for case in (first, again):
        causes = [w["cause"] for w in case["warnings"]]
        assert sorted(causes) == sorted(["step_overdue", "promised_due_near", "promised_overdue",
                                         "statutory_overdue"])
        assert actions(case).count("warning") == 4
    assert again["warnings"] == first["warnings"]


async def test_step_overdue_is_yellow_once_per_step(stack, people):
    _, case = await accepted(people)
    cal = calendar(stack)
    cid, sim = case["id"], Sim(stack, case)
    review_due = cal.add_working_days(day(case["accepted_at"]), 5)  # review: 5 working days
    assert due(case, "step_due") == review_due

    case = await sim.to(end_of(review_due) + HOUR)
    assert warnings(case, "step_overdue") == [("yellow", "step_overdue", "review")]
    assert_fired_at(case, "step_overdue", end_of(review_due), "review")

    handler, approver = people.staff("amr", "handler"), people.staff("amr", "approver")
    case = await handler.ok(cid, "pass")
    assert case["current_step"]["id"] == "verify"
    verify_due = cal.add_working_days(day(sim.now.isoformat()), 3)  # verify: 3 working days
    assert due(case, "step_due") == verify_due

    case = await sim.to(end_of(verify_due) + HOUR)
    assert warnings(case, "step_overdue") == [("yellow", "step_overdue", "review"),
                                              ("yellow", "step_overdue", "verify")]
    assert_fired_at(case, "step_overdue", end_of(verify_due), "verify")

    # back to the first step: its limit runs again, but its card was already shown
    case = await approver.ok(cid, "return", "材料需重新审查")
    assert case["current_step"]["id"] == "review"
    again_due = cal.add_working_days(day(sim.now.isoformat()), 5)
    assert due(case, "step_due") == again_due
    case = await sim.to(end_of(again_due) + HOUR)
    assert warnings(case, "step_overdue") == [("yellow", "step_overdue", "review"),
                                              ("yellow", "step_overdue", "verify")]


# ---- a paused clock ---------------------------------------------------------------------------------------
async def test_suspension_pauses_clock_and_pushes_deadlines(stack, people):
    _, case = await accepted(people)
    cal = calendar(stack)
    cid, sim = case["id"], Sim(stack, case)
    accepted_on = day(case["accepted_at"])
    promised_due, statutory_due = due(case, "promised_due"), due(case, "statutory_due")
    step_due = due(case, "step_due")
    handler = people.staff("amr", "handler")

    case = await handler.ok(cid, "suspend", "申请人申请中止，等待司法判决")
    assert case["status"] == "suspended" and case["clock"]["paused"] is True
    suspended_on = day(sim.now.isoformat())

    # far past every deadline: a paused clock raises nothing
    case = await sim.by(40)
    assert case["status"] == "suspended" and case["clock"]["paused"] is True
    assert case["warnings"] == []
    assert due(case, "promised_due") == promised_due and due(case, "statutory_due") == statutory_due
    assert case["clock"]["working_days_used"] == cal.working_days_between(accepted_on, suspended_on)

    case = await handler.ok(cid, "resume")
    paused = cal.working_days_between(suspended_on, day(sim.now.isoformat()))
    assert paused > 20
    assert case["status"] == "in_review" and case["clock"]["paused"] is False
    assert case["clock"]["paused_working_days"] == paused
    assert case["history"][-1]["action"] == "resume"
    assert case["history"][-1]["data"]["paused_working_days"] == paused
    new_promised = cal.add_working_days(promised_due, paused)
    new_statutory = cal.add_working_days(statutory_due, paused)
    assert due(case, "promised_due") == new_promised
    assert due(case, "statutory_due") == new_statutory
    assert due(case, "step_due") == cal.add_working_days(step_due, paused)
    assert case["deadlines"]["provisional"] is cal.is_provisional(accepted_on, new_statutory)
    if new_statutory.year >= 2027:
        assert case["deadlines"]["provisional"] is True  # 2027 has no official schedule yet
    assert case["warnings"] == []

    # the clock runs again: the pushed deadlines are enforced
    case = await sim.to(end_of(new_promised) + HOUR)
    assert warnings(case) == [("yellow", "step_overdue", "review"), ("notice", "promised_due_near", None),
                              ("yellow", "promised_overdue", None)]
    assert_fired_at(case, "promised_overdue", end_of(new_promised))


async def test_special_procedure_that_pauses_the_clock(stack, people):
    _, case = await accepted(people, PLANNING, "nrp")
    cal = calendar(stack)
    cid, sim = case["id"], Sim(stack, case)
    promised_due, statutory_due = due(case, "promised_due"), due(case, "statutory_due")
    handler = people.staff("nrp", "handler")

    case = await handler.ok(cid, "start_special_procedure", kind="expert_review")
    assert case["status"] == "special_procedure"
    assert case["clock"]["paused"] is True
    assert case["special_procedure"]["kind"] == "expert_review"
    assert case["special_procedure"]["expected_days"] == 15  # the item's expected length, told to the applicant
    assert case["history"][-1]["data"]["clock_paused"] is True
    started_on = day(sim.now.isoformat())

    case = await sim.by(30)
    assert case["status"] == "special_procedure" and case["warnings"] == []

    case = await handler.ok(cid, "end_special_procedure")
    paused = cal.working_days_between(started_on, day(sim.now.isoformat()))
    assert case["status"] == "in_review" and case["clock"]["paused"] is False
    assert case["special_procedure"] is None
    assert case["clock"]["paused_working_days"] == paused
    assert due(case, "promised_due") == cal.add_working_days(promised_due, paused)
    assert due(case, "statutory_due") == cal.add_working_days(statutory_due, paused)
    assert actions(case)[-2:] == ["start_special_procedure", "end_special_procedure"]


async def test_special_procedure_that_counts_toward_the_limit_does_not_pause(stack, people):
    _, case = await accepted(people)
    cid, sim = case["id"], Sim(stack, case)
    promised_due, statutory_due = due(case, "promised_due"), due(case, "statutory_due")
    handler = people.staff("amr", "handler")

    case = await handler.ok(cid, "start_special_procedure", kind="site_inspection")
    assert case["status"] == "special_procedure"
    assert case["clock"]["paused"] is False
    assert case["history"][-1]["data"]["clock_paused"] is False

    # the site inspection is part of the review: the promised deadline passes during it
    case = await sim.to(end_of(promised_due) + HOUR)
    assert case["status"] == "special_procedure"
    assert warnings(case, "promised_overdue") == [("yellow", "promised_overdue", None)]
    assert_fired_at(case, "promised_overdue", end_of(promised_due))

    case = await handler.ok(cid, "end_special_procedure")
    assert case["status"] == "in_review"
    assert case["clock"]["paused_working_days"] == 0
    assert due(case, "promised_due") == promised_due and due(case, "statutory_due") == statutory_due
    assert "paused_working_days" not in case["history"][-1]["data"]


# ---- after the decision ---------------------------------------------------------------------------------
async def decide(people, cid: str, department: str = "amr") -> dict:
    """Take an accepted food case through its review steps and approve it."""
    handler, approver = people.staff(department, "handler"), people.staff(department, "approver")
    await handler.ok(cid, "pass")
    await approver.ok(cid, "pass")
    case = await approver.ok(cid, "approve", "符合条件，准予许可")
    assert case["status"] == "decided"
    return case


async def test_delivery_overdue_is_red_procedure_violation(stack, people):
    _, case = await accepted(people)
    cal = calendar(stack)
    case = await decide(people, case["id"])
    decided_on = day(case["decided_at"])
    delivery_due = cal.add_working_days(decided_on, 10)
    assert due(case, "delivery_due") == delivery_due
    assert case["deadlines"]["step_due"] is None

    sim = Sim(stack, case)
    case = await sim.to(end_of(delivery_due) + HOUR)

    assert case["status"] == "decided"
    assert warnings(case) == [("red", "procedure_violation", None)]  # review-clock cards stop at decision
    assert_fired_at(case, "procedure_violation", end_of(delivery_due))
    assert actions(case)[-1] == "warning"
    # late, but it can still be delivered
    clerk = people.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded"


async def test_rating_period_closes_after_thirty_days(stack, people):
    applicant, case = await accepted(people)
    case = await decide(people, case["id"])
    clerk = people.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded"
    assert "rate" in (await applicant.case(case["id"]))["allowed_actions"]

    case = await Sim(stack, case).by(31)
    assert actions(case)[-1] == "rating_closed"
    assert case["history"][-1]["actor"] == "system"
    assert case["rating"] is None
    r = await applicant.act(case["id"], "rate", level=5)
    assert r.status_code == 409, r.text


async def test_an_on_the_spot_item_gets_no_near_deadline_notice_at_acceptance(stack, people):
    """A promised limit of 0 working days (即办件): the notice "fewer than 2 working days left" would fall
    due at acceptance and say nothing the limit does not; design 3 gives none (an outside tester saw
    it counted among the department's warnings)."""
    _, case = await accepted(people, "individual-business-registration")
    case = await Sim(stack, case).by(0.01)  # every timer due by then has fired and been recorded
    assert warnings(case, "promised_due_near") == []


async def test_a_closed_case_results_without_its_history(stack, people):
    """The workflow's result and the simulation's `sync` answer carry the state without the history
    (design 3: a long case's history cannot pass Temporal's payload limit in them); the `current`
    query and the read model keep every entry."""
    _, case = await accepted(people)
    case = await decide(people, case["id"])
    case = await people.staff("amr", "clerk").ok(case["id"], "deliver", method="electronic")
    case = await Sim(stack, case).by(31)
    assert actions(case)[-1] == "rating_closed"
    handle = stack.client.get_workflow_handle(f"case-{case['id']}")
    result = await handle.result(rpc_timeout=timedelta(seconds=30))
    assert (result["design"], result["status"], result["history"]) == (CASE_DESIGN, "concluded", [])
    current = await handle.query(CaseWorkflow.current)
    assert [e.action for e in current.history] == actions(case)


# ---- the calendar ---------------------------------------------------------------------------------------
async def test_deadlines_on_an_unofficial_schedule_stay_provisional(stack, people):
    """A year whose only schedule is an administrator's unofficial one (`official: false`) is not
    official: the deadlines falling in it stay `provisional` (they showed false after such a load)."""
    _, case = await accepted(people)
    cid = case["id"]
    year = due(case, "statutory_due").year
    admin = people.admin
    current = (await admin.get(f"/api/calendar/{year}")).json()
    with stack.sessions() as session:
        before = session.get(CalendarYear, year)
        before_schedule = dict(before.schedule) if before else None
    body = {"year": year, "official": False, "holidays": current["holidays"], "workdays": current["workdays"]}
    try:
        r = await admin.put(f"/api/calendar/{year}", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["official"] is False
        case = await admin.case(cid)
        assert case["deadlines"]["provisional"] is True
        r = await admin.put(f"/api/calendar/{year}", json={**body, "official": True})
        assert r.status_code == 200, r.text
        case = await admin.case(cid)
        assert case["deadlines"]["provisional"] is calendar(stack).is_provisional(
            day(case["received_at"]), *(due(case, n) for n in ("acceptance_due", "promised_due", "statutory_due")))
    finally:
        with stack.sessions() as session:
            row = session.get(CalendarYear, year)
            if before_schedule is None:
                if row is not None:
                    session.delete(row)
            else:
                row.schedule = before_schedule
                row.loaded_at = datetime.now(UTC)  # workers re-read a calendar by its load time
                session.add(row)
            session.commit()
        await recompute_open_cases(stack.client, stack.sessions, f"{year} 年工作日历已恢复")


async def test_calendar_change_moves_deadlines(stack, people):
    _, case = await accepted(people)
    cid = case["id"]
    cal = calendar(stack)
    accepted_on = day(case["accepted_at"])
    promised_due, statutory_due = due(case, "promised_due"), due(case, "statutory_due")
    extra = cal.add_working_days(accepted_on, 1)  # a working day inside the case's window
    year = extra.year
    admin = people.admin
    current = (await admin.get(f"/api/calendar/{year}")).json()
    with stack.sessions() as session:
        before = session.get(CalendarYear, year)
        before_schedule = dict(before.schedule) if before else None
    body = {"year": year, "official": current["official"], "workdays": current["workdays"],
            "holidays": sorted({*current["holidays"], extra.isoformat()})}
    changed = cal.with_override(YearSchedule.from_json(body))
    try:
        r = await admin.put(f"/api/calendar/{year}", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["recomputed_cases"] >= 1
        assert extra.isoformat() in (await admin.get(f"/api/calendar/{year}")).json()["holidays"]

        case = await admin.case(cid)
        assert due(case, "promised_due") == changed.add_working_days(accepted_on, 10)
        assert due(case, "promised_due") == cal.add_working_days(promised_due, 1)
        assert due(case, "statutory_due") == changed.add_working_days(accepted_on, 20)
        assert due(case, "statutory_due") > statutory_due
        last = case["history"][-1]
        assert (last["action"], last["actor"]) == ("calendar_changed", "system")
        assert last["data"]["before"]["promised_due"] == promised_due.isoformat()
        assert last["data"]["after"]["promised_due"] == case["deadlines"]["promised_due"]
    finally:
        # leave the calendar as it was for every other test of the session
        with stack.sessions() as session:
            row = session.get(CalendarYear, year)
            if before_schedule is None:
                if row is not None:
                    session.delete(row)
            else:
                row.schedule = before_schedule
                # a new load time, as every load has: workers re-read a calendar when the count of
                # years or the latest load time changed (activities/calendar.py), not its content
                row.loaded_at = datetime.now(UTC)
                session.add(row)
            session.commit()
        await recompute_open_cases(stack.client, stack.sessions, f"{year} 年工作日历已恢复")
    case = await admin.case(cid)
    assert due(case, "promised_due") == promised_due and due(case, "statutory_due") == statutory_due
    assert actions(case)[-2:] == ["calendar_changed", "calendar_changed"]
    assert (await admin.get(f"/api/calendar/{year}")).json()["holidays"] == current["holidays"]
    with stack.sessions() as session:
        assert len(session.exec(select(CalendarYear).where(CalendarYear.year == year)).all()) == (
            0 if before_schedule is None else 1)


async def test_an_advance_moves_the_read_models_clock_even_when_no_timer_fires(stack, people):
    """The advance answers with the case as it stands at the advanced time: working days count to
    then, not to the case's last transition (an outside tester saw them stale)."""
    _, case = await accepted(people)
    cal = calendar(stack)
    target = datetime.combine(cal.add_working_days(day(case["accepted_at"]), 3), datetime.min.time(),
                              tzinfo=CHINA) + timedelta(hours=12)
    case = await Sim(stack, case).to(target)
    stack.app.state.cases.forget_calendar()  # earlier tests change the calendar behind the API's short cache
    case = await people.staff("amr", "clerk").case(case["id"])
    assert warnings(case, "promised_due_near") == []  # no timer fired at the end of the advance
    expected = cal.working_days_between(day(case["accepted_at"]), target.date())
    assert expected >= 3 and case["clock"]["working_days_used"] == expected, case["clock"]
