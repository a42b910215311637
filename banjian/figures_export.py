"""The figures as files: CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read the
Chinese headers) and XLSX (openpyxl), one header row in Chinese, one row per department and item."""
from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

from banjian.figures import COLUMNS, HEADERS_ZH


def _cells(row: dict[str, Any]) -> list[Any]:
    return [row.get(k) for k in COLUMNS]


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADERS_ZH)
    for r in rows:
        w.writerow(["" if v is None else v for v in _cells(r)])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[dict[str, Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "监察统计"
    ws.append(HEADERS_ZH)
    for r in rows:
        ws.append(_cells(r))
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
