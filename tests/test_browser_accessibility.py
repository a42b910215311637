"""Accessibility of every page, in a real browser (WCAG 2.1 AA, what a screen reader, a keyboard, a
200 % zoom and a browser without JavaScript need): `lang`, one h1 and an unbroken heading order, a
title naming the page, a skip link, a label for every control, required fields and errors that
assistive technology can tell, tables with captions and scoped headers, charts with their figures as
a table, focus that is visible and legible and follows the page, nothing lost at 320 px, and forms
that work with JavaScript off. The stylesheet's contrast: tests/test_stylesheet_contrast.py."""
from __future__ import annotations

import re

from playwright.async_api import Page, expect

from api.routes.pages.common import SESSION_COOKIE
from tests.test_browser import (
    DESKTOP,
    ITEM,
    chromium,
    concluded_case,
    fill_application,
    live_url,
    login,
    new_page,
)
from tests.test_pages_subscribers import subscribers_in_trouble

__all__ = ["chromium", "live_url", "new_page"]  # the journeys' fixtures, shared with tests/test_browser.py

JOINT = "construction-permit-joint"
NARROW = {"width": 320, "height": 640}  # WCAG reflow: 1280 px at 400 %, and what 200 % zoom must keep too

#: the problems of the page in view, as sentences (an empty list: nothing found)
AUDIT = r"""() => {
  const out = [], d = document, visible = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  if (d.documentElement.lang !== 'zh-CN') out.push('lang is ' + d.documentElement.lang);
  if (!/^(错误：)?\S.* - 办件 政务服务平台$/.test(d.title) || d.title.startsWith('办件 - ')) out.push('title ' + d.title);
  const hs = [...d.querySelectorAll('h1,h2,h3,h4,h5,h6')];
  if (hs.filter(h => h.tagName === 'H1').length !== 1) out.push('h1 count ' + hs.filter(h => h.tagName === 'H1').length);
  let level = 1, seenH1 = false;
  for (const h of hs) {  // an error summary's h2 may come before the h1 (the GOV.UK pattern)
    const n = +h.tagName[1];
    if (n === 1) seenH1 = true;
    else if (seenH1 && n > level + 1) out.push('heading skips to ' + h.tagName + ' ' + h.textContent.trim());
    if (seenH1) level = n;
  }
  const skip = d.querySelector('a.skip-link');
  if (!skip || skip.getAttribute('href') !== '#main' || d.getElementById('main')?.tagName !== 'MAIN') out.push('no skip link to main');
  const ids = new Set();
  for (const e of d.querySelectorAll('[id]')) { if (ids.has(e.id)) out.push('duplicate id ' + e.id); ids.add(e.id); }
  for (const e of d.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')) out.push('no label ' + e.outerHTML.slice(0, 80));
  }
  for (const e of d.querySelectorAll('[aria-describedby]'))
    for (const id of e.getAttribute('aria-describedby').split(/\s+/)) if (!d.getElementById(id)) out.push('describedby ' + id + ' missing');
  for (const req of d.querySelectorAll('.label-row .req')) {  // a visible required mark: the control says so too
    const c = d.getElementById(req.parentElement.querySelector('label').htmlFor);
    const said = c && (c.required || (c.getAttribute('aria-describedby') || '').includes('-required') || c.type === 'file');
    if (!said) out.push('required mark without required: ' + req.parentElement.textContent.trim());
  }
  for (const f of d.querySelectorAll('input[type=file]')) {  // a file still to supply says 必填 in words
    if (f.required && !(f.getAttribute('aria-describedby') || '').split(' ').some(id => d.getElementById(id)?.textContent === '必填')) out.push('file not said required ' + f.id);
  }
  for (const t of d.querySelectorAll('table')) {
    if (!t.caption || !t.caption.textContent.trim()) out.push('table without caption ' + (t.id || t.querySelector('th')?.textContent));
    for (const th of t.querySelectorAll('th')) if (!th.getAttribute('scope')) out.push('th without scope ' + th.textContent);
  }
  for (const i of d.querySelectorAll('img')) if (!i.getAttribute('alt')) out.push('img without alt ' + i.src);
  for (const s of d.querySelectorAll('main svg')) if (s.getAttribute('aria-hidden') !== 'true' && !(s.getAttribute('role') === 'img' && s.getAttribute('aria-label'))) out.push('svg without text alternative');
  for (const e of d.querySelectorAll('[tabindex]')) if (+e.getAttribute('tabindex') > 0) out.push('positive tabindex');
  for (const e of d.querySelectorAll('a[href], button')) if (visible(e) && !e.textContent.trim() && !e.getAttribute('aria-label')) out.push('nameless ' + e.outerHTML.slice(0, 60));
  for (const a of d.querySelectorAll('.error-summary a[href^="#"]')) if (!d.getElementById(a.getAttribute('href').slice(1))) out.push('summary link to nothing ' + a.getAttribute('href'));
  return out;
}"""
WIDER_THAN_SCREEN = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


