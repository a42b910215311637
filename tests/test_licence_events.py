"""Licence status changes reach the event feed (banjian/licence_feed.py): each suspension,
reinstatement, revocation and expiry is one signed event of the licence's own stream
(`lic-{case id}`), in order, delivered to the reference receiver; and they show on the case page."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from activities.licences import LicenceActivities
from banjian import licences as lic
from banjian.db import session_factory
from banjian.feed import Delivery
from banjian.licence_feed import ACTION, stream_key
from banjian.licence_store import Licence, master_key
from tests.feed_receiver import subscribed_receiver
from tests.pages_client import PageClient
from tests.test_licences import FOOD, approved

SECRET = "licence-events-secret-0123456789"



async def test_status_changes_reach_a_subscriber_in_order_signed_with_who_what_and_when(stack, people):
    admin = people.admin
    async with subscribed_receiver(stack, admin, SECRET, (18200, 18248), "prov") as receiver:
        case = await approved(stack, people.applicant(5), FOOD)
        licence_id = case["result"]["licence_id"]
        approver = people.staff("amr", "approver")
        path = f"/api/licences/{licence_id}/actions"
        for action, comment in (("suspend", "责令停业整改"), ("reinstate", "整改完成"), ("revoke", "以欺骗手段取得许可")):
            r = await approver.post(path, json={"action": action, "comment": comment})
            assert r.status_code == 200, r.text
        refused = await approver.post(path, json={"action": "reinstate", "comment": "x"})
        assert refused.status_code == 409  # a refused change sends nothing

        key = stream_key(case["id"])
        received = receiver.state.received
        for _ in range(200):
            if len([e for e in received.events if e["case_id"] == key]) >= 3:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        mine = [e for e in received.events if e["case_id"] == key]
        assert [e["seq"] for e in mine] == [1, 2, 3], mine
        assert received.bad_signatures == 0 and not received.out_of_order
        assert {e["action"] for e in mine} == {ACTION}
        assert [(e["data"]["change"], e["data"]["old_status"], e["data"]["new_status"], e["status"])
                for e in mine] == [("suspend", "valid", "suspended", "suspended"),
                                   ("reinstate", "suspended", "valid", "valid"),
                                   ("revoke", "valid", "revoked", "revoked")]
        first = mine[0]
        assert first["case_no"] == case["case_no"] and first["data"]["case_no"] == case["case_no"]
        assert first["data"]["licence_id"] == licence_id and first["data"]["case_id"] == case["id"]
        with Session(stack.engine) as session:
            row = session.get(Licence, licence_id)
            assert row is not None
            assert first["data"]["licence_no"] == row.licence_no
        assert (first["actor"], first["actor_kind"], first["role"]) == (approver.username, "person", "approver")
        assert first["data"]["actor"] == approver.username and first["data"]["actor_kind"] == "person"
        assert first["comment"] == "责令停业整改" and first["data"]["comment"] == "责令停业整改"
        assert first["department"] == "amr" and first["item_code"] == FOOD
        assert first["at"].endswith("+08:00") and first["data"]["changed_at"].endswith("+08:00")
        assert datetime.fromisoformat(first["at"]) <= datetime.now(UTC)
        assert first["event_id"] == f"{key}-1"


async def test_expiry_is_queued_with_the_status_change_by_system(stack, people):
    admin = people.admin
    name = f"copy-{uuid.uuid4().hex[:6]}"
    r = await admin.put(f"/api/subscribers/{name}", json={"url": "http://127.0.0.1:9/events", "secret": SECRET})
    assert r.status_code == 200, r.text
    try:
        case = await approved(stack, people.applicant(6), FOOD)
        licence_id = case["result"]["licence_id"]
        r = await people.staff("amr", "approver").post(f"/api/licences/{licence_id}/actions",
                                                       json={"action": "suspend", "comment": "检查"})
        assert r.status_code == 200, r.text
        acts = LicenceActivities(session_factory(stack.engine), master_key(None), "330100")
        at = datetime.now(UTC) + timedelta(days=1)
        assert acts.expire_licence(lic.ExpireRequest(licence_id=licence_id, at=at)) == "expired"
        assert acts.expire_licence(lic.ExpireRequest(licence_id=licence_id, at=at)) == "expired"  # a repeat: no event
        with Session(stack.engine) as session:
            rows = session.exec(select(Delivery).where(Delivery.subscriber == name,
                                                       Delivery.case_id == stream_key(case["id"]))
                                .order_by(col(Delivery.seq))).all()
        bodies = [json.loads(r.body) for r in rows]
        assert [b["seq"] for b in bodies] == [1, 2]
        expire = bodies[1]
        assert (expire["actor"], expire["actor_kind"], expire["role"]) == ("system", "system", "system")
        assert (expire["data"]["change"], expire["data"]["old_status"], expire["status"]) == (
            "expire", "suspended", "expired")
        assert expire["comment"] == "有效期届满" and expire["at"].endswith("+08:00")
    finally:
        await stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())


async def test_the_case_page_shows_the_licence_status_and_its_changes(stack, people):
    holder = people.applicant(7)
    case = await approved(stack, holder, FOOD)
    licence_id = case["result"]["licence_id"]
    r = await people.staff("amr", "approver").post(f"/api/licences/{licence_id}/actions",
                                                   json={"action": "suspend", "comment": "责令停业整改"})
    assert r.status_code == 200, r.text
    approver = people.staff("amr", "approver").username
    for user in (holder, people.staff("amr", "clerk")):
        page = PageClient(stack)
        try:
            await page.login(user.username)
            html = (await page.get(f"/cases/{case['id']}")).text
        finally:
            await page.close()
        assert 'id="licence-status"' in html and "已暂停" in html
        assert "责令停业整改" in html and "暂停" in html and approver in html
    other = PageClient(stack)
    try:
        await other.login(people.applicant(1).username)
        assert "责令停业整改" not in (await other.get(f"/cases/{case['id']}")).text
    finally:
        await other.close()
