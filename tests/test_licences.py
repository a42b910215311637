"""E-licences: issued once when a licensed case is approved, verified without login (signature,
status, validity), status changes by the issuing approver, expiry computed on the day after
`valid_to`, the printable document with its QR code, and issuance that stays single under retries."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import segno
from sqlmodel import Session, select

from activities.licences import LicenceActivities
from banjian import licence_ops as ops
from banjian import licences as lic
from banjian.crypto import sm3_hex
from banjian.db import session_factory
from banjian.licence_store import Licence, LicenceVerification, master_key
from banjian.timefmt import CHINA
from tests.pages_client import PageClient

REGISTRATION = "individual-business-registration"  # amr, licence 营业执照 (long-term)
FOOD = "food-business-licence"  # amr, licence 食品经营许可证 (5 years)


async def approved(stack, applicant, item: str, **over) -> dict:
    r = await applicant.apply(item, **over)
    assert r.status_code == 201, r.text
    case = r.json()
    case = await stack.staff("amr", "clerk").ok(case["id"], "accept")
    while case["current_step"]["kind"] == "review":
        case = await stack.staff("amr", case["current_step"]["role"]).ok(case["id"], "pass")
    return await stack.staff("amr", "approver").ok(case["id"], "approve")


def row_of(stack, licence_id: str) -> Licence:
    with Session(stack.engine) as session:
        row = session.get(Licence, licence_id)
        assert row is not None
        return row


async def test_approval_issues_one_signed_licence_that_verifies_without_login(stack, people):
    holder = people.applicant(0)
    pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    up = await holder.post("/api/files", files={"file": ("申请书.pdf", pdf, "application/pdf")})
    item = (await holder.get(f"/api/items/{REGISTRATION}")).json()
    materials = [{"name": m["name"]} for m in item["materials"] if m["required"]]
    materials[0]["file_id"] = up.json()["file_id"]
    case = await approved(stack, holder, REGISTRATION, materials=materials, form={
        "operator_name": "张三", "business_address": "西湖区文三路1号", "business_scope": "餐饮服务",
        "organisation_form": "个人经营", "capital": 5, "contact_phone": "13800000000", "business_name": "张三小吃店",
        "declaration": True})
    licence_id = case["result"]["licence_id"]
    assert licence_id and lic.identifier_ok(licence_id) and licence_id.startswith("1.2.156.3005.2.0001.")
    issued = [h for h in case["history"] if h["action"] == "licence_issued"]
    assert len(issued) == 1 and issued[0]["actor"] == "system" and issued[0]["data"]["licence_id"] == licence_id
    concluded = await stack.staff("amr", "clerk").ok(case["id"], "deliver", method="electronic")
    assert concluded["status"] == "concluded" and concluded["result"]["licence_id"] == licence_id

    r = await stack.http.get(f"/api/licences/{licence_id}/verify")  # no login, no code: as contracted
    assert r.status_code == 200, r.text
    v = r.json()
    me = (await holder.get("/api/me")).json()
    assert v["valid"] is True and v["signature_valid"] is True and v["status"] == "valid" and v["reason"] is None
    assert v["holder_disclosed"] is False and v["holder_name"] == me["display_name"]
    assert v["issuer"] == "市市场监督管理局" and me["id_number"] not in r.text
    code = row_of(stack, licence_id).verify_code
    assert code and len(code) == 8
    r = await stack.http.get(f"/api/licences/{licence_id}/verify", params={"code": code.lower()})  # as typed
    v = r.json()
    assert v["holder_disclosed"] is True and v["holder_name"] == me["display_name"]
    assert v["valid_to"] is None and me["id_number"] not in r.text
    assert v["holder_id_masked"].endswith(me["id_number"][-4:]) and "*" in v["holder_id_masked"]
    wrong = (await stack.http.get(f"/api/licences/{licence_id}/verify", params={"code": "AAAAAAAA"})).json()
    assert wrong["holder_disclosed"] is False and wrong["valid"] is True
    with Session(stack.engine) as session:
        logged = session.exec(select(LicenceVerification).where(LicenceVerification.licence_id == licence_id)).all()
        assert len(logged) == 3 and logged[0].address and logged[0].signature_valid

    full = (await holder.get(f"/api/licences/{licence_id}")).json()
    assert full["face_data"]["operator"] == {"label": "经营者", "value": "张三"}
    assert full["face_data"]["business_name"]["value"] == "张三小吃店"
    assert full["holder_id"] == me["id_number"] and full["holder_id_type"] == "111"
    assert full["issuer_code"] == "11330100002548715U" and full["case_id"] == case["id"]
    assert (await people.staff("amr", "handler").get(f"/api/licences/{licence_id}")).status_code == 200
    assert (await people.applicant(1).get(f"/api/licences/{licence_id}")).status_code == 404
    assert (await people.staff("hcd", "approver").get(f"/api/licences/{licence_id}")).status_code == 404
    mine = (await holder.get("/api/me/licences")).json()
    assert licence_id in [x["id"] for x in mine["items"]] and mine["total"] >= 1
    assert (await stack.http.get("/api/licences/1.2.156.3005.2.X.Y.1.1.0/verify")).status_code == 404

    # the archive package holds the licence and the materials' digests; the timeline shows issuance
    r = await holder.get(f"/api/cases/{case['id']}/archive")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        archived = json.loads(z.read("licence.json"))
        app = json.loads(z.read("application.json"))
        result = json.loads(z.read("result.json"))
    assert archived["id"] == licence_id and archived["signature"] == full["signature"]
    assert lic.signature_valid(archived, archived["signature"], archived["public_key"])
    assert result["licence_id"] == licence_id and result["licence"]["licence_id"] == licence_id
    assert app["materials"][0]["sm3"] == sm3_hex(pdf) and app["materials"][0]["size"] == len(pdf)
    assert "licence.json" in [f["path"] for f in manifest["files"]]
    timeline = (await stack.staff("amr", "handler").get(f"/api/cases/{case['id']}/timeline")).json()
    assert "licence_issued" in json.dumps(timeline, ensure_ascii=False)

    # the pages: the case offers the download, the applicant's licences are listed, the guide marks reuse
    browser = PageClient(stack)
    try:
        assert (await browser.login(holder.username)).status_code in (200, 303)
        page = (await browser.get(f"/cases/{case['id']}")).text
        assert "下载电子证照" in page and f"/api/licences/{licence_id}/document" in page
        page = (await browser.get("/my/licences")).text
        assert full["licence_no"] in page and "有效" in page
        page = (await browser.get(f"/guide/{FOOD}")).text
        assert "可由电子证照自动调取（营业执照）" in page
    finally:
        await browser.close()


async def test_a_changed_field_breaks_the_signature(stack, people):
    case = await approved(stack, people.applicant(2), FOOD)
    licence_id = case["result"]["licence_id"]
    original = row_of(stack, licence_id)
    changes: dict[str, Any] = {
        "holder_name": "李四", "holder_id": "330106199001011234", "issuer": "伪造机关", "licence_no": "X1",
        "valid_to": original.valid_to + timedelta(days=365), "valid_from": original.valid_from - timedelta(days=1),
        "face_data": {**original.face_data, "business_address": {"label": "经营场所", "value": "伪造地址"}},
        "type": "营业执照", "item_code": "other", "region": "110000", "holder_id_type": "001",
        "signature": "00" * 64,
    }
    for field, value in changes.items():
        with Session(stack.engine) as session:
            row = session.get(Licence, licence_id)
            assert row is not None
            before = getattr(row, field)
            setattr(row, field, value)
            session.add(row)
            session.commit()
            assert ops.check(session, row)["signature_valid"] is False, field
            r = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
            assert r["signature_valid"] is False and r["valid"] is False, field
            setattr(row, field, before)
            session.add(row)
            session.commit()
    assert (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()["valid"] is True


async def test_status_changes_by_the_issuing_approver_and_expiry(stack, people):
    holder = people.applicant(3)
    case = await approved(stack, holder, FOOD)
    licence_id = case["result"]["licence_id"]
    path = f"/api/licences/{licence_id}/actions"
    approver, handler = people.staff("amr", "approver"), people.staff("amr", "handler")

    async def verify() -> dict:
        return (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()

    assert (await handler.post(path, json={"action": "suspend", "comment": "整改"})).status_code == 403
    assert (await people.staff("hcd", "approver").post(path, json={"action": "suspend", "comment": "x"})).status_code == 404
    assert (await approver.post(path, json={"action": "suspend"})).status_code == 422  # comment required
    r = await approver.post(path, json={"action": "reinstate", "comment": "x"})
    assert r.status_code == 409 and r.json()["detail"]["message"] == "证照当前状态（有效）不允许恢复；可以：暂停、撤销、注销", r.text
    r = await approver.post(path, json={"action": "suspend", "comment": "责令停业整改"})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert (await verify())["status"] == "suspended" and (await verify())["valid"] is False
    r = await approver.post(path, json={"action": "reinstate", "comment": "整改完成"})
    assert r.json()["status"] == "valid" and (await verify())["valid"] is True
    events = r.json()["events"]
    assert [(e["action"], e["actor"], e["comment"]) for e in events] == [
        ("suspend", approver.username, "责令停业整改"), ("reinstate", approver.username, "整改完成")]

    row = row_of(stack, licence_id)
    assert row.valid_to is not None
    last_day = datetime.combine(row.valid_to, time(23, 59), CHINA)
    with Session(stack.engine) as session:
        assert ops.check(session, row, last_day)["status"] == "valid"
        assert ops.check(session, row, last_day + timedelta(minutes=2))["status"] == "expired"
        assert ops.check(session, row, last_day + timedelta(minutes=2))["valid"] is False
        assert ops.summary(row, row.valid_to + timedelta(days=1))["status"] == "expired"

    r = await approver.post(path, json={"action": "revoke", "comment": "以欺骗手段取得许可"})
    assert r.json()["status"] == "revoked" and (await verify())["status"] == "revoked"
    r = await approver.post(path, json={"action": "reinstate", "comment": "x"})
    assert r.status_code == 409 and r.json()["detail"]["message"] == "证照当前状态（已撤销）不允许恢复；该证照已不能再变更状态", r.text
    assert [x["status"] for x in (await holder.get("/api/me/licences")).json()["items"] if x["id"] == licence_id] == [
        "revoked"]


async def test_the_document_shows_the_face_data_and_a_qr_code_of_the_verify_url(stack, people):
    holder = people.applicant(4)
    case = await approved(stack, holder, FOOD)
    licence_id = case["result"]["licence_id"]
    r = await holder.get(f"/api/licences/{licence_id}/document")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    code = row_of(stack, licence_id).verify_code
    # the configured public address (here the default: the API's own), never the request's Host
    url = f"http://127.0.0.1:{stack.settings.port}/licences/{licence_id}/verify?code={code}"
    assert "食品经营许可证" in page and url in page and "市市场监督管理局" in page and code in page
    assert "banjian.test" not in page
    expected = segno.make_qr(url, error="m")
    assert expected.svg_inline(scale=4, title="核验二维码") in page  # the QR code encodes exactly this URL
    assert "与纸质证照具有同等法律效力" in page and "当前无效" not in page
    forged = await stack.http.get(f"/api/licences/{licence_id}/document",
                                  headers={**await holder.headers(), "Host": "evil.example"})
    assert forged.status_code == 200 and "evil.example" not in forged.text and url in forged.text
    assert (await people.applicant(5).get(f"/api/licences/{licence_id}/document")).status_code == 404


def test_identifier_check_character_and_validity_arithmetic():
    ident = lic.identifier("0001", "11330100002548715U", 7)
    assert ident.startswith("1.2.156.3005.2.0001.11330100002548715U.7.1.")
    assert lic.identifier_ok(ident)
    head, _, check = ident.rpartition(".")
    wrong = "0" if check != "0" else "1"
    assert not lic.identifier_ok(f"{head}.{wrong}")
    assert not lic.identifier_ok(ident.replace(".7.1.", ".8.1."))  # a changed sequence fails the check
    from banjian.items.schema import Validity
    assert lic.add_period(date(2026, 3, 1), Validity(value=5)) == date(2031, 2, 28)
    assert lic.add_period(date(2026, 1, 31), Validity(value=1, unit="months")) == date(2026, 2, 27)
    assert lic.add_period(date(2026, 1, 1), Validity(value=10, unit="days")) == date(2026, 1, 10)
    assert lic.mask_id("330106199001011234") == "330***********1234"


def _request(case_id: str) -> lic.IssueRequest:
    from banjian.items.schema import LicenceSpec, Validity
    return lic.IssueRequest(
        case_id=case_id, case_no="N1", item_code=FOOD, item_name="食品经营许可", department="amr",
        implementing_body={"name": "市市场监督管理局", "credit_code": "11330100002548715U"},
        licence=LicenceSpec(type="食品经营许可证", type_code="0101", validity=Validity(value=1)),
        applicant={"kind": "citizen", "id_number": "330106199001011234", "name": "王五", "username": None},
        decided_at=datetime(2026, 5, 1, 2, 0, tzinfo=UTC))


def test_issuing_again_after_a_failure_past_the_commit_finds_the_first_licence(stack):
    """A worker that dies (or an activity that times out) after the commit: the retry returns the same
    licence; so do concurrent attempts."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    calls = {"n": 0}

    class DiesAfterCommit(Session):
        def commit(self) -> None:
            super().commit()
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionError("worker lost after the commit")

    case_id = uuid.uuid4().hex
    acts = LicenceActivities(lambda: DiesAfterCommit(stack.engine, expire_on_commit=False), master_key(None), "330100")
    try:
        acts.issue_licence(_request(case_id))
        raise AssertionError("the first attempt should have failed")
    except ConnectionError:
        pass
    again = LicenceActivities(session_factory(stack.engine), master_key(None), "330100")
    first = again.issue_licence(_request(case_id))
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: again.issue_licence(_request(case_id)), range(4)))
    assert set(ids) == {first}
    with Session(stack.engine) as session:
        assert len(session.exec(select(Licence).where(Licence.case_id == case_id)).all()) == 1
        row = session.get(Licence, first)
        assert row is not None and row.valid_to == date(2027, 4, 30) and row.holder_id_type == "111"
        assert ops.signature_ok(session, row)


