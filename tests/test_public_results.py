"""Published approval results (审批结果公开): concluded cases, readable without login, nothing private."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from banjian.db import Case
from banjian.public_results import published_row
from tests.conftest import application

ITEM = "food-business-licence"  # citizens and organisations


async def conclude(stack, applicant, secret: str, approve: bool = True) -> dict:
    """File a case with `secret` in its form, then accept, review, decide and deliver it."""
    body = await application(applicant, ITEM)
    body["form"]["business_name"] = secret
    r = await applicant.post("/api/cases", json=body)
    assert r.status_code == 201, r.text
    case = r.json()
    clerk = stack.staff("amr", "clerk")
    case = await clerk.ok(case["id"], "accept")
    while case["current_step"]["kind"] == "review":
        case = await stack.staff("amr", case["current_step"]["role"]).ok(case["id"], "pass")
    approver = stack.staff("amr", "approver")
    case = await (approver.ok(case["id"], "approve") if approve else approver.ok(case["id"], "deny", "材料不实"))
    case = await clerk.ok(case["id"], "deliver", method="electronic")
    assert case["status"] == "concluded"
    return case


async def test_published_results_leak_nothing_private(stack):
    citizen, org = stack.applicant(), stack.applicant(organisation=True)
    secret = f"私密-{uuid.uuid4().hex[:8]}"
    mine = await conclude(stack, citizen, secret)
    theirs = await conclude(stack, org, f"公司-{uuid.uuid4().hex[:8]}", approve=False)
    open_case = (await citizen.apply(ITEM)).json()  # not concluded: not published

    r = await stack.http.get("/api/public/results", params={"item_code": ITEM, "limit": 500})  # no login
    assert r.status_code == 200, r.text
    text = r.text
    me = (await citizen.get("/api/me")).json()
    for private in (me["id_number"], me["display_name"], secret, citizen.username, mine["id"]):
        assert private not in text
    rows = {row["case_no"]: row for row in r.json()["items"]}
    assert open_case["case_no"] not in rows
    assert rows[mine["case_no"]] == {"case_no": mine["case_no"], "item_code": ITEM, "item_name": mine["item_name"],
                                      "decision": "approved", "concluded_at": mine["concluded_at"]}
    org_row = rows[theirs["case_no"]]
    assert org_row["holder"] == theirs["applicant"]["name"] and org_row["decision"] == "denied"
    assert "licence_no" not in org_row  # a denial carries no licence
    assert theirs["applicant"]["id_number"] not in text

    day = mine["concluded_at"][:10]
    r = await stack.http.get("/api/public/results", params={"item_code": ITEM, "from": day, "to": day, "limit": 500})
    assert mine["case_no"] in {row["case_no"] for row in r.json()["items"]}
    r = await stack.http.get("/api/public/results", params={"item_code": ITEM, "to": "2000-01-01"})
    assert r.json() == {"items": [], "total": 0}
    r = await stack.http.get("/api/public/results", params={"from": "2026-12-02", "to": "2026-12-01"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "from"
    r = await stack.http.get("/api/public/results", params={"limit": 0})
    assert r.status_code == 422


def _row(kind: str, decision: str, licence_id: str | None) -> Case:
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    return Case(id="c1", case_no="N1", item_code=ITEM, item_version=1, item_name="食品经营许可", department="amr",
                status="concluded", applicant_id_number="330106198001010011", applicant_name="张三", channel="web",
                submitted_at=now, concluded_at=now, clock_at=now, recorded_at=now,
                snapshot={"applicant": {"kind": kind, "id_number": "330106198001010011", "name": "张三"},
                          "result": {"decision": decision, "licence_id": licence_id, "reason": "理由"}})


LICENCE_ID, LICENCE_NO = "1.2.156.3005.2.X.Y.1.1.Z", "010148715U20260000001"
BASE = "https://zwfw.example.gov.cn"


def test_licence_number_and_verify_link_only_for_an_organisation():
    numbers = {LICENCE_ID: LICENCE_NO}
    org = published_row(_row("organisation", "approved", LICENCE_ID), numbers, BASE)
    assert org["holder"] == "张三" and org["licence_no"] == LICENCE_NO  # the number, not the id
    # absolute, under the platform's public address: a link copied or scanned off the list reaches it
    assert org["verify_url"] == f"{BASE}/api/licences/{LICENCE_ID}/verify"
    assert published_row(_row("organisation", "approved", LICENCE_ID), numbers, BASE + "/banjian/")["verify_url"] \
        == f"{BASE}/banjian/api/licences/{LICENCE_ID}/verify"
    assert org["concluded_at"] == "2026-12-01T10:00:00+08:00"
    citizen = published_row(_row("citizen", "approved", LICENCE_ID), numbers, BASE)
    assert set(citizen) == {"case_no", "item_code", "item_name", "decision", "concluded_at"}
    # a licence the library does not hold publishes no number and no link that would answer 404
    assert set(published_row(_row("organisation", "approved", LICENCE_ID), {}, BASE)) == \
        {"case_no", "item_code", "item_name", "decision", "concluded_at", "holder"}


async def test_published_licence_no_is_the_licence_number(stack):
    org = stack.applicant(organisation=True)
    case = await conclude(stack, org, f"公司-{uuid.uuid4().hex[:8]}")
    licence_id = case["result"]["licence_id"]
    assert licence_id
    licence = (await org.get(f"/api/licences/{licence_id}")).json()
    r = await stack.http.get("/api/public/results", params={"item_code": ITEM, "limit": 500})
    row = next(row for row in r.json()["items"] if row["case_no"] == case["case_no"])
    assert row["licence_no"] == licence["licence_no"] != licence_id
    # the configured public address (here the default: the API's own), never the request's Host
    base = f"http://127.0.0.1:{stack.settings.port}"
    assert row["verify_url"] == f"{base}/api/licences/{licence_id}/verify"
    path = row["verify_url"].removeprefix(base)
    assert (await stack.http.get(path)).json()["licence_no"] == row["licence_no"]


async def test_published_verify_url_is_under_the_configured_public_url(stack):
    org = stack.applicant(organisation=True)
    case = await conclude(stack, org, f"公司-{uuid.uuid4().hex[:8]}")
    settings = stack.app.state.settings
    before = settings.public_url
    settings.public_url = "https://zwfw.example.gov.cn/"
    try:
        r = await stack.http.get("/api/public/results", params={"item_code": ITEM, "limit": 500},
                                 headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    finally:
        settings.public_url = before
    row = next(row for row in r.json()["items"] if row["case_no"] == case["case_no"])
    assert row["verify_url"] == f"https://zwfw.example.gov.cn/api/licences/{case['result']['licence_id']}/verify"
    assert "evil.example" not in r.text
