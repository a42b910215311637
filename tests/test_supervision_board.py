"""The supervisor's board and page (/supervision) as people use them: a paused case keeps the
lateness it accrued, the charts scale to the page (a viewBox, no fixed size) with whole-number
count ticks, and the figures table scrolls inside its own box."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, timedelta

from api import charts
from banjian.db import Case

ITEM, DEPT = "food-business-licence", "amr"



def on_board(board: dict, case_id: str, cause: str) -> dict:
    (row,) = [w for w in board["items"] if w["case_id"] == case_id and w["cause"] == cause]
    return row


async def test_a_suspended_late_case_keeps_its_accrued_lateness_on_the_board(stack, people, browser):
    case = (await people.applicant(0).apply(ITEM)).json()
    cid = case["id"]
    await people.clerk.ok(cid, "accept")
    await stack.advance(cid, 20)  # past the promised 10 working days: a yellow card
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    params = {"department": DEPT, "limit": 200}
    late = on_board((await sup.get("/api/supervision/warnings", params=params)).json(), cid, "promised_overdue")
    assert late["paused"] is False and late["working_days_over"] > 0
    accrued = late["working_days_over"]

    await people.handler.ok(cid, "suspend", "等待补充检测报告")
    paused = on_board((await sup.get("/api/supervision/warnings", params=params)).json(), cid, "promised_overdue")
    assert paused["paused"] is True and paused["working_days_over"] == accrued
    await stack.advance(cid, 10)  # the clock stands still while suspended: so does the lateness
    paused = on_board((await sup.get("/api/supervision/warnings", params=params)).json(), cid, "promised_overdue")
    assert paused["paused"] is True and paused["working_days_over"] == accrued

    await browser.login(sup.username)
    page = (await browser.get("/supervision", params={"department": DEPT})).text
    rows = [r for r in re.findall(rf'<tr>\s*<td data-label="类别">办件</td>\s*<td data-label="对象"><a href="/cases/{cid}">.*?</tr>', page, re.S)
            if "已超过承诺办结期限" in r]
    assert len(rows) == 1, "the case's promised-deadline card is not on the board"
    cell = re.search(r'<td data-label="超期工作日">(.*?)</td>', rows[0], re.S)
    assert cell and re.sub(r"<[^>]+>|\s", "", cell.group(1)) == f"{accrued}（计时暂停）"


async def test_supervision_page_charts_scale_and_the_figures_table_scrolls_in_its_box(stack, people, browser):
    (await people.applicant(0).apply(ITEM)).json()
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    await browser.login(sup.username)
    page = (await browser.get("/supervision")).text
    svgs = re.findall(r"<svg\b[^>]*>", page)
    assert len(svgs) == 3
    for tag in svgs:  # a viewBox and no fixed size: the chart takes the width of the page
        assert 'viewBox="0 0 720 320"' in tag and " width=" not in tag and " height=" not in tag
    assert re.search(r'<div class="table-scroll"[^>]*>\s*<table class="table" id="figures">', page)


async def test_a_bad_filter_shows_its_problem_and_no_board_or_figures(stack, people, browser):
    """A filter the page cannot read answers 422 with the problem in place and the typed values
    kept: no empty board saying 当前没有预警 (there may well be warnings), no figures or downloads."""
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    await browser.login(sup.username)
    for params in ({"from": "2026-04-01", "to": "2026-03-01"}, {"from": "2026-02-30"}, {"department": "nosuch"}):
        r = await browser.get("/supervision", params=params)
        assert r.status_code == 422 and 'role="alert"' in r.text, params
        main = r.text[r.text.index("<main"):]
        for absent in ("当前没有预警", "预警（共", 'id="figures"', "下载 CSV", "<svg", "所选期间没有"):
            assert absent not in main, (params, absent)
    r = await browser.get("/supervision", params={"from": "2026-04-01", "to": "2026-03-01"})
    assert 'value="2026-04-01"' in r.text and 'value="2026-03-01"' in r.text


async def test_a_department_supervisor_is_offered_their_department_only(stack, browser):
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor", department=DEPT)
    await browser.login(sup.username)
    page = (await browser.get("/supervision")).text
    select = re.search(r'<select id="department" name="department">(.*?)</select>', page, re.S)
    assert select and re.findall(r'<option value="([^"]*)"', select.group(1)) == [DEPT]
    everyone = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    await browser.login(everyone.username)
    page = (await browser.get("/supervision")).text
    select = re.search(r'<select id="department" name="department">(.*?)</select>', page, re.S)
    options = re.findall(r'<option value="([^"]*)"', select.group(1))
    assert options[0] == "" and DEPT in options and "hcd" in options


async def test_the_board_shows_due_dates_as_people_read_them(stack, people, browser):
    case = (await people.applicant(0).apply(ITEM)).json()
    cid = case["id"]
    accepted = await people.clerk.ok(cid, "accept")
    await stack.advance(cid, 20)  # past the promised limit: a yellow card naming the promised due date
    due = date.fromisoformat(accepted["deadlines"]["promised_due"])
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    await browser.login(sup.username)
    page = (await browser.get("/supervision", params={"department": DEPT})).text
    rows = [r for r in re.findall(rf'<a href="/cases/{cid}">.*?</tr>', page, re.S) if "已超过承诺办结期限" in r]
    assert rows
    cell = re.search(r'<td data-label="期限">(.*?)</td>', rows[0], re.S)
    assert cell and cell.group(1).strip() == f"{due.year}年{due.month}月{due.day}日"


def test_count_ticks_are_whole_numbers():
    assert charts.count_ticks(0) == [0, 1]
    assert charts.count_ticks(1) == [0, 1]
    assert charts.count_ticks(3) == [0, 1, 2, 3]
    assert charts.count_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.count_ticks(99) == [0, 20, 40, 60, 80, 100]
    for n in range(0, 2000, 7):
        ticks = charts.count_ticks(n)
        assert ticks[0] == 0 and ticks[-1] >= n and len(ticks) <= 6
        assert all(isinstance(t, int) for t in ticks)


def test_weekly_chart_of_one_case_has_no_fractional_ticks():
    svg = charts.render("cases_per_week", [], [(date(2026, 11, 30), 1)])
    axis = re.search(r'<g class="axis y[^"]*">(.*?)</g>\s*</g>', svg, re.S)
    assert axis, "no y axis"
    labels = re.findall(r"<text[^>]*>([^<]+)</text>", axis.group(1))
    assert labels and all(re.fullmatch(r"\d+", t) for t in labels), labels
    assert "0.1" not in labels and "0.5" not in labels


def test_a_long_chinese_bar_label_gets_the_room_it_needs():
    """pygal reserves 0.6 em a character; a Chinese label is wider: the chart's left margin makes up
    the difference, so the longest label is not cut at the chart's edge."""
    label = "市消防救援支队 · 公众聚集场所投入使用、营业前消防安全检查"
    rows = [{"department": "fire", "item_code": "x", "item_name": label.split(" · ")[1], "on_time_rate": 1.0}]
    svg = charts.render("on_time_rate", rows, [], {"fire": "市消防救援支队"})
    assert label in re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    plot = re.search(r'<g transform="translate\(([\d.]+), ([\d.]+)\)" class="plot">', svg)
    assert plot, "no plot"
    wide = sum(1 for ch in label if ord(ch) > 0x2E80)
    assert float(plot.group(1)) >= wide * charts.STYLE.label_font_size  # 1 em a Chinese character


