"""The figures as files: CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read the
Chinese headers) and XLSX (openpyxl), one header row in Chinese, one row per department and item.

Each row names its department and item twice, by code (`department`, `item_code`: the API's keys)
and by name (as the page shows them). Rates (numbers from 0 to 1 in the JSON) are percentages: in
the CSV as text with one decimal (`85.7%`, the page's form; spreadsheet programs read it as a
percentage), in the XLSX as the number itself (0.857) with the number format `0.0%`. An empty cell
is a figure without a value (a rate whose denominator is 0).

Text cells (department and item names, which authors and admins type) never become formulas: a
text starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` in the CSV
(spreadsheet programs then show it as text), and is stored as a text cell in the XLSX (openpyxl
would otherwise store `=HYPERLINK(...)` as a formula)."""
from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from banjian import figures_inquiries
from banjian.figures import FIGURES

KEYS = (("department", "部门编码"), ("department_name", "部门名称"), ("item_code", "事项编码"),
        ("item_name", "事项名称"))
HEADERS_ZH = [zh for _, zh in KEYS] + [f.zh for f in FIGURES]
COLUMNS = [k for k, _ in KEYS] + [f.name for f in FIGURES]
RATES = frozenset(f.name for f in FIGURES if f.rate)
#: the XLSX number format of a rate
PERCENT = "0.0%"
#: the widest an XLSX column is made (in characters): a long item name wraps at the sheet's edge
MAX_WIDTH = 60


#: the first characters that make a spreadsheet program read a cell as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """A CSV cell that no spreadsheet program evaluates: text that would start a formula gets a
    leading `'`; numbers and other text are unchanged."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def with_names(rows: list[dict[str, Any]], departments: dict[str, str]) -> list[dict[str, Any]]:
    """The rows with `department_name` (the code itself for a department without a name)."""
    return [{**r, "department_name": departments.get(r["department"]) or r["department"]} for r in rows]


def percent(v: float) -> str:
    """A rate (0 to 1) as the CSV writes it: `85.7%`."""
    return f"{100 * v:.1f}%"


def to_csv(rows: list[dict[str, Any]], departments: bool = False) -> bytes:
    """The figures per department and item; with `departments`, the table per department of
    consultations, complaints and no-shows (`banjian/figures_inquiries.py`) instead."""
    headers, columns, rates = _table(departments)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(headers)
    for r in rows:
        w.writerow(["" if r.get(k) is None else percent(r[k]) if k in rates else inert(r[k]) for k in columns])
    return buf.getvalue().encode("utf-8-sig")


def _table(departments: bool) -> tuple[list[str], list[str], frozenset[str]]:
    if departments:
        return figures_inquiries.HEADERS_ZH, figures_inquiries.COLUMNS, figures_inquiries.RATES
    return HEADERS_ZH, COLUMNS, RATES


def to_xlsx(rows: list[dict[str, Any]], department_rows: list[dict[str, Any]] | None = None) -> bytes:
    """The figures per department and item on the first sheet; the table per department of
    consultations, complaints and no-shows, when given, on a second sheet (咨询投诉与预约)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "监察统计"
    _sheet(ws, rows, False)
    if department_rows is not None:
        _sheet(wb.create_sheet("咨询投诉与预约"), department_rows, True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet(ws: Any, rows: list[dict[str, Any]], departments: bool) -> None:
    headers, columns, rates = _table(departments)
    ws.append(headers)
    rate_columns = [i + 1 for i, k in enumerate(columns) if k in rates]
    for r in rows:
        ws.append([r.get(k) for k in columns])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str) and cell.data_type == "f":
                cell.data_type = "s"  # text typed by a person, never a formula
        for col in rate_columns:
            ws.cell(row=ws.max_row, column=col).number_format = PERCENT
    ws.freeze_panes = "A2"
    _fit_columns(ws)


def text_width(value: Any) -> int:
    """How many character widths a cell's text takes: a Chinese character (full width) takes two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in str(value))


def _fit_columns(ws: Any) -> None:
    """Each column as wide as its widest cell (the Chinese headers readable without widening by hand)."""
    for i, cells in enumerate(ws.iter_cols(values_only=True), start=1):
        widest = max(text_width(v) for v in cells if v is not None)
        ws.column_dimensions[get_column_letter(i)].width = min(widest + 2, MAX_WIDTH)
