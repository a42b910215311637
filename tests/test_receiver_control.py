"""The reference receiver's `POST /control` (docs/api.md, "Event feed"): operators drive it with curl,
whose `-d` sends a form Content-Type; the body is read as JSON whatever the header says."""
from __future__ import annotations

import httpx

from banjian.receiver import make_receiver


async def test_control_takes_a_json_body_sent_as_a_form_as_curl_d_does():
    app = make_receiver("secret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rx") as client:
        r = await client.post("/control", content=b'{"fail": 503}',
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and r.json()["fail"] == 503
        assert app.state.control.fail == 503
        r = await client.post("/control", json={"fail": 42})
        assert r.status_code == 422 and "fail" in r.json()["detail"]
        assert app.state.control.fail == 503  # a bad instruction changes nothing
        assert (await client.post("/control", content=b"")).json()["fail"] is None  # empty: back to normal


async def test_attempts_lists_every_post_with_its_answer_and_fail_takes_a_3xx():
    app = make_receiver("secret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rx") as client:
        assert (await client.post("/control", json={"fail": 302})).status_code == 200
        r = await client.post("/events", content=b'{"event_id": "c1-1"}')
        assert r.status_code == 302
        await client.post("/control", json={})
        r = await client.post("/events", content=b'{"event_id": "c1-1"}')
        assert r.status_code == 401  # no signature
        items = (await client.get("/attempts")).json()["items"]
        assert [(a["event_id"], a["status"]) for a in items] == [("c1-1", 302), ("c1-1", 401)]
        assert "attempts" not in (await client.get("/report")).json()