async def test_the_near_notice_leaves_the_board_once_the_promised_day_passed(stack, people):
    """提醒 says the promised day is near; once it passed, the case's 黄牌 says so and the notice,
    whose cause no longer holds, leaves the board (it stays in the case's history and the figures)."""
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    params = {"department": DEPT, "limit": 200}
    near, late = [(await people.applicant(0).apply(ITEM)).json()["id"] for _ in range(2)]
    for cid in (near, late):
        case = await people.clerk.ok(cid, "accept")
    promised = date.fromisoformat(case["deadlines"]["promised_due"])
    today = date.fromisoformat(case["clock"]["today"])
    before = await stack.advance(near, (promised - today).days - 1)  # inside the notice's 2 days, before the day
    assert [w["cause"] for w in before["warnings"] if w["cause"] != "step_overdue"] == ["promised_due_near"], \
        before["warnings"]
    after = await stack.advance(late, (promised - today).days + 2)
    assert {"promised_due_near", "promised_overdue"} <= {w["cause"] for w in after["warnings"]}
    for _ in range(100):  # the recording activity writes the read model after the advance answers
        board = (await sup.get("/api/supervision/warnings", params=params)).json()
        if {(w["case_id"], w["cause"]) for w in board["items"]} >= {(near, "promised_due_near"),
                                                                     (late, "promised_overdue")}:
            break
        await asyncio.sleep(0.1)
    assert on_board(board, near, "promised_due_near")["level"] == "notice"
    assert on_board(board, late, "promised_overdue")["level"] == "yellow"
    assert not [w for w in board["items"] if w["case_id"] == late and w["cause"] == "promised_due_near"]
    # still counted once in the figures: the notice was given
    with stack.sessions() as s:
        assert s.get(Case, late).notices == 1


async def board_of(sup, want, gone=frozenset()) -> dict:
    """The board once the read model holds the (case, cause) rows of `want` and none of `gone`."""
    for _ in range(100):
        board = (await sup.get("/api/supervision/warnings", params={"department": DEPT, "limit": 200})).json()
        rows = {(w["case_id"], w["cause"]) for w in board["items"]}
        if rows >= set(want) and not rows & set(gone):
            break
        await asyncio.sleep(0.1)
    return board


async def test_an_answered_urge_leaves_the_board_while_another_cases_urge_is_still_owed(stack, people):
    """Each case's `urge_unanswered` card is cured by its own reply: answering one case's urge takes
    that card off the board even while another case still owes its own."""
    sup = stack.user(f"sup-{uuid.uuid4().hex[:6]}", "supervisor")
    ids = []
    for _ in range(2):
        cid = (await people.applicant(0).apply(ITEM)).json()["id"]
        case = await people.clerk.ok(cid, "accept")
        reply_by = date.fromisoformat(case["clock"]["today"]) + timedelta(days=1)
        urged = await sup.ok(cid, "urge", "请加快办理", reply_by=reply_by.isoformat())
        board_on = date.fromisoformat(urged["history"][-1]["data"]["board_on"])
        after = await stack.advance(cid, (board_on - date.fromisoformat(case["clock"]["today"])).days + 1)
        assert "urge_unanswered" in [w["cause"] for w in after["warnings"]]
        ids.append(cid)
    answered, owed = ids
    board = await board_of(sup, [(answered, "urge_unanswered"), (owed, "urge_unanswered")])
    assert on_board(board, answered, "urge_unanswered")["level"] == "red"
    await people.handler.ok(answered, "reply_urge", "已办理")
    board = await board_of(sup, [(owed, "urge_unanswered")], gone=[(answered, "urge_unanswered")])
    assert not [w for w in board["items"] if w["case_id"] == answered and w["cause"] == "urge_unanswered"]
    assert on_board(board, owed, "urge_unanswered")["level"] == "red"
