"""The applicant's message centre (消息中心): notices from their own cases' history, the unread count
in the page header, the read state kept per user, `GET /api/me/notices` with its bounds, and no other
applicant's case ever among them."""
from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, text
from sqlmodel import Session

from banjian import notices
from banjian.db import Case, CaseEvent
from banjian.migrate import upgrade

ITEM = "food-business-licence"



def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def header_count(html: str) -> str | None:
    """The unread count beside 消息 in the header (None: no count shown)."""
    nav = re.search(r'<a href="/my/notices" id="nav-notices">(.*?)</a>', html)
    assert nav, "no 消息 link in the header"
    count = re.search(r'<span class="count"[^>]*>([^<]+)</span>', nav.group(1))
    return count.group(1) if count else None


async def test_a_supplement_notice_says_what_on_which_case_and_links_to_the_supplement(stack, people):
    applicant = people.applicant(0)
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "request_supplement", "身份证明不清晰", missing=["经营者身份证明"])
    r = await applicant.get("/api/me/notices")
    assert r.status_code == 200, r.text
    body = r.json()
    mine = [n for n in body["items"] if n["case_id"] == case["id"]]
    assert [n["action"] for n in mine] == ["request_supplement"]  # `submitted` is the applicant's own act
    n = mine[0]
    assert n["title"] == "请补正材料" and "需补正：经营者身份证明" in n["text"] and "身份证明不清晰" in n["text"]
    assert n["next"] == {"label": "去补正", "href": f"/cases/{case['id']}?action=submit_supplement"}
    assert n["case_no"] == case["case_no"] and n["item_name"] and n["unread"] is True
    assert n["at"].endswith("+08:00")
    assert body["unread"] >= 1 and body["total"] >= 1
    # only unread ones, then marked read by the API: none unread, and listed as read
    assert any(x["id"] == n["id"] for x in (await applicant.get("/api/me/notices?unread=true")).json()["items"])
    assert (await applicant.post("/api/me/notices/read")).json() == {"unread": 0}
    assert (await applicant.get("/api/me/notices?unread=true")).json()["items"] == []
    again = (await applicant.get("/api/me/notices?unread=false")).json()["items"]
    assert any(x["id"] == n["id"] and x["unread"] is False for x in again)
    # once supplemented, the notice no longer asks for it
    await applicant.ok(case["id"], "submit_supplement", materials=[{"name": "经营者身份证明"}])
    later = (await applicant.get("/api/me/notices")).json()["items"]
    assert next(x for x in later if x["id"] == n["id"])["next"]["label"] == "查看办件"


async def test_another_applicants_notices_never_show(stack, people):
    alice, bob = stack.applicant(), stack.applicant()
    a = (await alice.apply(ITEM)).json()
    b = (await bob.apply(ITEM)).json()
    await people.clerk.ok(a["id"], "accept")
    await people.clerk.ok(b["id"], "refuse_acceptance", "不属于本部门受理范围")
    mine = (await alice.get("/api/me/notices?limit=100")).json()
    assert {n["case_id"] for n in mine["items"]} == {a["id"]} and mine["total"] == 1
    theirs = (await bob.get("/api/me/notices?limit=100")).json()
    assert {n["case_id"] for n in theirs["items"]} == {b["id"]}
    assert theirs["items"][0]["title"] == "不予受理" and "行政复议" in theirs["items"][0]["text"]
    # staff have no cases of their own: an empty centre, not their department's cases
    # an answered consultation is a notice too, named by its item
    asked = await alice.post("/api/inquiries", json={"kind": "consultation", "item_code": ITEM, "text": "要带什么材料？"})
    assert asked.status_code == 201, asked.text
    assert (await people.clerk.post(f"/api/inquiries/{asked.json()['id']}/answer",
                                    json={"text": "请带营业执照"})).status_code == 200
    answer = (await alice.get("/api/me/notices")).json()["items"][0]
    assert answer["title"] == "您的咨询已答复" and answer["text"] == "请带营业执照" and answer["item_name"] == "食品经营许可"
    assert answer["next"] == {"label": "查看答复", "href": f"/inquiries/{asked.json()['id']}"}
    assert all(n["case_id"] in (a["id"], None) for n in (await alice.get("/api/me/notices")).json()["items"])
    assert not any(n["action"] == "inquiry_answered" for n in (await bob.get("/api/me/notices")).json()["items"])
    staff = (await people.clerk.get("/api/me/notices")).json()
    assert staff == {"items": [], "total": 0, "unread": 0}


