"""Joint approval on the pages: where people read about departments (a refusal, the unified denial's
reasons, a bundle's combined denial), the departments are named, not coded ("市消防救援支队", not
"fire"); the API keeps the codes in its machine-readable fields."""
from __future__ import annotations

import asyncio
import re
import uuid

from tests.pages_client import PDF
from tests.test_joint import BUNDLE, CONSTRUCTION, answer, open_joint, staff, subs_by_department


def result_text(html: str) -> str:
    m = re.search(r'<p class="result">([^<]*)</p>', html)
    assert m, "no unified result on the page"
    return m.group(1)


async def test_a_joint_denial_names_the_departments_on_the_case_and_joint_pages(stack, browser):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid, subs = case["id"], subs_by_department(case)
    fire_no, env_no = "消防车通道宽度不满足规范要求", "未编制环境影响报告表"
    await asyncio.gather(answer(stack, subs["hcd"]["id"], "hcd"), answer(stack, subs["ndrc"]["id"], "ndrc"),
                         answer(stack, subs["fire"]["id"], "fire", deny=fire_no),
                         answer(stack, subs["env"]["id"], "env", deny=env_no))
    await staff(stack, "hcd", "lead").ok(cid, "pass")

    # 准予许可 is refused on the case page, naming the department that did not agree
    await browser.login(staff(stack, "hcd", "approver").username)
    page = await browser.get(f"/cases/{cid}")
    r = await browser.submit(f"/cases/{cid}/actions", page.text, {"action": "approve", "request_id": uuid.uuid4().hex})
    assert r.status_code == 409 and "无法办理" in r.text
    assert "以下必需部门未同意，只能作出不予许可决定：市消防救援支队" in r.text
    assert not re.search(r"[：、](fire|env)\b", r.text)

    # the unified denial: its reasons name the departments, on the case page and the joint page
    opened = await browser.get(f"/cases/{cid}", params={"action": "deny"})
    r = await browser.submit(f"/cases/{cid}/actions", opened.text,
                             {"action": "deny", "comment": "并联部门审查未通过", "request_id": uuid.uuid4().hex})
    assert r.status_code == 303, r.text
    reason = f"并联部门审查未通过；市消防救援支队：{fire_no}；市生态环境局：{env_no}"
    assert reason in (await browser.get(f"/cases/{cid}")).text
    await browser.login(applicant.username)
    joint = await browser.get(f"/joint/{cid}")
    assert result_text(joint.text) == f"不予许可：{reason}"
    assert "fire：" not in joint.text and "env：" not in joint.text


async def test_a_bundle_denial_names_the_department_of_the_denied_item(stack, browser):
    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    case = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    food = next(s for s in case["sub_cases"] if s["item_code"] == "food-business-licence")
    why = "加工操作区布局不符合食品安全要求"
    await asyncio.gather(*(answer(stack, s["id"], s["department"], deny=why if s is food else None)
                           for s in case["sub_cases"]))
    await browser.login(applicant.username)
    page = await browser.get(f"/joint/{case['id']}")
    assert result_text(page.text) == f"不予许可：{food['item_name']}（市市场监督管理局）：{why}"
    assert "（amr）" not in page.text
    history = (await browser.get(f"/cases/{case['id']}")).text
    assert f"{food['item_name']}（市市场监督管理局）：{why}" in history


def card(html: str, department: str) -> str:
    """One department's card on the joint page, tags removed."""
    m = re.search(rf'<section class="card" aria-label="{department}">(.*?)</section>', html, re.S)
    assert m, f"no card for {department}"
    return re.sub(r"<[^>]+>", "", m.group(1))


