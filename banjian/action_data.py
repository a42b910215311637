"""The 422 checks of an action: its comment and data well formed (`validate_data`) and within their
sizes (`check_bounds`). Pure functions over `CaseState` and `ItemDefinition`, run by `banjian.rules.check`
after the 403 and 409 checks."""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from banjian.case_steps import current_step
from banjian.contract_parts import MaterialRef
from banjian.contracts import JOINT_SUPPLEMENT_DESIGN, SUB_CASE_DESIGN, ActionInput, CaseState
from banjian.enums import STAFF_ROLES, Action, DeliveryMethod
from banjian.errors import Invalid
from banjian.items.schema import ItemDefinition
from banjian.labels import ACTION_NAMES_ZH
from banjian.timefmt import china_date

#: Actions that need a comment (written opinion / reason).
NEEDS_COMMENT = {Action.REFUSE_ACCEPTANCE, Action.RETURN, Action.DENY, Action.REQUEST_EXTENSION,
                 Action.SUSPEND, Action.TERMINATE, Action.TRANSFER, Action.RETURN_TO, Action.URGE, Action.REPLY_URGE,
                 Action.ASK_SUPPLEMENT}
#: a special procedure's expected length is told to the applicant: at most a year
MAX_PROCEDURE_DAYS = 365
#: an action's `data` as JSON (UTF-8): the largest real one, a supplement listing every material
#: with its file and licence ids, is a few KB; the bound keeps one action from bloating the case's
#: state and history (the state travels with every transition, under Temporal's 2 MB payload limit)
MAX_ACTION_DATA_BYTES = 32 * 1024
#: an action's written opinion or reason (意见)
MAX_COMMENT = 4000
#: a courier's tracking number (运单号): carriers' numbers are 10–20 characters
MAX_TRACKING_NO = 64
#: an urge's reply date lies between the case's today and a year later
MAX_REPLY_DAYS = 366
#: the fields a supplied material may carry (`licence_check` is the API's stamp of a verified licence)
MATERIAL_FIELDS = frozenset({"name", "file_id", "licence_id", "licence_check"})
#: the fields of each action's `data` (docs/api.md); any other is refused (422 `unknown_field`) rather
#: than silently ignored, so that a misspelt field (`tracking_number`) never passes as if it counted
DATA_FIELDS: dict[str, frozenset[str]] = {
    Action.REQUEST_SUPPLEMENT: frozenset({"missing"}), Action.ASK_SUPPLEMENT: frozenset({"missing"}),
    Action.NOTIFY_SUPPLEMENT: frozenset({"missing"}), Action.SUBMIT_SUPPLEMENT: frozenset({"materials"}),
    Action.APPROVE: frozenset({"referral"}),
    Action.START_SPECIAL_PROCEDURE: frozenset({"kind", "expected_days"}),
    Action.DELIVER: frozenset({"method", "tracking_no"}), Action.URGE: frozenset({"reply_by"}),
    Action.RATE: frozenset({"level"}),
    Action.ASSIGN: frozenset({"username"}), Action.TRANSFER: frozenset({"username"}),
    Action.DELEGATE: frozenset({"username"}), Action.COPY_TO: frozenset({"username"}),
    Action.ADD_SIGNER: frozenset({"username", "role", "mode", "position"}),
    Action.RETURN_TO: frozenset({"step_id", "missing"}),
    # online pre-review (banjian/pre_review.py)
    "pre_review_return": frozenset({"missing"}), "pre_review_resubmit": frozenset({"materials"}),
}


def _invalid(code: str, field: str, zh: str, en: str) -> Invalid:
    return Invalid(code, zh, en, field=field)


def _choice(value: Any, choices: Any) -> bool:
    """`value` is one of `choices` (a list or an object sent for a choice is none of them, rather
    than a TypeError: such a value is unhashable)."""
    return isinstance(value, str) and value in choices


def _no_repeats(missing: list[str]) -> None:
    """A supplement notice names each material once (the applicant read 场所平面布置图 three times)."""
    repeated = list(dict.fromkeys(m for i, m in enumerate(missing) if m in missing[:i]))
    if repeated:
        raise _invalid("duplicate_material", "data.missing", f"材料重复列出：{'、'.join(repeated)}（每种材料只列一次）",
                       f"data.missing names a material more than once: {', '.join(repeated)}")


