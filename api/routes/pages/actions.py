"""The fields each action opens on the case page, and turning a posted form into the action's
comment and data (the same shapes as `POST /api/cases/{id}/actions`). Actions not listed here act
at once from their button."""
from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from sqlmodel import select

from api.uploads import Form, store_file
from banjian.action_data import MAX_COMMENT
from banjian.contracts import Actor
from banjian.db import Task, User
from banjian.errors import DomainError
from banjian.items.schema import ItemDefinition

COMMENT = {"name": "comment", "kind": "textarea", "label": "意见或理由", "required": True}
OPTIONAL_COMMENT = {**COMMENT, "required": False, "label": "说明（可选）"}
USER = {"name": "username", "kind": "select", "label": "本部门人员", "required": True}

ACTION_FIELDS: dict[str, list[dict[str, Any]]] = {
    "request_supplement": [{"name": "missing", "kind": "checkboxes", "label": "需补正的材料（一次性告知全部）",
                            "required": True}, OPTIONAL_COMMENT],
    "refuse_acceptance": [{**COMMENT, "label": "不予受理的理由", "hint": "将告知申请人，并说明其依法享有申请行政复议或提起行政诉讼的权利"}],
    "submit_supplement": [{"name": "materials", "kind": "files", "label": "补正材料", "required": True}],
    "return": [{**COMMENT, "label": "退回理由"}],
    "pre_review_return": [{"name": "missing", "kind": "checkboxes", "label": "需补正的材料（可选）", "required": False},
                          {**COMMENT, "label": "需补正的内容"}],
    "pre_review_resubmit": [{"name": "materials", "kind": "files", "label": "修改后的材料", "required": False}],
    "deny": [{**COMMENT, "label": "不予许可的理由"}],
    "request_extension": [{**COMMENT, "label": "延期理由"}],
    "suspend": [{**COMMENT, "label": "中止理由"}],
    "start_special_procedure": [{"name": "kind", "kind": "select", "label": "特别程序", "required": True},
                                {"name": "expected_days", "kind": "input", "label": "预计时长（天）", "required": False,
                                 "hint": "不填则按事项规定的预计时长"}, OPTIONAL_COMMENT],
    "deliver": [{"name": "method", "kind": "radios", "label": "送达方式", "required": True,
                 "choices": [{"value": "electronic", "text": "电子送达"}, {"value": "courier", "text": "邮寄"},
                             {"value": "window", "text": "窗口领取"}]},
                {"name": "tracking_no", "kind": "input", "label": "快递单号", "required": False, "hint": "邮寄时必填"}],
    "withdraw": [{**OPTIONAL_COMMENT, "label": "撤回原因（可选）",
                  "hint": "撤回后本申请终止办理，不能恢复；如仍需办理，须重新申请。"}],
    # the reply date is named as the history and the inbox name it; without one, 5 working days (as the API)
    "urge": [{"name": "reply_by", "kind": "date", "label": "回复期限", "required": False,
              "hint": "不填则为 5 个工作日后"}, {**COMMENT, "label": "督办意见"}],
    "reply_urge": [{**COMMENT, "label": "答复"}],
    "rate": [{"name": "level", "kind": "radios", "label": "评价等级", "required": True,
              "choices": [{"value": str(n), "text": t} for n, t in
                          ((5, "非常满意"), (4, "满意"), (3, "基本满意"), (2, "不满意"), (1, "非常不满意"))]},
             {**OPTIONAL_COMMENT, "label": "评价意见（可选）"}],
    "assign": [USER], "delegate": [USER], "copy_to": [USER],
    "transfer": [USER, {**COMMENT, "label": "转办理由"}],
    "add_signer": [USER, {"name": "mode", "kind": "radios", "label": "会签方式", "required": True,
                          "choices": [{"value": "all", "text": "全部同意"}, {"value": "any", "text": "任一同意"}]},
                   {"name": "position", "kind": "radios", "label": "加签位置", "required": True,
                    "choices": [{"value": "before", "text": "前加签"}, {"value": "after", "text": "后加签"}]}],
    # a joint case's supplement (design 9): a department asks the lead unit, the lead unit tells the applicant once
    "ask_supplement": [{"name": "missing", "kind": "checkboxes", "label": "需申请人补正的材料",
                        "required": True, "hint": "由牵头部门汇总各部门需求后一次性告知申请人；提请后本部门办理时限暂停计时"},
                       {**COMMENT, "label": "补正意见（缺少或不符合要求的情况）"}],
    "notify_supplement": [{"name": "missing", "kind": "checkboxes", "label": "另需补正的材料（可选）", "required": False,
                           "hint": "各部门提请补正的材料已全部列入告知，无需重复勾选"},
                          {**OPTIONAL_COMMENT, "label": "告知说明（可选）"}],
    "return_to": [{"name": "step_id", "kind": "select", "label": "退回至", "required": True}, {**COMMENT, "label": "退回理由"}],
}

