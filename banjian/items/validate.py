"""Validation of service item definitions: the one place that says whether a definition is acceptable.

This module owns:

* `Problem` — one thing wrong with a definition, with the path of the offending field
  (``"steps[2].role"``, ``"promised_limit"``, ``""`` for the whole document), a machine code
  and a message in Chinese and English (the shape of the API's 422 list);
* `validate_definition` — parses a mapping into `ItemDefinition` (every pydantic error becomes a
  `Problem`) and, when parsing succeeds, applies every cross-field rule and reports *every*
  problem, not just the first;
* `load_definition_file` / `load_directory` — read YAML definitions (``item_definitions/``), so
  that bundles are validated against the single items loaded before them.

Conventions chosen here (documented for the authors of definitions and of the API):

* promised > statutory is reported at ``promised_limit``: the statutory limit comes from law,
  the promised one is what the department chose and must fix.
* Comparing limits: when both are in the same unit their values are compared directly. When
  the units differ, natural days are converted to working days as ``value * 5 // 7`` (five
  working days per seven natural days, rounded down). This ignores public holidays and
  adjusted weekend workdays (调休), so it is an approximation good enough for checking a
  definition; real deadlines are always computed with the working-day calendar.
* Machine codes of pydantic errors are pydantic's own error types (``missing``,
  ``extra_forbidden``, ``string_pattern_mismatch``, …); cross-field rules have their own codes
  (``promised_exceeds_statutory``, ``sub_limit_exceeds_overall``, …).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from banjian.enums import ItemKind, LimitUnit, Role
from banjian.ids import IdError, validate_credit_code
from banjian.items.schema import ItemDefinition, Limit, Step

__all__ = [
    "JOINT_STATUTORY_MAX",
    "Problem",
    "cross_field_problems",
    "load_definition_file",
    "load_directory",
    "to_working_days",
    "validate_definition",
]

#: Joint / centralised handling may take at most 45 working days (行政许可法 第四十二条第二款).
JOINT_STATUTORY_MAX = Limit(value=45, unit=LimitUnit.WORKING_DAYS)

#: Roles that may perform a review step (staff of the implementing department).
REVIEW_ROLES = frozenset({Role.CLERK, Role.HANDLER, Role.APPROVER, Role.HEAD})
#: The parent flow of a joint item may also have steps of the lead-unit coordinator.
JOINT_PARENT_REVIEW_ROLES = REVIEW_ROLES | {Role.LEAD}
#: The role that takes the decision (决定).
DECIDE_ROLE = Role.APPROVER


@dataclass
class Problem:
    """One problem of a definition.

    `path` is dotted/indexed (``"participants[1].sub_limit"``); ``""`` means the whole document.
    """

    path: str
    code: str
    message: str
    message_en: str

    def to_dict(self) -> dict[str, str]:
        """The problem as a JSON-ready mapping (the API lists these in a 422)."""
        return asdict(self)

    def __str__(self) -> str:
        where = self.path or "<document>"
        return f"{where}: [{self.code}] {self.message} / {self.message_en}"


# ---------------------------------------------------------------------------------------------
# Limits


def to_working_days(limit: Limit) -> int:
    """A limit in working days; natural days count as ``value * 5 // 7`` (approximation, see above)."""
    if limit.unit == LimitUnit.NATURAL_DAYS:
        return limit.value * 5 // 7
    return limit.value


def _exceeds(a: Limit, b: Limit) -> bool:
    """Whether limit `a` is longer than limit `b` (same unit: values; else both in working days)."""
    if a.unit == b.unit:
        return a.value > b.value
    return to_working_days(a) > to_working_days(b)


def _fmt_zh(limit: Limit) -> str:
    unit = "个工作日" if limit.unit == LimitUnit.WORKING_DAYS else "个自然日"
    return f"{limit.value} {unit}"


def _fmt_en(limit: Limit) -> str:
    unit = "working days" if limit.unit == LimitUnit.WORKING_DAYS else "natural days"
    return f"{limit.value} {unit}"


# ---------------------------------------------------------------------------------------------
# pydantic errors → problems


