"""The notices a window hands the applicant on paper (窗口文书), built from the case's record:
收件回执 (receipt), 受理通知书 (acceptance notice), 补正材料通知书 (one-time supplement notice) and
不予受理决定书 (refusal of acceptance), and at a window pick-up of the result 送达回证 (proof of
service, signed by whoever collects it). Each names the case number, the item, the applicant, the date of
the act it records (from the history, never today's date), the time limit and how it is counted, the
issuing body with a place for its seal, and, for a refusal, the applicant's rights of reconsideration
(行政复议, 60 days) and lawsuit (行政诉讼, 6 months).

Each carries a QR code of the case's public progress page (办件进度查询, `/progress/{case_no}?code=…`):
the code is an HMAC of the case number under the progress key (`Settings.progress_key()`, its own key, not
the token-signing one: rotating either leaves the other alone), so the page opens for whoever holds
the paper and for nobody guessing numbers. The address comes from the configured public address
(`Settings.public_base_url`), never from the request, as on a printed e-licence."""
from __future__ import annotations

import hmac
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import segno
from markupsafe import Markup

from banjian import agents
from banjian.crypto import hmac_sm3_hex
from banjian.items.problems import fmt_zh
from banjian.licences import mask_id
from banjian.settings import Settings
from banjian.timefmt import CHINA

#: document kind → its title
TITLES = {"receipt": "收件回执", "acceptance": "受理通知书", "supplement": "补正材料通知书",
          "refusal": "不予受理决定书", "delivery": "送达回证"}
#: 行政复议法 第二十条 (60 days) and 行政诉讼法 第四十六条 (6 months)
APPEAL_RIGHTS = ("如对本决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，"
                 "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。")
#: the history actions that close the acceptance stage with acceptance
ACCEPTANCES = ("accept", "deemed_acceptance")
#: the history actions that tell the applicant what to supplement: the clerk's at acceptance, and a joint
#: case's one notice during review (the lead unit's, gathering every department's requests)
SUPPLEMENT_NOTICES = ("request_supplement", "notify_supplement")
CODE_LENGTH = 16


def progress_code(settings: Settings, case_no: str) -> str:
    """The code printed with a case's progress address: who holds the paper may read the progress."""
    return hmac_sm3_hex(settings.progress_key().encode(), f"progress:{case_no}".encode())[:CODE_LENGTH]


def code_matches(settings: Settings, case_no: str, code: str | None) -> bool:
    return bool(code) and hmac.compare_digest(progress_code(settings, case_no), (code or "").lower())


def progress_url(settings: Settings, case_no: str) -> str:
    """The absolute address of the case's public progress page, printed and in the QR code."""
    path = f"/progress/{quote(case_no, safe='')}"
    return f"{settings.public_base_url}{path}?{urlencode({'code': progress_code(settings, case_no)})}"


def _last(case: dict[str, Any], *actions: str) -> dict[str, Any] | None:
    for h in reversed(case.get("history") or []):
        if h.get("action") in actions:
            return h
    return None


def available(case: dict[str, Any]) -> list[str]:
    """The documents a case has, in the order they were issued: a receipt once received (not during an
    online pre-review), a supplement notice once one was sent, then an acceptance notice or a refusal."""
    if case.get("parent_id") or case.get("status") == "pre_review":
        return []
    if case.get("pre_review") and not _last(case, "formal_submission"):
        return []  # given up (withdrawn) in pre-review: never formally received
    kinds = ["receipt"]
    if _last(case, *SUPPLEMENT_NOTICES):
        kinds.append("supplement")
    if case.get("accepted_at") and _last(case, *ACCEPTANCES):
        kinds.append("acceptance")
    elif case.get("status") == "refused":
        kinds.append("refusal")
    if ((case.get("delivery") or {}).get("method") == "window" and _last(case, "deliver")
            and case.get("status") in ("delivered", "concluded")):
        kinds.append("delivery")
    return kinds


def _day(value: str | None) -> date | None:
    if not value:
        return None
    if "T" in value:
        return datetime.fromisoformat(value).astimezone(CHINA).date()
    return date.fromisoformat(value)


def _applicant(case: dict[str, Any]) -> dict[str, str]:
    a = case.get("applicant") or {}
    org = a.get("kind") == "organisation"
    number = a.get("id_number") or ""
    # a credit code is public (printed whole, as on a licence); a citizen's id number is masked on paper
    return {"name": a.get("name") or "", "id_label": "统一社会信用代码" if org else "公民身份号码",
            "id_number": number if org else mask_id(number) if number else "", "you": "你单位" if org else "你"}


def _receipt_materials(case: dict[str, Any], item: Any) -> list[dict[str, Any]]:
    """The materials received with the application (the first version of each), in the item's order."""
    forms = {"original": "原件", "copy": "复印件", "electronic": "电子件"}
    spec = {m.name: m for m in item.materials}
    order = {m.name: i for i, m in enumerate(item.materials)}
    first: dict[str, dict[str, Any]] = {}
    for m in case.get("materials") or []:
        if m["name"] not in first or m.get("version", 1) < first[m["name"]].get("version", 1):
            first[m["name"]] = m
    rows = []
    for name in sorted(first, key=lambda n: order.get(n, len(order))):
        m, s = first[name], spec.get(name)
        how = "电子证照调取" if m.get("licence_id") else "已上传电子文件" if m.get("file_id") else "纸质材料"
        rows.append({"name": name, "form": forms.get(s.form, "") if s else "",
                     "copies": s.copies if s else None, "how": how})
    return rows


