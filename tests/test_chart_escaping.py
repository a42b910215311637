"""The supervision page puts the charts' SVG in the page as is (`| safe`): names typed by authors and
admins in it must come out as text, never as markup."""
from __future__ import annotations

import re

from api import charts

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_department_and_item_names_in_a_chart_are_escaped():
    rows = [{"department": "amr", "item_code": "X1", "item_name": EVIL, "on_time_rate": 0.5}]
    svg = charts.render("on_time_rate", rows, [], {"amr": '"></text><svg onload=alert(3)>'})
    assert not re.search(r"<(script|img|svg onload)\b", svg)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg and "&lt;svg onload=alert(3)&gt;" in svg
