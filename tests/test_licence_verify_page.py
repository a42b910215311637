"""E-licence verification for people: the public page a licence's QR code opens (valid or not in
large text, why not, the holder only with the verification code), the printable licence of a licence
that is no longer valid (marked, no claim of legal effect), the badges on /my/licences, the address
the QR code carries (configured, never the request's Host), the per-address limit, and the case
result's wording."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from activities.licences import LicenceActivities
from api.routes.pages.common import result_text
from api.throttle import AddressLimiter, TooManyRequests
from banjian import licence_ops as ops
from banjian import licences as lic
from banjian.db import session_factory
from banjian.items.schema import LicenceSpec
from banjian.licence_store import Licence, master_key, new_verify_code, normal_code
from banjian.settings import Settings
from tests.pages_client import PageClient

REGISTRATION = "individual-business-registration"


async def holder_and_licence(stack, people, n: int) -> tuple[object, dict, str]:
    holder = people.applicant(n)
    me = (await holder.get("/api/me")).json()
    applicant = {"kind": "citizen", "id_number": me["id_number"], "name": me["display_name"]}
    acts = LicenceActivities(session_factory(stack.engine), master_key(None), "330100")
    licence_id = acts.issue_licence(lic.IssueRequest(
        case_id=uuid.uuid4().hex, item_code=REGISTRATION, item_name="个体工商户设立登记", department="amr",
        implementing_body={"name": "市市场监督管理局", "credit_code": "11330100002548715U"},
        licence=LicenceSpec(type="营业执照", type_code="0001"), applicant={**applicant, "username": holder.username},
        decided_at=datetime.now(UTC)))
    return holder, me, licence_id


def code_of(stack, licence_id: str) -> str:
    with Session(stack.engine) as session:
        row = session.get(Licence, licence_id)
        assert row is not None and row.verify_code
        return row.verify_code


def big_word(html: str) -> str:
    m = re.search(r'class="verdict__word">([^<]+)<', html)
    assert m, "no verdict on the page"
    return m.group(1)


async def test_the_verify_page_shows_validity_in_chinese_and_the_holder_only_with_the_code(stack, people):
    _, me, licence_id = await holder_and_licence(stack, people, 0)
    code = code_of(stack, licence_id)
    browser = PageClient(stack, "10.1.0.1")  # nobody logged in
    try:
        r = await browser.get(f"/licences/{licence_id}/verify?code={code}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert big_word(r.text) == "✓ 有效" and 'lang="zh-CN"' in r.text and "width=device-width" in r.text
        assert me["display_name"] in r.text and me["id_number"][-4:] in r.text and me["id_number"] not in r.text
        assert "营业执照" in r.text and "市市场监督管理局" in r.text and "长期" in r.text

        r = await browser.get(f"/licences/{licence_id}/verify")  # a bare licence id: valid or not, not whose
        assert big_word(r.text) == "✓ 有效" and me["display_name"] not in r.text
        assert me["id_number"][-4:] not in r.text and 'name="code"' in r.text
        r = await browser.get(f"/licences/{licence_id}/verify?code=ZZZZ2222")
        assert "核验码不正确" in r.text and me["display_name"] not in r.text
        r = await browser.get(f"/licences/{licence_id}/verify?code={code[:4].lower()}-{code[4:].lower()}")
        assert me["display_name"] in r.text  # as typed off paper

        r = await browser.get(f"/licences/{licence_id}/verify?code={'A' * 33}")
        assert r.status_code == 422 and "核验码不能超过32个字符" in r.text
        r = await stack.http.get(f"/api/licences/{licence_id}/verify", params={"code": "A" * 33})
        assert r.status_code == 422 and r.json()["detail"]["field"] == "code", r.text
        r = await browser.get("/licences/1.2.156.3005.2.X.Y.1.1.0/verify")
        assert r.status_code == 404 and "格式或校验位不正确" in r.text
        # a mistyped identifier (its check character): said so, with the form to type it again
        bad = licence_id[:-1] + ("0" if licence_id[-1] != "0" else "1")
        r = await browser.get(f"/licences/{bad}/verify?code={code}")
        assert r.status_code == 404 and "电子证照标识格式或校验位不正确" in r.text, r.text
        assert 'name="number"' in r.text and f'value="{bad}"' in r.text and f'value="{code}"' in r.text
        r = await browser.get("/licences/verify", params={"number": bad})
        assert r.status_code == 404 and "电子证照标识格式或校验位不正确" in r.text
        r = await browser.get("/licences/010148715U29990000001/verify")  # well formed, unknown
        assert r.status_code == 404 and "未找到该证照编号对应的电子证照" in r.text and 'name="number"' in r.text

        # revoked, then every other reason, each named in Chinese
        approver = people.staff("amr", "approver")
        r = await approver.post(f"/api/licences/{licence_id}/actions", json={"action": "suspend", "comment": "整改"})
        assert r.status_code == 200, r.text
        r = await browser.get(f"/licences/{licence_id}/verify?code={code}")
        assert big_word(r.text) == "✗ 无效" and "原因：已暂停" in r.text
        r = await approver.post(f"/api/licences/{licence_id}/actions", json={"action": "revoke", "comment": "吊销"})
        assert r.status_code == 200, r.text
        r = await browser.get(f"/licences/{licence_id}/verify")
        assert big_word(r.text) == "✗ 无效" and "原因：已撤销" in r.text
        v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
        assert v["valid"] is False and v["reason"] == "revoked" and v["status"] == "revoked"
    finally:
        await browser.close()


async def test_expired_and_forged_licences_say_why(stack, people):
    _, _, licence_id = await holder_and_licence(stack, people, 1)
    browser = PageClient(stack, "10.1.0.2")
    try:
        with Session(stack.engine) as session:
            row = session.get(Licence, licence_id)
            assert row is not None
            row.holder_name = "伪造"  # a signed field changed behind the issuer's back
            session.add(row)
            session.commit()
        r = await browser.get(f"/licences/{licence_id}/verify")
        assert big_word(r.text) == "✗ 无效" and "原因：签名无效" in r.text
        assert (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()["reason"] == "signature_invalid"
        with Session(stack.engine) as session:
            row = session.get(Licence, licence_id)
            assert row is not None
            row.valid_to = date.today() - timedelta(days=1)  # past its last day (its status is sealed:
            session.add(row)  # a hand-edited status would read 状态记录无法核实)
            session.commit()
        r = await browser.get(f"/licences/{licence_id}/verify")
        assert "原因：已过期" in r.text
    finally:
        await browser.close()


def test_why_a_licence_does_not_verify():
    today = date(2026, 12, 3)
    assert ops.invalid_reason(lic.LicenceStatus.VALID, True, today, today) is None
    assert ops.invalid_reason(lic.LicenceStatus.VALID, True, today + timedelta(days=1), today) == "not_yet_valid"
    assert ops.invalid_reason(lic.LicenceStatus.VALID, False, today, today) == "signature_invalid"
    assert ops.invalid_reason(lic.LicenceStatus.REVOKED, False, today, today) == "revoked"
    assert [ops.reason_zh(r) for r in ("revoked", "suspended", "expired", "cancelled", "not_yet_valid",
                                       "signature_invalid")] == ["已撤销", "已暂停", "已过期", "已注销", "尚未生效", "签名无效"]


async def test_a_revoked_licence_prints_marked_and_my_licences_does_not_offer_it_as_usable(stack, people):
    holder, _, licence_id = await holder_and_licence(stack, people, 2)
    r = await people.staff("amr", "approver").post(f"/api/licences/{licence_id}/actions",
                                                   json={"action": "revoke", "comment": "以欺骗手段取得许可"})
    assert r.status_code == 200, r.text
    doc = (await holder.get(f"/api/licences/{licence_id}/document")).text
    assert '<div class="void-mark" aria-hidden="true"><span>已撤销</span></div>' in doc
    assert "本证照已撤销，当前无效" in doc and "与纸质证照具有同等法律效力" not in doc

    page = PageClient(stack)
    try:
        assert (await page.login(holder.username, next_url="/my/licences")).status_code in (200, 303)
        html = (await page.get("/my/licences")).text
        assert '<strong class="tag tag--void">已撤销</strong>' in html  # not the blue/green of 有效
        assert "查看并打印" not in html and "本证照已撤销，当前无效，不能作为有效证照使用" in html
        assert f"/licences/{licence_id}/verify?code=" in html  # the holder's link shows the holder
    finally:
        await page.close()


async def test_a_valid_licence_on_my_licences_is_green_and_printable(stack, people):
    holder, _, licence_id = await holder_and_licence(stack, people, 3)
    page = PageClient(stack)
    try:
        await page.login(holder.username)
        html = (await page.get("/my/licences")).text
        assert '<strong class="tag tag--valid">有效</strong>' in html and "查看并打印证照" in html
        assert f'href="/licences/{licence_id}/verify?code={code_of(stack, licence_id)}"' in html
    finally:
        await page.close()


async def test_the_qr_address_comes_from_the_configured_public_url(stack, people):
    holder, _, licence_id = await holder_and_licence(stack, people, 4)
    settings = stack.app.state.settings
    before = settings.public_url
    settings.public_url = "https://zwfw.example.gov.cn/"
    try:
        r = await stack.http.get(f"/api/licences/{licence_id}/document",
                                 headers={**await holder.headers(), "Host": "evil.example",
                                          "X-Forwarded-Host": "evil.example"})
        code = code_of(stack, licence_id)
        assert f"https://zwfw.example.gov.cn/licences/{licence_id}/verify?code={code}" in r.text
        assert "evil.example" not in r.text
    finally:
        settings.public_url = before


def test_public_base_url_setting():
    assert Settings(host="0.0.0.0", port=8123).public_base_url == "http://127.0.0.1:8123"
    assert Settings(host="10.0.0.5", port=80).public_base_url == "http://10.0.0.5:80"
    assert Settings(public_url="https://zwfw.example.gov.cn/banjian/").public_base_url == \
        "https://zwfw.example.gov.cn/banjian"
    import pytest
    from pydantic import ValidationError
    with pytest.raises(ValidationError):
        Settings(public_url="javascript:alert(1)")


def test_verification_codes_are_random_and_typed_forgivingly():
    codes = {new_verify_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 8 and not set(c) & set("01OIL") for c in codes)
    assert normal_code(" abcd-2345 ") == "ABCD2345" and normal_code(None) == ""


def test_the_address_limiter_counts_a_sliding_window_per_address():
    now = [0.0]
    limiter = AddressLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("a")
    try:
        limiter.hit("a")
        raise AssertionError("the fourth request should be refused")
    except TooManyRequests as e:
        assert e.status == 429 and e.retry_after == 60
    limiter.hit("b")  # another address is counted apart
    now[0] = 60.5
    limiter.hit("a")  # the window slid past the first requests


async def test_public_verification_is_limited_per_address(stack, people):
    _, _, licence_id = await holder_and_licence(stack, people, 5)
    saved = stack.app.state.verify_limiter
    stack.app.state.verify_limiter = AddressLimiter(2, 60)
    walker, other = PageClient(stack, "10.9.9.9"), PageClient(stack, "10.9.9.8")
    try:
        assert (await walker.get(f"/api/licences/{licence_id}/verify")).status_code == 200
        assert (await walker.get("/api/licences/1.2.156.3005.2.X.Y.1.1.0/verify")).status_code == 404  # counts too
        r = await walker.get(f"/api/licences/{licence_id}/verify")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        detail = r.json()["detail"]
        assert detail["code"] == "too_many_requests" and detail["message"] and detail["message_en"]
        r = await walker.get(f"/licences/{licence_id}/verify")
        assert r.status_code == 429 and "请求过于频繁" in r.text
        assert (await other.get(f"/licences/{licence_id}/verify")).status_code == 200
    finally:
        stack.app.state.verify_limiter = saved
        await walker.close()
        await other.close()


def test_result_wording_does_not_repeat_the_decision():
    assert result_text({"decision": "approved", "reason": "准予许可"}) == "准予许可"
    assert result_text({"decision": "approved", "reason": "准予许可。"}) == "准予许可"
    assert result_text({"decision": "approved", "reason": None}) == "准予许可"
    assert result_text({"decision": "approved", "reason": "符合条件，准予许可"}) == "符合条件，准予许可"
    assert result_text({"decision": "denied", "reason": "经营场所不符合要求"}) == "不予许可：经营场所不符合要求"
    assert result_text(None) == ""


async def test_the_case_page_reads_the_result_once(stack, people):
    holder = people.applicant(6)
    case = (await holder.apply("food-business-licence")).json()
    await stack.staff("amr", "clerk").ok(case["id"], "accept")
    current = await holder.case(case["id"])
    while current["current_step"]["kind"] == "review":
        current = await stack.staff("amr", current["current_step"]["role"]).ok(case["id"], "pass")
    done = await stack.staff("amr", "approver").ok(case["id"], "approve", "准予许可")
    page = PageClient(stack)
    try:
        await page.login(holder.username)
        html = (await page.get(f"/cases/{case['id']}")).text
        assert "准予许可：准予许可" not in html and "<dt>办理结果</dt><dd>准予许可" in html
        assert f'href="/licences/{done["result"]["licence_id"]}/verify"' in html
    finally:
        await page.close()


def _zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


async def test_a_licence_that_no_longer_verifies_says_since_when(stack, people):
    """A bank clerk scanning a revoked or expired licence reads from which day it stopped being
    valid: in the JSON (`status_since`), on the verification page and on the printed licence."""
    holder, _, licence_id = await holder_and_licence(stack, people, 6)
    browser = PageClient(stack, "10.1.0.6")
    try:
        v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
        assert v["valid"] is True and v["status_since"] is None

        # a licence past its last day: expired from the next day, whether or not the timer wrote it down
        last_day = date.today() - timedelta(days=10)
        with Session(stack.engine) as session:
            row = session.get(Licence, licence_id)
            assert row is not None
            valid_to, row.valid_to = row.valid_to, last_day
            session.add(row)
            session.commit()
        v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
        assert v["status"] == "expired" and v["status_since"] == (last_day + timedelta(days=1)).isoformat()
        html = (await browser.get(f"/licences/{licence_id}/verify")).text
        assert f"原因：已过期（自{_zh(last_day + timedelta(days=1))}起）" in html and "<dt>失效日期</dt>" in html
        with Session(stack.engine) as session:
            row = session.get(Licence, licence_id)
            assert row is not None
            row.valid_to = valid_to
            session.add(row)
            session.commit()

        r = await people.staff("amr", "approver").post(f"/api/licences/{licence_id}/actions",
                                                       json={"action": "revoke", "comment": "以欺骗手段取得登记"})
        assert r.status_code == 200, r.text
        revoked_on = datetime.fromisoformat(r.json()["events"][-1]["at"]).date()
        v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
        assert v["valid"] is False and v["status"] == "revoked" and v["status_since"] == revoked_on.isoformat()
        html = (await browser.get(f"/licences/{licence_id}/verify")).text
        assert f"原因：已撤销（自{_zh(revoked_on)}起）" in html
        assert re.search(rf"<dt>撤销日期</dt><dd>{_zh(revoked_on)}</dd>", html)
        doc = (await holder.get(f"/api/licences/{licence_id}/document")).text
        assert f"已撤销（自{_zh(revoked_on)}起）" in doc
    finally:
        await browser.close()


async def test_a_licence_is_verified_by_the_number_printed_on_it(stack, people):
    """A landlord holding a paper copy types the licence number (证照编号), not the long identifier:
    the JSON verification and the page find the licence by it, typed in any case with spaces; an
    unknown number is a clear 404, and too long a number a 422, nothing found."""
    _, me, licence_id = await holder_and_licence(stack, people, 7)
    with Session(stack.engine) as session:
        row = session.get(Licence, licence_id)
        assert row is not None
        number, code = row.licence_no, row.verify_code
    typed = f" {number[:6].lower()} {number[6:]} "
    v = (await stack.http.get(f"/api/licences/{typed}/verify")).json()
    assert v["id"] == licence_id and v["licence_no"] == number and v["valid"] is True
    v = (await stack.http.get(f"/api/licences/{licence_id.lower()}/verify")).json()  # the identifier, typed
    assert v["id"] == licence_id and v["valid"] is True
    browser = PageClient(stack, "10.1.0.7")
    try:
        r = await browser.get("/licences/verify")
        assert r.status_code == 200 and 'name="number"' in r.text and "证照编号" in r.text
        r = await browser.get("/licences/verify", params={"number": typed, "code": code.lower()},
                              follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/licences/{licence_id}/verify?code={code.lower()}"
        r = await browser.get(r.headers["location"])
        assert big_word(r.text) == "✓ 有效" and me["display_name"] in r.text
        r = await browser.get(f"/licences/{number}/verify")  # the number in the QR-code path works too
        assert r.status_code == 200 and big_word(r.text) == "✓ 有效" and number in r.text
        r = await browser.get("/licences/verify", params={"number": number[:-6] + "999999"}, follow_redirects=False)
        assert r.status_code == 404 and "未找到该证照编号" in r.text
        r = await browser.get("/licences/verify", params={"number": "9" * 161}, follow_redirects=False)
        assert r.status_code == 422 and "不能超过160个字符" in r.text
        # 核验 pressed with the number left empty (spaces only): said beside it, not the bare form again
        r = await browser.get("/licences/verify", params={"number": "  ", "code": ""}, follow_redirects=False)
        assert r.status_code == 422 and "请输入证照编号或电子证照标识" in r.text
    finally:
        await browser.close()
    r = await stack.http.get(f"/api/licences/{number[:-1]}X/verify")
    assert r.status_code == 404 and r.json()["detail"]["code"] == "licence_not_found"
    wrong = licence_id[:-1] + ("A" if licence_id[-1] != "A" else "B")  # a check character mistyped
    r = await stack.http.get(f"/api/licences/{wrong}/verify")
    assert r.status_code == 404 and r.json()["detail"]["code"] == "licence_not_found"
    assert "校验位不正确" in r.json()["detail"]["message"] and "check character" in r.json()["detail"]["message_en"]


async def test_a_bad_page_number_on_my_licences_names_the_parameter_and_the_rule(stack, people):
    holder, _, _ = await holder_and_licence(stack, people, 8)
    page = PageClient(stack)
    try:
        await page.login(holder.username)
        r = await page.get("/my/licences?page=abc")
        assert r.status_code == 422
        assert "参数 page（页码）应为整数（实际为 abc）" in r.text, r.text
    finally:
        await page.close()
