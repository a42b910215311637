"""Cross-field rules of the flow: the steps of a single item, a joint item's parent flow and
participants (并联审批), a bundle's members (一件事), and who can perform each step.

Conventions:

* A flow is an ordered list of steps ending with one decide step by the approver; a step after
  the decide step is unreachable (``unreachable_step``): the case is decided before it.
* ``role_without_staff``: a step names a role that no active user of the department performing
  it holds (for a participant's steps: the participant's department). Only judged when the
  caller passes the departments' staff (`StaffRoles`: the API and drafts do; loading the shipped
  definitions at start-up does not) and only for a department that has at least one staff user:
  a department without staff is still being set up.
"""

from __future__ import annotations

from collections.abc import Mapping

from banjian.enums import ItemKind, LimitUnit, Role
from banjian.items.form_rules import within_member
from banjian.items.problems import Collector, Namer, by_code, exceeds, fmt_en, fmt_zh
from banjian.items.schema import ItemDefinition, Limit, Step
from banjian.labels import roles_zh

#: Department code → the roles its active users hold.
StaffRoles = Mapping[str, set[str]]

#: Joint / centralised handling may take at most 45 working days (行政许可法 第四十二条第二款).
JOINT_STATUTORY_MAX = Limit(value=45, unit=LimitUnit.WORKING_DAYS)

#: Roles that may perform a review step (staff of the implementing department).
REVIEW_ROLES = frozenset({Role.CLERK, Role.HANDLER, Role.APPROVER, Role.HEAD})
#: The parent flow of a joint item may also have steps of the lead-unit coordinator.
JOINT_PARENT_REVIEW_ROLES = REVIEW_ROLES | {Role.LEAD}
#: The role that takes the decision (决定).
DECIDE_ROLE = Role.APPROVER


def _check_steps(
    out: Collector,
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
        # the case is decided at the decide step: a step after it is never reached
        for i in range(decide_at[0] + 1, len(steps)):
            out.add(
                f"{prefix}[{i}]",
                "unreachable_step",
                f"环节 {steps[i].id!r} 位于决定环节之后，永远不会被办理",
                f"step {steps[i].id!r} comes after the decide step and is never reached",
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
        if cap is not None and step.limit is not None and exceeds(step.limit, cap):
            out.add(
                f"{here}.limit",
                "step_limit_exceeds",
                f"环节时限 {fmt_zh(step.limit)} 超过{cap_zh} {fmt_zh(cap)}",
                f"step limit of {fmt_en(step.limit)} exceeds the {cap_en} of {fmt_en(cap)}",
            )



def check_kind_specific(
    out: Collector, d: ItemDefinition, known_items: Mapping[str, ItemDefinition] | None, name: Namer = by_code
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
        _check_joint(out, d, name)
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


def _check_joint(out: Collector, d: ItemDefinition, name: Namer) -> None:
    if exceeds(d.statutory_limit, JOINT_STATUTORY_MAX):
        out.add(
            "statutory_limit",
            "joint_statutory_exceeds_max",
            f"并联审批的法定办结时限不得超过 45 个工作日（当前为 {fmt_zh(d.statutory_limit)}）",
            f"a joint item's statutory limit may not exceed 45 working days (is {fmt_en(d.statutory_limit)})",
        )
    if len(d.participants) < 2:
        out.add(
            "participants",
            "too_few_participants",
            f"并联审批至少需要两个并联部门（当前为 {len(d.participants)} 个）",
            f"a joint item needs at least two participants (has {len(d.participants)})",
        )
    if d.participants and not any(p.required for p in d.participants):
        out.add(
            "participants",
            "no_required_participant",
            "并联审批至少需要一个必需部门（required: true）：否则任何部门不同意都不影响决定",
            "a joint item needs at least one required participant (required: true): otherwise no department's "
            "disagreement could stop the decision",
        )
    seen: set[str] = set()
    for i, part in enumerate(d.participants):
        here = f"participants[{i}]"
        if part.department in seen:
            out.add(
                f"{here}.department",
                "duplicate_participant",
                f"并联部门“{name(part.department)}”重复",
                f"participant department {name(part.department)} appears twice",
            )
        seen.add(part.department)
        if exceeds(part.sub_limit, d.promised_limit):
            out.add(
                f"{here}.sub_limit",
                "sub_limit_exceeds_overall",
                f"并联部门“{name(part.department)}”的办理时限 {fmt_zh(part.sub_limit)} 超过事项总承诺时限 "
                f"{fmt_zh(d.promised_limit)}",
                f"sub-limit exceeds the overall limit: {name(part.department)} has {fmt_en(part.sub_limit)}, "
                f"the item promises {fmt_en(d.promised_limit)}",
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
    out: Collector, d: ItemDefinition, known_items: Mapping[str, ItemDefinition] | None
) -> None:
    if not d.members:
        out.add(
            "members",
            "members_empty",
            "“一件事”至少需要一个成员事项",
            "a bundle needs at least one member item",
        )
    elif len(set(d.members)) < 2:
        out.add(
            "members",
            "members_too_few",
            f"“一件事”至少需要两个不同的成员事项（现有 {len(set(d.members))} 个）：只有一个成员时请直接申请该事项",
            f"a bundle needs at least two different member items (has {len(set(d.members))}); "
            "with one member, apply for that item itself",
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
        if member.status != "active":
            out.add(here, "member_inactive",
                    f"成员事项 {code!r} 当前不受理申请（status: {member.status}），“一件事”无法办理",
                    f"member {code!r} does not take applications (status: {member.status}): nobody could apply")
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
            elif not within_member(mine, fld):
                out.add(
                    f"form[{j}]",
                    "bundle_form_field_bounds",
                    f"字段 {fld.name!r} 的取值范围宽于成员事项 {code!r} 中的同名字段：须至少同样严格",
                    f"field {fld.name!r} accepts values the same field of member {code!r} refuses: its bounds "
                    "must be at least as strict",
                )
        if exceeds(member.statutory_limit, d.statutory_limit):
            out.add(
                "statutory_limit",
                "bundle_statutory_below_member",
                f"“一件事”的法定办结时限 {fmt_zh(d.statutory_limit)} 短于成员事项 {code!r} 的 {fmt_zh(member.statutory_limit)}",
                f"the bundle's statutory limit of {fmt_en(d.statutory_limit)} is shorter than member {code!r}'s "
                f"{fmt_en(member.statutory_limit)}",
            )



def check_staff(out: Collector, d: ItemDefinition, staff: StaffRoles | None, name: Namer = by_code) -> None:
    """Every step's role is held by a user of the department that performs it (see the module doc)."""
    if staff is None:
        return

    def check(steps: list[Step], prefix: str, department: str) -> None:
        held = staff.get(department)
        if not held:
            return
        for i, step in enumerate(steps):
            if step.role.value not in held:
                out.add(
                    f"{prefix}[{i}].role",
                    "role_without_staff",
                    f"“{name(department)}”没有任何人员具有环节“{step.name}”所需的角色“{roles_zh([step.role.value])}”",
                    f"no user of {name(department)} holds the role {step.role.value!r} of step {step.id!r}",
                )

    check(d.steps, "steps", d.department)
    for i, part in enumerate(d.participants):
        check(part.steps, f"participants[{i}].steps", part.department)
