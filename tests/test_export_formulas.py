"""The supervision exports never turn a name someone typed into a spreadsheet formula."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from banjian.figures_export import to_csv, to_xlsx

EVIL = ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]


def rows() -> list[dict]:
    return [{"department": "d1", "department_name": name, "item_code": "X1", "item_name": name, "cases": 3}
            for name in EVIL]


def test_csv_cells_that_would_start_a_formula_get_a_leading_quote():
    table = list(csv.reader(io.StringIO(to_csv(rows()).decode("utf-8-sig"))))
    for line, name in zip(table[1:], EVIL, strict=True):
        assert line[1] == line[3] == f"'{name}"
        assert line[0] == "d1" and line[2] == "X1"


def test_xlsx_cells_that_look_like_formulas_are_text():
    ws = load_workbook(io.BytesIO(to_xlsx(rows()))).active
    for row, name in zip(ws.iter_rows(min_row=2), EVIL, strict=True):
        assert row[1].value == row[3].value == name
        assert row[1].data_type == row[3].data_type == "s"
