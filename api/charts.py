"""Supervision charts as SVG, drawn on the server by pygal (no script: the pages work without
JavaScript), in a Chinese font family so that labels stay legible.

The SVG carries a `viewBox` and no fixed size (pygal's `explicit_size` off): it takes the width of
its container (on the page `.chart svg` is `width: 100%`), so a chart fits a phone. A count axis
has whole-number ticks only."""
from __future__ import annotations

import math
import re
from datetime import date
from typing import Any, Literal

import pygal
from pygal.style import Style

Chart = Literal["cases_per_week", "on_time_rate", "satisfaction"]
CHARTS: dict[str, str] = {"cases_per_week": "每周办件量", "on_time_rate": "按时办结率", "satisfaction": "满意率"}
#: the drawing's own size (its viewBox): the page scales it to the width it has
WIDTH, HEIGHT = 720, 320
FONT = "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', sans-serif"
#: pygal always writes a small configuration script; the charts are static (and the CSP forbids it)
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)
STYLE = Style(font_family=FONT, background="white", plot_background="white", foreground="#0b0c0c",
              foreground_strong="#0b0c0c", foreground_subtle="#505a5f", colors=("#1d70b8", "#00703c", "#d4351c"),
              title_font_size=18, label_font_size=12, major_label_font_size=12, legend_font_size=12)


def _config() -> dict[str, Any]:
    return dict(style=STYLE, js=[], disable_xml_declaration=True, width=WIDTH, height=HEIGHT, show_legend=False,
                explicit_size=False, no_data_text="暂无数据", print_values=False)


def _cjk_room(labels: list[str]) -> int:
    """The margin the longest label needs beyond what pygal reserves for it: pygal counts 0.6 em a
    character, a Chinese character is 1 em wide (the label would be cut at the chart's left edge)."""
    size = STYLE.label_font_size
    extra = [sum(0.4 * size for ch in label if ord(ch) > 0x2E80) for label in labels]
    return int(max(extra, default=0)) + 4


def count_ticks(largest: int, most: int = 6) -> list[int]:
    """Whole-number ticks from 0 for a count axis up to `largest`: at most `most` of them, a step of
    1, 2 or 5 times a power of ten, the last tick at or above `largest` (0 and 1 for no count)."""
    top = max(largest, 1)
    step = 1
    for power in range(0, 12):
        for base in (1, 2, 5):
            step = base * 10 ** power
            if math.ceil(top / step) + 1 <= most:
                return list(range(0, math.ceil(top / step) * step + 1, step))
    return [0, top]


def cases_per_week(weeks: list[tuple[date, int]]) -> str:
    ticks = count_ticks(max((n for _, n in weeks), default=0))
    chart = pygal.Bar(title=CHARTS["cases_per_week"], x_label_rotation=30, truncate_label=-1, y_labels=ticks,
                      range=(0, ticks[-1]), value_formatter=lambda v: f"{v:.0f}", **_config())
    chart.x_labels = [f"{d.month}月{d.day}日起" for d, _ in weeks]
    chart.add("办件量", [n for _, n in weeks])
    return str(chart.render(is_unicode=True))


def rate_by_department(rows: list[dict[str, Any]], figure: str, departments: dict[str, str] | None = None) -> str:
    """A bar per department and item of a rate (0 to 1) shown as a percentage; departments by their
    names where `departments` (code → name) knows them."""
    # labels are never cut short ("100.…"): six ticks on the value axis leave room for each
    shown = [r for r in rows if r.get(figure) is not None]
    names = departments or {}
    labels = [f"{names.get(r['department'], r['department'])} · {r.get('item_name') or r['item_code']}"
              for r in shown]
    chart = pygal.HorizontalBar(title=CHARTS[figure], range=(0, 100), value_formatter=lambda v: f"{v:.1f}%",
                                y_labels=[0, 20, 40, 60, 80, 100], truncate_label=-1,
                                margin_left=_cjk_room(labels), **_config())
    chart.x_labels = labels
    chart.add(CHARTS[figure], [round(100 * r[figure], 1) for r in shown])
    return str(chart.render(is_unicode=True))


def render(chart: str, rows: list[dict[str, Any]], weeks: list[tuple[date, int]],
           departments: dict[str, str] | None = None) -> str:
    """The chart as an SVG image: one picture for assistive technology (`role="img"`, named by its
    title and pointing to its data table, see `data`), not a heap of axis labels and tooltips."""
    svg = cases_per_week(weeks) if chart == "cases_per_week" else rate_by_department(rows, chart, departments)
    name = f"{CHARTS[chart]}（图表，数据见图下的数据表）"
    return SCRIPT.sub("", svg).replace("<svg ", f'<svg role="img" aria-label="{name}" ', 1)


def data(chart: str, rows: list[dict[str, Any]], weeks: list[tuple[date, int]],
         departments: dict[str, str] | None = None) -> dict[str, Any]:
    """The chart's figures as a table (its text alternative): `{"title", "headers", "rows"}`, the
    values as the chart shows them."""
    if chart == "cases_per_week":
        return {"title": CHARTS[chart], "headers": ["周", "办件量"],
                "rows": [[f"{d.year}年{d.month}月{d.day}日起", str(n)] for d, n in weeks]}
    names = departments or {}
    return {"title": CHARTS[chart], "headers": ["部门 · 事项", CHARTS[chart]],
            "rows": [[f"{names.get(r['department'], r['department'])} · {r.get('item_name') or r['item_code']}",
                      f"{100 * r[chart]:.1f}%"] for r in rows if r.get(chart) is not None]}
