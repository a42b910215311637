"""Journeys in a real browser: Debian's Chromium driven by Playwright against the app served by
uvicorn on a local port. Each journey saves a screenshot of its main page in docs/screenshots/.

Chromium must be installed (`make test` installs it with apt when missing); without it these
tests fail with a message saying so, never skip."""
from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from tests.conftest import PASSWORD
from tests.feed_receiver import free_port
from tests.pages_client import PDF

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ITEM = "food-business-licence"
MARRIAGE = "marriage-registration-appointment"  # civil: review by the window clerk, decision by the approver
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)


@pytest.fixture(scope="session")
async def live_url(stack) -> AsyncIterator[str]:
    """The in-process app on a real socket (the stack's lifespan already ran)."""
    port = free_port(18400, 18499)
    server = uvicorn.Server(uvicorn.Config(stack.app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run "
                    "`apt-get install -y chromium fonts-noto-cjk` (make test does this when it is missing)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--lang=zh-CN"])
        yield browser
        await browser.close()


NewPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def new_page(chromium: Browser, live_url: str) -> AsyncIterator[NewPage]:
    contexts = []

    async def make(viewport: dict = DESKTOP, javascript: bool = True) -> Page:
        ctx = await chromium.new_context(base_url=live_url, viewport=viewport, locale="zh-CN",
                                         java_script_enabled=javascript)
        contexts.append(ctx)
        return await ctx.new_page()

    yield make
    for ctx in contexts:
        await ctx.close()


async def login(page: Page, username: str, next_url: str = "/") -> None:
    await page.goto(f"/login?next={next_url}")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state()


SHOT_MAX_HEIGHT = 6000  # Chromium cannot capture very tall pages (a shared stack lists many items)


async def shot(page: Page, name: str) -> None:
    """Save a screenshot for people reviewing the pages; it is evidence, not an assertion.

    The capture is clipped to SHOT_MAX_HEIGHT and tried once more on a protocol error,
    which a busy 2-core machine sometimes gives for a full-page capture.
    """
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SHOTS / f"{name}.png")
    size = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], SHOT_MAX_HEIGHT)}
    try:
        await page.screenshot(path=path, full_page=True, clip=clip)
    except PlaywrightError:
        await page.screenshot(path=path)


async def no_horizontal_scroll(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


async def fill_application(page: Page, tmp_path: Path) -> None:
    await page.get_by_label("经营者名称（与执照所载一致）").fill("星河小吃店")
    await page.get_by_label("经营场所地址").fill("杭州市西湖区文三路 1 号")
    await page.get_by_label("主体业态").select_option("餐饮服务经营者")
    await page.get_by_label("经营项目").fill("热食类食品制售")
    await page.get_by_label("经营场所面积（平方米）").fill("45")
    await page.get_by_label("计划开业日期").fill("2027-01-10")
    await page.get_by_label("食品安全管理人员姓名").fill("王五")
    await page.get_by_label("法定代表人（负责人）姓名").fill("王建国")
    doc = tmp_path / "材料.pdf"
    doc.write_bytes(PDF)
    for name in ("食品经营许可申请书", "营业执照", "经营者身份证明", "主要设备设施布局及操作流程文件"):
        await page.get_by_label(name, exact=True).set_input_files(doc)
    for optional in await page.locator("input[type=file]").all():
        if not await optional.input_value():
            await optional.set_input_files(doc)


async def concluded_case(stack, people, applicant) -> str:
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "accept")
    await people.handler.ok(case["id"], "pass")
    await people.approver.ok(case["id"], "pass")
    await people.approver.ok(case["id"], "approve")
    done = await people.clerk.ok(case["id"], "deliver", method="electronic")
    assert done["status"] == "concluded"
    return case["id"]


# ---- journeys ------------------------------------------------------------------------------------------
async def test_home_and_service_guide(new_page):
    page = await new_page(PHONE)
    await page.goto("/")
    await expect(page.get_by_role("link", name="登录")).to_be_visible()
    await page.get_by_role("link", name="办事指南").first.click()
    await page.get_by_label("搜索").fill("食品")
    await page.get_by_role("button", name="查找").click()
    # by its address: other tests of the session may have published items of the same name
    await page.locator('a[href="/guide/food-business-licence"]').click()
    await expect(page.get_by_role("heading", name="食品经营许可", level=1)).to_be_visible()
    await expect(page.get_by_text("法定 20 个工作日；承诺 10 个工作日")).to_be_visible()
    link = page.get_by_role("link", name="在线申请")
    assert await link.get_attribute("href") == f"/apply/{ITEM}"
    await no_horizontal_scroll(page)
    await shot(page, "guide-item")


