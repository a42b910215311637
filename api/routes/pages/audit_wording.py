"""What the audit page says about a disagreement between the workflow's history and the read model,
in plain Chinese: which record or which field of the case, and both values (what the workflow
recorded, what the database holds), so that an auditor sees what was changed and where without
reading codes or JSON."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from api.routes.pages.common import EVENT_ZH
from banjian.db import User
from banjian.labels import ROLE_ZH, STATUS_ZH

#: the case's fields an auditor meets in a finding, by the name the record keeps them under
FIELD_ZH = {
    "status": "办件状态", "applicant_name": "申请人姓名", "applicant_id": "申请人证件号码", "applicant": "申请人",
    "applicant_username": "申请人账号", "applicant_kind": "申请人类型", "item_code": "事项编码",
    "item_version": "事项版本", "item_name": "事项名称", "department": "承办部门", "case_no": "统一受理号码",
    "form": "申请表单", "materials": "申请材料", "result": "办理结果", "decision": "决定", "comment": "意见",
    "actor": "办理人", "role": "办理人角色", "action": "操作", "at": "时间", "data": "记录内容",
    "submitted_at": "提交时间", "accepted_at": "受理时间", "decided_at": "决定时间", "concluded_at": "办结时间",
    "channel": "申请渠道", "deadlines": "办理期限", "promised_due": "承诺办结日期", "statutory_due": "法定办结日期",
    "name": "姓名", "id_number": "证件号码", "reason": "理由", "licence_id": "电子证照标识",
}
#: at most this many fields are named in one sentence (the rest are counted)
MAX_FIELDS = 5


def field_zh(path: str) -> str:
    """A field's path (`row.applicant_name`, `form.business_name`, `applicant.name`) in words."""
    parts = path.removeprefix("row.").split(".")
    if parts[0] == "form" and len(parts) > 1:
        return f"申请表单中的“{'.'.join(parts[1:])}”"
    words = [FIELD_ZH.get(p, p) for p in parts]
    return "的".join(words)


def value_zh(value: Any, field: str = "") -> str:
    """A recorded value as a reader sees it: quoted, statuses and roles named, long values cut."""
    if value is None or value == "":
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str):
        last = field.rsplit(".", 1)[-1]
        named = STATUS_ZH.get(value) if last == "status" else ROLE_ZH.get(value) if last == "role" else None
        text = named or value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return f"“{text if len(text) <= 60 else text[:60] + '…'}”"


def changes_zh(fields: list[str], temporal: dict | None, read_model: dict | None) -> str:
    """Each differing field with the value the workflow recorded and the one in the database."""
    said = [f"{field_zh(f)}（流程记录为{value_zh((temporal or {}).get(f), f)}，数据库中为"
            f"{value_zh((read_model or {}).get(f), f)}）" for f in fields[:MAX_FIELDS]]
    more = f"等 {len(fields)} 处" if len(fields) > MAX_FIELDS else ""
    return "；".join(said) + more


def snapshot_zh(f: dict) -> str:
    """The case row differs from the state the workflow last recorded: which fields, both values."""
    fields = [x for x in f.get("fields") or [] if isinstance(x, str)]
    if not fields or f.get("temporal") is None:
        return "办件数据（表单、状态等）与流程最后记录的不符，可能已被改动"
    return f"办件数据与流程最后记录的不符，可能已被改动：{changes_zh(fields, f.get('temporal'), f.get('read_model'))}"


def _record(d: dict) -> str:
    action = d.get("action")
    return f"第 {d.get('seq')} 条记录" + (f"（{EVENT_ZH.get(action, action)}）" if action else "")


def discrepancy_zh(d: dict, case_id: str) -> str:
    """One disagreement of the timeline (`discrepancies[]` of `GET /api/cases/{id}/timeline`) of the
    case `case_id` (a sub-case's is named as such)."""
    kind = d.get("kind")
    sub = f"子件 {d['case_id']} 的" if d.get("case_id") and d["case_id"] != case_id else ""
    if kind == "missing_in_read_model":
        return f"{sub}{_record(d)}在流程历史中有，数据库中已缺失"
    if kind == "differs":
        return f"{sub}{_record(d)}与流程历史不符：{changes_zh(d.get('fields') or [], d.get('temporal'), d.get('read_model'))}"
    if kind == "not_in_temporal":
        return f"{sub}{_record(d)}只在数据库中，流程历史中没有，可能是后来添加的"
    if kind == "item_version_differs":
        return f"{sub}事项版本与流程历史不符（流程记录为第 {d.get('temporal')} 版，数据库中为第 {d.get('read_model')} 版）"
    if kind == "status_differs":
        return (f"{sub}办件状态与流程历史不符（流程记录为{value_zh(d.get('temporal'), 'status')}，"
                f"数据库中为{value_zh(d.get('read_model'), 'status')}）")
    if kind == "snapshot_differs":
        return sub + snapshot_zh(d)
    if kind == "case_missing_in_read_model":
        return f"{sub}数据库中已没有该办件的记录，流程历史中有"
    if kind == "unreadable_history":
        return f"{sub}流程历史无法完整读取"
    return f"{sub}流程历史与数据库记录不符"


def actor_names(sessions: Callable[[], Session], usernames: set[Any]) -> dict[str, str]:
    """The names of the people who acted (username → display name), for the timeline's 办理人: a
    username alone does not tell an auditor who it was. Unknown accounts and `system` are left out."""
    wanted = sorted(u for u in usernames if isinstance(u, str) and u and u != "system")
    if not wanted:
        return {}
    with sessions() as session:
        rows = session.exec(select(User.username, User.display_name).where(col(User.username).in_(wanted))).all()
    return {u: n for u, n in rows if n and n != u}
