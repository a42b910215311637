"""The holder of an e-licence is told in the message centre (消息中心) when its issuer suspends,
reinstates, revokes or cancels it, or it expires: it used to change status with no word to the holder,
who learnt of it only when a verifier scanned the QR code and saw 无效."""
from __future__ import annotations

import pytest

from tests.test_licences import FOOD, approved


async def test_the_holder_is_told_of_each_status_change_of_their_licence(stack, people):
    holder, stranger = people.applicant(31), people.applicant(32)
    case = await approved(stack, holder, FOOD)
    licence_id = case["result"]["licence_id"]
    licence = (await holder.get(f"/api/licences/{licence_id}")).json()
    assert (await holder.post("/api/me/notices/read")).json() == {"unread": 0}
    approver = people.staff("amr", "approver")

    r = await approver.post(f"/api/licences/{licence_id}/actions", json={"action": "suspend", "comment": "食品抽检不合格"})
    assert r.status_code == 200, r.text
    body = (await holder.get("/api/me/notices?unread=true")).json()
    assert body["unread"] == 1 and len(body["items"]) == 1, body
    n = body["items"][0]
    assert (n["kind"], n["action"], n["title"]) == ("licence", "licence_suspend", "电子证照已暂停")
    assert licence["licence_no"] in n["text"] and "当前无效" in n["text"] and "原因：食品抽检不合格" in n["text"]
    assert n["case_id"] == case["id"] and n["case_no"] == case["case_no"] and n["item_name"] == case["item_name"]
    assert n["next"] == {"label": "查看证照", "href": "/my/licences"} and n["at"].endswith("+08:00")

    await approver.post(f"/api/licences/{licence_id}/actions", json={"action": "reinstate", "comment": "整改完成"})
    await approver.post(f"/api/licences/{licence_id}/actions", json={"action": "revoke", "comment": "以欺骗手段取得"})
    body = (await holder.get("/api/me/notices?unread=true")).json()
    assert [x["title"] for x in body["items"]] == ["电子证照已撤销", "电子证照已恢复有效", "电子证照已暂停"]
    assert body["unread"] == 3
    assert (await holder.post("/api/me/notices/read")).json() == {"unread": 0}
    assert (await holder.get("/api/me/notices?unread=true")).json()["items"] == []
    # no one else hears of it
    assert not [x for x in (await stranger.get("/api/me/notices")).json()["items"] if x["kind"] == "licence"]


@pytest.mark.postgres
async def test_a_licence_change_notice_and_its_count_on_postgres(pg_stack):
    holder = pg_stack.applicant()
    case = await approved(pg_stack, holder, FOOD)
    assert (await holder.post("/api/me/notices/read")).json() == {"unread": 0}
    r = await pg_stack.staff("amr", "approver").post(f"/api/licences/{case['result']['licence_id']}/actions",
                                                     json={"action": "cancel", "comment": "申请注销"})
    assert r.status_code == 200, r.text
    body = (await holder.get("/api/me/notices?unread=true")).json()
    assert body["unread"] == 1 and [n["title"] for n in body["items"]] == ["电子证照已注销"], body