def _joint_supplement(case: dict[str, Any], entry: dict[str, Any], doc: dict[str, Any]) -> None:
    """A joint case's notice is sent during review, after acceptance: each material says which department
    asked for it and why (their `supplement_asked` requests the notice gathered); the lead unit's own
    additions name the lead unit. The case's clock (and every department's) pauses until the answer."""
    bundle = case.get("kind") == "bundle"  # one department may handle several member items: name the item too
    names = {s["id"]: (f"{s.get('item_name')}（{s.get('department_name') or s['department']}）" if bundle
                       else s.get("department_name") or s["department"]) for s in case.get("sub_cases") or []}
    asked: dict[str, list[dict[str, str]]] = {}
    for h in case.get("history") or []:
        if h is entry:  # the requests the notice gathered came before it
            break
        if h.get("action") == "supplement_asked":
            data = h.get("data") or {}
            for name in data.get("missing") or []:
                asked.setdefault(name, []).append({"department": names.get(data.get("sub_case"), data.get(
                    "department") or ""), "reason": data.get("opinion") or ""})
    lead = doc["issuer"]
    for row in doc["missing_rows"]:
        row["asked_by"] = asked.get(row["name"]) or [{"department": lead, "reason": ""}]
    doc["joint"] = True
    doc["accepted_on"] = _day(case.get("accepted_at"))


def document(settings: Settings, case: dict[str, Any], item: Any, kind: str,
             issuer_name: str, clerk: str | None, licence_no: str | None = None) -> dict[str, Any]:
    """The context of one printed document (see the module docstring); `kind` is one of `available`."""
    deadlines = case.get("deadlines") or {}
    case_no = case.get("case_no") or case["id"]
    url = progress_url(settings, case_no)
    entry = {"receipt": None, "supplement": _last(case, *SUPPLEMENT_NOTICES),
             "acceptance": _last(case, *ACCEPTANCES), "refusal": _last(case, "refuse_acceptance"),
             "delivery": _last(case, "deliver")}[kind]
    # the application was received once (formal receipt after a pre-review); a complete supplement
    # moves `received_at` on (the acceptance clock restarts) but not the day the application came in
    formal = _last(case, "formal_submission")
    first_received = _day(formal["at"]) if formal else _day(case.get("submitted_at"))
    issued = _day(entry["at"]) if entry else _day(case.get("received_at") or case.get("submitted_at"))
    doc: dict[str, Any] = {
        "kind": kind, "title": TITLES[kind], "case_no": case_no, "item_name": case.get("item_name") or item.name,
        "applicant": _applicant(case), "agent": agents.masked(case.get("agent")), "submitted_on": _day(case.get("submitted_at")),
        "received_on": first_received, "issued_on": issued,
        "issuer": issuer_name, "clerk": clerk, "progress_url": url,
        "qr_svg": Markup(segno.make_qr(url, error="m").svg_inline(omitsize=True, title="办件进度查询二维码")),
        "licensing": item.type == "01", "channel": case.get("channel"),
        "acceptance_limit": fmt_zh(item.acceptance_limit), "acceptance_due": _day(deadlines.get("acceptance_due")),
        "promised_limit": fmt_zh(item.promised_limit), "statutory_limit": fmt_zh(item.statutory_limit),
        "promised_due": _day(deadlines.get("promised_due")), "statutory_due": _day(deadlines.get("statutory_due")),
        "extension_limit": fmt_zh(item.extension_limit), "immediate": item.case_type == "immediate",
        "consultation": item.contacts.consultation, "location": item.location,
        "result_name": item.result.name if item.result else None, "rights": None,
    }
    if kind == "receipt":
        doc["materials"] = _receipt_materials(case, item)
        doc["supplements"] = [{"name": m["name"], "version": m.get("version"), "on": _day(m.get("added_at")),
                               "how": "电子证照调取" if m.get("licence_id") else
                               "已上传电子文件" if m.get("file_id") else "纸质材料"}
                              for m in case.get("materials") or [] if (m.get("version") or 1) > 1]
    elif kind == "supplement":
        assert entry is not None
        doc["missing"] = list((entry.get("data") or {}).get("missing") or [])
        doc["reason"] = (entry.get("comment") or "").strip() or None
        spec = {m.name: m for m in item.materials}
        doc["missing_rows"] = [{"name": n, "note": spec[n].note if n in spec else None} for n in doc["missing"]]
        if entry.get("action") == "notify_supplement":
            _joint_supplement(case, entry, doc)
    elif kind == "acceptance":
        assert entry is not None
        doc["deemed"] = entry.get("action") == "deemed_acceptance"
        doc["accepted_on"] = _day(case.get("accepted_at"))
        doc["special_procedures"] = [p.name for p in item.special_procedures if not p.counts_toward_limit]
    elif kind == "refusal":
        assert entry is not None
        doc["reason"] = (entry.get("comment") or "").strip() or None
        doc["rights"] = APPEAL_RIGHTS
    else:
        result = case.get("result") or {}
        doc["decision"] = {"approved": "准予许可", "denied": "不予许可"}.get(result.get("decision") or "")
        doc["licence_no"] = licence_no
        doc["received_by"] = None
    return doc