def validate_data(action: Action, item: ItemDefinition, state: CaseState, act: ActionInput) -> None:
    """422 unless the action's comment and data are well formed."""
    data: dict[str, Any] = act.data or {}
    if action in NEEDS_COMMENT and not (act.comment or "").strip():
        raise _invalid("comment_required", "comment", f"“{ACTION_NAMES_ZH[action]}”必须填写意见或理由",
                       f"'{action}' needs a comment (the written opinion or reason)")
    if action == Action.NOTIFY_SUPPLEMENT and data.get("missing") not in (None, []):
        # the lead unit may add materials to those the departments asked for (which are always in the notice)
        extra = data["missing"]
        if not isinstance(extra, list) or not all(isinstance(m, str) for m in extra):
            raise _invalid("invalid_type", "data.missing", "data.missing 须为材料名称列表（可省略：各部门提请的材料已全部列入告知）",
                           "data.missing must be a list of material names (optional: every department's "
                           "materials are in the notice already)")
        _item_materials(item, extra)
    elif action in (Action.REQUEST_SUPPLEMENT, Action.ASK_SUPPLEMENT):
        missing = data.get("missing")
        if not isinstance(missing, list) or not missing or not all(isinstance(m, str) for m in missing):
            raise _invalid("missing_required", "data.missing", "请一次性列明全部需补正的材料名称（非空列表）",
                           "data.missing must list every missing material by name (a non-empty list)")
        _item_materials(item, missing)
    elif action == Action.SUBMIT_SUPPLEMENT:
        given = data.get("materials")
        names = [m if isinstance(m, str) else m.get("name") if isinstance(m, dict) else None for m in given] \
            if isinstance(given, list) else None
        if not names or not all(isinstance(n, str) for n in names):
            raise _invalid("missing_required", "data.materials", "请提交补正材料列表",
                           "data.materials must list the supplemented materials")
        unknown = [n for n in names if isinstance(n, str) and item.material(n) is None]
        if unknown:  # a supplement adds a version of one of the item's materials, never a new one
            raise _invalid("unknown_material", "data.materials", f"本事项没有这些材料：{'、'.join(unknown)}",
                           f"the item asks for no material named {', '.join(unknown)}")
        lacking = [m for m in state.missing_materials if m not in names]
        if lacking:
            raise _invalid("material_missing", "data.materials", f"仍缺少补正材料：{'、'.join(lacking)}",
                           f"still missing: {', '.join(lacking)}")
    elif action == Action.START_SPECIAL_PROCEDURE:
        kinds = {p.kind: p for p in item.special_procedures}
        if not _choice(data.get("kind"), kinds):
            raise _invalid("unknown_procedure", "data.kind",
                           "特别程序类型应为：" + ("、".join(f"{p.name}（{k}）" for k, p in kinds.items())
                                                 or "（本事项无特别程序）"),
                           f"data.kind must be one of the item's special procedures: {', '.join(kinds) or 'none'}")
        days = data.get("expected_days", kinds[data["kind"]].expected_days)
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_PROCEDURE_DAYS:
            raise _invalid("invalid_number", "data.expected_days", f"预计时长须为 0 至 {MAX_PROCEDURE_DAYS} 的整数（天）",
                           f"data.expected_days must be a whole number of days from 0 to {MAX_PROCEDURE_DAYS}")
    elif action == Action.DELIVER:
        method = data.get("method")
        if not _choice(method, {m.value for m in DeliveryMethod}):
            raise _invalid("invalid_choice", "data.method", "送达方式应为 electronic、courier 或 window",
                           "data.method must be electronic, courier or window")
        if method == DeliveryMethod.COURIER and not data.get("tracking_no"):
            raise _invalid("missing_required", "data.tracking_no", "邮寄送达须填写快递单号",
                           "courier delivery needs data.tracking_no")
    elif action == Action.URGE and "reply_by" in data:
        _check_reply_by(data["reply_by"], state)
    elif action == Action.RATE:
        level = data.get("level")
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
            raise _invalid("invalid_number", "data.level", "评价等级须为 1 至 5 的整数（5 为非常满意）",
                           "data.level must be a whole number from 1 to 5 (5 = very satisfied)")
    elif action in (Action.ASSIGN, Action.TRANSFER, Action.DELEGATE, Action.COPY_TO):
        if not isinstance(data.get("username"), str) or not data["username"]:
            raise _invalid("missing_required", "data.username", "请指定用户名", "data.username is required")
    elif action == Action.ADD_SIGNER:
        _check_signers(data)
        step = current_step(item, state)
        if step is not None and step.kind == "decide" and data.get("position", "after") == "after":
            raise _invalid("invalid_choice", "data.position", "决定环节只能前加签（before）",
                           "at the decision step signers sign before the decision (position before)")
    elif action == Action.RETURN_TO:
        target = data.get("step_id")
        before = item.steps[:state.step_index or 0]
        earlier = [st.id for st in before]
        if target == "applicant" and state.parent_id is not None and state.design >= JOINT_SUPPLEMENT_DESIGN:
            raise _invalid("sub_case_return_to_applicant", "data.step_id",
                           "并联审批的子件不能退回申请人：需补正材料的，请使用“提请补正”（ask_supplement），"
                           "由牵头部门一次性告知申请人；本部门也可退回至之前的环节",
                           "a sub-case cannot be returned to the applicant: ask for the supplement with "
                           "'ask_supplement' (the lead unit sends the applicant one notice), or return the "
                           "sub-case to an earlier step")
        if target == "applicant" and state.parent_id is not None and state.design >= SUB_CASE_DESIGN:
            # the applicant cannot open a department's sub-case, so nobody could answer there
            raise _invalid("sub_case_return_to_applicant", "data.step_id",
                           "并联审批的子件不能退回申请人（申请人只与牵头部门往来，无法在子件中补正）："
                           "需补正材料的，请告知牵头部门；本部门可退回至之前的环节",
                           "a department's sub-case cannot be returned to the applicant (who deals only with the "
                           "lead unit and cannot answer in a sub-case): tell the lead unit what is missing, or "
                           "return the sub-case to an earlier step")
        if target != "applicant" and not _choice(target, earlier):
            named = "、".join(f"{st.name}（{st.id}）" for st in before)
            raise _invalid("invalid_choice", "data.step_id",
                           f"只能退回至之前的环节{('：' + named) if named else '（当前为第一个环节，无之前的环节）'}"
                           "，或退回申请人（applicant）",
                           f"data.step_id must be an earlier step ({', '.join(earlier) or 'none'}) or 'applicant'")
    elif action in (Action.APPROVE,) and "referral" in data and not isinstance(data["referral"], bool):
        raise _invalid("invalid_type", "data.referral", "referral 须为布尔值", "data.referral must be a boolean")