def _path(loc: Iterable[Any]) -> str:
    """``('steps', 2, 'role')`` → ``"steps[2].role"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _shown(value: Any) -> str:
    """A short rendering of a scalar input for a message ("" for containers)."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return ""


_DATE = ("应为有效日期（YYYY-MM-DD）", "must be a valid date (YYYY-MM-DD)")
_INT = ("应为整数", "must be an integer")
_BOOL = ("应为布尔值（true 或 false）", "must be a boolean (true or false)")
_MAPPING = ("应为对象（键值映射）", "must be a mapping (object)")
_NUMBER = ("应为数字", "must be a number")

#: pydantic error type → (Chinese template, English template); templates use the error's ctx.
_TRANSLATIONS: dict[str, tuple[str, str]] = {
    "missing": ("缺少必填字段", "field required"),
    "extra_forbidden": ("不允许的字段（定义中没有该字段）", "unknown field (not allowed)"),
    "string_pattern_mismatch": ("格式不正确，应匹配 {pattern}", "does not match the pattern {pattern}"),
    "string_too_short": ("长度不能少于 {min_length} 个字符", "must have at least {min_length} character(s)"),
    "string_too_long": ("长度不能超过 {max_length} 个字符", "must have at most {max_length} character(s)"),
    "string_type": ("应为字符串", "must be a string"),
    "int_type": _INT,
    "int_parsing": _INT,
    "int_from_float": _INT,
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "bool_type": _BOOL,
    "bool_parsing": _BOOL,
    "enum": ("取值无效，应为以下之一：{expected}", "invalid value; expected one of {expected}"),
    "literal_error": ("取值无效，应为以下之一：{expected}", "invalid value; expected one of {expected}"),
    "too_short": ("至少需要 {min_length} 项", "must have at least {min_length} item(s)"),
    "too_long": ("最多允许 {max_length} 项", "must have at most {max_length} item(s)"),
    "greater_than_equal": ("不能小于 {ge}", "must be greater than or equal to {ge}"),
    "greater_than": ("必须大于 {gt}", "must be greater than {gt}"),
    "less_than_equal": ("不能大于 {le}", "must be less than or equal to {le}"),
    "less_than": ("必须小于 {lt}", "must be less than {lt}"),
    "list_type": ("应为列表", "must be a list"),
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dict_type": _MAPPING,
    "date_type": _DATE,
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": ("应为日期，不能带时间", "must be a date without a time"),
}


def _problem_from_error(err: Mapping[str, Any]) -> Problem:
    """Turn one pydantic error into a `Problem` with a translated message."""
    kind = str(err.get("type", "value_error"))
    ctx = {k: str(v) for k, v in (err.get("ctx") or {}).items()}
    path = _path(err.get("loc", ()))
    templates = _TRANSLATIONS.get(kind)
    if templates is None:
        return Problem(path, kind, f"取值无效：{err.get('msg', '')}", str(err.get("msg", "invalid value")))
    zh_t, en_t = templates
    ctx_zh = dict(ctx)
    if "expected" in ctx_zh:
        ctx_zh["expected"] = ctx_zh["expected"].replace(" or ", ", ")
    try:
        zh, en = zh_t.format(**ctx_zh), en_t.format(**ctx)
    except (KeyError, IndexError):
        zh, en = zh_t, str(err.get("msg", en_t))
    if kind not in ("missing", "extra_forbidden"):
        shown = _shown(err.get("input"))
        if shown:
            zh += f"（实际为 {shown}）"
            en += f" (got {shown})"
    return Problem(path, kind, zh, en)


# ---------------------------------------------------------------------------------------------
# Cross-field rules