async def test_applicant_applies_with_files_and_sees_my_cases(stack, new_page, tmp_path):
    applicant = stack.applicant()
    page = await new_page(PHONE)
    await page.goto(f"/apply/{ITEM}")
    await expect(page).to_have_url(re.compile(r"/login\?next=/apply/"))  # asked to log in, then back
    await page.get_by_label("用户名").fill(applicant.username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(f"/apply/{ITEM}$"))
    await fill_application(page, tmp_path)
    await no_horizontal_scroll(page)
    await shot(page, "apply")
    await page.get_by_role("button", name="提交申请").click()
    await expect(page.get_by_role("heading", name="申请已提交")).to_be_visible()
    case_id = re.search(r"/cases/(\d+)", page.url).group(1)
    case = await applicant.case(case_id)
    assert {"食品经营许可申请书", "营业执照"} <= {m["name"] for m in case["materials"]}
    assert all(m["file_id"] and m["version"] == 1 for m in case["materials"])
    await shot(page, "case-submitted")
    await page.get_by_role("link", name="我的办件").click()
    await expect(page.get_by_role("link", name="食品经营许可", exact=True)).to_have_count(1)
    await expect(page.get_by_text(case["case_no"])).to_be_visible()  # the unified case number
    await no_horizontal_scroll(page)
    await shot(page, "my-cases")


async def test_applicant_answers_a_supplement_notice(stack, people, new_page, tmp_path):
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    await people.clerk.ok(case["id"], "request_supplement", "营业执照不清晰", missing=["营业执照"])
    page = await new_page(PHONE)
    await login(page, applicant.username, f"/cases/{case['id']}")
    await expect(page.get_by_text("待补正材料")).to_be_visible()
    await page.get_by_role("button", name="提交补正").click()
    scan = tmp_path / "营业执照.png"
    scan.write_bytes(PNG)
    await page.get_by_label("营业执照", exact=True).set_input_files(scan)
    await page.get_by_role("button", name="确认").click()
    await expect(page.get_by_text("已完成：提交补正")).to_be_visible()
    await expect(page.get_by_text("第 2 版")).to_be_visible()
    assert (await applicant.case(case["id"]))["status"] == "submitted"
    await shot(page, "supplement-answered")


async def test_applicant_withdraws(stack, new_page):
    applicant = stack.applicant()
    case = (await applicant.apply(ITEM)).json()
    page = await new_page(PHONE)
    await login(page, applicant.username, f"/cases/{case['id']}")
    await page.get_by_role("button", name="撤回").click()
    await page.get_by_label("撤回原因（可选）").fill("信息填写有误，重新申请")
    await page.get_by_role("button", name="确认").click()
    await expect(page.get_by_text("已撤回", exact=True)).to_be_visible()
    assert (await applicant.case(case["id"]))["status"] == "withdrawn"
    await expect(page.get_by_role("button", name="撤回")).to_have_count(0)


async def test_applicant_rates_a_concluded_case(stack, people, new_page):
    applicant = stack.applicant()
    case_id = await concluded_case(stack, people, applicant)
    page = await new_page(PHONE)
    await login(page, applicant.username, f"/cases/{case_id}")
    await page.get_by_role("button", name="评价").click()
    await page.get_by_label("非常满意").check()
    await page.get_by_role("button", name="确认").click()
    await expect(page.get_by_text("已完成：评价")).to_be_visible()
    await expect(page.get_by_role("link", name="下载归档包")).to_be_visible()
    assert (await applicant.case(case_id))["rating"] == 5
    await no_horizontal_scroll(page)
    await shot(page, "case-rated")