async def test_the_api_bounds_every_number_and_needs_a_login(stack, people):
    applicant = people.applicant(0)
    assert (await stack.http.get("/api/me/notices")).status_code == 401
    assert (await stack.http.post("/api/me/notices/read")).status_code == 401
    for query in ("limit=0", "limit=101", "offset=-1", "offset=2001", "unread=maybe", "limit=abc"):
        r = await applicant.get(f"/api/me/notices?{query}")
        assert r.status_code == 422, (query, r.text)
    assert (await applicant.get("/api/me/notices?limit=100&offset=2000")).status_code == 200


async def test_the_header_counts_unread_notices_and_opening_the_page_marks_them_read(stack, people, browser):
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    await browser.login(applicant.username)
    assert header_count((await browser.get("/my/cases")).text) is None  # nothing yet
    await people.clerk.ok(case["id"], "request_supplement", "请补充", missing=["经营者身份证明"])
    assert header_count((await browser.get("/my/cases")).text) == "1"
    assert "（1 条未读）" in (await browser.get("/")).text  # said in words too
    page = await browser.get("/my/notices")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "消息中心" in words and "未读 请补正材料" in words and case["case_no"] in words and "需补正：经营者身份证明" in words
    assert f'href="/cases/{case["id"]}?action=submit_supplement">去补正</a>' in page.text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", words)  # China time, as people read it
    assert header_count(page.text) is None  # read now
    assert header_count((await browser.get("/my/cases")).text) is None
    assert "未读" not in text_of((await browser.get("/my/notices")).text)
    # the next notice counts again
    await applicant.ok(case["id"], "submit_supplement", materials=[{"name": "经营者身份证明"}])
    await people.clerk.ok(case["id"], "accept")
    assert header_count((await browser.get("/my/licences")).text) == "1"


async def test_the_notices_page_needs_a_login_and_fits_a_phone(stack, browser):
    r = await browser.get("/my/notices")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/my/notices")
    applicant = stack.applicant()
    await browser.login(applicant.username)
    page = await browser.get("/my/notices?page=abc")
    assert page.status_code == 422
    empty = await browser.get("/my/notices")
    assert "暂无消息" in empty.text and 'name="viewport"' in empty.text


def _big_read_model(path) -> tuple[object, str]:
    """A read model with 3,000 cases of one organisation (8 history entries each) among 3,000 of others."""
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = datetime.now(UTC)
    actions = ["submitted", "accept", "pass", "pass", "approve", "licence_issued", "deliver", "warning"]
    cases, events = [], []
    for n in range(6000):
        cid = f"C{n:06d}"
        cases.append(dict(id=cid, item_code=ITEM, item_version=1, item_name="食品经营许可", kind="single",
                          department="amr", status="concluded",
                          applicant_username="big-org" if n % 2 == 0 else f"other-{n % 50}",
                          applicant_id_number="x", applicant_name="x", channel="web", submitted_at=now, snapshot={},
                          rev=8, clock_at=now, recorded_at=now - timedelta(days=30)))
        events += [dict(case_id=cid, seq=seq, at=now, actor="system", role="system", action=action, data={},
                        prev_hash="", hash="") for seq, action in enumerate(actions, start=1)]
    with engine.begin() as conn:
        conn.execute(insert(Case.__table__), cases)  # type: ignore[attr-defined]
        conn.execute(insert(CaseEvent.__table__), events)  # type: ignore[attr-defined]
    return engine, "big-org"


