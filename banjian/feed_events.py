"""What an event of the feed says beyond its history entry (办件信息汇聚): the case's item and
department, who acted and as what, the comment, and the reason of a refusal or a warning.

Every event body carries these keys (null when not known): `item_code`, `item_name`, `department`
(the case's department), `actor` (a username, a service account's name, or `system`), `actor_kind`
(`person`, `system_account` or `system`), `role` (the history's role: `clerk`, `system_of:amr`,
`system`, ...), `comment`, `reason` (Chinese) and `reason_en`. `reason` is the refusal reason of a
`deny` (the case's recorded reason: the denier's comment and any department's disagreement) or a
`refuse_acceptance`, and the Chinese reason of a `warning` or any system event that gives one in
English (`data.reason_en`); `reason_en` is that English reason where the event has one.
"""
from __future__ import annotations

from typing import Any

#: the keys every event body has besides `event_id`, `case_no`, `case_id`, `seq`, `action`, `at`,
#: `status` and `data`
DETAIL_KEYS = ("item_code", "item_name", "department", "actor", "actor_kind", "role", "comment", "reason",
               "reason_en")

PERSON, SYSTEM_ACCOUNT, SYSTEM = "person", "system_account", "system"
#: actions whose comment is a refusal reason
REFUSALS = frozenset({"deny", "refuse_acceptance"})


def actor_kind(role: str | None) -> str:
    """`system_account` for a department system (`system_of:{dept}`), `system` for the system's own
    entries (timers, warnings), else `person`."""
    if role and role.startswith("system_of:"):
        return SYSTEM_ACCOUNT
    return SYSTEM if role == SYSTEM else PERSON


def case_context(item_code: str | None, item_name: str | None, department: str | None) -> dict[str, Any]:
    return {"item_code": item_code, "item_name": item_name, "department": department}


def details(context: dict[str, Any] | None, actor: str | None, role: str | None, action: str,
            comment: str | None, data: dict[str, Any], refusal: str | None = None) -> dict[str, Any]:
    """The detail keys of one event: `context` from `case_context`, `refusal` the case's recorded
    reason of a denial (used for a `deny` event, else its comment)."""
    reason_en = data.get("reason_en") if isinstance(data.get("reason_en"), str) else None
    reason: str | None = None
    if action == "deny":
        reason = refusal or comment
    elif action in REFUSALS or action == "warning" or reason_en:
        reason = comment
    return {**case_context(None, None, None), **(context or {}), "actor": actor, "actor_kind": actor_kind(role),
            "role": role, "comment": comment, "reason": reason, "reason_en": reason_en}