async def test_department_workbench_accept_pass_approve_deliver(stack, new_page):
    # the civil affairs bureau's marriage appointment: an inbox no other test fills
    applicant = stack.applicant()
    case = (await applicant.apply(MARRIAGE)).json()
    cid = case["id"]
    clerk, approver = stack.staff("civil", "clerk"), stack.staff("civil", "approver")

    page = await new_page(DESKTOP)
    await login(page, clerk.username, "/work")
    await expect(page.locator(f'a[href="/cases/{cid}"]')).to_be_visible()
    await expect(page.get_by_role("columnheader", name="剩余")).to_be_visible()
    await expect(page.get_by_role("link", name="本部门")).to_be_visible()
    await expect(page.get_by_role("link", name="同事已签收")).to_be_visible()
    await shot(page, "workbench")
    await page.locator(f'a[href="/cases/{cid}"]').click()
    for name in ("受理", "补正告知", "不予受理"):
        await expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="准予许可")).to_have_count(0)
    await shot(page, "case-clerk")
    await page.get_by_role("button", name="受理", exact=True).click()
    await expect(page.get_by_text("已完成：受理")).to_be_visible()
    await page.get_by_role("button", name="通过", exact=True).click()  # the review step is the window's
    await expect(page.get_by_text("已完成：通过")).to_be_visible()

    decider = await new_page(DESKTOP)
    await login(decider, approver.username, "/work")
    await decider.locator(f'a[href="/cases/{cid}"]').click()
    await decider.get_by_role("button", name="准予许可", exact=True).click()
    await expect(decider.get_by_text("已完成：准予许可")).to_be_visible()

    await page.goto(f"/cases/{cid}")
    await page.get_by_role("button", name="送达", exact=True).click()
    await page.get_by_label("电子送达").check()
    await page.get_by_role("button", name="确认").click()
    await expect(page.get_by_text("已办结", exact=True)).to_be_visible()
    await shot(page, "case-concluded")
    assert (await applicant.case(cid))["status"] == "concluded"


async def test_lead_unit_joint_page(stack, new_page):
    applicant = stack.applicant(organisation=True)
    r = await applicant.apply("construction-permit-joint")
    assert r.status_code == 201, r.text
    case = await stack.staff("hcd", "clerk").ok(r.json()["id"], "accept")
    first = case["sub_cases"][0]
    sub = await stack.staff(first["department"], "handler").case(first["id"])
    while sub["current_step"]["kind"] == "review":
        sub = await stack.staff(first["department"], sub["current_step"]["role"]).ok(first["id"], "pass")
    await stack.staff(first["department"], "approver").ok(first["id"], "approve")
    lead = stack.staff("hcd", "lead")
    page = await new_page(DESKTOP)
    await login(page, lead.username, f"/joint/{case['id']}")
    await expect(page.get_by_role("heading", name="各部门办理情况")).to_be_visible()
    for dept in ("市住房和城乡建设局", "市消防救援支队", "市生态环境局", "市发展和改革委员会"):
        await expect(page.get_by_role("heading", name=dept)).to_be_visible()
    await expect(page.get_by_text("同意", exact=True)).to_have_count(1)
    await expect(page.get_by_text("尚未答复", exact=True)).to_have_count(3)
    await shot(page, "joint")
    # a case of another department is not this lead unit's: 404 page
    other = (await applicant.apply(ITEM)).json()
    await page.goto(f"/joint/{other['id']}")
    await expect(page.get_by_text("错误代码 404")).to_be_visible()


async def test_auditor_page(stack, people, new_page):
    applicant = stack.applicant()
    case_id = await concluded_case(stack, people, applicant)
    auditor = stack.user(f"auditor-{case_id[-6:]}", "auditor")
    page = await new_page(DESKTOP)
    await login(page, auditor.username, f"/audit/cases/{case_id}")
    await expect(page.get_by_text(re.compile("重放通过"))).to_be_visible()
    await expect(page.get_by_text(re.compile("防篡改校验通过"))).to_be_visible()
    await expect(page.get_by_role("cell", name="受理", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="下载归档包（ZIP）")).to_be_visible()
    async with page.expect_download() as dl:
        await page.get_by_role("link", name="下载归档包（ZIP）").click()
    assert (await dl.value).suggested_filename == f"{case_id}.zip"
    # every column heading on one line (意见 over a column of dashes broke into 意 / 见)
    lines = await page.evaluate("""() => [...document.querySelectorAll('th')].map(th => {
        const r = document.createRange(); r.selectNodeContents(th);
        return [th.innerText, new Set([...r.getClientRects()].map(x => Math.round(x.top))).size]; })""")
    assert all(n == 1 for _, n in lines), lines
    await shot(page, "audit")


