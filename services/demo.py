"""Demo data for `banjian up --demo`: users for every department and a few cases in various states.

Idempotent: users that exist are left as they are, and demo cases carry idempotency keys, so
running it again adds nothing twice and loses nothing.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from fastapi import FastAPI

from banjian import form_values
from banjian.auth import actor_of, add_user
from banjian.db import User
from banjian.enums import IdKind, ItemKind, Role
from banjian.errors import Invalid
from banjian.ids import make_citizen_id, make_credit_code
from banjian.items.schema import ItemDefinition
from banjian.seed import DEPARTMENTS
from banjian.settings import Settings

log = logging.getLogger(__name__)
PASSWORD = "banjian-demo"
STAFF = [Role.CLERK, Role.HANDLER, Role.APPROVER, Role.HEAD, Role.LEAD]
ROLE_NAMES = {Role.CLERK: "窗口", Role.HANDLER: "承办人", Role.APPROVER: "审批人", Role.HEAD: "负责人",
              Role.LEAD: "牵头协调人"}
CITIZEN_ID = make_citizen_id("330106", date(1988, 6, 18), 17)
CITIZEN2_ID = make_citizen_id("330102", date(1995, 3, 2), 42)
COMPANY_ID = make_credit_code("91330106MA2B3C4D")


def demo_users() -> list[dict[str, Any]]:
    """Every demo user (all with the password PASSWORD)."""
    users: list[dict[str, Any]] = [
        {"username": "zhangsan", "roles": ["applicant"], "name": "张三", "id_number": CITIZEN_ID},
        {"username": "lisi", "roles": ["applicant"], "name": "李四", "id_number": CITIZEN2_ID},
        {"username": "xinghe", "roles": ["applicant"], "name": "杭州星河餐饮管理有限公司", "id_number": COMPANY_ID},
        {"username": "supervisor", "roles": ["supervisor"], "name": "电子监察室"},
        {"username": "auditor", "roles": ["auditor"], "name": "审计员"},
        {"username": "admin", "roles": ["admin"], "name": "系统管理员"},
    ]
    for code, dept_name, _ in DEPARTMENTS:
        for role in STAFF:
            users.append({"username": f"{code}_{role.value}", "roles": [role.value], "department": code,
                          "name": f"{dept_name}{ROLE_NAMES[role]}"})
    return users


def ensure_users(sessions) -> None:
    for u in demo_users():
        with sessions() as session:
            exists = session.get(User, u["username"]) is not None
        if not exists:
            add_user(sessions, u["username"], PASSWORD, u["roles"], u.get("department"), u.get("id_number"),
                     u["name"], password_policy=False)  # the demo's published password (never in production)


def sample_form(item: ItemDefinition) -> dict[str, Any]:
    """Every required field, filled with a value its bounds accept (100 for a number they allow)."""
    out: dict[str, Any] = {}
    day = form_values.today()
    for f in item.form:
        if not f.required:
            continue
        if f.type == "number" and form_values.refusal(f, 100, day) is None:
            out[f.name] = 100
        else:
            out[f.name] = form_values.sample_value(f, day, text=f"示例{f.label}")
    return out


def application(item: ItemDefinition, who: str) -> dict[str, Any]:
    org = IdKind.CITIZEN not in item.service_object
    applicant = ({"kind": "organisation", "id_number": COMPANY_ID, "name": "杭州星河餐饮管理有限公司"} if org
                 else {"kind": "citizen", "id_number": CITIZEN_ID if who == "zhangsan" else CITIZEN2_ID,
                       "name": "张三" if who == "zhangsan" else "李四"})
    return {"item_code": item.code, "applicant": applicant, "form": sample_form(item),
            "materials": [{"name": m.name} for m in item.materials if m.required], "channel": "web",
            "idempotency_key": f"demo-{item.code}-{who}"}


async def submit_once(cases: Any, who: Any, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Submit a demo application, or find the case its key filed on an earlier run: the sample form
    follows today's date (`sample_form`), so a later day's run sends another form under the same key,
    which the API refuses (`idempotency_key_reused`) rather than answer with the earlier case."""
    try:
        return await cases.submit(who, body)
    except Invalid as e:
        if e.code != "idempotency_key_reused":
            raise
        return await asyncio.to_thread(cases.get, who, e.extra["case_id"]), False


