"""Tap targets on a phone (375 px, touch): every control a thumb must hit — links that stand on their
own, buttons, selects, inputs, the skip link once focused — is at least 44 × 44 px (docs/style:
"tap targets ≥ 44 px"). Links inside running text are exempt (WCAG 2.5.8's inline exception).
Shares test_browser.py's Chromium and live server."""
from __future__ import annotations

from playwright.async_api import Page

from tests.test_browser import ITEM, PHONE, chromium, concluded_case, live_url
from tests.test_browser_accessibility import signed_in

__all__ = ["chromium", "live_url"]

#: the controls on the page in view smaller than 44 × 44 px, as sentences
SMALL_TARGETS = r"""() => {
  const out = [], shown = e => { const s = getComputedStyle(e), r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !e.closest('details:not([open]) > :not(summary)'); };
  for (const e of document.querySelectorAll('a[href], button, select, input:not([type=hidden]), textarea, summary')) {
    if (!shown(e) || e.classList.contains('skip-link')) continue;
    if (e.tagName === 'A' && getComputedStyle(e).display === 'inline' && e.closest('p, li, dd')) continue;
    let r = e.getBoundingClientRect();
    if (e.type === 'radio' || e.type === 'checkbox') r = (e.closest('.radio, .checkbox') || e).getBoundingClientRect();
    if (e.type === 'file' && e.closest('.file-picker')) r = e.closest('.file-picker').getBoundingClientRect();
    if (Math.round(r.width) < 44 || Math.round(r.height) < 44)
      out.push(`${e.tagName.toLowerCase()} “${(e.innerText || e.value || e.name || '').trim().slice(0, 20)}” ${Math.round(r.width)}×${Math.round(r.height)}`);
  }
  return out;
}"""


async def small_targets(page: Page, path: str) -> list[str]:
    await page.goto(path)
    found = [f"{path}: {s}" for s in await page.evaluate(SMALL_TARGETS)]
    await page.keyboard.press("Tab")  # the skip link, shown once focused
    skip = await page.evaluate("(() => { const r = document.activeElement.getBoundingClientRect(); "
                               "return [document.activeElement.className, Math.round(r.width), Math.round(r.height)]; })()")
    if skip[0] == "skip-link" and (skip[1] < 44 or skip[2] < 44):
        found.append(f"{path}: skip link {skip[1]}×{skip[2]}")
    return found


async def test_every_control_on_a_phone_is_big_enough_to_tap(stack, people, chromium, live_url):
    applicant = people.applicant(0)
    cid = await concluded_case(stack, people, applicant)
    rated = await applicant.ok(cid, "rate", "等了很久", level=2)
    rid = next(h for h in rated["history"] if h["action"] == "rate")["data"]["rectification_id"]
    open_case = (await applicant.apply(ITEM)).json()["id"]
    visits = {
        applicant.username: ["/", "/my/cases", f"/cases/{open_case}?action=withdraw", f"/cases/{cid}",
                             f"/cases/{cid}/documents/receipt", "/my/licences"],
        people.clerk.username: ["/work", "/rectifications", f"/rectifications/{rid}", "/licences"],
    }
    problems: list[str] = []
    for user, paths in visits.items():
        ctx = await chromium.new_context(base_url=live_url, viewport=PHONE, is_mobile=True, has_touch=True,
                                         locale="zh-CN")
        try:
            page = await ctx.new_page()
            await signed_in(page, stack, live_url, user)
            for path in paths:
                problems += await small_targets(page, path)
        finally:
            await ctx.close()
    assert not problems, "\n".join(problems)


#: each of the print toolbar's controls: its words, how many lines they take, its height; and whether
#: the note about the keyboard shortcut shows
TOOLBAR = r"""() => {
  const lines = e => { const r = document.createRange(); r.selectNodeContents(e);
    return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; };
  const controls = [...document.querySelectorAll('.toolbar button, .toolbar a')].map(e =>
    [e.innerText.trim(), lines(e), Math.round(e.getBoundingClientRect().height)]);
  const keys = [...document.querySelectorAll('.toolbar *')].some(e => e.children.length === 0
    && e.textContent.includes('Ctrl') && e.getClientRects().length > 0);
  return {controls, keys, wide: document.documentElement.scrollWidth > window.innerWidth + 1};
}"""


async def test_a_notices_print_toolbar_fits_a_phone(stack, people, chromium, live_url):
    """On a phone 打印 and 返回办件 were squeezed to a character per line beside the A4 note, and the note
    told a touch screen to press Ctrl+P."""
    applicant = people.applicant(0)
    cid = (await applicant.apply(ITEM)).json()["id"]
    ctx = await chromium.new_context(base_url=live_url, viewport=PHONE, is_mobile=True, has_touch=True,
                                     locale="zh-CN")
    try:
        page = await ctx.new_page()
        await signed_in(page, stack, live_url, applicant.username)
        await page.goto(f"/cases/{cid}/documents/receipt")
        found = await page.evaluate(TOOLBAR)
        assert found["controls"] == [["打印", 1, 44], ["返回办件", 1, 44]], found
        assert not found["keys"] and not found["wide"], found
    finally:
        await ctx.close()