def test_the_header_count_stays_cheap_for_an_applicant_with_thousands_of_cases(tmp_path):
    engine, owner = _big_read_model(tmp_path / "big.db")
    with Session(engine) as s:
        assert notices.unread_count(s, owner) == notices.COUNT_CAP  # never read: capped, stops early
        notices.mark_all_read(s, owner)
        assert notices.unread_count(s, owner) == 0
        start = time.perf_counter()
        for _ in range(50):
            notices.unread_count(s, owner)
        per_page = (time.perf_counter() - start) / 50
        # read: only the cases written since then are looked at, through the index
        stmt = notices._COUNT.params(u=owner, d1=date(2026, 12, 3), d2=date(2026, 12, 4), now=datetime.now(UTC)).compile(
            engine, compile_kwargs={"literal_binds": True, "render_postcompile": True})
        plan = [str(r[3]) for r in s.execute(text(f"EXPLAIN QUERY PLAN {stmt}")).all()]
    assert "SEARCH cases USING INDEX ix_cases_applicant_recorded (applicant_username=? AND recorded_at>?)" in plan
    assert "SEARCH inquiries USING INDEX ix_inquiries_asker (asker=?)" in plan
    assert "SEARCH appointments USING INDEX ix_appointments_username (username=?)" in plan
    assert not [p for p in plan if p.startswith("SCAN") and "CONSTANT" not in p and "anon" not in p], plan
    assert per_page < 0.003, f"{per_page * 1000:.2f} ms per header count"
    engine.dispose()


@pytest.mark.postgres
async def test_notices_and_their_count_on_postgres(pg_stack):
    applicant, clerk = pg_stack.applicant(), pg_stack.staff("amr", "clerk")
    case = (await applicant.apply(ITEM)).json()
    await clerk.ok(case["id"], "request_supplement", "请补充", missing=["经营者身份证明"])
    body = (await applicant.get("/api/me/notices?unread=true")).json()
    assert [n["action"] for n in body["items"]] == ["request_supplement"] and body["unread"] == 1
    assert (await applicant.post("/api/me/notices/read")).json() == {"unread": 0}
    await applicant.ok(case["id"], "submit_supplement", materials=[{"name": "经营者身份证明"}])
    await clerk.ok(case["id"], "accept")
    assert (await applicant.get("/api/me/notices")).json()["unread"] == 1
    # a return to the applicant is told (the JSON test of the entry's step works on PostgreSQL too)
    await pg_stack.staff("amr", "handler").ok(case["id"], "return_to", "请补充", step_id="applicant")
    body = (await applicant.get("/api/me/notices")).json()
    assert [n["action"] for n in body["items"]][:2] == ["return_to", "accept"] and body["unread"] == 2


def test_an_appointment_reminder_shows_from_nine_the_day_before_until_read(tmp_path):
    from banjian.appointments import Appointment
    from banjian.timefmt import CHINA

    engine = create_engine(f"sqlite:///{tmp_path / 'appt.db'}")
    upgrade(engine)
    tomorrow = date(2026, 12, 8)
    booked_at = datetime(2026, 12, 1, 10, 0, tzinfo=CHINA)
    with Session(engine) as s:
        s.add(Appointment(id="ap1", item_code=ITEM, department="amr", slot=f"{tomorrow}T09:30", day=tomorrow,
                          username="citizen", status="booked", created_at=booked_at, changed_at=booked_at))
        s.add(Appointment(id="ap2", item_code=ITEM, department="amr", slot=f"{tomorrow}T10:30", day=tomorrow,
                          username="someone-else", status="booked", created_at=booked_at, changed_at=booked_at))
        s.commit()
        before = datetime(2026, 12, 7, 8, 59, tzinfo=CHINA)
        at_nine = datetime(2026, 12, 7, 9, 0, tzinfo=CHINA)
        assert notices.unread_count(s, "citizen", before) == 0
        assert notices.unread_count(s, "citizen", at_nine) == 1
        found = notices.listing(s, "citizen", None, 20, 0, at_nine)
        [n] = notices.as_json(found)
        assert n["title"] == "预约办理提醒" and "2026年12月8日（星期二） 09:30" in n["text"] and n["unread"]
        assert n["next"] == {"label": "查看预约", "href": f"/guide/{ITEM}/book"}
        notices.mark_read(s, "citizen", found["items"])
        assert notices.unread_count(s, "citizen", at_nine) == 0
        assert notices.listing(s, "citizen", True, 20, 0, at_nine)["items"] == []
    engine.dispose()


