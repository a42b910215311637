"""What each entry of a case's history did, in a few Chinese words for the case and audit pages
(办理记录): which materials a supplement notice asked for, which department a sub-case went to and
what it answered, to whom a task was handed, how a result was delivered. The history's `data`
keeps codes (department codes, step ids, usernames); people read names."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from api.routes.pages.common import OPINION_ZH, RATING_ZH, WARNING_ZH
from banjian.items.schema import ItemDefinition
from banjian.labels import ROLE_ZH

DELIVERY_ZH = {"electronic": "电子送达", "courier": "邮寄送达", "window": "窗口领取"}
DECISION_ZH = {"approved": "准予许可", "denied": "不予许可"}
#: actions that hand the task (or a copy) to a colleague named in `data.username`
TO_COLLEAGUE = {"assign": "指派给", "transfer": "转办给", "delegate": "委托给", "copy_to": "抄送给"}


def step_names(item: ItemDefinition | None) -> dict[str, str]:
    """Step id → step name, the item's own steps and (for a joint item) its departments' steps."""
    if item is None:
        return {}
    names: dict[str, str] = {}
    for p in getattr(item, "participants", None) or []:
        names.update({s.id: s.name for s in getattr(p, "steps", None) or []})
    names.update({s.id: s.name for s in item.steps})  # the case's own steps win on a shared id
    return names


def _names(values: Any) -> list[str]:
    """Material names from `data.missing` (names) or `data.materials` (names or {"name": …})."""
    if not isinstance(values, list):
        return []
    out = [v if isinstance(v, str) else (v or {}).get("name") if isinstance(v, dict) else None for v in values]
    return [n for n in out if isinstance(n, str) and n]


def _day(value: Any) -> str:
    """An ISO date as people read it (2026年12月28日); anything else as it is."""
    try:
        d = date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{d.year}年{d.month}月{d.day}日"


def entry_detail(entry: Mapping[str, Any], steps: Mapping[str, str], depts: Mapping[str, str]) -> str | None:
    """A short Chinese summary of what `entry` (one history entry) did beyond its action's name, or None."""
    action, data = entry.get("action"), entry.get("data") or {}
    if not isinstance(data, Mapping):
        return None

    def dept(code: Any) -> str:
        return depts.get(code, code) if isinstance(code, str) else ""

    match action:
        case "request_supplement" | "pre_review_return" | "ask_supplement" | "notify_supplement" | "supplement_notified":
            missing = _names(data.get("missing"))
            return f"需补正：{'、'.join(missing)}" if missing else None
        case "supplement_asked" | "supplement_asked_late":
            missing = _names(data.get("missing"))
            return f"{dept(data.get('department'))}需补正：{'、'.join(missing)}" if missing else None
        case "submit_supplement" | "supplement_received":
            given = _names(data.get("materials"))
            return f"补正材料：{'、'.join(given)}" if given else None
        case "start_special_procedure":
            if not data.get("name"):
                return None
            counted = "不计入办理时限" if data.get("clock_paused") else "计入办理时限"
            days = data.get("expected_days")
            return f"{data['name']}，预计 {days} 日，{counted}" if days is not None else f"{data['name']}，{counted}"
        case "end_special_procedure" | "resume" if data.get("parent_paused"):
            return "主件仍暂停计时，随主件恢复计时"
        case "resumed_by_parent" if data.get("clock_paused"):
            return "本部门中止或特别程序未结束，仍暂停计时"
        case "end_special_procedure" | "resume" | "resumed_by_parent":
            days = data.get("paused_working_days")
            return f"计时暂停 {days} 个工作日" if isinstance(days, int) and days > 0 else None
        case "suspend":
            return "计时暂停"
        case "add_signer":
            who = data.get("username") or (ROLE_ZH.get(data["role"], data["role"]) if data.get("role") else None)
            if not who:
                return None
            mode = "任一人签署即可" if data.get("mode") == "any" else "全部签署"
            when = "本环节办理前" if data.get("position") == "before" else "本环节办理后"
            return f"加签人：{who}（{when}，{mode}）"
        case "assign" | "transfer" | "delegate" | "copy_to":
            return f"{TO_COLLEAGUE[action]} {data['username']}" if data.get("username") else None
        case "return_to":
            target = data.get("step_id")
            if target == "applicant":
                return "退回至：申请人"
            return f"退回至：{steps.get(target, target)}" if target else None
        case "deliver":
            method = DELIVERY_ZH.get(data.get("method"), data.get("method"))
            if not method:
                return None
            return f"{method}（快递单号 {data['tracking_no']}）" if data.get("tracking_no") else method
        case "approve" if data.get("referral"):
            return "同意并报上级"
        case "sub_case_started":
            return f"{dept(data.get('department'))}" + (f"，子件 {data['sub_case']}" if data.get("sub_case") else "")
        case "sub_cases_paused" | "sub_cases_resumed":
            subs = data.get("sub_cases")
            return f"{len(subs)} 个部门子件" if isinstance(subs, list) and subs else None
        case "cancelled_by_parent" if data.get("parent_status") == "terminated":
            return "主件已终止"
        case "sub_case_decided":
            raw = data.get("opinion")
            opinion = OPINION_ZH.get(raw, raw) if raw else ""
            where = dept(data.get("department"))
            if not opinion:  # the applicant reads no department's opinion before the unified result
                return where or None
            return f"{where}：{opinion}" + ("（逾期未答复，视为同意）" if data.get("deemed_consent") else "")
        case "sub_case_overdue" if data.get("department") and not entry.get("comment"):
            return dept(data.get("department"))
        case "combined_decision":
            return DECISION_ZH.get(data.get("decision")) or None
        case "urge":
            return f"回复期限：{_day(data['reply_by'])}" if data.get("reply_by") else None
        case "warning":
            return WARNING_ZH.get(data.get("level")) or None
        case "rate":
            return RATING_ZH.get(data.get("level")) or None
        case "extension_applied":
            days = data.get("extended_days")
            unit = "自然日" if data.get("unit") == "natural_days" else "工作日"
            return f"延长 {days} 个{unit}" if days else None
        case "licence_issued" if data.get("licence_id"):
            kind = data.get("licence_type") or "电子证照"
            return f"{kind}（电子证照标识 {data['licence_id']}）"
        case "version_migrated":
            if data.get("from_version") and data.get("to_version"):
                return f"第 {data['from_version']} 版 → 第 {data['to_version']} 版"
    return None


def with_details(entries: list[dict[str, Any]], item: ItemDefinition | None,
                 depts: Mapping[str, str]) -> list[dict[str, Any]]:
    """The entries, each with `detail` (None when there is nothing to add)."""
    steps = step_names(item)
    return [{**e, "detail": entry_detail(e, steps, depts)} for e in entries]
