"""The demo data tells the e-licence story end to end: 张三 (zhangsan) registers an individual business,
its 营业执照 is issued on approval, and his food-business-licence application gets that licence
attached to the 营业执照 material automatically (services/demo.py); the verify link of the attached
licence works without login."""
from __future__ import annotations

import contextlib

import pytest

from services.demo import CITIZEN_ID, PASSWORD, load_demo
from tests.conftest import User, make_stack

pytestmark = pytest.mark.timeout(600)


class DemoUser(User):
    async def token(self) -> str:
        if self._token is None:
            r = await self.stack.http.post("/api/auth/token", data={"username": self.username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._token = r.json()["access_token"]
        return self._token


@contextlib.asynccontextmanager
async def own_stack(temporal_env, client, tmp_path):
    """A stack of its own: the demo's fixed users and idempotency keys in a fresh read model."""
    gen = make_stack(temporal_env, client, tmp_path, None)
    try:
        yield await gen.__anext__()
    finally:
        await gen.aclose()


async def test_the_demo_reuses_zhangsans_business_licence_in_his_food_licence_application(
        temporal_env, client, tmp_path):
    async with own_stack(temporal_env, client, tmp_path) as stack:
        await load_demo(stack.app, stack.settings)
        zhang = DemoUser(stack, "zhangsan")
        cases = (await zhang.get("/api/cases", params={"limit": 100})).json()["items"]
        by_item: dict[str, list[dict]] = {}
        for c in cases:
            by_item.setdefault(c["item_code"], []).append(await zhang.case(c["id"]))

        registration = [c for c in by_item["individual-business-registration"]
                        if c["result"] and c["result"]["licence_id"]]
        assert len(registration) == 1 and registration[0]["status"] == "concluded"
        business = registration[0]["result"]["licence_id"]
        food = [c for c in by_item["food-business-licence"]
                if any(m["name"] == "营业执照" and m.get("licence_id") for m in c["materials"])]
        assert len(food) == 1, [c["materials"] for c in by_item["food-business-licence"]]
        attached = next(m for m in food[0]["materials"] if m["name"] == "营业执照")
        assert attached["licence_id"] == business and attached["file_id"] is None
        assert attached["licence_check"]["valid"] is True and attached["licence_check"]["signature_valid"] is True
        assert food[0]["applicant"]["id_number"] == CITIZEN_ID

        r = await stack.http.get(f"/api/licences/{business}/verify")  # the licence number alone, no login
        assert r.status_code == 200, r.text
        v = r.json()
        assert v["valid"] is True and v["status"] == "valid" and v["type"] == "营业执照"
        assert v["holder_name"] == "张三" and v["holder_disclosed"] is False and CITIZEN_ID not in r.text
        code = (await zhang.get(f"/api/licences/{business}")).json()["verify_code"]  # printed on his licence
        r = await stack.http.get(f"/api/licences/{business}/verify", params={"code": code})
        assert r.json()["holder_disclosed"] is True and CITIZEN_ID not in r.text
        mine = (await zhang.get("/api/me/licences")).json()["items"]
        assert business in [x["id"] for x in mine]

        # loading the demo again adds no second registration and no second reuse application
        await load_demo(stack.app, stack.settings)
        again = (await zhang.get("/api/cases", params={"limit": 100})).json()["items"]
        assert len(again) == len(cases)
