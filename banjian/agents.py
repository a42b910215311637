"""The agent (经办人 / 委托代理人): the person who fills the form or stands at the window for the
applicant — a company's staff member, or whoever a citizen entrusted. The applicant stays who applies
(and whose case it is); the agent is recorded beside them (`CaseInput.agent`, `CaseState.agent`).

This module owns the agent's rules (name, 公民身份号码 by GB 11643, an optional phone), how the agent
is shown where the applicant's own citizen id is masked (on paper), and which of an item's materials
an agent makes needed (a conditional 授权委托书: the page says so; the API does not refuse without
it, since whether the materials are adequate is the clerk's judgement, `request_supplement`)."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from banjian import phones
from banjian.contract_parts import Agent
from banjian.errors import Invalid
from banjian.ids import IdError, validate_id
from banjian.licences import mask_id

#: bounds of the agent's fields (also the API body's and the page's)
MAX_NAME = 50
MAX_PHONE = 20
_AUTHORITY_WORDS = ("委托", "授权")


def check_agent(given: dict[str, Any], applicant_id: str | None = None) -> Agent:
    """The agent in its canonical form, or `Invalid` naming the first broken field (`agent.name`,
    `agent.id_number`, `agent.phone`) and the rule. `applicant_id`: a citizen applicant's own number,
    which an agent's may not be (one does not act for oneself)."""
    values, problems = agent_problems(given, applicant_id)
    if problems:
        raise problems[0]
    return Agent(**values)


def agent_problems(given: dict[str, Any], applicant_id: str | None = None) \
        -> tuple[dict[str, Any], list[Invalid]]:
    """Every field's value in canonical form and every field's problem at once (the page shows each
    beside its input)."""
    values: dict[str, Any] = {}
    problems: list[Invalid] = []
    for name, check in (("name", _name), ("id_number", _id_number), ("phone", _phone)):
        try:
            values[name] = check(given.get(name), applicant_id)
        except Invalid as e:
            problems.append(e)
    return values, problems


def _name(value: Any, _applicant_id: str | None) -> str:
    name = " ".join(unicodedata.normalize("NFKC", str(value or "")).split())
    if not name:
        raise Invalid("agent_name_required", "请填写经办人姓名", "agent.name: the agent's name is required",
                      field="agent.name")
    if len(name) > MAX_NAME:
        raise Invalid("agent_name_too_long", f"经办人姓名不能超过 {MAX_NAME} 个字",
                      f"agent.name: at most {MAX_NAME} characters", field="agent.name")
    return name


def _id_number(value: Any, applicant_id: str | None) -> str:
    raw = "".join(str(value or "").split())
    if not raw:
        raise Invalid("agent_id_required", "请填写经办人公民身份号码",
                      "agent.id_number: the agent's citizen id number is required", field="agent.id_number")
    try:
        number = validate_id("citizen", raw)
    except IdError as e:
        raise Invalid(e.code, f"经办人{e.message}", f"agent.id_number: {e.message_en}",
                      field="agent.id_number") from None
    if applicant_id and number == applicant_id.upper():
        raise Invalid("agent_is_applicant", "经办人不能是申请人本人：本人办理的，无需填写经办人信息",
                      "agent.id_number: the agent cannot be the applicant themself; leave the agent out",
                      field="agent.id_number")
    return number


def _phone(value: Any, _applicant_id: str | None) -> str | None:
    phone = phones.normal(value) or None
    if phone is not None and (len(phone) > MAX_PHONE or not phones.is_phone(phone)):
        raise Invalid("invalid_agent_phone", f"经办人电话格式不正确：{phones.RULE_ZH}，不超过 {MAX_PHONE} 个字符",
                      f"agent.phone: {phones.RULE_EN}, at most {MAX_PHONE} characters", field="agent.phone")
    return phone


def masked(agent: dict[str, Any] | None) -> dict[str, str] | None:
    """The agent as printed: the name and the id number masked (as a citizen applicant's is on paper)."""
    if not agent:
        return None
    return {"name": agent.get("name") or "", "id_number": mask_id(agent.get("id_number") or ""),
            "phone": agent.get("phone") or ""}


def authority_materials(materials: Iterable[Any]) -> list[str]:
    """The names of an item's materials that filing through an agent makes needed: a material not
    always required whose condition (or name) speaks of entrusting (委托 / 授权), e.g.
    授权委托书及受托人身份证明 (condition 委托他人代为办理的)."""
    out = []
    for m in materials:
        text = f"{m.condition or ''}{m.name}" if not m.required else ""
        if any(w in text for w in _AUTHORITY_WORDS):
            out.append(m.name)
    return out