class _Collector:
    """Accumulates problems in order."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, code: str, message: str, message_en: str) -> None:
        self.problems.append(Problem(path, code, message, message_en))


def _check_steps(
    out: _Collector,
    steps: list[Step],
    prefix: str,
    *,
    required: bool,
    review_roles: frozenset[Role],
    cap: Limit | None,
    cap_zh: str,
    cap_en: str,
) -> None:
    """Shape of a flow: one decide step, last, by the approver; review roles; unique ids; step limits."""
    if not steps:
        if required:
            out.add(
                prefix,
                "steps_empty",
                "办理流程不能为空，至少需要一个决定环节",
                "the flow has no steps; a decide step is needed",
            )
        return
    decide_at = [i for i, s in enumerate(steps) if s.kind == "decide"]
    if not decide_at:
        out.add(
            prefix,
            "decide_step_missing",
            "办理流程缺少决定环节（kind: decide）",
            "the flow has no decide step (kind: decide)",
        )
    for extra in decide_at[1:]:
        out.add(
            f"{prefix}[{extra}].kind",
            "decide_step_duplicate",
            "办理流程只能有一个决定环节",
            "the flow may have only one decide step",
        )
    if decide_at and decide_at[0] != len(steps) - 1:
        out.add(
            f"{prefix}[{decide_at[0]}].kind",
            "decide_step_not_last",
            "决定环节必须是办理流程的最后一个环节",
            "the decide step must be the last step",
        )
    seen: set[str] = set()
    allowed = ", ".join(sorted(r.value for r in review_roles))
    for i, step in enumerate(steps):
        here = f"{prefix}[{i}]"
        if step.id in seen:
            out.add(
                f"{here}.id",
                "duplicate_step_id",
                f"环节编码 {step.id!r} 重复",
                f"step id {step.id!r} is used twice",
            )
        seen.add(step.id)
        if step.kind == "decide" and step.role != DECIDE_ROLE:
            out.add(
                f"{here}.role",
                "decide_role",
                "决定环节必须由审批人（approver）办理",
                "the decide step must be performed by the approver",
            )
        elif step.kind == "review" and step.role not in review_roles:
            out.add(
                f"{here}.role",
                "review_role",
                f"审查环节的角色 {step.role.value!r} 无效，应为以下之一：{allowed}",
                f"review step role {step.role.value!r} is not a staff role; expected one of {allowed}",
            )
        if cap is not None and step.limit is not None and _exceeds(step.limit, cap):
            out.add(
                f"{here}.limit",
                "step_limit_exceeds",
                f"环节时限 {_fmt_zh(step.limit)} 超过{cap_zh} {_fmt_zh(cap)}",
                f"step limit of {_fmt_en(step.limit)} exceeds the {cap_en} of {_fmt_en(cap)}",
            )


def _check_unique(
    out: _Collector, names: list[str], prefix: str, field: str, code: str, what_zh: str, what_en: str
) -> None:
    """Report every repeated name (at the later occurrence)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            out.add(
                f"{prefix}[{i}].{field}",
                code,
                f"{what_zh} {name!r} 重复",
                f"{what_en} {name!r} is used twice",
            )
        seen.add(name)


def _check_limits(out: _Collector, d: ItemDefinition) -> None:
    if _exceeds(d.promised_limit, d.statutory_limit):
        out.add(
            "promised_limit",
            "promised_exceeds_statutory",
            f"承诺办结时限 {_fmt_zh(d.promised_limit)} 超过法定办结时限 {_fmt_zh(d.statutory_limit)}",
            f"promised limit of {_fmt_en(d.promised_limit)} exceeds the statutory limit of {_fmt_en(d.statutory_limit)}",
        )
    if d.case_type == "immediate" and d.promised_limit.value != 0:
        out.add(
            "promised_limit",
            "immediate_promised_nonzero",
            "即办件的承诺办结时限应为 0（当场办结）",
            "an immediate item (即办件) must have a promised limit of 0",
        )
    if d.case_type == "promised" and d.promised_limit.value == 0:
        out.add(
            "promised_limit",
            "promised_limit_zero",
            "承诺件的承诺办结时限至少为 1 天；当场办结的事项应设为即办件（case_type: immediate）",
            "a promised item needs a promised limit of at least 1 day; use case_type: immediate for on-the-spot items",
        )
    if d.effective_from and d.effective_to and d.effective_to <= d.effective_from:
        out.add(
            "effective_to",
            "effective_range",
            f"失效日期 {d.effective_to} 应晚于生效日期 {d.effective_from}",
            f"effective_to {d.effective_to} must be after effective_from {d.effective_from}",
        )


