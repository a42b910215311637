"""Colour contrast computed from the stylesheets' own colours (WCAG 2.1 AA, 1.4.3): every text colour
on the background it is drawn on reaches 4.5:1, focused links included (the focus paints them
yellow). The pages in a browser: tests/test_browser_accessibility.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "api"
AA = 4.5
WHITE, FOCUS_YELLOW = "#ffffff", "#ffdd00"
#: text set in these places sits on their background, not on the page's white
DARK_PLACES = {".header": ("#0b0c0c",), ".nav": ("#0b0c0c",), ".brand": ("#0b0c0c",),
               ".verdict": ("#00703c", "#d4351c")}
#: classes on links besides `a` itself (a rule colouring them must say how they read when focused)
LINK_CLASSES = (".brand", ".tabs__tab")


def rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) of every rule, those inside @media too, in the order written."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    out = []
    for m in re.finditer(r"([^{}]+)\{([^{}]*)\}", css):
        decls = {k.strip(): v.strip() for k, _, v in (d.partition(":") for d in m.group(2).split(";")) if v}
        out.append((" ".join(m.group(1).split()), decls))
    return out


def colour(value: str | None) -> str | None:
    m = re.search(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", value or "")
    if not m:
        return None
    h = m.group(1).lower()
    return "#" + ("".join(c * 2 for c in h) if len(h) == 3 else h)


def contrast(a: str, b: str) -> float:
    def luminance(c: str) -> float:
        rgb = [int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def pairs(css: str) -> list[tuple[str, str, str]]:
    """(selector, text colour, background) for what each rule draws: its own two colours; a text
    colour alone on its place's background (white, or the dark places'); a background alone (a
    modifier such as `.tag--void`) under the text colour of the block it modifies (`.tag`)."""
    found = rules(css)
    fg_of = {sel: colour(d.get("color")) for sel, d in found if colour(d.get("color"))}
    out = []
    for sel, d in found:
        fg, bg = colour(d.get("color")), colour(d.get("background") or d.get("background-color"))
        if fg and bg:
            out.append((sel, fg, bg))
        elif fg and ":focus" in sel:  # a focused link's colour, on the yellow `a:focus` paints
            out.append((sel, fg, FOCUS_YELLOW))
        elif fg:
            first = sel.split()[0].split(":")[0]
            out += [(sel, fg, place) for place in DARK_PLACES.get(first, (WHITE,))]
        elif bg and "--" in sel and ":" not in sel:
            block = sel.split("--")[0]
            out.append((sel, fg_of.get(block, fg_of["body"]), bg))
    return out


def stylesheets() -> dict[str, str]:
    document = (ROOT / "templates" / "licence_document.html").read_text()
    return {"app.css": (ROOT / "static" / "app.css").read_text(),
            "licence_document.html": re.search(r"<style>(.*?)</style>", document, re.S).group(1)}


@pytest.mark.parametrize("name", ["app.css", "licence_document.html"])
def test_every_text_colour_reaches_aa_on_its_background(name: str) -> None:
    css = stylesheets()[name]
    low = [f"{sel}: {fg} on {bg} = {contrast(fg, bg):.2f}" for sel, fg, bg in pairs(css) if contrast(fg, bg) < AA]
    assert not low, "\n".join(low)
    assert len(pairs(css)) >= (40 if name == "app.css" else 3)  # the parser read the sheet


def test_a_focused_link_stays_legible_on_the_yellow_focus() -> None:
    """`a:focus` paints a link yellow with dark text; a later rule that colours some links (the
    white header links, the red error-summary links) must say their focused colour again."""
    found = rules(stylesheets()["app.css"])
    assert contrast(colour(dict(found)["a:focus"]["color"]), colour(dict(found)["a:focus"]["background"])) >= AA
    focused = {part.strip(): colour(d.get("color")) for sel, d in found for part in sel.split(",")
               if part.strip().endswith(":focus")}
    unread = []
    for sel, d in found:
        for part in (p.strip() for p in sel.split(",")):
            is_link = part == "a" or part.endswith(" a") or part in LINK_CLASSES
            fg = colour(d.get("color"))
            if not is_link or part == "a" or not fg or contrast(fg, FOCUS_YELLOW) >= AA:
                continue
            if not focused.get(f"{part}:focus") or contrast(focused[f"{part}:focus"], FOCUS_YELLOW) < AA:
                unread.append(f"{part} ({fg}) when focused")
    assert not unread, unread


def test_the_contrast_arithmetic() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#1d70b8", "#ffffff"), 2) == 5.17  # the link blue
    assert contrast("#ffffff", FOCUS_YELLOW) < 1.5  # why a focused white link must turn dark