#: in a sub-case (a department's part of a joint case), 准予许可 records the department's opinion:
#: 同意, or with the box ticked 同意并报上级 (`data.referral: true`)
SUB_CASE_FIELDS: dict[str, list[dict[str, Any]]] = {
    "approve": [{"name": "referral", "kind": "checkbox", "label": "同意并报上级", "required": False,
                 "hint": "本部门同意，但须报请上级机关审批的，请勾选"}, {**OPTIONAL_COMMENT, "label": "意见（可选）"}],
}


def fields_of(case: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The fields each action opens on this case's page."""
    return {**ACTION_FIELDS, **SUB_CASE_FIELDS} if case.get("parent_id") else ACTION_FIELDS


#: actions that take the task over: only a colleague holding a role the case waits for now (as the API checks)
TAKING_OVER = ("assign", "transfer")


def _colleagues(request: Request, department: str, action: str | None = None, case_id: str | None = None,
                me: str | None = None) -> list[dict[str, str]]:
    """The department's active users an action may name: never the caller (handing a task, a copy or a
    signature to oneself does nothing), and for `assign`/`transfer` only those holding a role the case
    waits for (the roles of its task row), so the list offers no one the action would refuse."""
    with request.app.state.sessions() as session:
        users = session.exec(select(User).where(User.department == department, User.active == True)  # noqa: E712
                             .order_by(User.username)).all()
        wanted: set[str] | None = None
        if action in TAKING_OVER and case_id is not None:
            task = session.get(Task, case_id)
            wanted = set(task.roles) if task is not None else None
        return [{"value": u.username, "text": f"{u.display_name or u.username}（{u.username}）"} for u in users
                if u.username != me and (wanted is None or wanted & set(u.roles or []))]


def field_params(action: str, item: ItemDefinition, case: dict[str, Any], values: dict[str, Any],
                 errors: dict[str, str], request: Request | None = None) -> list[dict[str, Any]]:
    """The macro parameters of each field `action` opens."""
    out = []
    for spec in fields_of(case)[action]:
        p = {**spec, "id": f"{action}-{spec['name']}", "value": values.get(spec["name"]),
             "error": errors.get(spec["name"])}
        if spec["name"] == "missing":
            p["choices"] = [m.name for m in item.materials]
            v = values.get("missing")
            p["value"] = v if isinstance(v, list) else [v] if v else []
        elif spec["name"] == "materials":
            p["files"] = [{"id": f"supplement-{i}", "name": f"supplement_{i}", "label": n,
                           "error": errors.get(f"supplement_{i}"), "required": spec["required"],
                           "hint": "PDF、JPG、PNG 或 OFD，不超过 20 MiB" + ("" if spec["required"] else "；无需修改的可不上传")}
                          for i, n in enumerate(material_names(action, item, case))]
        elif spec["name"] == "kind":
            p["choices"] = [{"value": s.kind, "text": f"{s.name}（预计 {s.expected_days} 天，"
                                                      f"{'计入' if s.counts_toward_limit else '不计入'}办理时限）"}
                            for s in item.special_procedures]
        elif spec["name"] == "step_id":
            to_applicant = [] if case.get("parent_id") else [{"value": "applicant", "text": "申请人"}]
            p["choices"] = to_applicant + [{"value": s.id, "text": s.name} for s in earlier_steps(item, case)]
        elif spec["name"] == "reply_by":
            p["kind"], p["type"] = "input", "date"
        elif spec["name"] == "comment":  # the limit said before typing (a pasted text is refused, never cut)
            p["hint"] = f"{spec['hint']}（至多 {MAX_COMMENT} 字）" if spec.get("hint") else f"至多 {MAX_COMMENT} 字"
        out.append(p)
    return out


def material_names(action: str, item: ItemDefinition, case: dict[str, Any]) -> list[str]:
    """The materials a files field offers: those the supplement notice asked for; for a resubmitted
    pre-review those the window returned, else every material of the item (each optional)."""
    if action == "pre_review_resubmit":
        return list((case.get("pre_review") or {}).get("missing") or []) or [m.name for m in item.materials]
    return list(case.get("missing_materials") or [])


def earlier_steps(item: ItemDefinition, case: dict[str, Any]) -> list[Any]:
    """The steps before the case's current one: where `return_to` may send it (besides the applicant)."""
    current = (case.get("current_step") or {}).get("id")
    ids = [s.id for s in item.steps]
    return list(item.steps[:ids.index(current)]) if current in ids else []


def add_user_choices(request: Request, fields: list[dict[str, Any]], department: str, action: str | None = None,
                     case_id: str | None = None, me: str | None = None) -> None:
    """The colleagues a `username` field offers (see `_colleagues`)."""
    for f in fields:
        if f["name"] == "username":
            f["choices"] = _colleagues(request, department, action, case_id, me)
            if not f["choices"] and not f.get("error"):
                f["hint"] = "本部门暂无可选人员"


def build_action(request: Request, actor: Actor, action: str, item: ItemDefinition, case: dict[str, Any],
                 form: Form) -> tuple[str | None, dict[str, Any], dict[str, str]]:
    """(comment, data, errors beside fields) for a posted action form."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    comment = form.first("comment").strip() or None
    specs = {s["name"]: s for s in fields_of(case).get(action, [])}
    if "comment" in specs and specs["comment"]["required"] and not comment:
        errors["comment"] = f"请填写{specs['comment']['label']}"
    elif comment and len(comment) > MAX_COMMENT:
        if "comment" in specs:  # refused beside the field, the whole text kept in it (it was cut unsaid)
            label = specs["comment"]["label"].removesuffix("（可选）")
            errors["comment"] = f"{label}不能超过 {MAX_COMMENT} 字（现为 {len(comment)} 字），请删减后再提交"
        comment = comment[:MAX_COMMENT]
    for name, spec in specs.items():
        if name == "comment":
            continue
        if name == "missing":
            chosen = [m for m in form.fields.get("missing", []) if item.material(m) is not None]
            if not chosen and spec["required"]:
                errors[name] = "请选择需要补正的材料"
            data[name] = chosen
        elif name == "materials":
            data[name] = _supplement_files(request, actor, material_names(action, item, case), form, errors,
                                           required=spec["required"])
        elif spec["kind"] == "checkbox":
            if form.first(name) == "true":
                data[name] = True
        else:
            value = form.first(name).strip()[:200]
            if not value:
                if spec["required"]:
                    errors[name] = f"请填写{spec['label']}" if spec["kind"] in ("input", "date") else f"请选择{spec['label']}"
                continue
            if name in ("expected_days", "level"):
                if not (value.isascii() and value.isdigit()) or int(value) > 3650:  # not "²"
                    errors[name] = f"{spec['label']}应为整数"
                    continue
                data[name] = int(value)
            elif name == "reply_by":
                try:
                    data[name] = date.fromisoformat(value).isoformat()
                except ValueError:
                    errors[name] = "请填写日期，如 2026-12-31"
            else:
                data[name] = value
    for p in form.files:
        p.discard()
    return comment, data, errors


def _supplement_files(request: Request, actor: Actor, names: list[str], form: Form,
                      errors: dict[str, str], required: bool = True) -> list[dict[str, str]]:
    parts = {p.field: p for p in form.files}
    out = []
    with request.app.state.sessions() as session:
        for i, name in enumerate(names):
            part = parts.get(f"supplement_{i}")
            if part is None:
                if required:
                    errors[f"supplement_{i}"] = f"请上传{name}"
                continue
            try:
                row = store_file(session, request.app.state.files, part, actor.username)
                out.append({"name": name, "file_id": row.file_id})
            except DomainError as e:
                errors[f"supplement_{i}"] = (f"{name}文件过大：不能超过 20 MiB" if e.status == 413 else
                                             f"{name}：{e.message}")
    if any(k.startswith("supplement_") for k in errors):
        errors.setdefault("materials", "请上传全部补正材料")
    return out