def _item_materials(item: ItemDefinition, names: list[str]) -> None:
    """`data.missing` names materials of the item, each once."""
    unknown = [m for m in names if item.material(m) is None]
    if unknown:
        raise _invalid("unknown_material", "data.missing", f"本事项没有这些材料：{'、'.join(unknown)}",
                       f"the item asks for no material named {', '.join(unknown)}")
    _no_repeats(names)


def check_input(item: ItemDefinition, act: ActionInput) -> None:
    """The checks on the input alone (the API's and the update validator's, never under the workflow's
    lock, so that a replay takes what its history accepted): `check_bounds`, and the materials a
    `return_to` the applicant names (`data.missing`, optional: the item's names, each once)."""
    check_bounds(act)
    missing = (act.data or {}).get("missing")
    if act.action == Action.RETURN_TO and missing is not None:
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            raise _invalid("invalid_type", "data.missing", "data.missing 须为材料名称列表（可省略）",
                           "data.missing must be a list of material names (optional)")
        _item_materials(item, missing)


def check_pre_review_data(item: ItemDefinition, act: ActionInput) -> None:
    """The input checks of a pre-review action (its state checks are `banjian.pre_review`): the
    materials it names are the item's, each once, and its comment and data within their bounds."""
    data = act.data or {}
    check_bounds(act)
    names: list[Any] = []
    if act.action == "pre_review_return" and isinstance(data.get("missing"), list):
        names, field = data["missing"], "data.missing"
    elif act.action == "pre_review_resubmit" and isinstance(data.get("materials"), list):
        names, field = [m if isinstance(m, str) else m.get("name") for m in data["materials"]], "data.materials"
    unknown = [str(n) for n in names if not isinstance(n, str) or item.material(n) is None]
    if unknown:
        raise _invalid("unknown_material", field, f"本事项没有这些材料：{'、'.join(unknown)}",
                       f"the item asks for no material named {', '.join(unknown)}")
    if act.action == "pre_review_return":
        _no_repeats(names)


def _check_signers(data: dict[str, Any]) -> None:
    """add_signer: one user or one role, a mode and a position."""
    user, role = data.get("username"), data.get("role")
    if user is not None and not isinstance(user, str):
        raise _invalid("invalid_type", "data.username", "data.username 须为用户名（文本）", "data.username must be a username (text)")
    if bool(user) == bool(role):
        raise _invalid("missing_required", "data.username", "请指定加签人（data.username）或角色（data.role）之一",
                       "give exactly one of data.username or data.role")
    if role is not None and not _choice(role, {r.value for r in STAFF_ROLES}):
        raise _invalid("invalid_choice", "data.role", "加签角色应为窗口、承办、审批、负责人或牵头角色",
                       "data.role must be a staff role")
    if not _choice(data.get("mode", "all"), ("all", "any")):
        raise _invalid("invalid_choice", "data.mode", "mode 应为 all 或 any", "data.mode must be all or any")
    if not _choice(data.get("position", "after"), ("before", "after")):
        raise _invalid("invalid_choice", "data.position", "position 应为 before 或 after",
                       "data.position must be before or after")