def _issue_business_licence(stack, holder: dict, username: str | None) -> str:
    import uuid

    from banjian.items.schema import LicenceSpec
    acts = LicenceActivities(session_factory(stack.engine), master_key(None), "330100")
    return acts.issue_licence(lic.IssueRequest(
        case_id=uuid.uuid4().hex, item_code=REGISTRATION, item_name="个体工商户设立登记", department="amr",
        implementing_body={"name": "市市场监督管理局", "credit_code": "11330100002548715U"},
        licence=LicenceSpec(type="营业执照", type_code="0001"), applicant={**holder, "username": username},
        decided_at=datetime.now(UTC)))


async def test_a_held_licence_is_attached_at_filing_and_a_revoked_one_is_not(stack, people):
    holder = people.applicant(6)
    me = (await holder.get("/api/me")).json()
    applicant = {"kind": "citizen", "id_number": me["id_number"], "name": me["display_name"]}
    business = _issue_business_licence(stack, applicant, holder.username)
    item = (await holder.get(f"/api/items/{FOOD}")).json()
    without = [{"name": m["name"]} for m in item["materials"] if m["required"] and m["name"] != "营业执照"]

    r = await holder.apply(FOOD, materials=without)  # the applicant uploads nothing for 营业执照
    assert r.status_code == 201, r.text
    attached = [m for m in r.json()["materials"] if m["name"] == "营业执照"]
    assert len(attached) == 1 and attached[0]["licence_id"] == business and attached[0]["file_id"] is None
    assert attached[0]["licence_check"]["valid"] is True and attached[0]["licence_check"]["status"] == "valid"
    assert attached[0]["licence_check"]["signature_valid"] is True

    # someone else's licence named in an application: 404, nothing filed
    other = people.applicant(7)
    before = (await other.get("/api/cases")).json()["total"]
    r = await other.apply(FOOD, materials=[*without, {"name": "营业执照", "licence_id": business}])
    assert r.status_code == 404 and r.json()["detail"]["code"] == "licence_not_found", r.text
    assert r.json()["detail"]["field"].endswith(".licence_id")
    assert (await other.get("/api/cases")).json()["total"] == before
    r = await other.apply(FOOD, materials=without)  # holding none: told to upload it
    assert r.status_code == 422 and r.json()["detail"]["code"] == "material_missing", r.text
    assert "您名下没有有效的“营业执照”电子证照可自动调取，请上传营业执照" in r.json()["detail"]["message"]

    r = await people.staff("amr", "approver").post(f"/api/licences/{business}/actions",
                                                   json={"action": "revoke", "comment": "吊销"})
    assert r.status_code == 200, r.text
    r = await holder.apply(FOOD, materials=without)  # revoked: asked for as usual
    assert r.status_code == 422 and r.json()["detail"]["code"] == "material_missing", r.text
    message = r.json()["detail"]["message"]  # saying why the held licence was not attached, and what to do
    licence_no = (await holder.get(f"/api/licences/{business}")).json()["licence_no"]
    assert f"（证照编号 {licence_no}）当前无效（已撤销）" in message and "请上传营业执照" in message, message
    r = await holder.apply(FOOD, materials=[*without, {"name": "营业执照", "licence_id": business}])
    assert r.status_code == 422 and r.json()["detail"]["code"] == "licence_not_valid", r.text
    message = r.json()["detail"]["message"]
    assert "当前无效（已撤销）" in message and "revoked" not in message, message


