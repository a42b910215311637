"""Every time the API shows (`*_at`, and `at` of warnings, history entries, deliveries, payments) is an
ISO 8601 timestamp in China time with its offset, `+08:00`, whatever zone it was recorded in."""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from banjian.feed import event_body
from banjian.timefmt import china_times, is_time_key
from tests.test_licences import FOOD, _issue_business_licence
from tests.test_payments import approved as fee_due
from tests.test_payments import signed


def times(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) under a time key of a JSON answer."""
    if isinstance(value, dict):
        for k, v in value.items():
            if is_time_key(k) and isinstance(v, str):
                yield f"{path}.{k}", v
            else:
                yield from times(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from times(v, f"{path}[{i}]")


def assert_china_time(answer: Any, *must: str) -> dict[str, str]:
    """Every time of `answer` ends in +08:00; `must` are path endings that have to be among them."""
    found = dict(times(answer))
    wrong = {p: v for p, v in found.items() if not v.endswith("+08:00")}
    assert not wrong, wrong
    for ending in must:
        assert any(p.endswith(ending) for p in found), (ending, sorted(found))
    return found


def test_china_times_converts_only_timestamps_under_time_keys():
    data = {"at": "2026-12-06T23:56:21.093720Z", "accepted_at": "2026-12-02T23:53:52.530896+00:00",
            "naive_at": "2026-12-01T01:00:00", "when_at": datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
            "day_at": "2026-12-01", "text_at": "Tuesday", "none_at": None, "due": "2026-12-01T00:00:00Z",
            "nested": [{"checked_at": "2026-12-01T00:00:00+00:00", "kept": "2026-12-01T00:00:00Z"}]}
    assert china_times(data) == {
        "at": "2026-12-07T07:56:21+08:00", "accepted_at": "2026-12-03T07:53:52+08:00",
        "naive_at": "2026-12-01T09:00:00+08:00", "when_at": "2026-12-01T09:00:00+08:00",
        "day_at": "2026-12-01", "text_at": "Tuesday", "none_at": None, "due": "2026-12-01T00:00:00Z",
        "nested": [{"checked_at": "2026-12-01T08:00:00+08:00", "kept": "2026-12-01T00:00:00Z"}]}
    assert china_times("2026-12-01T00:00:00Z") == "2026-12-01T00:00:00Z"  # no key, no time


def test_feed_events_show_the_times_of_their_data_in_china_time():
    body = json.loads(event_body("c1", "N1", 3, "deemed_acceptance", "2026-12-08T00:00:00+08:00", "accepted",
                                 {"acceptance_due": "2026-12-07", "accepted_at": "2026-12-01T01:30:00.5+00:00"}))
    assert body["data"] == {"acceptance_due": "2026-12-07", "accepted_at": "2026-12-01T09:30:00+08:00"}
    assert_china_time(body, ".at", "data.accepted_at")


async def test_a_concluded_case_shows_every_time_in_china_time(stack, people):
    holder = people.applicant(0)
    me = (await holder.get("/api/me")).json()
    _issue_business_licence(stack, {"kind": "citizen", "id_number": me["id_number"], "name": me["display_name"]},
                            holder.username)
    item = (await holder.get(f"/api/items/{FOOD}")).json()
    without = [{"name": m["name"]} for m in item["materials"] if m["required"] and m["name"] != "营业执照"]
    r = await holder.apply(FOOD, materials=without)  # 营业执照 is attached from the held licence
    assert r.status_code == 201, r.text
    case = r.json()
    cid = case["id"]
    assert_china_time(case, "licence_check.checked_at", ".submitted_at")

    case = await stack.advance(cid, 10)  # deemed acceptance (data.accepted_at), a red warning
    assert_china_time(case, "data.accepted_at", "warnings[0].at", ".accepted_at")
    handler, head = people.staff("amr", "handler"), people.staff("amr", "head")
    case = await handler.ok(cid, "request_extension", "需补充材料核查，申请延期")
    assert_china_time(case, "extension.requested_at")
    case = await head.ok(cid, "approve_extension", "同意延期")
    case = await handler.ok(cid, "start_special_procedure", kind="site_inspection")
    assert_china_time(case, "special_procedure.started_at")
    case = await handler.ok(cid, "end_special_procedure")
    while case["current_step"]["kind"] == "review":
        case = await people.staff("amr", case["current_step"]["role"]).ok(cid, "pass")
    await people.staff("amr", "approver").ok(cid, "approve")
    case = await people.staff("amr", "clerk").ok(cid, "deliver", method="electronic")
    assert case["status"] == "concluded"
    assert_china_time(case, "delivery.at", ".decided_at", ".delivered_at", ".concluded_at")

    auditor = stack.user(f"auditor-{cid}", "auditor")
    assert_china_time(await holder.case(cid), "licence_check.checked_at", "data.accepted_at", "delivery.at")
    assert_china_time((await holder.get(f"/api/cases/{cid}/history")).json(), "data.accepted_at")
    assert_china_time((await holder.get("/api/cases", params={"q": cid})).json(), "delivery.at")
    timeline = (await auditor.get(f"/api/cases/{cid}/timeline")).json()
    assert_china_time(timeline, "data.accepted_at")

    licence_id = case["result"]["licence_id"]
    verified = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
    assert_china_time(verified, ".checked_at")
    assert_china_time((await holder.get(f"/api/licences/{licence_id}")).json(), ".issued_at")
    published = (await stack.http.get("/api/public/results", params={"item_code": FOOD, "limit": 500})).json()
    assert_china_time(published, "concluded_at")

    r = await holder.get(f"/api/cases/{cid}/archive")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        archived = {name: json.loads(z.read(name)) for name in
                    ("manifest.json", "application.json", "actions.json", "result.json")}
    assert_china_time(archived, "licence_check.checked_at", "data.accepted_at", "delivery.at", "archived_at")


async def test_payments_show_their_times_in_china_time(stack, people):
    u, cid, case = await fee_due(people)
    assert_china_time(case, "payment.requested_at")
    body, headers = signed(stack, case, "1.00")  # the wrong amount: kept for an operator
    assert (await stack.http.post("/api/payments/callback", content=body, headers=headers)).status_code == 422
    assert (await u.post(f"/api/payments/sandbox/{cid}/pay")).status_code == 200
    assert_china_time(await u.case(cid), "payment.paid_at")
    ledger = (await u.get(f"/api/payments/cases/{cid}")).json()
    assert ledger["items"]
    assert_china_time(ledger, "items[0].at")
    issues = (await people.admin.get("/api/payments/issues", params={"limit": 500})).json()
    assert_china_time(issues, "items[0].at")