async def load_demo(app: FastAPI, settings: Settings) -> None:
    """Users, then one case per single item; some are taken further along."""
    state = app.state
    sessions = state.sessions
    ensure_users(sessions)
    cases = state.cases

    def actor(username: str):
        with sessions() as session:
            return actor_of(session.get(User, username))

    for n, item in enumerate(i for i in state.catalog.all_current() if i.kind == ItemKind.SINGLE):
        who = "xinghe" if IdKind.CITIZEN not in item.service_object else ("zhangsan" if n % 2 == 0 else "lisi")
        try:
            case, created = await submit_once(cases, actor(who), application(item, who))
        except Exception as e:  # a demo item that cannot take this sample application is skipped
            log.warning("demo case for %s not created: %s", item.code, e)
            continue
        if not created:
            continue
        if n % 3 == 1:
            await _take_to(cases, actor, case["id"], item, conclude=False)
        elif n % 3 == 2:
            await _take_to(cases, actor, case["id"], item, conclude=True)
    await _licence_reuse(cases, actor, state.catalog)
    await _awaiting_payment(cases, actor, state.catalog)
    log.info("demo data ready")


async def _awaiting_payment(cases, actor, catalog) -> None:
    """李四's driving-licence replacement, approved: it waits for the 10 yuan fee, which he pays from
    the case page (the sandbox payment provider)."""
    try:
        item = catalog.current("driving-licence-replacement")
    except Exception:  # a catalogue without the item has no story to tell
        return
    body = {**application(item, "lisi"), "idempotency_key": "demo-awaiting-payment"}
    case, created = await submit_once(cases, actor("lisi"), body)
    if created:
        await _take_to(cases, actor, case["id"], item, conclude=True)


async def _licence_reuse(cases, actor, catalog) -> None:
    """张三 registers an individual business (its e-licence 营业执照 is issued on approval), then applies
    for a food business licence without the 营业执照 material: it is attached from the e-licence."""
    try:
        registration = catalog.current("individual-business-registration")
        food = catalog.current("food-business-licence")
    except Exception:  # a catalogue without these items has no story to tell
        return
    body = {**application(registration, "zhangsan"), "idempotency_key": "demo-licence-registration"}
    case, created = await submit_once(cases, actor("zhangsan"), body)
    if created:
        await _take_to(cases, actor, case["id"], registration, conclude=True)
    body = application(food, "zhangsan")
    body.update(idempotency_key="demo-licence-reuse", materials=[
        {"name": m.name} for m in food.materials if m.required and m.licence_type != "营业执照"])
    await submit_once(cases, actor("zhangsan"), body)


async def _take_to(cases, actor, case_id: str, item: ItemDefinition, conclude: bool) -> None:
    """Accept a demo case and, if asked, pass its steps, approve and deliver it electronically."""
    dept = item.department
    await cases.act(actor(f"{dept}_clerk"), case_id, "accept", None, {})
    if not conclude:
        return
    for step in item.steps:
        if step.kind == "review":
            await cases.act(actor(f"{dept}_{step.role.value}"), case_id, "pass", "材料齐全，符合要求", {})
    decide = item.decide_step()
    approved = await cases.act(actor(f"{dept}_{decide.role.value}"), case_id, "approve", "准予许可", {})
    if approved["status"] == "awaiting_payment":
        return  # an item that charges: delivered once the applicant has paid (online payment)
    await cases.act(actor(f"{dept}_clerk"), case_id, "deliver", None, {"method": "electronic"})