def test_department_keys_are_stored_encrypted_under_the_master_key(stack):
    import pytest as _pytest

    from banjian.crypto import CryptoError, sm4_decrypt
    from banjian.licence_store import DepartmentKey, department_signer

    key = master_key("00112233445566778899aabbccddeeff")
    with Session(stack.engine) as session:
        signer = department_signer(session, "test-dept-keys", key)
        session.commit()
        again = department_signer(session, "test-dept-keys", key)  # generated once, then loaded
        assert again.public_key_hex == signer.public_key_hex
        row = session.get(DepartmentKey, "test-dept-keys")
        assert row is not None and signer.private_key_hex not in row.private_key_enc
        assert sm4_decrypt(key, bytes.fromhex(row.private_key_enc), b"test-dept-keys").hex() == signer.private_key_hex
        with _pytest.raises(CryptoError):  # another master key, or the row moved to another department
            department_signer(session, "test-dept-keys", master_key(None))
        with _pytest.raises(CryptoError):
            sm4_decrypt(key, bytes.fromhex(row.private_key_enc), b"other-dept")
    with _pytest.raises(CryptoError):
        master_key("abc")


def test_canonical_serialisation_known_answer():
    """The bytes signed are fixed: sorted keys, no spaces, UTF-8, every signed field present."""
    fields = {"id": "1.2.156.3005.2.0001.X.1.1.0", "holder_name": "张三", "face_data": {"b": 1, "a": [2]}}
    out = lic.canonical(fields).decode()
    assert out.startswith('{"case_id":null,"face_data":{"a":[2],"b":1},"holder_id":null,')
    assert '"holder_name":"张三"' in out and " " not in out
    assert lic.canonical({**fields, "status": "revoked", "extra": 1}) == lic.canonical(fields)  # not signed


