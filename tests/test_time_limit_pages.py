"""What the pages say about a case's time limits: due days as people read them (2026年12月28日)."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta

from banjian.calendar import load_calendar
from banjian.timefmt import start_of
from tests.pages_client import PageClient

FOOD = "food-business-licence"  # amr: promised 10 / statutory 20 working days
ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")



def _zh(d: str) -> str:
    day = date.fromisoformat(d)
    return f"{day.year}年{day.month}月{day.day}日"


async def test_warning_reasons_name_the_due_day_in_chinese_on_the_case_and_supervision_pages(
        stack, people, browser):
    applicant = people.applicant()
    case = (await applicant.apply(FOOD)).json()
    case = await people.staff("amr", "clerk").ok(case["id"], "accept")
    case = await stack.advance(case["id"], 20)  # past the promised 10 working days: a yellow card
    promised_due = case["deadlines"]["promised_due"]
    [warning] = [h for h in case["history"] if h["action"] == "warning" and h["data"]["cause"] == "promised_overdue"]
    assert promised_due in warning["comment"]  # recorded as it was: the ISO day

    sup = stack.user(f"time-sup-{uuid.uuid4().hex[:4]}", "supervisor")
    await browser.login(sup.username)
    page = (await browser.get(f"/cases/{case['id']}")).text
    history = page[page.index("已超过承诺办结期限"):]
    assert history.startswith(f"已超过承诺办结期限（{_zh(promised_due)}）"), history[:80]

    board = (await browser.get("/supervision", params={"department": "amr"})).text
    assert f"（{_zh(promised_due)}）" in board
    assert not ISO_DAY.search(board[board.index("已超过承诺办结期限"):][:60])

    audit = stack.user(f"time-aud-{uuid.uuid4().hex[:4]}", "auditor")
    other = PageClient(stack)
    try:
        await other.login(audit.username)
        timeline = (await other.get(f"/audit/cases/{case['id']}")).text
        assert f"已超过承诺办结期限（{_zh(promised_due)}）" in timeline
    finally:
        await other.close()


async def test_the_notice_says_at_most_n_working_days_are_left_as_the_rule_does(stack, people, browser):
    """Domain: a notice when ≤ 2 working days are left before the promised deadline; it falls due with
    exactly 2 left after its day (the case page says 剩余 2 个工作日), so it may not say 不足 2 (fewer)."""
    case = (await people.applicant().apply(FOOD)).json()
    case = await people.staff("amr", "clerk").ok(case["id"], "accept")
    with stack.sessions() as session:
        cal = load_calendar(session)
    promised_due = date.fromisoformat(case["deadlines"]["promised_due"])
    notice_on = cal.working_day_before(promised_due, 2)
    days = (start_of(notice_on) + timedelta(hours=1) - datetime.fromisoformat(case["submitted_at"])).total_seconds()
    case = await stack.advance(case["id"], days / 86400)

    [w] = [w for w in case["warnings"] if w["cause"] == "promised_due_near"]
    assert w["reason"] == f"承诺办结期限（{promised_due.isoformat()}）临近：剩余不超过 2 个工作日"
    [h] = [h for h in case["history"] if h["action"] == "warning" and h["data"]["cause"] == "promised_due_near"]
    assert h["comment"] == w["reason"]
    assert h["data"]["reason_en"] == f"the promised deadline ({promised_due.isoformat()}) is near: 2 working days or fewer left"

    sup = stack.user(f"time-sup-{uuid.uuid4().hex[:4]}", "supervisor")
    await browser.login(sup.username)
    page = (await browser.get(f"/cases/{case['id']}")).text
    assert f"承诺办结期限（{_zh(promised_due.isoformat())}）临近：剩余不超过 2 个工作日" in page
    assert "剩余 2 个工作日" in page


def test_a_promised_day_inside_published_years_is_not_marked_provisional():
    """The case's `provisional` covers its span up to the statutory day (2027: no official schedule);
    the page tags only the due days that rest on such a year (2026年12月17日 is certain)."""
    from contextlib import nullcontext

    from api.routes.pages.cases import provisional_due
    from banjian.calendar import WorkingCalendar

    class Cases:
        def sessions(self):
            return nullcontext(None)

        def calendar(self, session):
            return WorkingCalendar()

    case = {"received_at": "2026-12-03T21:16:59+08:00", "accepted_at": "2026-12-03T21:16:59+08:00",
            "deadlines": {"promised_due": "2026-12-17", "statutory_due": "2027-01-11", "provisional": True}}
    assert provisional_due(Cases(), case, "promised_due") is False
    assert provisional_due(Cases(), case, "statutory_due") is True
    # accepted at 2026-12-31T17:00Z, already 1 January 2027 in China: counted in the unpublished year
    late = {**case, "accepted_at": "2026-12-31T17:00:00+00:00",
            "deadlines": {"promised_due": "2027-01-15", "provisional": True}}
    assert provisional_due(Cases(), late, "promised_due") is True
    assert provisional_due(Cases(), {**case, "deadlines": {"promised_due": "2026-12-17", "provisional": False}},
                        "promised_due") is False


async def test_a_deemed_acceptance_says_so_beside_the_acceptance_time(stack, people, browser):
    """accepted_at is the receipt (deemed accepted from the day of receipt): the page says why."""
    case = (await people.applicant().apply(FOOD)).json()
    case = await stack.advance(case["id"], 20)  # past 5 working days, holidays included
    assert case["status"] == "accepted" and case["accepted_at"] == case["received_at"]
    sup = stack.user(f"time-sup-{uuid.uuid4().hex[:4]}", "supervisor")
    await browser.login(sup.username)
    page = (await browser.get(f"/cases/{case['id']}")).text
    accepted = page[page.index("<dt>受理时间</dt>"):]
    accepted = accepted[:accepted.index("</dd>")]
    assert "依法视为自收到申请之日起受理" in accepted, accepted


async def test_the_acceptance_card_names_the_items_own_acceptance_limit(stack):
    """An item whose window decides within 3 working days: the red card says 3, not 5."""
    from tests.test_api_cases import as_json, fresh_item

    admin = stack.user(f"time-adm-{uuid.uuid4().hex[:4]}", "admin")
    d = fresh_item(acceptance_limit={"value": 3, "unit": "working_days"})
    r = await stack.http.post("/api/items", content=as_json(d).encode(),
                              headers={**await admin.headers(), "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    case = (await stack.applicant().apply(d["code"])).json()
    case = await stack.advance(case["id"], 20)
    [w] = [w for w in case["warnings"] if w["cause"] == "acceptance_overdue"]
    assert w["reason"] == f"3 个工作日内未作出受理决定，视为受理（{case['deadlines']['acceptance_due']}）"
    [h] = [h for h in case["history"] if h["action"] == "warning" and h["data"]["cause"] == "acceptance_overdue"]
    assert h["data"]["reason_en"].startswith("no acceptance decision within 3 working days (")