async def test_admin_users_calendar_and_items(stack, people, new_page):
    page = await new_page(DESKTOP)
    await login(page, people.admin.username, "/admin/users")
    name = f"web{people.admin.username[-6:]}"
    await page.get_by_label("用户名", exact=True).fill(name)
    await page.get_by_label("初始密码").fill("handler-pass-2026")
    await page.get_by_label("承办人").check()
    await page.get_by_label("部门", exact=True).select_option("amr")
    await page.get_by_role("button", name="保存用户").click()
    await expect(page.get_by_text(f"已保存用户 {name}")).to_be_visible()
    await shot(page, "admin-users")

    await page.goto("/admin/calendar/2026")
    await expect(page.get_by_text("2026年10月1日")).to_be_visible()
    await page.goto("/admin/calendar/2031")
    await expect(page.get_by_text("暂定", exact=True)).to_be_visible()
    await shot(page, "admin-calendar")

    await page.goto("/admin/items")
    await page.get_by_label("事项定义").fill("code: web-bad\nname: 有问题的事项\ndepartment: amr\n"
                                          "promised_limit: {value: 30}\nstatutory_limit: {value: 20}\n")
    await page.get_by_role("button", name="上传并发布").click()
    await expect(page.get_by_role("heading", name="请修改以下问题")).to_be_visible()
    await expect(page.get_by_text(re.compile("发现 \\d+ 个问题"))).to_be_visible()
    await expect(page.get_by_label("事项定义")).to_have_value(re.compile("web-bad"))
    # the same text saved as a draft (the second button posts to its own route): listed with its problems
    await page.get_by_role("button", name="保存草稿").click()
    await expect(page.get_by_role("status")).to_contain_text("已保存草稿")
    await expect(page.locator("#drafts + table tbody tr").first).to_contain_text("web-bad")
    await shot(page, "admin-items")


async def test_supervisor_page(stack, people, new_page):
    """The supervisor opens 电子监察 from the menu: a yellow card on the board, the figures, the charts."""
    late = (await people.applicant(7).apply(ITEM)).json()
    await people.clerk.ok(late["id"], "accept")
    await stack.advance(late["id"], 20)  # past the promised 10 working days: a yellow card
    rated = await concluded_case(stack, people, people.applicant(7))
    await people.applicant(7).ok(rated, "rate", level=4)
    supervisor = stack.user("supervisor-page", "supervisor", name="电子监察室")
    page = await new_page()
    await login(page, supervisor.username)
    await page.get_by_role("link", name="电子监察").click()
    await expect(page.get_by_role("heading", name="监察预警与统计")).to_be_visible()
    await page.get_by_label("部门").select_option("amr")
    await page.get_by_role("button", name="查询").click()
    board = page.locator("#warnings")
    promised = board.locator("tr", has_text=late["case_no"]).filter(has_text="已超过承诺办结期限")
    await expect(promised.get_by_text("黄牌")).to_be_visible()
    await expect(promised.get_by_role("link", name=late["case_no"])).to_be_visible()
    await expect(page.locator("#figures")).to_contain_text("food-business-licence")
    await expect(page.locator("figure.chart svg")).to_have_count(3)
    await expect(page.locator("figure.chart").first).to_contain_text("每周办件量")
    await shot(page, "supervision")


async def test_supervisor_page_fits_a_phone_and_reads_on_a_desktop(stack, people, new_page):
    """At 375 px the page is no wider than the screen: the charts scale down, the figures table
    scrolls inside its own box; on a desktop the table's columns are not squeezed to one character."""
    case = (await people.applicant(7).apply(ITEM)).json()
    await people.clerk.ok(case["id"], "accept")
    supervisor = stack.user("supervisor-phone", "supervisor", name="电子监察室")
    page = await new_page(PHONE)
    await login(page, supervisor.username, "/supervision")
    await page.goto("/supervision")
    await expect(page.get_by_role("heading", name="监察预警与统计")).to_be_visible()
    await expect(page.locator("figure.chart svg")).to_have_count(3)
    await no_horizontal_scroll(page)
    for width in await page.locator("figure.chart svg").evaluate_all("svgs => svgs.map(s => s.getBoundingClientRect().width)"):
        assert 0 < width <= PHONE["width"]
    # the figures table's box (the table per department sits in one too once inquiries exist)
    box = page.get_by_role("region", name="统计表（可左右滑动）", exact=True)
    sizes = await box.evaluate("b => [b.clientWidth, b.scrollWidth, getComputedStyle(b).overflowX]")
    assert sizes[0] <= PHONE["width"] and sizes[1] > sizes[0] and sizes[2] == "auto"  # scrolls in its box
    assert await page.locator("#figures thead").is_visible()  # columns with their headers, not cards
    await shot(page, "supervision-phone")

    desk = await new_page()
    await login(desk, supervisor.username, "/supervision")
    await desk.goto("/supervision")
    await no_horizontal_scroll(desk)
    # every header cell keeps a readable width: at least four characters
    widths = await desk.locator("#figures th").evaluate_all("ths => ths.map(t => t.getBoundingClientRect().width)")
    font = float((await desk.locator("#figures th").first.evaluate("t => getComputedStyle(t).fontSize")).rstrip("px"))
    assert widths and min(widths) >= 4 * font