async def test_two_concurrent_approvals_issue_one_licence(stack, people):
    import asyncio

    r = await people.applicant(8).apply(FOOD)
    case = await stack.staff("amr", "clerk").ok(r.json()["id"], "accept")
    while case["current_step"]["kind"] == "review":
        case = await stack.staff("amr", case["current_step"]["role"]).ok(case["id"], "pass")
    approver = stack.staff("amr", "approver")
    answers = await asyncio.gather(approver.act(case["id"], "approve"), approver.act(case["id"], "approve"))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    with Session(stack.engine) as session:
        rows = session.exec(select(Licence).where(Licence.case_id == case["id"])).all()
    final = await approver.case(case["id"])
    assert len(rows) == 1 and final["result"]["licence_id"] == rows[0].id
    assert [h["action"] for h in final["history"]].count("licence_issued") == 1


def test_every_shipped_item_whose_result_is_a_licence_issues_it():
    """The contract: a case whose item names `result.licence_type` gets `result.licence_id` on approval,
    so every shipped definition that names one has the licence section that issues it."""
    from pathlib import Path

    import yaml

    named = 0
    for path in sorted(Path(__file__).resolve().parent.parent.joinpath("item_definitions").glob("*.yaml")):
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
        licence_type = (d.get("result") or {}).get("licence_type")
        if licence_type:
            named += 1
            assert (d.get("licence") or {}).get("type") == licence_type, path.name
    assert named >= 5