def _check_texts(out: _Collector, d: ItemDefinition) -> None:
    for i, basis in enumerate(d.legal_basis):
        if not basis.strip():
            out.add(
                f"legal_basis[{i}]",
                "empty_legal_basis",
                "设定依据不能为空",
                "a legal basis entry must not be empty",
            )
    if not d.service_object:
        out.add(
            "service_object", "service_object_empty", "服务对象不能为空", "service_object must not be empty"
        )


def _check_channels_and_fees(out: _Collector, d: ItemDefinition) -> None:
    ch = d.channels
    if ch.fully_online and ch.site_visits > 0:
        out.add(
            "channels.site_visits",
            "fully_online_site_visits",
            f"全程网办事项的到办事现场次数应为 0（当前为 {ch.site_visits}）",
            f"a fully online item must have 0 site visits (has {ch.site_visits})",
        )
    if ch.fully_online and not (ch.web or ch.mobile):
        out.add(
            "channels.fully_online",
            "fully_online_without_online_channel",
            "全程网办事项须开通网上（web）或移动端（mobile）渠道",
            "a fully online item needs the web or mobile channel",
        )
    # Only a definition that states its site visits must say why: the schema's default of one
    # visit (when `channels.site_visits` is left out) is an assumption, not the author's claim.
    stated = "channels" in d.model_fields_set and "site_visits" in ch.model_fields_set
    if stated and ch.site_visits > 0 and not (ch.site_visit_reason or "").strip():
        out.add(
            "channels.site_visit_reason",
            "site_visit_reason_missing",
            "到办事现场次数大于 0 时须说明到现场的理由",
            "site visits > 0 require a site_visit_reason",
        )
    if not (ch.window or ch.web or ch.mobile or ch.post):
        out.add(
            "channels",
            "no_channel",
            "至少需要开通一种办理渠道",
            "at least one channel (window, web, mobile, post) is needed",
        )
    if d.fees.charged and not d.fees.items:
        out.add(
            "fees.items",
            "fee_items_missing",
            "收费事项须列明收费项目及标准",
            "a charged item must list its fee items",
        )
    if not d.fees.charged and d.fees.items:
        out.add(
            "fees.items",
            "fee_items_unexpected",
            "不收费事项不应列出收费项目（或将 charged 设为 true）",
            "an item that charges nothing must list no fee items (or set charged: true)",
        )


def _check_lists(out: _Collector, d: ItemDefinition) -> None:
    _check_unique(
        out,
        [m.name for m in d.materials],
        "materials",
        "name",
        "duplicate_material",
        "材料名称",
        "material name",
    )
    _check_unique(
        out, [f.name for f in d.form], "form", "name", "duplicate_form_field", "表单字段名", "form field name"
    )
    _check_unique(
        out,
        [p.kind for p in d.special_procedures],
        "special_procedures",
        "kind",
        "duplicate_special_procedure",
        "特别程序类型",
        "special procedure kind",
    )
    for i, field in enumerate(d.form):
        here = f"form[{i}].choices"
        if field.type == "choice" and not field.choices:
            out.add(
                here,
                "choices_missing",
                f"选择型字段 {field.name!r} 须列出可选项",
                f"choice field {field.name!r} needs choices",
            )
        elif field.type != "choice" and field.choices is not None:
            out.add(
                here,
                "choices_not_allowed",
                f"字段 {field.name!r} 不是选择型（{field.type}），不应有可选项",
                f"field {field.name!r} is of type {field.type!r} and must not have choices",
            )
        elif field.choices and len(set(field.choices)) != len(field.choices):
            out.add(
                here,
                "duplicate_choice",
                f"字段 {field.name!r} 的可选项重复",
                f"field {field.name!r} has repeated choices",
            )


