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
    # the applicant reads and prints the same notice from their own case page
    await browser.login(applicant.username)
    mine = await browser.get(f"/cases/{cid}")
    assert "/documents/supplement" in mine.text.split("文书打印", 1)[1].split("</ul>", 1)[0]
    assert (await browser.get(f"/cases/{cid}/documents/supplement")).status_code == 200
