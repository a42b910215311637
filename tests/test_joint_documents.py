"""What the lead unit prints in a joint case (并联审批): the one supplement notice (补正材料通知书) that
gathers every department's requests, as a single case's window prints it. Through the API and the pages,
in the style of tests/test_joint_supplement.py."""
from __future__ import annotations

import re

from tests.pages_client import text_of
from tests.test_joint import CONSTRUCTION, open_joint, staff, subs_by_department

FIRE_DESIGN = "特殊建设工程消防设计文件"
ENV_REPORT = "建设项目环境影响报告表"
PLAN = "建设工程规划许可证"


async def test_the_joint_notice_prints_a_supplement_notice_naming_each_department(stack, browser):
    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    await staff(stack, "fire", "handler").ok(subs["fire"]["id"], "ask_supplement", "消防设计文件缺少平面图",
                                             missing=[FIRE_DESIGN])
    await staff(stack, "env", "approver").ok(subs["env"]["id"], "ask_supplement", "环评报告表未盖章",
                                             missing=[ENV_REPORT])
    lead = staff(stack, "hcd", "lead")
    await browser.login(lead.username)
    early = await browser.get(f"/cases/{cid}/documents/supplement")
    assert early.status_code == 409  # no notice yet: the departments only asked the lead unit
    await lead.ok(cid, "notify_supplement", "请于十个工作日内一并补正", missing=[PLAN])

    done = await browser.get(f"/cases/{cid}?done=notify_supplement")
    assert 'id="print-done"' in done.text and "打印补正材料通知书" in done.text
    listed = done.text.split("文书打印", 1)[1].split("</ul>", 1)[0]
    assert "/documents/supplement" in listed
    r = await browser.get(f"/cases/{cid}/documents/supplement")
    assert r.status_code == 200, r.text[:400]
    said = text_of(r.text)
    assert "补正材料通知书" in said and case["case_no"] in said and "一次性告知" in said
    assert "并联审查" in said and "补正说明：请于十个工作日内一并补正" in said
    rows = [text_of("<body>" + row) for row in re.findall(r"<tr><td>\d+</td>(.*?)</tr>", r.text)]
    assert [row.split("（")[0].split("市")[0] for row in rows] == [FIRE_DESIGN, ENV_REPORT, PLAN]
    assert "市消防救援支队：消防设计文件缺少平面图" in rows[0]
    assert "市生态环境局：环评报告表未盖章" in rows[1]
    assert "市住房和城乡建设局" in rows[2]  # the lead unit's own addition
    assert "办理时限暂停计算" in said and "重新计算受理期限" not in said
    assert f"经办人：{lead.username}" in said  # the lead unit's coordinator who sent the notice
    # the applicant reads and prints the same notice from their own case page
    await browser.login(applicant.username)
    mine = await browser.get(f"/cases/{cid}")
    assert "/documents/supplement" in mine.text.split("文书打印", 1)[1].split("</ul>", 1)[0]
    assert (await browser.get(f"/cases/{cid}/documents/supplement")).status_code == 200


async def test_the_lead_units_page_shows_both_limits_each_departments_weight_and_the_notice(stack, browser):
    from tests.test_joint import answer

    applicant, case = await open_joint(stack, CONSTRUCTION)
    cid = case["id"]
    subs = subs_by_department(case)
    lead = staff(stack, "hcd", "lead")
    await staff(stack, "hcd", "approver").ok(cid, "request_extension", "需组织现场踏勘")
    extended = await staff(stack, "hcd", "head").ok(cid, "approve_extension", "同意延长")
    await browser.login(lead.username)
    said = text_of((await browser.get(f"/joint/{cid}")).text)
    assert f"承诺办结：{zh(extended['deadlines']['promised_due'])}" in said
    assert f"法定办结：{zh(extended['deadlines']['statutory_due'])}（已延长15个工作日）" in said
    # fire (required) and ndrc (not required): the lead unit reads whose disagreement blocks approval
    assert said.count("必需部门：须同意方可准予许可") == 2 and said.count("非必需部门：意见供参考") == 2
    await staff(stack, "fire", "handler").ok(subs["fire"]["id"], "ask_supplement", "缺平面图", missing=[FIRE_DESIGN])
    await lead.ok(cid, "notify_supplement", "请补正")
    page = await browser.get(f"/joint/{cid}")
    assert f'href="/cases/{cid}/documents/supplement"' in page.text and "打印补正材料通知书" in page.text
    await applicant.ok(cid, "submit_supplement", materials=[{"name": FIRE_DESIGN}])
    await answer(stack, subs["fire"]["id"], "fire", deny="消防车通道宽度不足")
    for d in ("hcd", "env", "ndrc"):
        await answer(stack, subs[d]["id"], d)
    said = text_of((await browser.get(f"/joint/{cid}")).text)
    assert "以下必需部门未同意，只能作出不予许可决定：市消防救援支队" in said
    await browser.login(applicant.username)  # the applicant reads no opinion before the unified result
    assert "必需部门未同意" not in text_of((await browser.get(f"/joint/{cid}")).text)


def zh(day: str) -> str:
    y, m, d = day.split("-")
    return f"{int(y)}年{int(m)}月{int(d)}日"


async def test_a_bundles_notice_names_the_member_item_that_asked(stack, browser):
    from tests.test_joint import BUNDLE

    applicant = stack.applicant()
    r = await applicant.apply(BUNDLE)
    bundle = await staff(stack, "gov", "clerk").ok(r.json()["id"], "accept")
    food = next(s for s in bundle["sub_cases"] if s["item_code"] == "food-business-licence")
    layout = "主要设备设施布局及操作流程文件"
    await staff(stack, "amr", "handler").ok(food["id"], "ask_supplement", "平面图不清晰", missing=[layout])
    await staff(stack, "gov", "lead").ok(bundle["id"], "notify_supplement", "请补正")
    await browser.login(applicant.username)
    r = await browser.get(f"/cases/{bundle['id']}/documents/supplement")
    assert r.status_code == 200
    rows = [text_of("<body>" + row) for row in re.findall(r"<tr><td>\d+</td>(.*?)</tr>", r.text)]
    assert len(rows) == 1 and rows[0].startswith(layout)
    assert "食品经营许可（市市场监督管理局）：平面图不清晰" in rows[0]