def _check_departments(out: _Collector, d: ItemDefinition, known: set[str] | None) -> None:
    if known is None:
        return

    def check(path: str, code: str) -> None:
        if code not in known:
            out.add(
                path, "unknown_department", f"部门编码 {code!r} 不存在", f"unknown department code {code!r}"
            )

    check("department", d.department)
    for i, code in enumerate(d.co_departments):
        check(f"co_departments[{i}]", code)
    for i, part in enumerate(d.participants):
        check(f"participants[{i}].department", part.department)


def _check_credit_codes(out: _Collector, d: ItemDefinition) -> None:
    """Unified social credit codes of the implementing and entrusted bodies (GB 32100, `banjian.ids`)."""
    for path, body in (("implementing_body", d.implementing_body), ("entrusted_body", d.entrusted_body)):
        if body is None or body.credit_code is None:
            continue
        try:
            validate_credit_code(body.credit_code)
        except IdError as exc:
            out.add(f"{path}.credit_code", exc.code, exc.message, exc.message_en)


def _check_kind_specific(
    out: _Collector, d: ItemDefinition, known_items: Mapping[str, ItemDefinition] | None
) -> None:
    if d.kind == ItemKind.SINGLE:
        _check_steps(
            out,
            d.steps,
            "steps",
            required=True,
            review_roles=REVIEW_ROLES,
            cap=d.promised_limit,
            cap_zh="承诺办结时限",
            cap_en="promised limit",
        )
    elif d.kind == ItemKind.JOINT:
        _check_steps(
            out,
            d.steps,
            "steps",
            required=False,
            review_roles=JOINT_PARENT_REVIEW_ROLES,
            cap=d.promised_limit,
            cap_zh="承诺办结时限",
            cap_en="promised limit",
        )
        _check_joint(out, d)
    else:
        _check_steps(
            out,
            d.steps,
            "steps",
            required=False,
            review_roles=REVIEW_ROLES,
            cap=d.promised_limit,
            cap_zh="承诺办结时限",
            cap_en="promised limit",
        )
        _check_bundle(out, d, known_items)

    if d.kind != ItemKind.JOINT:
        if d.participants:
            out.add(
                "participants",
                "participants_not_allowed",
                "只有并联审批事项（kind: joint）才能设置并联部门",
                "only joint items may have participants",
            )
        if d.silence_is_consent:
            out.add(
                "silence_is_consent",
                "silence_only_joint",
                "“逾期视为同意”只适用于并联审批事项",
                "silence_is_consent only applies to joint items",
            )
    if d.kind != ItemKind.BUNDLE and d.members:
        out.add(
            "members",
            "members_not_allowed",
            "只有“一件事”集成事项（kind: bundle）才能设置成员事项",
            "only bundles may have members",
        )


def _check_joint(out: _Collector, d: ItemDefinition) -> None:
    if _exceeds(d.statutory_limit, JOINT_STATUTORY_MAX):
        out.add(
            "statutory_limit",
            "joint_statutory_exceeds_max",
            f"并联审批的法定办结时限不得超过 45 个工作日（当前为 {_fmt_zh(d.statutory_limit)}）",
            f"a joint item's statutory limit may not exceed 45 working days (is {_fmt_en(d.statutory_limit)})",
        )
    if len(d.participants) < 2:
        out.add(
            "participants",
            "too_few_participants",
            f"并联审批至少需要两个并联部门（当前为 {len(d.participants)} 个）",
            f"a joint item needs at least two participants (has {len(d.participants)})",
        )
    seen: set[str] = set()
    for i, part in enumerate(d.participants):
        here = f"participants[{i}]"
        if part.department in seen:
            out.add(
                f"{here}.department",
                "duplicate_participant",
                f"并联部门 {part.department!r} 重复",
                f"participant department {part.department!r} appears twice",
            )
        seen.add(part.department)
        if _exceeds(part.sub_limit, d.promised_limit):
            out.add(
                f"{here}.sub_limit",
                "sub_limit_exceeds_overall",
                f"并联部门 {part.department!r} 的办理时限 {_fmt_zh(part.sub_limit)} 超过事项总承诺时限 {_fmt_zh(d.promised_limit)}",
                f"sub-limit exceeds the overall limit: {part.department!r} has {_fmt_en(part.sub_limit)}, "
                f"the item promises {_fmt_en(d.promised_limit)}",
            )
        _check_steps(
            out,
            part.steps,
            f"{here}.steps",
            required=True,
            review_roles=REVIEW_ROLES,
            cap=part.sub_limit,
            cap_zh="部门办理时限",
            cap_en="participant's sub-limit",
        )