async def test_a_blank_comment_changes_no_licence(stack, people):
    """A status change needs a written reason: spaces alone are refused like an empty comment (422
    naming the field), and the licence keeps its status with no event."""
    case = await approved(stack, people.applicant(5), FOOD)
    licence_id = case["result"]["licence_id"]
    path = f"/api/licences/{licence_id}/actions"
    r = await people.staff("amr", "approver").post(path, json={"action": "revoke", "comment": " \n\t　"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == "comment" and "空白" in detail["message"] and "blank" in detail["message_en"]
    assert row_of(stack, licence_id).status == "valid"
    events = (await people.staff("amr", "approver").get(f"/api/licences/{licence_id}")).json()["events"]
    assert events == []


async def test_the_same_idempotency_key_finds_its_case_after_the_attached_licence_is_revoked(stack, people):
    """A retried submission (the same idempotency key) answers the case it filed, even when the
    e-licence attached at filing has been revoked since: the case exists, nothing is filed again
    (`banjian up --demo` replays its demo submissions this way on every start)."""
    holder = people.applicant(9)
    me = (await holder.get("/api/me")).json()
    business = _issue_business_licence(
        stack, {"kind": "citizen", "id_number": me["id_number"], "name": me["display_name"]}, holder.username)
    item = (await holder.get(f"/api/items/{FOOD}")).json()
    without = [{"name": m["name"]} for m in item["materials"] if m["required"] and m["name"] != "营业执照"]
    first = await holder.apply(FOOD, materials=without, idempotency_key="retry-after-revoke")
    assert first.status_code == 201, first.text
    r = await people.staff("amr", "approver").post(f"/api/licences/{business}/actions",
                                                   json={"action": "revoke", "comment": "吊销"})
    assert r.status_code == 200, r.text
    before = (await holder.get("/api/cases")).json()["total"]
    again = await holder.apply(FOOD, materials=without, idempotency_key="retry-after-revoke")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert (await holder.get("/api/cases")).json()["total"] == before
    # a new submission is checked as usual: the revoked licence is not attached
    r = await holder.apply(FOOD, materials=without, idempotency_key="a-new-one")
    assert r.status_code == 422 and r.json()["detail"]["code"] == "material_missing", r.text