async def test_applicant_pays_the_fee_from_the_case_page(stack, people, new_page):
    """A driving-licence replacement, approved: the applicant pays 10 yuan on a phone (the sandbox
    provider calls back twice; the case counts it once) and the case goes on to delivery."""
    applicant = stack.applicant()
    cid = (await applicant.apply("driving-licence-replacement")).json()["id"]
    await people.staff("psb", "clerk").ok(cid, "accept")
    await people.staff("psb", "handler").ok(cid, "pass")
    assert (await people.staff("psb", "approver").ok(cid, "approve"))["status"] == "awaiting_payment"
    page = await new_page(PHONE)
    await login(page, applicant.username, "/my/cases")
    await page.get_by_role("link", name="去缴费").click()
    await expect(page.get_by_role("heading", name="在线缴费")).to_be_visible()
    await expect(page.get_by_text("10.00 元", exact=True)).to_be_visible()
    await no_horizontal_scroll(page)
    await shot(page, "case-pay")
    await page.get_by_role("button", name="缴费", exact=True).click()
    await expect(page.get_by_text("缴费已完成")).to_be_visible()
    await expect(page.get_by_role("heading", name="在线缴费")).to_have_count(0)
    case = await applicant.case(cid)
    assert case["status"] == "decided" and [h["action"] for h in case["history"]].count("payment_received") == 1


async def test_apply_page_states_bounds_and_refuses_values_beyond_them_in_place(stack, new_page, tmp_path):
    """An organisation registers for the housing fund on a phone: the deposit ratio's range (5–12) is
    on the input and in its hint before submitting; 13 and an unticked declaration come back beside
    their fields, the entered values kept; corrected, the case is filed."""
    org = stack.applicant(organisation=True)
    page = await new_page(PHONE)
    await login(page, org.username, "/apply/housing-fund-deposit-registration")
    ratio = page.get_by_label("缴存比例（%，5—12）")
    await expect(ratio).to_have_attribute("type", "number")
    await expect(ratio).to_have_attribute("min", "5")
    await expect(ratio).to_have_attribute("max", "12")
    await expect(page.get_by_text("请填写 5 至 12 之间的数字")).to_be_visible()
    await expect(page.get_by_label("缴存职工人数")).to_have_attribute("step", "1")
    await expect(page.get_by_label("单位联系人电话")).to_have_attribute("maxlength", "20")
    await page.get_by_label("单位名称").fill("星河餐饮管理有限公司")
    await page.get_by_label("单位性质").select_option("企业")
    await ratio.fill("13")
    await page.get_by_label("缴存职工人数").fill("8")
    await page.get_by_label("首次汇缴年月（填当月1日）").fill("2026-12-01")
    await page.get_by_label("单位联系人姓名").fill("王五")
    await page.get_by_label("单位联系人电话").fill("0571-88888888")
    doc = tmp_path / "材料.pdf"
    doc.write_bytes(PDF)
    for upload in await page.locator("input[type=file]").all():
        await upload.set_input_files(doc)
    await page.get_by_role("button", name="提交申请").click()
    await expect(page.locator("#form-deposit_ratio-error")).to_contain_text("缴存比例（%，5—12）应在 5 至 12 之间")
    await expect(page.locator("#form-declaration-error")).to_contain_text("请勾选确认")
    await expect(page.get_by_label("缴存比例（%，5—12）")).to_have_value("13")
    await no_horizontal_scroll(page)
    await shot(page, "apply-bounds")
    await page.get_by_label("缴存比例（%，5—12）").fill("12")
    await page.get_by_label("本单位承诺所填信息真实有效，并按时足额缴存住房公积金").check()
    await page.get_by_role("button", name="提交申请").click()
    await expect(page.get_by_role("heading", name="申请已提交")).to_be_visible()
    case = await org.case(re.search(r"/cases/(\d+)", page.url).group(1))
    assert case["form"]["deposit_ratio"] == 12 and case["form"]["declaration"] is True