def _check_bundle(
    out: _Collector, d: ItemDefinition, known_items: Mapping[str, ItemDefinition] | None
) -> None:
    if not d.members:
        out.add(
            "members",
            "members_empty",
            "“一件事”至少需要一个成员事项",
            "a bundle needs at least one member item",
        )
    seen: set[str] = set()
    materials = {m.name for m in d.materials}
    form = {f.name: (i, f) for i, f in enumerate(d.form)}
    for i, code in enumerate(d.members):
        here = f"members[{i}]"
        if code in seen:
            out.add(here, "duplicate_member", f"成员事项 {code!r} 重复", f"member {code!r} appears twice")
            continue
        seen.add(code)
        if code == d.code:
            out.add(here, "member_is_self", "“一件事”不能包含自身", "a bundle cannot contain itself")
            continue
        if known_items is None:
            continue
        member = known_items.get(code)
        if member is None:
            out.add(here, "unknown_member", f"成员事项 {code!r} 不存在", f"unknown member item {code!r}")
            continue
        if member.kind != ItemKind.SINGLE:
            out.add(
                here,
                "member_not_single",
                f"成员事项 {code!r} 必须是单一事项（实际为 {member.kind.value}）",
                f"member {code!r} must be a single item (is {member.kind.value})",
            )
            continue
        for mat in member.materials:
            if mat.required and mat.name not in materials:
                out.add(
                    "materials",
                    "bundle_material_missing",
                    f"成员事项 {code!r} 的必交材料 {mat.name!r} 未列入“一件事”的材料清单",
                    f"required material {mat.name!r} of member {code!r} is missing from the bundle's materials",
                )
        for fld in member.form:
            if fld.name not in form:
                if fld.required:
                    out.add(
                        "form",
                        "bundle_form_field_missing",
                        f"成员事项 {code!r} 的必填字段 {fld.name!r} 未列入“一件事”的表单",
                        f"required form field {fld.name!r} of member {code!r} is missing from the bundle's form",
                    )
                continue
            j, mine = form[fld.name]
            if mine.type != fld.type or (
                mine.type == "choice" and not set(mine.choices or ()) <= set(fld.choices or ())
            ):
                out.add(
                    f"form[{j}]",
                    "bundle_form_field_conflict",
                    f"字段 {fld.name!r} 与成员事项 {code!r} 中的同名字段类型或可选项不一致",
                    f"field {fld.name!r} does not match the type or choices of the same field of member {code!r}",
                )
        if _exceeds(member.statutory_limit, d.statutory_limit):
            out.add(
                "statutory_limit",
                "bundle_statutory_below_member",
                f"“一件事”的法定办结时限 {_fmt_zh(d.statutory_limit)} 短于成员事项 {code!r} 的 {_fmt_zh(member.statutory_limit)}",
                f"the bundle's statutory limit of {_fmt_en(d.statutory_limit)} is shorter than member {code!r}'s "
                f"{_fmt_en(member.statutory_limit)}",
            )


def cross_field_problems(
    d: ItemDefinition,
    known_departments: set[str] | None = None,
    known_items: Mapping[str, ItemDefinition] | None = None,
) -> list[Problem]:
    """Every cross-field problem of a parsed definition (empty when it is acceptable)."""
    out = _Collector()
    _check_limits(out, d)
    _check_texts(out, d)
    _check_departments(out, d, known_departments)
    _check_credit_codes(out, d)
    _check_channels_and_fees(out, d)
    _check_lists(out, d)
    _check_kind_specific(out, d, known_items)
    return out.problems


# ---------------------------------------------------------------------------------------------
# Entry points


