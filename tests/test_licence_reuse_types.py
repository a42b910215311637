"""A licence named for a material stands in only for the licence type the material is linked to
(`materials[].licence_type`): a 食品经营许可证 named as the 营业执照 was filed, and the clerk saw
营业执照 由电子证照自动调取（有效） on the case."""
from __future__ import annotations

from tests.test_licences import FOOD, approved


async def test_a_licence_of_another_type_does_not_stand_in_for_a_material(stack, people):
    holder = people.applicant(30)
    food = (await approved(stack, holder, FOOD))["result"]["licence_id"]
    assert (await holder.get(f"/api/licences/{food}")).json()["type"] == "食品经营许可证"
    item = (await holder.get(f"/api/items/{FOOD}")).json()
    without = [{"name": m["name"]} for m in item["materials"] if m["required"] and m["name"] != "营业执照"]

    before = (await holder.get("/api/cases")).json()["total"]
    r = await holder.apply(FOOD, materials=[*without, {"name": "营业执照", "licence_id": food}])
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert (detail["code"], detail["field"]) == ("licence_type_mismatch", f"materials[{len(without)}].licence_id")
    assert "食品经营许可证" in detail["message"] and "“营业执照”电子证照" in detail["message"], detail
    assert (await holder.get("/api/cases")).json()["total"] == before  # nothing filed

    # a supplement is checked the same way
    r = await holder.apply(FOOD, materials=[*without, {"name": "营业执照"}])
    assert r.status_code == 201, r.text
    case = await stack.staff("amr", "clerk").ok(r.json()["id"], "request_supplement", "请补正营业执照",
                                                 missing=["营业执照"])
    r = await holder.act(case["id"], "submit_supplement", None,
                         materials=[{"name": "营业执照", "licence_id": food}])
    assert r.status_code == 422 and r.json()["detail"]["code"] == "licence_type_mismatch", r.text
    assert r.json()["detail"]["field"] == "data.materials[0].licence_id"
    assert (await holder.case(case["id"]))["status"] == "supplement_requested"

    # a material linked to no licence type may still carry a licence the applicant holds
    r = await holder.apply(FOOD, materials=[*without, {"name": "营业执照"},
                                            {"name": "自动售货设备相关材料", "licence_id": food}])
    assert r.status_code == 201, r.text
