"""What each notice of the message centre (消息中心) says, in Chinese, and what the applicant should
do next (a direct link), from the history entry, the case's current status, an inquiry's answer or a
booking.

`CASE_NOTICES` is the list of history actions that make a notice: those that need the applicant
(a supplement or a case returned to them to correct, a pre-review to correct or confirm, a fee, a result to collect or confirm) or tell
them an outcome or a change the law says they must be told of (acceptance, refusal, decision,
e-licence, delivery, extension, special procedure, suspension, termination, refund), and a change of
the status of an e-licence they hold (`licence_notice`: suspended, reinstated, revoked, cancelled,
expired: whether it may still be used). Everything
else (their own actions, internal steps, task operations, warnings, urges, sub-cases) makes none.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from banjian.zh_quotes import quoted

#: history action → (kind, title): kind groups notices for an app (supplement, payment, result, …)
CASE_NOTICES: dict[str, tuple[str, str]] = {
    "accept": ("progress", "申请已受理"),
    "deemed_acceptance": ("progress", "申请已受理（视为受理）"),
    "request_supplement": ("supplement", "请补正材料"),
    "notify_supplement": ("supplement", "请补正材料"),
    "pre_review_return": ("supplement", "预审退回，请修改"),
    "return_to": ("supplement", "办件退回，请补正"),  # only back to the applicant (`banjian.notices`)
    "pre_review_pass": ("progress", "预审通过，请确认正式提交"),
    "refuse_acceptance": ("refusal", "不予受理"),
    "approve": ("result", "准予许可"),
    "deny": ("refusal", "不予许可"),
    "combined_decision": ("result", "办理结果已作出"),
    "licence_issued": ("licence", "电子证照已签发"),
    "payment_requested": ("payment", "待缴费"),
    "fee_at_window": ("payment", "请到窗口缴费"),
    "payment_expired": ("termination", "未按期缴费，办件已终止"),
    "payment_refunded": ("payment", "缴费已退还"),
    "deliver": ("result", "办理结果已送达"),
    "approve_extension": ("progress", "办理时限已延长"),
    "start_special_procedure": ("progress", "办件进入特别程序"),
    "suspend": ("progress", "办件已中止"),
    "terminate": ("termination", "办件已终止"),
}
APPEAL = "如不服，可在收到之日起 60 日内申请行政复议，或在 6 个月内提起行政诉讼。"
DELIVERY_ZH = {"electronic": "电子送达", "courier": "邮寄送达", "window": "窗口领取"}


def _names(values: Any) -> str:
    if not isinstance(values, list):
        return ""
    out = [v if isinstance(v, str) else v.get("name") if isinstance(v, dict) else None for v in values]
    return "、".join(n for n in out if isinstance(n, str) and n)


def _join(*parts: str | None) -> str:
    return "".join(p for p in parts if p)


def _next(label: str, href: str) -> dict[str, str]:
    return {"label": label, "href": href}


def case_notice(e: Any, case_no: str | None, item_code: str, item_name: str, status: str,
                snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """The notice of history entry `e` of a case now in `status`: kind, title, text and next step."""
    kind, title = CASE_NOTICES.get(e.action, ("progress", e.action))
    data = e.data if isinstance(e.data, dict) else {}
    comment = (e.comment or "").strip()
    page = f"/cases/{e.case_id}"
    view = _next("查看办件", page)
    text, nxt = comment, view
    match e.action:
        case "accept" | "deemed_acceptance":
            text = "您的申请已受理，进入审查。" + (f"（{comment}）" if e.action == "accept" and comment else "")
        case "request_supplement" | "notify_supplement" | "pre_review_return":
            missing = _names(data.get("missing"))
            text = _join(f"需补正：{missing}。" if missing else None, comment or None)
            waiting = status == "supplement_requested" or (e.action == "pre_review_return" and status == "pre_review")
            if waiting:
                nxt = _next("去补正" if e.action != "pre_review_return" else "去修改",
                            f"{page}?action=submit_supplement" if e.action != "pre_review_return" else page)
        case "return_to":  # back to the applicant during review: correct it, review starts again
            missing = _names(data.get("missing"))
            text = _join(f"退回理由：{comment}。" if comment else None, f"需补正：{missing}。" if missing else None,
                         "补正后重新进入审查，期间办理时限暂停计算。")
            if status == "supplement_requested":
                nxt = _next("去补正", f"{page}?action=submit_supplement")
        case "pre_review_pass":
            text = comment or "预审已通过，请确认后正式提交申请。"
            if status == "pre_review":
                nxt = _next("去确认正式提交", page)
        case "refuse_acceptance" | "deny":
            text = _join(f"理由：{comment}。" if comment else None, APPEAL)
            nxt = _next("查看原因", page)
        case "approve":
            text = comment if comment and comment != "准予许可" else "您的申请已准予许可。"
        case "combined_decision":
            approved = data.get("decision") == "approved"
            title = "准予许可" if approved else "不予许可"
            kind = "result" if approved else "refusal"
            text = "各部门均已办结，准予许可。" if approved else _join(f"理由：{comment}。" if comment else None, APPEAL)
        case "licence_issued":
            text = f"证照类型：{data.get('licence_type') or '电子证照'}，可在“我的证照”中查看、打印和核验。"
            if data.get("licence_id"):
                nxt = _next("查看证照", f"/api/licences/{data['licence_id']}/document")
        case "payment_requested" | "fee_at_window":
            if e.action == "payment_requested" and status == "awaiting_payment":
                nxt = _next("去缴费", f"{page}#front-office")
        case "deliver":
            method = data.get("method")
            text = DELIVERY_ZH.get(method, "") + (f"（快递单号 {data['tracking_no']}）" if data.get("tracking_no") else "")
            if method == "window":
                text += "，请携带身份证件到办理窗口领取。"
            elif method == "courier":
                text += "，收到后请确认签收。"
            else:
                text += "，办件已办结。"
            if status == "delivered":
                nxt = _next("确认签收", page)
            elif status == "concluded" and not (snapshot or {}).get("rating"):
                nxt = _next("去评价", f"{page}?action=rate")
        case "approve_extension":
            reason = data.get("reason") or comment
            text = "经机关负责人批准，办理时限依法延长。" + (f"理由：{reason}" if reason else "")
        case "start_special_procedure":
            name = data.get("name") or "特别程序"
            days = data.get("expected_days")
            counted = "不计入办理时限" if data.get("clock_paused") else "计入办理时限"
            text = f"{name}" + (f"，预计 {days} 日" if days is not None else "") + f"，所需时间{counted}。"
        case "suspend":
            text = _join("办件中止办理，计时暂停。", f"原因：{comment}" if comment else None)
        case "terminate" | "payment_expired":
            text = _join(comment or None, "如仍需办理，请重新申请。")
    return {"kind": kind, "action": e.action, "case_id": e.case_id, "case_no": case_no, "item_code": item_code,
            "item_name": item_name, "title": title, "text": text, "next": nxt}


def inquiry_notice(row: Any, case_no: str | None) -> dict[str, Any]:
    """The notice that a consultation or complaint was answered."""
    what = "投诉" if row.kind == "complaint" else "咨询"
    answer = (row.answer or "").strip()
    return {"kind": "inquiry", "action": "inquiry_answered", "case_id": row.case_id, "case_no": case_no,
            "item_code": row.item_code, "item_name": None, "title": f"您的{what}已答复",
            "text": answer if len(answer) <= 200 else answer[:200] + "…",
            "next": _next("查看答复", f"/inquiries/{row.id}")}


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日（星期{'一二三四五六日'[d.weekday()]}）"


def appointment_notice(row: Any) -> dict[str, Any]:
    """The reminder of a booked window appointment (today or tomorrow)."""
    when = f"{_day(row.day)} {row.slot[11:]}"
    href = f"/cases/{row.case_id}#booking" if row.case_id else f"/guide/{row.item_code}/book"
    return {"kind": "appointment", "action": "appointment_reminder", "case_id": row.case_id, "case_no": None,
            "item_code": row.item_code, "item_name": None, "title": "预约办理提醒",
            "text": f"您预约了窗口办理，时间：{when}。请携带所需材料按时到场；如不能到场，请提前取消或改约。",
            "next": _next("查看预约", href)}


#: a licence's status change → title
LICENCE_CHANGE_TITLES = {"suspend": "电子证照已暂停", "reinstate": "电子证照已恢复有效", "revoke": "电子证照已撤销",
                         "cancel": "电子证照已注销", "expire": "电子证照已过期"}


def licence_notice(event: Any, licence: Any) -> dict[str, Any]:
    """The notice that a licence the user holds changed status (by its issuer, or expiry)."""
    what = f"您的电子证照{quoted(licence.name)}（证照编号 {licence.licence_no}）"
    reason = (event.comment or "").strip()
    if event.action == "reinstate":
        text = _join(f"{what}已恢复有效，可以正常使用。", f"说明：{reason}" if reason else None)
    else:
        text = _join(f"{what}{LICENCE_CHANGE_TITLES.get(event.action, '状态已变更')[4:]}，当前无效，不能作为有效证照使用。",
                     f"原因：{reason}。" if reason else None,
                     APPEAL if event.action in ("suspend", "revoke") else None)
    return {"kind": "licence", "action": f"licence_{event.action}", "case_id": licence.case_id, "case_no": None,
            "item_code": licence.item_code, "item_name": None,
            "title": LICENCE_CHANGE_TITLES.get(event.action, "电子证照状态已变更"), "text": text,
            "next": _next("查看证照", "/my/licences")}