async def audit(page: Page, path: str) -> list[str]:
    """The page's problems at desktop width, then whether it scrolls sideways at 320 px."""
    await page.set_viewport_size(DESKTOP)
    await page.goto(path)
    problems = [f"{path}: {p}" for p in await page.evaluate(AUDIT)]
    await page.set_viewport_size(NARROW)
    if await page.evaluate(WIDER_THAN_SCREEN):
        problems.append(f"{path}: wider than 320 px")
    return problems


async def signed_in(page: Page, stack, live_url: str, username: str) -> None:
    """The session cookie the login page would set (the login form itself: the tests below)."""
    await page.context.add_cookies([{"name": SESSION_COOKIE, "value": stack.app.state.tokens.issue(username),
                                     "url": live_url}])


async def test_every_page_is_labelled_structured_and_fits_320_px(stack, people, new_page, live_url):
    applicant, company = people.applicant(0), stack.applicant(organisation=True)
    cid = (await applicant.apply(ITEM)).json()["id"]
    joint = (await company.apply(JOINT)).json()["id"]
    await people.staff("hcd", "clerk").ok(joint, "accept")
    clerk = people.clerk
    supervisor, auditor = people.staff("amr", "supervisor"), people.staff("amr", "auditor")
    subscribers_in_trouble(stack)  # /admin/subscribers with its table
    visits = {
        None: ["/", "/login", "/guide", "/guide?q=无此事项", f"/guide/{ITEM}", "/no-such-page",
               "/licences/1.2.156.3005.2.0.x/verify"],
        applicant.username: ["/my/cases", "/my/licences", "/my/notices", f"/apply/{ITEM}", f"/cases/{cid}",
                             f"/cases/{cid}?submitted=1", f"/cases/{cid}?action=withdraw"],
        company.username: [f"/joint/{joint}", f"/cases/{joint}"],
        clerk.username: ["/work", f"/cases/{cid}?action=request_supplement", "/licences"],
        supervisor.username: ["/supervision", "/supervision?from=2026-12-31&to=2026-01-01", "/rectifications",
                              "/rectifications?status=nonsense"],
        auditor.username: ["/audit", "/audit?case=no-such-case", f"/audit/cases/{cid}", "/audit/licences/verifications",
                           "/audit/licences/verifications?from=2026-12-31&to=2026-01-01"],
        people.admin.username: ["/admin/items", "/admin/users", "/admin/calendar", "/admin/subscribers"],
    }
    case_no = (await applicant.case(cid))["case_no"]
    joint_no = (await company.case(joint))["case_no"]
    titles = {f"/cases/{cid}": f"食品经营许可 办件 {case_no} - ", f"/joint/{joint}": f"并联审批 {joint_no}：各部门办理情况",
              "/audit?case=no-such-case": "错误：审计查询 - ",
              "/audit/licences/verifications?from=2026-12-31&to=2026-01-01": "错误：证照核验记录 - "}
    problems: list[str] = []
    for user, paths in visits.items():
        page = await new_page(DESKTOP)
        if user:
            await signed_in(page, stack, live_url, user)
        for path in paths:
            problems += await audit(page, path)
            if path in titles and not (await page.title()).startswith(titles[path]):
                problems.append(f"{path}: title {await page.title()}")
        await page.context.close()
    assert not problems, "\n".join(problems)