async def test_joint_page_counts_departments_on_their_clock_and_says_when_it_is_paused(stack, browser):
    from tests.test_joint import COMPLETION, accepted_on, days_past

    _, case = await open_joint(stack, COMPLETION)
    cid, subs = case["id"], subs_by_department(case)
    await asyncio.gather(answer(stack, subs["hcd"]["id"], "hcd"), answer(stack, subs["nrp"]["id"], "nrp"))
    # fire and env (7 working days each) stay silent past their sub-limit, on the simulation clock
    await stack.advance(cid, days_past(subs["fire"]["due"], accepted_on(case)) + 2)
    await browser.login(staff(stack, "hcd", "lead").username)
    page = (await browser.get(f"/joint/{cid}")).text
    for dept in ("市消防救援支队", "市生态环境局"):
        text = card(page, dept)
        assert "已超期" in text and "剩" not in text, text  # counted on the department's clock, not the wall's
        assert "红牌" in text
    # a department's sub-case page names its one limit as the department's, not the joint case's statutory one
    fire = (await browser.get(f"/cases/{subs['fire']['id']}")).text
    assert re.search(r"<dt>部门办理时限</dt><dd>[^<]*已超期", fire) and "<dt>法定办结</dt>" not in fire
    assert "<dt>承诺办结</dt>" not in fire and "<dt>法定办结</dt>" in (await browser.get(f"/cases/{cid}")).text
    # the case page says what the lead unit waits for while no step of its own is open
    assert "各部门并联办理中，尚未答复：市生态环境局、市消防救援支队" in (await browser.get(f"/cases/{cid}")).text

    # the joint case is suspended: every open department's clock pauses with it, and the page says so
    await staff(stack, "hcd", "approver").ok(cid, "suspend", "等待规划条件核实材料")
    page = (await browser.get(f"/joint/{cid}")).text
    for dept in ("市消防救援支队", "市生态环境局"):
        text = card(page, dept)
        assert "计时暂停" in text and "已超期" not in text and "剩" not in text, text
    assert "计时暂停" not in card(page, "市住房和城乡建设局")  # closed: no clock at all


async def test_a_joint_supplement_on_the_pages(stack, browser):
    """A department asks on its sub-case page (提请补正), the lead unit reads every request on /joint and
    sends one notice (一次性告知补正), the applicant reads it on the case page and answers once with files."""
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid, subs = case["id"], subs_by_department(case)
    fire_id = subs["fire"]["id"]
    await browser.login(staff(stack, "fire", "handler").username)
    opened = await browser.get(f"/cases/{fire_id}", params={"action": "ask_supplement"})
    assert ">提请补正</button>" in opened.text and "需申请人补正的材料" in opened.text
    r = await browser.submit(f"/cases/{fire_id}/actions", opened.text,
                             {"action": "ask_supplement", "missing": "特殊建设工程消防设计文件",
                              "request_id": uuid.uuid4().hex})
    assert r.status_code == 422 and "请填写补正意见" in r.text  # the opinion is required, beside its field
    r = await browser.submit(f"/cases/{fire_id}/actions", opened.text,
                             {"action": "ask_supplement", "missing": "特殊建设工程消防设计文件",
                              "comment": "未提交消防设计文件", "request_id": uuid.uuid4().hex})
    assert r.status_code == 303, r.text
    sub_page = (await browser.get(f"/cases/{fire_id}")).text
    assert "本部门已提请补正" in sub_page and "等待牵头部门一次性告知申请人" in sub_page

    await browser.login(staff(stack, "hcd", "lead").username)
    joint = (await browser.get(f"/joint/{cid}")).text
    assert "补正（一次性告知）" in joint and "市消防救援支队" in joint and "未提交消防设计文件" in joint
    assert ">一次性告知补正</button>" in joint
    opened = await browser.get(f"/cases/{cid}", params={"action": "notify_supplement"})
    r = await browser.submit(f"/cases/{cid}/actions", opened.text,
                             {"action": "notify_supplement", "comment": "请一次性补正", "request_id": uuid.uuid4().hex})
    assert r.status_code == 303, r.text
    assert "已于" in (await browser.get(f"/joint/{cid}")).text

    await browser.login(applicant.username)
    mine = (await browser.get(f"/cases/{cid}")).text
    assert "请一次性补正材料" in mine and "市消防救援支队：特殊建设工程消防设计文件（未提交消防设计文件）" in mine
    assert "牵头部门告知：请一次性补正" in mine
    assert 'progress__step--current" aria-current="step">审查' in mine  # not back at acceptance
    opened = await browser.get(f"/cases/{cid}", params={"action": "submit_supplement"})
    r = await browser.submit(f"/cases/{cid}/actions", opened.text,
                             {"action": "submit_supplement", "request_id": uuid.uuid4().hex},
                             {"supplement_0": ("消防设计文件.pdf", PDF, "application/pdf")})
    assert r.status_code == 303, r.text
    fire = await staff(stack, "fire", "handler").case(fire_id)
    assert fire["status"] in ("accepted", "in_review") and fire["supplement_ask"] is None
    # the department reads the applicant's file: the forwarded version lists it on its sub-case
    supplied = [m for m in fire["materials"] if m["name"] == "特殊建设工程消防设计文件"]
    assert supplied and supplied[-1]["file_id"], fire["materials"]
    got = await staff(stack, "fire", "handler").get(f"/api/files/{supplied[-1]['file_id']}")
    assert got.status_code == 200 and got.content == PDF


