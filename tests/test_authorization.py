"""The whole authorization matrix: every role against every route of the API, the expected status
written in the table below (contract: 401 → 404 → 403 → 409 → 422, first failing check answers).

The case in the table is a food-business-licence case of `owner`, submitted and not yet accepted,
in department amr. `applicant` is another applicant; `other_clerk` a clerk of another department
(hcd). Requests that would change something are shaped so that the one role allowed to make them
ends in a harmless answer (a 422 for bad data, a 409 for the state) or changes nothing that the
other rows read. A route added to the API without a row here fails `test_every_route_is_in_the_matrix`.
"""
from __future__ import annotations

import uuid

import httpx
import pytest

ROLES = ("anon", "owner", "applicant", "clerk", "handler", "approver", "head", "lead", "other_clerk",
         "supervisor", "auditor", "admin", "author")

CASE = "{case}"
#        method  path                                     body key    anon own app clk hdl apv head lead oclk sup aud adm auth
MATRIX: list[tuple[str, str, str | None, str]] = [
    ("GET",  "/api/health",                               None,       "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("POST", "/api/auth/token",                           "form",     "422 422 422 422 422 422 422 422 422 422 422 422 422"),
    ("GET",  "/api/me",                                   None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/items",                                None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/items/{code}",                         None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("POST", "/api/items",                                "empty",    "401 403 403 403 403 403 403 403 403 403 403 422 422"),
    ("POST", "/api/cases",                                "apply",    "401 422 403 422 403 403 403 403 403 403 403 403 403"),
    ("GET",  "/api/cases",                                None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  f"/api/cases/{CASE}",                        None,       "401 200 404 200 200 200 200 200 404 200 200 200 200"),
    ("POST", f"/api/cases/{CASE}/actions",                "refuse",   "401 403 404 422 403 403 403 403 404 403 403 403 403"),
    ("GET",  "/api/tasks",                                None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  f"/api/cases/{CASE}/history",                None,       "401 200 404 200 200 200 200 200 404 200 200 200 200"),
    ("GET",  f"/api/cases/{CASE}/timeline",               None,       "401 200 404 200 200 200 200 200 404 200 200 200 200"),
    ("GET",  f"/api/cases/{CASE}/replay",                 None,       "401 403 404 403 403 403 403 403 404 403 200 200 403"),
    ("GET",  f"/api/cases/{CASE}/verify",                 None,       "401 403 404 403 403 403 403 403 404 403 200 200 403"),
    ("GET",  f"/api/cases/{CASE}/archive",                None,       "401 409 404 403 403 403 403 403 404 403 409 409 403"),
    ("GET",  "/api/supervision/warnings",                 None,       "401 403 403 403 403 403 403 403 403 200 403 403 403"),
    ("GET",  "/api/supervision/stats",                    None,       "401 403 403 200 200 200 200 200 200 200 403 200 403"),
    ("GET",  "/api/audit/reads",                          None,       "401 403 403 403 403 403 403 403 403 403 200 200 403"),
    ("GET",  "/api/audit/chain-heads",                    None,       "401 403 403 403 403 403 403 403 403 403 200 200 403"),
    ("GET",  "/api/audit/admin-log",                      None,       "401 403 403 403 403 403 403 403 403 403 200 200 403"),
    ("GET",  "/api/audit/licence-verifications",          None,       "401 403 403 403 403 403 403 403 403 403 200 200 403"),
    ("GET",  "/api/calendar/{year}",                      None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("PUT",  "/api/calendar/{year}",                      "bad_year", "401 403 403 403 403 403 403 403 403 403 403 422 403"),
    ("POST", "/api/codec/decode",                         "payloads", "401 403 403 403 403 403 403 403 403 403 200 200 403"),
    ("POST", "/api/codec/encode",                         "payloads", "401 403 403 403 403 403 403 403 403 403 200 200 403"),
    ("POST", "/api/admin/users/{owner}/unlock",           None,       "401 403 403 403 403 403 403 403 403 403 403 200 403"),
    ("POST", f"/api/simulation/cases/{CASE}/advance",     "days",     "401 403 403 403 403 403 403 403 403 403 403 200 403"),
    ("GET",  "/api/cases/by-number/{case_no}",            None,       "401 200 404 200 200 200 200 200 404 200 200 200 200"),
    ("POST", "/api/files",                                "empty",    "401 422 422 422 422 422 422 422 422 422 422 422 422"),
    ("GET",  "/api/files/{file_id}",                      None,       "401 200 404 404 404 404 404 404 404 404 200 200 404"),
    ("GET",  "/api/items/{code}/diagram",                 None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/items/{code}/changes",                 None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/items/{code}/drafts/{draft_id}/changes", None,     "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("GET",  "/api/items/{code}/drafts",                  None,       "401 403 403 403 403 403 403 403 403 403 403 200 200"),
    ("POST", "/api/items/{code}/drafts",                  "yaml_bad", "401 403 403 403 403 403 403 403 403 403 403 422 422"),
    ("GET",  "/api/items/{code}/drafts/{draft_id}",       None,       "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("PUT",  "/api/items/{code}/drafts/{draft_id}",       "yaml_bad", "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("POST", "/api/items/{code}/drafts/{draft_id}/publish", None,     "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("DELETE", "/api/items/{code}/drafts/{draft_id}",     None,       "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("POST", "/api/items/{code}/drafts/{draft_id}/simulate", None,    "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("GET",  "/api/items/{code}/drafts/{draft_id}/diagram", None,     "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("POST", "/api/items/{code}/migrations",              "empty",    "401 403 403 403 403 403 403 403 403 403 403 422 422"),
    # the event feed's subscribers (admin; status also supervisors and auditors); `{name}` names none
    ("GET",  "/api/subscribers",                          None,       "401 403 403 403 403 403 403 403 403 403 403 200 403"),
    ("PUT",  "/api/subscribers/{{name}}",                 "empty",    "401 403 403 403 403 403 403 403 403 403 403 422 403"),
    ("DELETE", "/api/subscribers/{{name}}",               None,       "401 403 403 403 403 403 403 403 403 403 403 404 403"),
    ("POST", "/api/subscribers/{{name}}/pause",           None,       "401 403 403 403 403 403 403 403 403 403 403 404 403"),
    ("POST", "/api/subscribers/{{name}}/resume",          None,       "401 403 403 403 403 403 403 403 403 403 403 404 403"),
    ("GET",  "/api/subscribers/{{name}}/status",          None,       "401 403 403 403 403 403 403 403 403 404 404 404 403"),
    ("GET",  "/api/subscribers/{{name}}/parked",          None,       "401 403 403 403 403 403 403 403 403 403 403 404 403"),
    ("POST", "/api/subscribers/{{name}}/retry",           None,       "401 403 403 403 403 403 403 403 403 403 403 404 403"),
    # a valid licence of the owner issued by amr
    ("GET",  "/api/licences/{licence_id}/verify",         None,       "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/licences/{licence_id}",                None,       "401 200 404 200 200 200 200 200 404 404 200 200 404"),
    ("GET",  "/api/licences/{licence_id}/document",       None,       "401 200 404 200 200 200 200 200 404 404 200 200 404"),
    ("POST", "/api/licences/{licence_id}/actions",        "reinstate", "401 403 404 403 403 409 403 403 404 404 403 403 404"),
    ("GET",  "/api/me/licences",                          None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    # the message centre: everyone's own (staff have no cases of their own: an empty list)
    ("GET",  "/api/me/notices",                           None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("POST", "/api/me/notices/read",                      None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/public/results",                       None,       "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("POST", "/api/inquiries",                            "empty",    "422 422 422 422 422 422 422 422 422 422 422 422 422"),
    ("GET",  "/api/inquiries",                            None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/inquiries/{inquiry_id}",               None,       "404 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("POST", "/api/inquiries/{inquiry_id}/answer",        "empty",    "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("GET",  "/api/items/{code}/slots",                   None,       "401 422 422 422 422 422 422 422 422 422 422 422 422"),
    ("POST", "/api/appointments",                         "empty",    "401 422 422 422 422 422 422 422 422 422 422 422 422"),
    ("GET",  "/api/appointments",                         None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("POST", "/api/appointments/{appointment_id}/cancel", None,       "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("POST", "/api/appointments/{appointment_id}/reschedule", "empty", "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("POST", "/api/appointments/{appointment_id}/no_show", None,      "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    # online payment: the provider's callback is signed, not logged in (unsigned: 401 for everyone);
    # the sandbox pays for the case's own applicant only (the table's case owes nothing: 409)
    ("POST", "/api/payments/callback",                    None,       "401 401 401 401 401 401 401 401 401 401 401 401 401"),
    ("POST", f"/api/payments/sandbox/{CASE}/pay",         None,       "401 409 404 403 403 403 403 403 404 403 403 403 403"),
    ("GET",  f"/api/payments/cases/{CASE}",               None,       "401 200 404 200 200 200 200 200 404 200 200 200 200"),
    ("GET",  "/api/payments/issues",                      None,       "401 403 403 403 403 403 403 403 403 403 403 200 403"),
    # rectifications of bad ratings: lists are scoped (an applicant's is empty); `{rectification_id}` names none
    ("GET",  "/api/rectifications",                       None,       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("GET",  "/api/rectifications/{rectification_id}",    None,       "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    ("POST", "/api/rectifications/{rectification_id}/actions", "close", "401 404 404 404 404 404 404 404 404 404 404 404 404"),
]

def _body(key: str | None, ctx: dict) -> dict:
    if key is None:
        return {}
    return {
        "form": {"data": {}},  # no username or password: a validation error for everyone
        "empty": {"json": {}},
        # as the owner, without the required form fields and materials: nothing is filed
        "apply": {"json": {"item_code": "food-business-licence", "applicant": ctx["owner_applicant"], "form": {},
                           "materials": [], "channel": "web"}},
        "refuse": {"json": {"action": "refuse_acceptance"}},  # without its required comment
        "bad_year": {"json": {"year": 1900, "holidays": [], "workdays": []}},
        "payloads": {"json": {"payloads": []}},
        "days": {"json": {"days": 0.5}},
        "reinstate": {"json": {"action": "reinstate", "comment": "恢复"}},
        "close": {"json": {"action": "close", "comment": "整改到位"}},  # a valid licence: 409 for its approver
        # a body that is not YAML: refused as unparsable by whoever may write drafts
        "yaml_bad": {"content": b"{not: [yaml", "headers": {"Content-Type": "application/yaml"}},
    }[key]


@pytest.fixture(scope="module")
async def ctx(stack):
    owner = stack.applicant()
    case = (await owner.apply("food-business-licence")).json()
    assert case["status"] == "submitted" and case["department"] == "amr", case
    users = {"owner": owner, "applicant": stack.applicant(), "other_clerk": stack.staff("hcd", "clerk")}
    for role in ("clerk", "handler", "approver", "head", "lead", "author"):
        users[role] = stack.staff("amr", role)
    for role in ("supervisor", "auditor", "admin"):
        users[role] = stack.user(f"{role}-{uuid.uuid4().hex[:6]}", role)
    tokens = {name: await u.token() for name, u in users.items()}
    upload = await owner.post("/api/files", files={"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert upload.status_code == 201, upload.text
    return {"case": case["id"], "case_no": case["case_no"], "owner": owner.username, "owner_applicant": case["applicant"],
            "file_id": upload.json()["file_id"], "draft_id": "no-such-draft", "tokens": tokens,
            "licence_id": _issue(stack, case)}


def _issue(stack, case: dict) -> str:
    """A licence of the owner issued by amr, straight from the issuing activity (no approval needed)."""
    from datetime import UTC, datetime

    from activities.licences import LicenceActivities
    from banjian.db import session_factory
    from banjian.items.schema import LicenceSpec
    from banjian.licence_store import master_key
    from banjian.licences import IssueRequest

    acts = LicenceActivities(session_factory(stack.engine), master_key(None), "330100")
    return acts.issue_licence(IssueRequest(
        case_id=case["id"], item_code=case["item_code"], item_name=case["item_name"], department="amr",
        implementing_body={"name": "市市场监督管理局", "credit_code": "11330100002548715U"},
        licence=LicenceSpec(type="食品经营许可证", type_code="0101"), applicant=case["applicant"],
        decided_at=datetime.now(UTC)))


def test_every_route_is_in_the_matrix(stack):
    routes = {(m.upper(), path) for path, ops in stack.app.openapi()["paths"].items() for m in ops}
    table = {(m, p.format(case="{case_id}", owner="{username}", code="{code}", year="{year}", case_no="{case_no}",
                          file_id="{file_id}", draft_id="{draft_id}", licence_id="{licence_id}",
                          inquiry_id="{inquiry_id}", appointment_id="{appointment_id}",
                          rectification_id="{rectification_id}"))
             for m, p, _, _ in MATRIX}
    assert routes - table == set(), "routes without a row in the authorization matrix"
    assert table - routes == set(), "rows for routes that no longer exist"


async def test_authorization_matrix(stack, ctx):
    transport = httpx.ASGITransport(app=stack.app, client=("10.250.0.1", 40000))
    wrong = []
    async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test", timeout=60) as http:
        for method, path, body, expected in MATRIX:
            url = path.format(case=ctx["case"], owner=ctx["owner"], code="food-business-licence", year=2026,
                              case_no=ctx["case_no"], file_id=ctx["file_id"], draft_id=ctx["draft_id"],
                              licence_id=ctx["licence_id"], inquiry_id="no-such-inquiry",
                              appointment_id="no-such-appointment", rectification_id="no-such-rectification")
            statuses = expected.split()
            assert len(statuses) == len(ROLES), path
            got = []
            for role, want in zip(ROLES, statuses, strict=True):
                kw = _body(body, ctx)
                headers = {**kw.pop("headers", {}),
                           **({} if role == "anon" else {"Authorization": f"Bearer {ctx['tokens'][role]}"})}
                r = await http.request(method, url, headers=headers, **kw)
                got.append(str(r.status_code))
                if str(r.status_code) != want:
                    wrong.append(f"{method} {path} as {role}: {r.status_code}, expected {want}: {r.text[:160]}")
            if got != statuses:
                wrong.append(f"    row is: {' '.join(got)}")
    assert not wrong, "\n".join(wrong)