async def test_a_refused_form_without_javascript_is_announced_focused_and_tied_to_its_fields(people, new_page, tmp_path):
    """With JavaScript off: the title says 错误, the error summary (role=alert) has the focus, each
    field in error is aria-invalid and described by its message; then the form goes through."""
    page = await new_page(DESKTOP, javascript=False)
    await page.goto("/login")
    await expect(page.get_by_label("用户名")).to_have_attribute("required", "")
    await page.get_by_role("button", name="登录").click()
    await assert_refusal_announced(page, ["#username", "#password"])

    await login(page, people.applicant(0).username, f"/apply/{ITEM}")
    await page.goto(f"/apply/{ITEM}")
    first_file = page.get_by_label("食品经营许可申请书", exact=True)
    # not yet in error: Chromium would call an empty required file input invalid before anyone touched it
    await expect(first_file).to_have_attribute("aria-invalid", "false")
    await page.get_by_role("button", name="提交申请").click()
    await assert_refusal_announced(page, ["#form-business_name", "#material-0"])
    await expect(first_file).to_have_attribute("aria-invalid", "true")
    await fill_application(page, tmp_path)
    await page.get_by_role("button", name="提交申请").click()
    await expect(page.get_by_role("heading", name="申请已提交", level=1)).to_be_visible()
    assert not await page.evaluate(AUDIT)
    # what the eye takes from the layout is said in words: whose session, the status, the current step
    await expect(page.locator(".who")).to_have_text(re.compile("^当前用户："))
    await expect(page.locator("main")).to_contain_text("办理状态：已提交")
    await expect(page.locator('.progress [aria-current="step"]')).to_have_text(re.compile("^受理"))


async def test_refusals_on_the_other_forms_are_tied_to_their_fields(stack, people, new_page, live_url):
    """The clerk's 补正告知 without a material chosen, the auditor's search for an unknown number, a
    wrong verification code: each message is announced, named by its field, and every link lands."""
    applicant = people.applicant(0)
    cid = await concluded_case(stack, people, applicant)
    licence = (await applicant.case(cid))["result"]["licence_id"]
    page = await new_page(DESKTOP, javascript=False)
    await signed_in(page, stack, live_url, people.clerk.username)
    fresh = (await applicant.apply(ITEM)).json()["id"]
    await page.goto(f"/cases/{fresh}?action=request_supplement")
    await page.get_by_role("button", name="确认").click()
    await assert_refusal_announced(page, ["#request_supplement-missing"])
    assert not await page.evaluate(AUDIT)

    await signed_in(page, stack, live_url, people.staff("amr", "auditor").username)
    await page.goto("/audit")
    await page.get_by_role("button", name="查询").click()
    await assert_refusal_announced(page, ["#case"])
    assert not await page.evaluate(AUDIT)

    await page.goto(f"/licences/{licence}/verify?code=WRONG")
    code = page.get_by_label("核验码")
    await expect(code).to_be_focused()
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(code).to_have_accessible_description(re.compile("核验码不正确"))
    assert not await page.evaluate(AUDIT)


async def assert_refusal_announced(page: Page, fields: list[str]) -> None:
    assert (await page.title()).startswith("错误：")
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="请修改以下问题"))
    await expect(summary).to_be_focused()
    for field in fields:
        await expect(summary.locator(f'a[href="{field}"]')).to_have_count(1)
        control = page.locator(field)
        await expect(control).to_have_attribute("aria-invalid", "true")
        message = await control.evaluate("c => c.getAttribute('aria-describedby').split(' ').map(id => "
                                         "document.getElementById(id).textContent).join(' ')")
        assert "错误：" in message, (field, message)


