"""The lead unit's list of the joint cases it coordinates (/joint): its inbox holds a joint case only while
a step of its own is open, so without the list a department working late or a supplement request waiting
for the lead unit's notice was seen only by opening each case."""
from __future__ import annotations

import re

from tests.pages_client import text_of
from tests.test_joint import CONSTRUCTION, advance_or_fail, answer, open_joint, staff, subs_by_department


def row_of(html: str, case_no: str) -> str:
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    found = [r for r in rows if case_no in r]
    assert found, f"{case_no} is not listed"
    return text_of("<body>" + found[0])


async def test_the_lead_unit_lists_its_joint_cases_with_each_departments_progress(stack, browser):
    applicant, waiting = await open_joint(stack, CONSTRUCTION)
    _, late = await open_joint(stack, CONSTRUCTION)
    _, quiet = await open_joint(stack, CONSTRUCTION)
    await answer(stack, subs_by_department(quiet)["hcd"]["id"], "hcd")
    fire_id = subs_by_department(waiting)["fire"]["id"]
    await staff(stack, "fire", "handler").ok(fire_id, "ask_supplement", "缺消防设计文件",
                                             missing=["特殊建设工程消防设计文件"])
    await answer(stack, subs_by_department(late)["hcd"]["id"], "hcd")
    await advance_or_fail(stack, late["id"], 16)  # fire and ndrc (10 working days) answer late: deemed consent

    lead = staff(stack, "hcd", "lead")
    await browser.login(lead.username)
    work = await browser.get("/work")
    assert 'href="/joint"' in work.text and "牵头办理的并联审批和一件事" in work.text
    page = await browser.get("/joint")
    assert page.status_code == 200
    # what needs the lead unit first: the late departments, then the notice to send, then the rest
    order = [page.text.index(c["case_no"]) for c in (late, waiting, quiet)]
    assert order == sorted(order), order
    late_row = row_of(page.text, late["case_no"])
    assert "市消防救援支队超期未答复（视为同意）" in late_row and "市发展和改革委员会超期未答复" in late_row
    assert "已答复4/4" not in late_row and "市生态环境局：" in late_row
    # env's days left counted on its own clock (ahead after the advance), as the joint case's page counts them
    env_left = re.search(r"市生态环境局：[^（]*（剩(\d+)个工作日）", late_row)
    detail = text_of((await browser.get(f"/joint/{late['id']}")).text)
    assert env_left and f"剩{env_left.group(1)}个工作日" in detail.split("市生态环境局", 1)[1].split("查看子件", 1)[0]
    waiting_row = row_of(page.text, waiting["case_no"])
    assert "待一次性告知补正" in waiting_row and "已答复0/4" in waiting_row and "（计时暂停）" in waiting_row
    quiet_row = row_of(page.text, quiet["case_no"])
    assert "已答复1/4" in quiet_row and "市消防救援支队：" in quiet_row and "剩" in quiet_row
    assert "市住房和城乡建设局：" not in quiet_row  # hcd answered: no longer listed as working
    assert f'href="/joint/{quiet["id"]}"' in page.text

    # another department's staff see none of hcd's joint cases; an applicant has their own page
    await browser.login(staff(stack, "amr", "clerk").username)
    other = await browser.get("/joint")
    assert other.status_code == 200 and quiet["case_no"] not in other.text
    await browser.login(applicant.username)
    assert (await browser.get("/joint", follow_redirects=False)).headers.get("location") == "/my/cases"
