"""What department staff read on their pages: the inbox names the applicant, the case page's
办理记录 names every entry in Chinese and says what it did (which materials, which department,
what it answered, to whom, how delivered), a special procedure says whether its time counts, and a
participating department's sub-case links no joint case it may not open."""
from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta
from pathlib import Path

from api.routes.pages.common import EVENT_ZH
from api.routes.pages.timeline import entry_detail
from banjian.db import User
from banjian.enums import Action
from banjian.timefmt import CHINA
from tests.pages_client import hidden
from tests.test_joint import (
    CONSTRUCTION,
    accepted_on,
    advance_or_fail,
    answer,
    days_past,
    open_joint,
    staff,
    subs_by_department,
)

ROOT = Path(__file__).resolve().parents[1]



def timeline(html: str) -> str:
    """The case page's 办理记录, tags removed."""
    part = html.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    return re.sub(r"<[^>]+>", "", part)


# ---- names and details, without a stack ---------------------------------------------------------------
def test_every_history_action_the_workflows_record_has_a_chinese_name():
    recorded = {a.value for a in Action}
    for path in (ROOT / "workflows").glob("*.py"):
        recorded |= set(re.findall(r'_log\(\s*[\w.]+,\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert {"sub_case_overdue", "deemed_consent", "cancelled_by_parent"} <= recorded  # the scan finds them
    assert sorted(recorded - EVENT_ZH.keys()) == []


def test_timeline_details_of_a_joint_case_paused_and_terminated_with_its_departments():
    def detail(action: str, **data) -> str | None:
        return entry_detail({"action": action, "data": data}, {}, {})

    assert EVENT_ZH["paused_by_parent"] == "随主件暂停计时" and EVENT_ZH["sub_cases_resumed"] == "部门子件恢复计时"
    assert detail("sub_cases_paused", sub_cases=["1-01", "1-02"]) == "2 个部门子件"
    assert detail("resumed_by_parent", clock_paused=False, paused_working_days=3) == "计时暂停 3 个工作日"
    assert detail("resumed_by_parent", clock_paused=True) == "本部门中止或特别程序未结束，仍暂停计时"
    assert detail("resume", parent_paused=True) == "主件仍暂停计时，随主件恢复计时"
    assert detail("resume", paused_working_days=2) == "计时暂停 2 个工作日"
    assert detail("cancelled_by_parent", parent_status="terminated") == "主件已终止"
    assert detail("cancelled_by_parent") is None


def test_timeline_details_name_materials_departments_steps_and_delivery():
    depts, steps = {"fire": "市消防救援支队", "env": "市生态环境局"}, {"review": "审查"}
    assert entry_detail({"action": "request_supplement", "data": {"missing": ["营业执照", "身份证明"]}},
                        steps, depts) == "需补正：营业执照、身份证明"
    assert entry_detail({"action": "sub_case_decided", "data": {"department": "env", "opinion": "agree",
                                                                "deemed_consent": True}}, steps, depts) \
        == "市生态环境局：同意（逾期未答复，视为同意）"
    # what the applicant reads (no opinion before the unified result): the department alone
    assert entry_detail({"action": "sub_case_decided", "data": {"department": "fire", "opinion": None}},
                        steps, depts) == "市消防救援支队"
    assert entry_detail({"action": "return_to", "data": {"step_id": "review"}}, steps, depts) == "退回至：审查"
    # the licence a case issued is named on its timeline, as the audit reads it (it said only 签发电子证照)
    assert entry_detail({"action": "licence_issued", "data": {"licence_id": "1.2.156.3005.2.0101.X.1.1.C",
                                                              "licence_type": "食品经营许可证"}}, steps, depts) \
        == "食品经营许可证（电子证照标识 1.2.156.3005.2.0101.X.1.1.C）"
    assert entry_detail({"action": "deliver", "data": {"method": "courier", "tracking_no": "SF1"}}, steps, depts) \
        == "邮寄送达（快递单号 SF1）"
    assert entry_detail({"action": "add_signer", "data": {"role": "head", "mode": "all", "position": "after"}},
                        steps, depts) == "加签人：机关负责人（本环节办理后，全部签署）"
    assert entry_detail({"action": "urge", "data": {"reply_by": "2026-12-28"}}, steps, depts) == "回复期限：2026年12月28日"
    assert entry_detail({"action": "pass", "data": {}}, steps, depts) is None


# ---- on the stack ------------------------------------------------------------------------------------
async def test_inbox_names_the_applicant_and_the_window_channel(stack, browser):
    clerk = stack.staff("amr", "clerk")
    applicant = stack.applicant()
    me = (await applicant.get("/api/me")).json()
    body = {"applicant": {"kind": "citizen", "id_number": me["id_number"], "name": "窗口申请人王五"},
            "channel": "window"}
    r = await clerk.apply("food-business-licence", **body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    rows = [t for t in (await clerk.get("/api/tasks", params={"limit": 1000})).json()["items"] if t["case_id"] == cid]
    assert [(t["applicant_name"], t["channel"]) for t in rows] == [("窗口申请人王五", "window")]
    await browser.login(clerk.username)
    page = (await browser.get("/work")).text
    row = next(tr for tr in page.split("<tr>") if f"/cases/{cid}" in tr)
    assert "窗口申请人王五" in row and "窗口收件" in row

    # the case page: whom the clerk serves (id number) and how the application came in
    page = (await browser.get(f"/cases/{cid}")).text
    assert "<dt>公民身份号码</dt>" in page and me["id_number"] in page
    assert "<dt>申请渠道</dt><dd>窗口收件</dd>" in page
    # at a review step, its own due date and the days left to it
    case = await clerk.ok(cid, "accept")
    step_due = case["deadlines"]["step_due"]
    page = (await browser.get(f"/cases/{cid}")).text
    y, m, d = (int(x) for x in step_due.split("-"))
    assert re.search(rf"<dt>本环节到期</dt><dd>{y}年{m}月{d}日（剩余 \d+ 个工作日）</dd>", page), page


async def test_case_page_history_says_what_each_entry_did(stack, browser):
    clerk, handler = stack.staff("amr", "clerk"), stack.staff("amr", "handler")
    r = await stack.applicant().apply("food-business-licence")
    cid = r.json()["id"]
    await clerk.ok(cid, "request_supplement", missing=["营业执照"])
    await browser.login(clerk.username)
    text = timeline((await browser.get(f"/cases/{cid}")).text)
    assert "补正告知（需补正：营业执照）" in text

    # the item's site inspection counts toward the limit: the page must not say it does not
    r2 = await stack.applicant().apply("food-business-licence")
    other = r2.json()["id"]
    await clerk.ok(other, "accept")
    await handler.ok(other, "start_special_procedure", kind="site_inspection", expected_days=5)
    await browser.login(handler.username)
    page = (await browser.get(f"/cases/{other}")).text
    assert "所需时间计入办理时限" in page and "不计入办理时限" not in page
    assert "启动特别程序（经营场所现场核查，预计 5 日，计入办理时限）" in timeline(page)


async def test_joint_history_names_departments_and_a_participant_gets_no_dead_link(stack, browser):
    _, case = await open_joint(stack, CONSTRUCTION)
    cid, subs = case["id"], subs_by_department(case)
    # hcd, ndrc agree, fire disagrees; env stays silent past its sub-limit and is deemed to agree
    await asyncio.gather(answer(stack, subs["hcd"]["id"], "hcd"), answer(stack, subs["ndrc"]["id"], "ndrc"),
                         answer(stack, subs["fire"]["id"], "fire", deny="消防车通道宽度不足"))
    await advance_or_fail(stack, cid, days_past(subs["env"]["due"], accepted_on(case)))

    await browser.login(staff(stack, "hcd", "lead").username)
    text = timeline((await browser.get(f"/cases/{cid}")).text)
    assert "部门意见（市消防救援支队：不同意）" in text
    assert "部门意见（市生态环境局：同意（逾期未答复，视为同意））" in text
    assert "分送部门（市生态环境局" in text
    assert not re.search(r"\b(sub_case_overdue|deemed_consent|sub_case_decided)\b", text)
    lead_sub = (await browser.get(f"/cases/{subs['hcd']['id']}")).text  # hcd leads: it may open the parent
    assert f'href="/cases/{cid}"' in lead_sub

    await browser.login(staff(stack, "env", "handler").username)
    env_page = (await browser.get(f"/cases/{subs['env']['id']}")).text
    assert "视为同意" in timeline(env_page) and "deemed_consent" not in env_page
    assert f'href="/cases/{cid}"' not in env_page  # the parent is not env's to open (it answers 404)
    assert (await browser.get(f"/cases/{cid}")).status_code == 404


def options(html: str, select_id: str) -> list[str]:
    """The texts of a select's options, the placeholder left out."""
    part = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return [re.sub(r"<[^>]+>", "", o).strip() for o in re.findall(r"<option[^>]*>.*?</option>", part)
            if 'value=""' not in o]


async def test_return_to_offers_only_earlier_steps_and_procedures_say_whether_they_count(stack, browser):
    clerk, handler, approver = (stack.staff("amr", r) for r in ("clerk", "handler", "approver"))
    cid = (await stack.applicant().apply("food-business-licence")).json()["id"]
    await clerk.ok(cid, "accept")
    await browser.login(handler.username)
    page = (await browser.get(f"/cases/{cid}", params={"action": "return_to"})).text
    assert options(page, "return_to-step_id") == ["申请人"]  # the first step: nothing earlier to return to
    page = (await browser.get(f"/cases/{cid}", params={"action": "start_special_procedure"})).text
    assert options(page, "start_special_procedure-kind") == ["经营场所现场核查（预计 3 天，计入办理时限）"]

    await handler.ok(cid, "pass")
    await browser.login(approver.username)
    page = (await browser.get(f"/cases/{cid}", params={"action": "return_to"})).text
    assert options(page, "return_to-step_id") == ["申请人", "审查"]


async def test_transfer_offers_only_colleagues_who_may_take_the_step_and_never_the_caller(stack, browser):
    clerk, handler = stack.staff("amr", "clerk"), stack.staff("amr", "handler")
    other_handler = stack.staff("amr", "handler")
    cid = (await stack.applicant().apply("food-business-licence")).json()["id"]
    await clerk.ok(cid, "accept")
    await handler.ok(cid, "claim")
    await browser.login(handler.username)

    def usernames(html: str, select_id: str) -> set[str]:
        return {re.search(r"（([^（）]+)）$", t).group(1) for t in options(html, select_id)}

    offered = usernames((await browser.get(f"/cases/{cid}", params={"action": "transfer"})).text,
                        "transfer-username")
    assert other_handler.username in offered
    assert handler.username not in offered and clerk.username not in offered  # a clerk cannot do 审查
    with stack.sessions() as session:
        assert all("handler" in session.get(User, u).roles for u in offered)
    copied = usernames((await browser.get(f"/cases/{cid}", params={"action": "copy_to"})).text, "copy_to-username")
    assert clerk.username in copied and handler.username not in copied  # a copy goes to anyone but oneself


async def test_a_clerk_finds_a_closed_case_by_number_name_or_id_number_on_work(stack, browser):
    clerk = stack.staff("amr", "clerk")
    applicant = stack.applicant()
    me = (await applicant.get("/api/me")).json()
    case = (await applicant.apply("food-business-licence")).json()
    await clerk.ok(case["id"], "refuse_acceptance", "经营场所不在本辖区")  # closed: in no inbox any more
    elsewhere = (await stack.applicant().apply("driving-licence-replacement")).json()  # psb's, not amr's
    await browser.login(clerk.username)
    for q in (case["case_no"].lower(), me["display_name"], me["id_number"]):
        page = (await browser.get("/work", params={"q": q})).text
        found = page.split('id="found-title"', 1)[1]
        assert f'href="/cases/{case["id"]}"' in found and "不予受理" in found, q
    page = (await browser.get("/work", params={"q": elsewhere["case_no"]})).text
    assert f'/cases/{elsewhere["id"]}' not in page and "未找到" in page  # another department's case stays unseen


async def test_days_left_are_counted_on_the_cases_own_clock_after_a_simulated_advance(stack, browser):
    """The page's 剩余 N 个工作日 and the case's working days used follow one clock: the case's."""
    clerk = stack.staff("amr", "clerk")
    cid = (await stack.applicant().apply("food-business-licence")).json()["id"]
    case = await clerk.ok(cid, "accept")
    assert case["clock"]["today"] == datetime.now(CHINA).date().isoformat()
    await browser.login(clerk.username)

    async def promised_left() -> int:
        page = (await browser.get(f"/cases/{cid}")).text
        return int(re.search(r"<dt>承诺办结</dt><dd>[^<（]*（剩余 (\d+) 个工作日）", page).group(1))

    before = await promised_left()
    case = await stack.advance(cid, 7)  # a week on the case's clock: at least three working days
    assert date.fromisoformat(case["clock"]["today"]) >= datetime.now(CHINA).date() + timedelta(days=7)
    assert await promised_left() <= before - 3


def _inbox_left(page: str, case_id: str) -> str:
    """The 剩余 cell of a case's row on /work, tags removed."""
    row = page.split(f'href="/cases/{case_id}"', 1)[1].split("</tr>", 1)[0]
    return re.sub(r"<[^>]+>", "", row.split('data-label="剩余">', 1)[1].split("</td>", 1)[0]).strip()


async def test_inbox_days_left_agree_with_the_case_page_after_a_simulated_advance(stack, browser):
    """The inbox counted 剩余 from the wall clock's day while the case page counts from the case's own:
    after a simulated advance past the step's limit the inbox said days were left on a case its page
    (and its yellow card) called overdue."""
    handler = stack.staff("amr", "handler")
    cid = (await stack.applicant().apply("food-business-licence")).json()["id"]
    await stack.staff("amr", "clerk").ok(cid, "accept")
    case = await stack.advance(cid, 14)  # two weeks on the case's clock: past the step's 5 working days
    assert any(w["cause"] == "step_overdue" for w in case["warnings"])
    await browser.login(handler.username)
    page = (await browser.get(f"/cases/{cid}")).text
    over = re.search(r"<dt>本环节到期</dt><dd>[^<（]*（已超期 (\d+) 个工作日）", page)
    assert over, "the case page calls the step overdue"
    inbox = (await browser.get("/work", params={"scope": "department"})).text
    assert _inbox_left(inbox, cid) == f"已超期 {over.group(1)} 个工作日"


async def test_joint_page_counts_a_departments_days_left_on_its_sub_cases_clock(stack, browser):
    """/joint/{id} counted each department's 剩 N 个工作日 from the wall clock's day: after a simulated
    advance to the eve of a department's sub-deadline it still showed the days of the first day."""
    _, case = await open_joint(stack, CONSTRUCTION)
    cid, subs = case["id"], subs_by_department(case)
    due = subs["env"]["due"]
    await advance_or_fail(stack, cid, days_past(due, accepted_on(case)) - 2)  # to the day before `due`
    await browser.login(staff(stack, "hcd", "lead").username)
    page = (await browser.get(f"/joint/{cid}")).text
    env = next(card for card in page.split('<section class="card"')[1:] if "生态环境局" in card.split(">", 1)[0])
    left = re.search(r"<dt>到期日</dt><dd>[^<（]*（([^）]*)）", env)
    assert left and left.group(1) == "剩 1 个工作日", left and left.group(1)


async def test_the_handler_who_loses_a_race_reads_why_and_keeps_the_typed_reason(stack, browser):
    """Two handlers on one task: one opens 退回至环节 and types a reason, the other passes the step
    first. The loser's post answered the refusal with the typed reason gone, or (no step chosen yet) a
    bare 422 page with no message at all."""
    handler, colleague = stack.staff("amr", "handler"), stack.staff("amr", "handler")
    cid = (await stack.applicant().apply("food-business-licence")).json()["id"]
    await stack.staff("amr", "clerk").ok(cid, "accept")
    await browser.login(handler.username)
    form = (await browser.get(f"/cases/{cid}", params={"action": "return_to"})).text
    await colleague.ok(cid, "pass")  # the colleague is first
    reason = "经营场所平面图与现场不符，请申请人补充说明"
    for step in ("applicant", ""):  # a step chosen, or none yet: the refusal comes first either way
        r = await browser.submit(f"/cases/{cid}/actions", form, {
            "action": "return_to", "request_id": hidden(form, "request_id"), "step_id": step, "comment": reason})
        assert r.status_code in (403, 409), r.status_code  # the step is now the approver's
        summary = r.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
        assert "无法办理" in summary and "退回至环节" in summary, summary  # the workflow's reason, in Chinese
        kept = r.text.split('id="kept-title"', 1)[1].split("</section>", 1)[0]
        assert "“退回至环节”未办理" in kept and f">{reason}</textarea>" in kept
    assert (await handler.case(cid))["current_step"]["role"] == "approver"  # nothing else changed


async def test_an_action_posted_after_the_session_expired_leads_back_to_its_form_with_the_text_kept(stack, browser):
    """A handler types a suspension reason, the session ends meanwhile, they press 确认: it redirected to
    the login page with `next` the action's POST URL (a 405 page after logging in), the reason lost."""
    handler = stack.staff("amr", "handler")
    cid = (await stack.applicant().apply("food-business-licence")).json()["id"]
    await stack.staff("amr", "clerk").ok(cid, "accept")
    await browser.login(handler.username)
    form = (await browser.get(f"/cases/{cid}", params={"action": "suspend"})).text
    browser.http.cookies.delete("banjian_token")  # the session ended while the form was open
    reason = "申请人申请中止，待补充产权证明"
    r = await browser.submit(f"/cases/{cid}/actions", form, {
        "action": "suspend", "request_id": hidden(form, "request_id"), "comment": reason})
    assert r.status_code == 401
    assert "登录已超时，“中止”尚未提交" in r.text and f">{reason}</textarea>" in r.text
    back = hidden(r.text, "next")
    assert back == f"/cases/{cid}?action=suspend#action-form"
    r = await browser.login(handler.username, next_url=back)
    assert r.status_code == 303 and r.headers["location"] == back
    page = await browser.get(back.split("#", 1)[0])
    assert page.status_code == 200 and 'id="action-form"' in page.text and "中止理由" in page.text
    assert (await handler.case(cid))["status"] == "accepted"  # nothing was done while logged out


async def test_inbox_filters_by_item_warning_and_state_over_the_api_and_on_work(stack, browser):
    """A busy department sorts its inbox by item, warning and state: /work and GET /api/tasks had no
    filter at all (a handler scrolled a hundred rows for the red cards)."""
    handler, clerk = stack.staff("amr", "handler"), stack.staff("amr", "clerk")
    food = (await stack.applicant().apply("food-business-licence")).json()["id"]
    shop = (await stack.applicant().apply("individual-business-registration")).json()["id"]
    await clerk.ok(food, "accept")
    await clerk.ok(shop, "accept")
    await stack.advance(food, 14)  # past the review step's limit: a yellow card

    async def listed(**params) -> set[str]:
        r = await handler.get("/api/tasks", params={"scope": "department", "limit": 1000, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["items"])
        for key in ("item_code", "status"):
            assert all(t[key] == params[key] for t in body["items"]) if key in params else True
        return {t["case_id"] for t in body["items"]}

    assert {food, shop} <= await listed()
    assert food in await listed(item_code="food-business-licence") and shop not in await listed(
        item_code="food-business-licence")
    yellow = await listed(warning="yellow")
    assert food in yellow and shop not in yellow
    calm = await listed(warning="none")
    assert shop in calm and food not in calm
    assert {food, shop} <= await listed(status="accepted")
    for key, bad in (("warning", "purple"), ("status", "concluded")):
        r = await handler.get("/api/tasks", params={key: bad})
        assert r.status_code == 422 and r.json()["detail"]["field"] == key, r.text
        assert "应为" in r.json()["detail"]["message"]

    await browser.login(handler.username)
    page = (await browser.get("/work", params={"scope": "department", "item": "individual-business-registration"})).text
    assert f'href="/cases/{shop}"' in page and f'href="/cases/{food}"' not in page
    assert "符合筛选条件的共" in page and '<option value="individual-business-registration" selected>' in page
    assert "清除筛选" in page and "/work?scope=mine&item=individual-business-registration" in page  # tabs keep it
    page = (await browser.get("/work", params={"scope": "department", "warning": "yellow", "state": "accepted"})).text
    assert f'href="/cases/{food}"' in page and f'href="/cases/{shop}"' not in page
    page = (await browser.get("/work", params={"scope": "department", "item": "no-such-item"})).text
    assert "没有符合筛选条件的待办" in page and "暂无待办" not in page


async def test_case_page_shows_each_warning_level_once_gravest_first(stack, browser):
    """A case with a step card and a promised-limit card read 黄牌 提醒 黄牌 on its page (one badge per
    warning, in the order they came) where the inbox said 黄牌 once."""
    handler = stack.staff("amr", "handler")
    cid = (await stack.applicant().apply("food-business-licence")).json()["id"]
    await stack.staff("amr", "clerk").ok(cid, "accept")
    case = await stack.advance(cid, 16)  # past the step's 5 and the promised 10 working days
    levels = [w["level"] for w in case["warnings"]]
    assert levels.count("yellow") >= 2 and "notice" in levels, levels
    await browser.login(handler.username)
    page = (await browser.get(f"/cases/{cid}")).text
    status = page.split('<span class="visually-hidden">办理状态：</span>', 1)[1].split("</p>", 1)[0]
    badges = re.findall(r'class="badge badge--(\w+)"', status)
    expected = [lvl for lvl in ("red", "yellow", "notice") if lvl in levels]
    assert badges == expected, badges


class _Weekdays:
    """A calendar of Monday to Friday, no holidays (the arithmetic `days_left` relies on)."""

    @staticmethod
    def working_days_between(start: date, end: date) -> int:
        return sum(1 for n in range(1, (end - start).days + 1) if (start + timedelta(days=n)).weekday() < 5)


def test_a_due_day_that_ended_before_a_weekend_is_overdue_not_zero_days_left():
    """Read on the Saturday after a Friday due day, /work, the case page and /joint said 剩余 0 个工作日
    though the day had ended and its card was raised: no working day had passed, so the count was 0."""
    from api.routes.pages.cases import days_left

    friday = date(2026, 12, 18)
    on_time = days_left(_Weekdays, friday.isoformat(), friday)
    assert on_time == 0 and not on_time.overdue  # the due day itself: still on time
    saturday = days_left(_Weekdays, friday.isoformat(), friday + timedelta(days=1))
    assert saturday == 0 and saturday.overdue
    monday = days_left(_Weekdays, friday.isoformat(), friday + timedelta(days=3))
    assert monday == -1 and monday.overdue
    ahead = days_left(_Weekdays, friday.isoformat(), date(2026, 12, 16))
    assert ahead == 2 and not ahead.overdue