def check_bounds(act: ActionInput) -> None:
    """422 unless the action's comment and data are within their sizes. Checked by the API and the
    update's validator, not again under the workflow's lock: they depend on the input alone, and a
    replay must take what its history accepted before these bounds existed."""
    size = len(json.dumps(act.data or {}, ensure_ascii=False, default=str).encode())
    if size > MAX_ACTION_DATA_BYTES:
        raise _invalid("too_large", "data", f"操作数据过大（{size} 字节，上限 {MAX_ACTION_DATA_BYTES} 字节）",
                       f"data is too large ({size} bytes; at most {MAX_ACTION_DATA_BYTES})")
    if len(act.comment or "") > MAX_COMMENT:
        raise _invalid("too_long", "comment", f"意见不能超过 {MAX_COMMENT} 字",
                       f"the comment is longer than {MAX_COMMENT} characters")
    check_fields(act)
    if act.action in (Action.SUBMIT_SUPPLEMENT, "pre_review_resubmit"):
        _check_material_entries((act.data or {}).get("materials"))
    tracking = (act.data or {}).get("tracking_no")
    if tracking is not None and (not isinstance(tracking, str) or len(tracking) > MAX_TRACKING_NO):
        raise _invalid("invalid_value", "data.tracking_no", f"快递单号应为不超过 {MAX_TRACKING_NO} 个字符的文本",
                       f"data.tracking_no must be text of at most {MAX_TRACKING_NO} characters")


def _check_material_entries(given: Any) -> None:
    """Each supplied material is a name or `{"name", "file_id"?, "licence_id"?}`: anything else would
    stop the workflow when it records the material, so it is refused here, before the update."""
    if given is None:
        return
    if not isinstance(given, list):
        raise _invalid("invalid_type", "data.materials", "data.materials 须为材料列表",
                       "data.materials must be a list of materials")
    seen: set[str] = set()
    for i, m in enumerate(given):
        name = m if isinstance(m, str) else m.get("name") if isinstance(m, dict) else None
        if isinstance(name, str) and name in seen:  # as in an application: one entry per material
            raise _invalid("duplicate_material", f"data.materials[{i}].name", f"材料重复：{name}（每种材料只提交一份）",
                           f"material given twice: {name}")
        if isinstance(name, str):
            seen.add(name)
        if isinstance(m, str):
            continue
        try:
            if not isinstance(m, dict) or set(m) - MATERIAL_FIELDS:
                raise ValueError
            MaterialRef.model_validate(m)
        except ValueError:
            raise _invalid("invalid_material", f"data.materials[{i}]",
                           "每项补正材料须为材料名称，或 {name, file_id, licence_id}（名称、文件编号、电子证照编号，均为文本）",
                           "each material must be a name or {name, file_id?, licence_id?} (all text)") from None


def check_fields(act: ActionInput) -> None:
    """422 `unknown_field` for a `data` field the action does not take (every other action takes none)."""
    allowed = DATA_FIELDS.get(act.action, frozenset())
    unknown = sorted(k for k in (act.data or {}) if k not in allowed)
    if unknown:
        takes_zh = f"可填写：{'、'.join(sorted(allowed))}" if allowed else "该操作不需要任何数据项"
        takes_en = f"it takes: {', '.join(sorted(allowed))}" if allowed else "it takes no data"
        name_zh = ACTION_NAMES_ZH.get(act.action, act.action)  # type: ignore[call-overload]
        raise _invalid("unknown_field", f"data.{unknown[0]}",
                       f"“{name_zh}”不接受数据项 {'、'.join(unknown)}（{takes_zh}）",
                       f"'{act.action}' does not take data field {', '.join(unknown)} ({takes_en})")


def _check_reply_by(raw: Any, state: CaseState) -> None:
    """`data.reply_by` of an urge (督办回复期限): an ISO date from the case's today to a year on."""
    today = china_date(state.clock_at)
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not today <= day <= today + timedelta(days=MAX_REPLY_DAYS):
        raise _invalid("invalid_date", "data.reply_by",
                       f"回复期限须为今天起 {MAX_REPLY_DAYS} 天内的日期（YYYY-MM-DD）",
                       f"data.reply_by must be a date (YYYY-MM-DD) from today to {MAX_REPLY_DAYS} days on")
