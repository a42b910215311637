"""Names in running text follow the Chinese nesting rule: “” outside, ‘’ inside. The shipped bundle
开餐馆“一件事” printed as “开餐馆“一件事”” on notices and pages."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.case_documents import TITLES, document
from api.routes.pages.common import TEMPLATES, install_filters
from banjian.appointment_reminders import reminder_data
from banjian.appointments import Appointment
from banjian.errors import Conflict
from banjian.item_effective import check_effective
from banjian.items.schema import ItemDefinition
from banjian.settings import Settings
from banjian.zh_quotes import quoted
from tests.test_api_cases import definition

ITEM = ItemDefinition.model_validate(definition("open-restaurant-bundle"))
BUNDLE = ITEM.name


def test_inner_quotes_nest_one_level_down():
    assert BUNDLE == "开餐馆“一件事”"
    assert quoted(BUNDLE) == "“开餐馆‘一件事’”"
    assert quoted("食品经营许可") == "“食品经营许可”"
    assert quoted("甲“乙‘丙’”") == "“甲‘乙“丙”’”"  # the third level is double again


def test_every_printed_notice_nests_the_bundles_name():
    install_filters()
    template = TEMPLATES.env.get_template("case_document.html")
    seen = 0
    at = "2026-12-01T09:00:00+08:00"
    history = [{"action": a, "at": at, "data": {"missing": ["食品经营许可申请书"]}, "comment": "材料不全"}
               for a in ("submitted", "request_supplement", "accept", "refuse_acceptance", "deliver")]
    case = {"id": "c1", "case_no": "C1", "item_name": BUNDLE, "submitted_at": at, "received_at": at, "accepted_at": at,
            "applicant": {"kind": "citizen", "name": "张三"}, "history": history, "result": {"decision": "approved"}}
    for kind in TITLES:
        html = template.render(doc=document(Settings(), case, ITEM, kind, "市政务服务管理局", None), back="/cases/c1")
        assert "“一件事””" not in html, kind
        seen += html.count("“开餐馆‘一件事’”")
    assert seen >= len(TITLES)


def test_reminders_and_refusals_naming_the_bundle_nest_its_quotes():
    now = datetime.now(UTC)
    booking = Appointment(id="a1", item_code=ITEM.code, department=ITEM.department, slot="2026-12-04T09:00",
                          day=date(2026, 12, 4), username="zhangsan", status="booked", created_at=now, changed_at=now)
    assert reminder_data(booking, ITEM)["reminder"].startswith("您预约了“开餐馆‘一件事’”窗口办理")
    lapsed = ITEM.model_copy(update={"effective_to": date(2026, 1, 1)})
    with pytest.raises(Conflict) as refused:
        check_effective(lapsed, date(2026, 12, 4), member_of="parent")
    assert "成员事项“开餐馆‘一件事’”不在有效期内" in refused.value.message