async def test_a_bundle_supplement_reads_on_a_phone_and_in_my_cases(stack, browser):
    """The /joint table of requests labels every cell (on a 375 px phone each cell shows its column's name),
    and 我的办件 says the promised date is paused while the applicant owes the supplement."""
    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    case = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    cid = case["id"]
    fire_id = next(s["id"] for s in case["sub_cases"] if s["department"] == "fire")
    await staff(stack, "fire", "handler").ok(fire_id, "ask_supplement", "平面图未标注疏散通道",
                                             missing=["场所平面布置图及消防设施平面图"])
    await browser.login(staff(stack, "gov", "lead").username)
    joint = (await browser.get(f"/joint/{cid}")).text
    table = joint[joint.index('id="joint-supplement"'):]
    table = table[:table.index("</table>")]
    cells = re.findall(r"<td([^>]*)>", table)
    assert len(cells) == 5 and all('data-label="' in c for c in cells), cells
    # 当前环节 names each member still working with its department (amr handles two of them)
    lead_page = (await browser.get(f"/cases/{cid}")).text
    assert ("各部门并联办理中，尚未答复：个体工商户设立登记（市市场监督管理局）、食品经营许可（市市场监督管理局）、"
            "公众聚集场所投入使用、营业前消防安全检查（市消防救援支队）") in lead_page
    await staff(stack, "gov", "lead").ok(cid, "notify_supplement", "请一次性补正")
    await browser.login(applicant.username)
    # while the applicant owes the supplement, the case waits for them, not for the departments
    mine = (await browser.get(f"/cases/{cid}")).text
    assert "等待申请人补正（已一次性告知）" in mine and "各部门并联办理中" not in mine
    mine = (await browser.get("/my/cases")).text
    assert "需补正材料（场所平面布置图及消防设施平面图）" in mine
    assert re.search(r"承诺办结日期：[^<]*（计时暂停）", mine), mine
    # answered: the clock runs again; a promised day in a year with an official schedule is not 暂定, even
    # though the bundle's statutory day (in a year not yet published) is
    case = await applicant.ok(cid, "submit_supplement", materials=["场所平面布置图及消防设施平面图"])
    line = re.search(r"承诺办结日期：[^<]*", (await browser.get("/my/cases")).text).group(0)
    assert "计时暂停" not in line, line
    if case["deadlines"]["provisional"] and case["deadlines"]["promised_due"] < "2027":
        assert "暂定" not in line, line


