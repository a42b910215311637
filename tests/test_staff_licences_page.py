"""The staff's licence page (/licences): a department's issued licences, filtered by status and
paged, with the changes the caller may make (the issuing department's approver, a comment
required), made through `licence_ops.act` as the API's are; refusals shown in place."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from banjian.contracts import Actor
from banjian.enums import Role
from banjian.licence_store import Licence, LicenceEvent
from banjian.licence_views import issued_by
from tests.pages_client import PageClient, csrf_of
from tests.test_licences import FOOD, approved, row_of


async def _browser(stack, username: str) -> PageClient:
    page = PageClient(stack)
    r = await page.login(username)
    assert r.status_code in (200, 303), r.text
    return page


async def test_approver_suspends_and_reinstates_from_the_page_with_a_required_comment(stack, people):
    case = await approved(stack, people.applicant(8), FOOD)
    licence_id = case["result"]["licence_id"]
    with Session(stack.engine) as session:
        row = session.get(Licence, licence_id)
        assert row is not None
        number = row.licence_no
    page = await _browser(stack, people.staff("amr", "approver").username)
    try:
        html = (await page.get("/licences")).text
        assert "证照管理" in html and number in html and 'href="/licences"' in html  # the header links it
        form = re.search(rf'<form method="post" action="/licences/{re.escape(licence_id)}/actions".*?</form>', html, re.S)
        assert form is not None
        buttons = re.findall(r'name="action" value="(\w+)"', form.group(0))
        assert buttons == ["suspend", "revoke", "cancel"]  # not reinstate: it is valid
        # the licence's own form carries the session's token (as a browser posts it), not an empty one
        assert csrf_of(form.group(0)) == csrf_of(html)

        path = f"/licences/{licence_id}/actions"
        r = await page.http.post(path, data={"csrf_token": csrf_of(html), "action": "suspend", "comment": "  "})
        assert r.status_code == 422 and "请填写暂停的理由" in r.text and 'id="failed-licence"' in r.text
        assert row_of(stack, licence_id).status == "valid"

        r = await page.http.post(path, data={"csrf_token": csrf_of(html), "action": "suspend",
                                             "comment": "责令停业整改"})
        assert r.status_code == 303 and r.headers["location"].startswith("/licences?done=")
        assert row_of(stack, licence_id).status == "suspended"
        done = (await page.get(r.headers["location"])).text
        assert f"已暂停证照 <span class=\"mono\">{number}</span>" in done

        r = await page.http.post(path, data={"csrf_token": csrf_of(html), "action": "suspend", "comment": "再次"})
        assert r.status_code == 409 and "证照当前状态（已暂停）不允许暂停；可以：恢复、撤销、注销" in r.text
        suspended = (await page.get("/licences", params={"status": "suspended"})).text
        assert number in suspended and "责令停业整改" in suspended
        assert number not in (await page.get("/licences", params={"status": "valid"})).text
        r = await page.http.post(path, data={"csrf_token": csrf_of(html), "action": "reinstate", "comment": "整改完成"})
        assert r.status_code == 303 and row_of(stack, licence_id).status == "valid"
        with Session(stack.engine) as session:
            events = session.exec(select(LicenceEvent).where(LicenceEvent.licence_id == licence_id)).all()
            assert [(e.action, e.comment) for e in events] == [("suspend", "责令停业整改"), ("reinstate", "整改完成")]

        bad = await page.get("/licences", params={"status": "gone"})
        assert bad.status_code == 422 and "状态筛选无效" in bad.text
        forged = await page.http.post(path, data={"csrf_token": "x", "action": "revoke", "comment": "x"})
        assert forged.status_code in (400, 403) and row_of(stack, licence_id).status == "valid"
    finally:
        await page.close()


async def test_other_staff_see_the_list_but_may_not_change_and_outsiders_see_nothing(stack, people):
    case = await approved(stack, people.applicant(9), FOOD)
    licence_id = case["result"]["licence_id"]
    path = f"/licences/{licence_id}/actions"
    handler = await _browser(stack, people.staff("amr", "handler").username)
    try:
        html = (await handler.get("/licences")).text
        assert licence_id in html and f'action="{path}"' not in html  # listed, no actions offered
        r = await handler.http.post(path, data={"csrf_token": csrf_of(html), "action": "revoke", "comment": "x"})
        assert r.status_code == 403 and "只有发证部门的审批人员可以变更证照状态" in r.text
        assert row_of(stack, licence_id).status == "valid"
    finally:
        await handler.close()
    other = await _browser(stack, people.staff("hcd", "approver").username)
    try:
        html = (await other.get("/licences")).text
        assert licence_id not in html
        r = await other.http.post(path, data={"csrf_token": csrf_of(html), "action": "revoke", "comment": "x"})
        assert r.status_code == 404 and "不存在" in r.text and row_of(stack, licence_id).status == "valid"
    finally:
        await other.close()
    citizen = await _browser(stack, people.applicant(9).username)
    try:
        r = await citizen.get("/licences")
        assert r.status_code == 403 and "仅供部门工作人员使用" in r.text
    finally:
        await citizen.close()


def test_the_list_is_paged_newest_first_and_filters_by_status_as_of_today(stack):
    dept = f"t{uuid.uuid4().hex[:8]}"
    today = date(2026, 12, 3)
    now = datetime.now(UTC)
    with Session(stack.engine) as session:
        for i in range(25):
            lapsed = i < 3  # stored valid, but past valid_to: expired today
            session.add(Licence(
                id=f"{dept}.{i}", case_id=f"{dept}-{i}", licence_no=f"{dept}N{i:03d}", type="测试证", type_code="T1",
                name="测试证", issuer="测试局", issuer_code="X", department=dept, issue_date=today,
                valid_from=today - timedelta(days=30), valid_to=today - timedelta(days=1) if lapsed else None,
                holder_name="王五", holder_id="330106199001011234", holder_id_type="111", region="330100",
                item_code="x", face_data={}, status="suspended" if i == 3 else "valid", signature="00",
                public_key="00", issued_at=now + timedelta(seconds=i)))
        session.commit()
        approver = Actor(username="a", roles=[Role.APPROVER], department=dept)
        first = issued_by(session, approver, None, 1, today)
        assert first["total"] == 25 and len(first["items"]) == 20 and first["more"] is True
        assert first["items"][0]["licence_no"] == f"{dept}N024"  # newest first
        second = issued_by(session, approver, None, 2, today)
        assert len(second["items"]) == 5 and second["more"] is False
        expired = issued_by(session, approver, "expired", 1, today)
        assert sorted(x["licence_no"] for x in expired["items"]) == [f"{dept}N000", f"{dept}N001", f"{dept}N002"]
        assert all(x["actions"] == [] for x in expired["items"])
        suspended = issued_by(session, approver, "suspended", 1, today)
        assert [x["actions"] for x in suspended["items"]] == [["reinstate", "revoke", "cancel"]]
        assert issued_by(session, approver, "valid", 1, today)["total"] == 21
        clerk = Actor(username="c", roles=[Role.CLERK], department=dept)
        assert all(x["actions"] == [] for x in issued_by(session, clerk, "valid", 1, today)["items"])
