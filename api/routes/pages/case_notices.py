"""What the case page tells people in words beside the raw record: the names of the people in its
history (display names, not login names), and the notice an applicant needs at the top of the page
when the case waits for them or has ended against them (补正告知, 不予受理, 不予许可) — the reason
given and, for a refusal or a denial, their right to reconsideration or a lawsuit (行政许可法 第三十八条)."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from banjian.db import User

#: 行政复议法 第二十条 (60 days) and 行政诉讼法 第四十六条 (6 months)
APPEAL_RIGHTS = ("如对本决定不服，可以自收到本决定之日起六十日内依法申请行政复议，"
                 "或者自知道或者应当知道作出行政行为之日起六个月内依法向人民法院提起行政诉讼。")


def display_names(session: Session, case: dict[str, Any], licence: dict[str, Any] | None = None) -> dict[str, str]:
    """username → display name for everyone the case page names (history, materials, the claimer,
    the licence's log); a username without a display name is left out (shown as it is)."""
    names = {h.get("actor") for h in case.get("history") or []}
    names |= {m.get("added_by") for m in case.get("materials") or []}
    names |= {case.get("claimed_by")}
    names |= {e.get("actor") for e in (licence or {}).get("events") or []}
    wanted = sorted(n for n in names if n and n != "system")
    if not wanted:
        return {}
    rows = session.exec(select(User.username, User.display_name).where(col(User.username).in_(wanted))).all()
    return {u: d for u, d in rows if d}


def _last_comment(case: dict[str, Any], action: str) -> str | None:
    for h in reversed(case.get("history") or []):
        if h.get("action") == action:
            return (h.get("comment") or "").strip() or None
    return None


def applicant_notice(case: dict[str, Any]) -> dict[str, Any] | None:
    """The notice at the top of the applicant's case page: `{"kind", "title", "lines", "reason", "rights"}`
    for a supplement to send, a refused acceptance or a denial; None otherwise."""
    status = case.get("status")
    if status == "pre_review":
        return pre_review_notice(case)
    if status == "supplement_requested" and (case.get("joint_supplement") or {}).get("notified_at"):
        js = case["joint_supplement"]
        return {"kind": "action", "title": "请一次性补正材料",
                "lines": [f"需补正：{'、'.join(js.get('missing') or [])}",
                          *(f"{a.get('department_name') or a.get('department')}：{'、'.join(a.get('missing') or [])}"
                            f"（{a.get('comment')}）" for a in js.get("asks") or []),
                          "请点击“提交补正”一次性上传全部补正材料，补正材料将转交各审批部门；"
                          "补正期间不计入办理时限，补正后各部门继续审查。"],
                "reason": js.get("comment"), "reason_label": "牵头部门告知", "rights": None}
    if status == "supplement_requested":
        missing = case.get("missing_materials") or []
        return {"kind": "action", "title": "请补正材料",
                "lines": [f"需补正：{'、'.join(missing)}" if missing else "请按窗口告知的内容补正材料",
                          "请点击“提交补正”上传补正材料；补正材料齐全之日起重新计算受理期限。"],
                "reason": _last_comment(case, "request_supplement"), "rights": None}
    if status == "terminated":
        unpaid = (case.get("payment") or {}).get("status") == "expired"
        return {"kind": "ended", "title": "办件已终止",
                "lines": ["未在缴费期限内缴纳费用，本办件已终止，准予许可的决定不再办理送达、不发放证照；如仍需办理，请重新申请。"
                          if unpaid else "本办件已终止办理；如仍需办理，请重新申请。"],
                "reason": _last_comment(case, "payment_expired" if unpaid else "terminate"), "rights": None}
    if status == "refused":
        return {"kind": "ended", "title": "不予受理", "lines": [],
                "reason": _last_comment(case, "refuse_acceptance"), "rights": APPEAL_RIGHTS}
    result = case.get("result") or {}
    if result.get("decision") == "denied":
        return {"kind": "ended", "title": "不予许可", "lines": [],
                "reason": (result.get("reason") or "").strip() or _last_comment(case, "deny"), "rights": APPEAL_RIGHTS}
    return None



def pre_review_notice(case: dict[str, Any]) -> dict[str, Any]:
    """Where an online pre-review (网上预审) stands for its applicant, and what they do next: wait for the
    window, fix what it returned, or confirm the formal submission (the acceptance clock starts then)."""
    pre = case.get("pre_review") or {}
    if pre.get("returned"):
        missing = pre.get("missing") or []
        return {"kind": "action", "title": "预审退回，请修改后重新提交",
                "lines": [*([f"需补正：{'、'.join(missing)}"] if missing else []),
                          "请点击“重新提交预审”，上传修改后的材料后确认；窗口将重新预审。"],
                "reason": _last_comment(case, "pre_review_return"), "rights": None}
    if pre.get("passed"):
        return {"kind": "action", "title": "预审已通过，请确认正式提交",
                "lines": ["请点击“确认正式提交”。确认后即为正式收件，窗口自正式提交之日起 5 个工作日内受理；"
                          "预审期间不计入受理期限。"], "reason": None, "rights": None}
    due = pre.get("due")
    when = f"{due[:4]}年{int(due[5:7])}月{int(due[8:10])}日前" if due else "尽快"
    return {"kind": "status", "title": "网上预审中",
            "lines": [f"窗口将于{when}完成预审。预审通过后，请回到本页确认正式提交；"
                      "需要修改的，窗口会告知需补正的内容。", "预审期间不计入受理期限，尚未正式受理。"],
            "reason": None, "rights": None}