FOCUSED = r"""() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; })
    .reduce((s, x, i) => s + x * [0.2126, 0.7152, 0.0722][i], 0);
  let n = e, bg = [255, 255, 255];
  for (; n && n.nodeType === 1; n = n.parentElement) { const b = rgb(getComputedStyle(n).backgroundColor); if (b.length === 3 || b[3] > 0) { bg = b; break; } }
  const [hi, lo] = [lum(rgb(getComputedStyle(e).color)), lum(bg)].sort((x, y) => y - x);
  const s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {name: e.tagName + ' ' + (e.textContent || e.name || '').trim().slice(0, 20), contrast: (hi + 0.05) / (lo + 0.05),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2, top: r.top + scrollY, inMain: !!e.closest('main')};
}"""


async def test_keyboard_focus_is_visible_legible_and_follows_the_page(stack, people, new_page, live_url):
    """Tab from the top: the skip link comes first and leads into main; every control then shows a
    focus outline with text still legible on it (4.5:1), in the order the page reads, top to bottom."""
    applicant = people.applicant(0)
    cid = (await applicant.apply(ITEM)).json()["id"]
    page = await new_page(DESKTOP)
    await signed_in(page, stack, live_url, applicant.username)
    for path in ("/", f"/cases/{cid}", f"/apply/{ITEM}"):
        await page.goto(path)
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="跳到正文")).to_be_focused()
        seen, last_top = [], -1.0
        for _ in range(80):
            await page.keyboard.press("Tab")
            f = await page.evaluate(FOCUSED)
            if f is None or f["name"] in seen:
                break
            seen.append(f["name"])
            assert f["outline"] and f["contrast"] >= 4.5, (path, f)
            if f["inMain"]:  # the header's links sit side by side; the main column reads downwards
                assert f["top"] >= last_top - 1, (path, f, "before", seen[-2])
                last_top = f["top"]
        assert len(seen) > 3, (path, seen)
        await page.goto(path)
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")  # the skip link: the next Tab lands inside main
        await page.keyboard.press("Tab")
        assert (await page.evaluate(FOCUSED))["inMain"], path


async def test_each_chart_is_an_image_with_a_name_and_its_figures_as_a_table(stack, people, new_page, live_url):
    await people.applicant(0).apply(ITEM)
    page = await new_page(DESKTOP)
    await signed_in(page, stack, live_url, people.staff("amr", "supervisor").username)
    await page.goto("/supervision")
    weekly = page.get_by_role("img", name="每周办件量（图表，数据见图下的数据表）")
    await expect(weekly).to_have_count(1)
    await page.get_by_text("每周办件量：数据表").click()  # a <details>: opens without script
    table = page.get_by_role("table", name="每周办件量")
    await expect(table.get_by_role("columnheader", name="办件量")).to_be_visible()
    counts = await table.locator("tbody td:nth-child(2)").all_inner_texts()
    assert counts and sum(int(n) for n in counts) >= 1
    for name in ("按时办结率", "满意率"):
        await expect(page.get_by_role("img", name=f"{name}（图表，数据见图下的数据表）")).to_have_count(1)


async def test_an_admin_pauses_a_failing_subscriber_without_javascript_at_320_px(stack, people, new_page):
    """订阅系统 from the admin menu: the failing subscriber reads 重试中 with its last error, nothing is
    lost at 320 px, and its 暂停推送 button works as a plain form with JavaScript off."""
    failing, _, _ = subscribers_in_trouble(stack)
    page = await new_page(NARROW, javascript=False)
    await login(page, people.admin.username, "/admin/users")
    await page.get_by_role("link", name="订阅系统").click()
    row = page.locator(f"#subscriber-{failing}")
    await expect(row).to_contain_text("重试中")
    await expect(row).to_contain_text("HTTP 503 Service Unavailable")
    assert await page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    await row.get_by_role("button", name=re.compile("暂停推送")).click()
    await expect(page.get_by_role("status")).to_have_text(f"已暂停向 {failing} 推送")
    await expect(page.locator(f"#subscriber-{failing}")).to_contain_text("已暂停")