async def test_a_bundle_withdrawn_while_a_department_waits_for_a_supplement(stack, browser):
    """The applicant withdraws while fire waits for the lead unit's notice: every member ends withdrawn, the
    lead unit has no notice left to send, and fire's page no longer says it waits with its clock paused."""
    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    case = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    cid = case["id"]
    fire_id = next(s["id"] for s in case["sub_cases"] if s["department"] == "fire")
    fire = staff(stack, "fire", "handler")
    await fire.ok(fire_id, "ask_supplement", "平面图不清", missing=["场所平面布置图及消防设施平面图"])
    parent = await applicant.ok(cid, "withdraw", "不再开办")
    assert parent["status"] == "withdrawn" and {s["status"] for s in parent["sub_cases"]} == {"withdrawn"}
    assert (await staff(stack, "gov", "lead").act(cid, "notify_supplement")).status_code == 409
    assert (await fire.case(fire_id))["supplement_ask"] is None  # no open request on a closed sub-case
    lead_inbox = (await staff(stack, "gov", "lead").get("/api/tasks")).json()["items"]
    assert cid not in [t["case_id"] for t in lead_inbox]
    await browser.login(fire.username)
    page = (await browser.get(f"/cases/{fire_id}")).text
    assert "已撤回" in page
    assert "本部门已提请补正" not in page and "计时暂停" not in page, page


async def test_a_bundle_result_lists_each_member_licence_for_the_applicant(stack, browser):
    """一件事 issues each department's own licence: the applicant's case page lists every one with its
    download and verification links, beside the unified result."""
    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    case = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    cid = case["id"]
    await asyncio.gather(*(answer(stack, s["id"], s["department"]) for s in case["sub_cases"]))
    await staff(stack, "gov", "clerk").ok(cid, "deliver", method="electronic")
    parent = await applicant.case(cid)
    issued = {s["item_name"]: s["licence_id"] for s in parent["sub_cases"] if s.get("licence_id")}
    assert len(issued) == 2, parent["sub_cases"]
    await browser.login(applicant.username)
    page = (await browser.get(f"/cases/{cid}")).text
    for name, lid in issued.items():
        assert f'{name}：电子证照 <span class="mono">{lid}</span>' in page, name
        assert f'href="/api/licences/{lid}/document"' in page and f'href="/licences/{lid}/verify"' in page
        assert (await applicant.get(f"/api/licences/{lid}/document")).status_code == 200


async def test_a_bundle_members_page_is_named_as_a_bundle_item_not_a_joint_sub_case(stack, browser):
    r = await stack.applicant().apply(BUNDLE)
    bundle = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    food = next(s for s in bundle["sub_cases"] if s["item_code"] == "food-business-licence")
    await browser.login(staff(stack, "amr", "handler").username)
    caption = re.search(r'<span class="caption">(.*?)</span>', (await browser.get(f"/cases/{food['id']}")).text)
    assert caption and "食品经营许可 · 一件事成员事项" in caption.group(1) and "并联审批" not in caption.group(1)
    _, case = await open_joint(stack, CONSTRUCTION)
    fire = subs_by_department(case)["fire"]
    await browser.login(staff(stack, "fire", "handler").username)
    caption = re.search(r'<span class="caption">(.*?)</span>', (await browser.get(f"/cases/{fire['id']}")).text)
    assert caption and "并联审批部门子件" in caption.group(1)


async def test_a_joint_case_withdrawn_mid_review_reads_so_on_the_lead_units_page(stack, browser):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid, subs = case["id"], subs_by_department(case)
    await answer(stack, subs["ndrc"]["id"], "ndrc")
    withdrawn = await applicant.ok(cid, "withdraw", "项目暂缓")
    assert withdrawn["status"] == "withdrawn"
    await browser.login(staff(stack, "hcd", "lead").username)
    page = await browser.get(f"/joint/{cid}")
    assert page.text.count("<dt>意见</dt><dd>未答复（已撤回）</dd>") == 3
    assert page.text.count("<dt>意见</dt><dd>同意</dd>") == 1  # ndrc had answered before the withdrawal
    assert "<dt>意见</dt><dd>已办结</dd>" not in page.text and "待牵头部门出具统一办理结果" not in page.text
    assert "申请人已撤回申请，尚未办结的部门子件随之撤销，不出具统一办理结果" in page.text