def validate_definition(
    data: dict,
    known_departments: set[str] | None = None,
    known_items: dict[str, ItemDefinition] | None = None,
) -> tuple[ItemDefinition | None, list[Problem]]:
    """Parse and check a definition.

    Returns ``(definition, [])`` when it is acceptable; otherwise ``(None, problems)`` — every
    schema problem when parsing fails, else every cross-field problem. `known_departments`
    enables the department-code check, `known_items` (code → definition) the checks of a
    bundle's members.
    """
    try:
        definition = ItemDefinition.model_validate(data)
    except ValidationError as exc:
        return None, [_problem_from_error(err) for err in exc.errors()]
    problems = cross_field_problems(definition, known_departments, known_items)
    return (None, problems) if problems else (definition, [])


def _read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """The parsed YAML document of a file, or a problem (unreadable file, syntax error, not a mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [
            Problem("", "unreadable", f"无法读取文件 {path.name}：{exc}", f"cannot read {path.name}: {exc}")
        ]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            line, col = mark.line + 1, mark.column + 1
            zh = f"YAML 语法错误（第 {line} 行第 {col} 列）：{what}"
            en = f"YAML syntax error at line {line}, column {col}: {what}"
        else:
            zh, en = f"YAML 语法错误：{what}", f"YAML syntax error: {what}"
        return None, [Problem("", "yaml_syntax", zh, en)]
    if not isinstance(data, dict):
        return None, [
            Problem(
                "",
                "not_a_mapping",
                "文件内容应为一个事项定义（键值映射）",
                "the document must be one item definition (a mapping)",
            )
        ]
    return data, []


def load_definition_file(
    path: Path,
    known_departments: set[str] | None = None,
    known_items: dict[str, ItemDefinition] | None = None,
) -> tuple[ItemDefinition | None, list[Problem]]:
    """Read one YAML definition and validate it (YAML errors are a problem at path "" naming the line)."""
    data, problems = _read_yaml(Path(path))
    if problems:
        return None, problems
    return validate_definition(data, known_departments, known_items)


def load_directory(
    path: Path,
    known_departments: set[str] | None = None,
    known_items: dict[str, ItemDefinition] | None = None,
) -> tuple[list[ItemDefinition], dict[str, list[Problem]]]:
    """Load every ``*.yaml`` / ``*.yml`` of a folder.

    Single and joint items are loaded first (by file name), bundles last so that they are
    checked against the items loaded before them (plus `known_items`, e.g. from the database).
    Returns the valid definitions and, keyed by file name, the problems of each file that has any.
    Two files with the same code and version are reported as ``duplicate_code`` on the later one;
    of several versions of one code, the highest is the one bundles see.
    """
    folder = Path(path)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")], key=lambda p: p.name)
    parsed: list[tuple[Path, dict]] = []
    problems: dict[str, list[Problem]] = {}
    for file in files:
        data, errs = _read_yaml(file)
        if errs:
            problems[file.name] = errs
        else:
            parsed.append((file, data))
    first = [(f, d) for f, d in parsed if d.get("kind") != ItemKind.BUNDLE.value]
    last = [(f, d) for f, d in parsed if d.get("kind") == ItemKind.BUNDLE.value]

    items: dict[str, ItemDefinition] = dict(known_items or {})
    seen: set[tuple[str, int]] = set()
    loaded: list[ItemDefinition] = []
    for file, data in [*first, *last]:
        definition, errs = validate_definition(data, known_departments, items)
        if definition is not None and (definition.code, definition.version) in seen:
            errs = [
                Problem(
                    "code",
                    "duplicate_code",
                    f"事项 {definition.code!r} 第 {definition.version} 版已在其他文件中定义",
                    f"item {definition.code!r} version {definition.version} is already defined by another file",
                )
            ]
            definition = None
        if errs:
            problems[file.name] = errs
            continue
        assert definition is not None
        seen.add((definition.code, definition.version))
        current = items.get(definition.code)
        if current is None or current.version <= definition.version:
            items[definition.code] = definition
        loaded.append(definition)
    return loaded, problems