async def test_a_case_returned_to_the_applicant_is_a_notice_and_a_return_to_a_step_is_not(stack, people, browser):
    """退回至申请人 asks the applicant to correct the case (the clock stops): their message centre says so,
    with the reason and a link to the supplement; sending the case back to an earlier step is internal."""
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "accept")
    await people.handler.ok(case["id"], "pass")
    await people.approver.ok(case["id"], "pass")
    await people.approver.ok(case["id"], "return_to", "请重新审查", step_id="review")  # internal: no notice
    returned = await people.handler.ok(case["id"], "return_to", "经营场所平面图不清晰", step_id="applicant")
    assert returned["status"] == "supplement_requested"
    body = (await applicant.get("/api/me/notices")).json()
    assert [n["action"] for n in body["items"]] == ["return_to", "accept"] and body["unread"] == 2
    n = body["items"][0]
    assert n["title"] == "办件退回，请补正" and n["kind"] == "supplement" and n["unread"] is True
    assert "退回理由：经营场所平面图不清晰" in n["text"] and "暂停" in n["text"]
    assert n["next"] == {"label": "去补正", "href": f"/cases/{case['id']}?action=submit_supplement"}
    await browser.login(applicant.username)
    assert header_count((await browser.get("/my/cases")).text) == "2"  # never opened: the true count
    page = text_of((await browser.get("/my/notices")).text)
    assert "未读 办件退回，请补正" in page and "经营场所平面图不清晰" in page
    # corrected: the notice stays, and no longer asks for anything
    item = (await applicant.get(f"/api/items/{ITEM}")).json()
    first = next(m["name"] for m in item["materials"] if m["required"])
    await applicant.ok(case["id"], "submit_supplement", materials=[first])
    later = (await applicant.get("/api/me/notices")).json()["items"]
    assert next(x for x in later if x["action"] == "return_to")["next"]["label"] == "查看办件"


def _read_model_with_notices(path, owner: str, count: int):
    """A read model where `owner`, who never opened the message centre, has `count` unread notices
    (one acceptance per case) beside internal entries that make none."""
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = datetime.now(UTC)
    cases, events = [], []
    for n in range(count):
        cid = f"N{n:06d}"
        cases.append(dict(id=cid, item_code=ITEM, item_version=1, item_name="食品经营许可", kind="single",
                          department="amr", status="in_review", applicant_username=owner, applicant_id_number="x",
                          applicant_name="x", channel="web", submitted_at=now, snapshot={}, rev=3, clock_at=now,
                          recorded_at=now))
        events += [dict(case_id=cid, seq=seq, at=now, actor="system", role="system", action=action, data={},
                        prev_hash="", hash="") for seq, action in enumerate(("submitted", "accept", "pass"), start=1)]
    with engine.begin() as conn:
        conn.execute(insert(Case.__table__), cases)  # type: ignore[attr-defined]
        conn.execute(insert(CaseEvent.__table__), events)  # type: ignore[attr-defined]
    return engine


def _header(unread: int) -> str:
    from types import SimpleNamespace

    from api.routes.pages.common import TEMPLATES, install_filters

    install_filters()
    user = SimpleNamespace(roles=["applicant"], department=None, display_name="张三", username="zhangsan")
    return TEMPLATES.env.get_template("base.html").render(user=user, unread_notices=unread, csrf_token="x")


@pytest.mark.parametrize(("count", "badge", "said"), [(99, "99", "（99 条未读）"), (150, "99+", "（99 条以上未读）")])
def test_a_never_opened_centre_counts_what_is_unread_and_caps_only_the_badge(tmp_path, count, badge, said):
    """Never opened, every notice is unread: the header shows the true count up to 99 and 99+ only beyond
    it (said in words too); the API's `unread` is the true number, never the badge's cap."""
    engine = _read_model_with_notices(tmp_path / "n.db", "citizen", count)
    with Session(engine) as s:
        shown = notices.unread_count(s, "citizen")
        assert shown == min(count, notices.COUNT_CAP)
        assert notices.unread_total(s, "citizen") == count == notices.listing(s, "citizen", None, 1, 0)["total"]
        html = _header(shown)
        assert header_count(html) == badge and said in html
        notices.mark_all_read(s, "citizen")
        assert notices.unread_count(s, "citizen") == notices.unread_total(s, "citizen") == 0
        assert header_count(_header(0)) is None
    engine.dispose()
