"""The inbox `scope=mine` is filtered, paged and counted in SQL: the same tasks, in the same order,
as the former filter in Python over the department's tasks, for every role, on SQLite and PostgreSQL."""
from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import select

from banjian.contracts import Actor
from banjian.db import Task
from banjian.enums import Role

STORES = [pytest.param("stack", id="sqlite"), pytest.param("pg_stack", id="postgres", marks=pytest.mark.postgres)]
ROLE_SETS: list[list[str]] = [["handler"], ["approver"], ["clerk"], ["handler", "approver"], ["head"], ["lead"],
                              ["clerk", "head"], ["author"], []]
CLAIMS = [None, "me", "someone-else"]
STAFF_ROLES = [Role.CLERK, Role.HANDLER, Role.APPROVER, Role.HEAD, Role.LEAD, Role.SUPERVISOR, Role.AUDITOR,
               Role.ADMIN, Role.AUTHOR]


@pytest.fixture(scope="module", params=STORES)
def store(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def department(store):
    """Tasks of a department of their own: every role set, claimed or not, with and without a due date."""
    dept = f"inbox{uuid.uuid4().hex[:6]}"
    rows = []
    for n, (roles, claim) in enumerate(itertools.product(ROLE_SETS, CLAIMS)):
        rows.append(Task(case_id=f"{dept}-{n:03d}", department=dept, roles=roles, item_code="x", item_name="测试",
                         status="in_review", due=None if n % 4 == 0 else date(2026, 3, 1) + timedelta(days=n % 5),
                         claimed_by=claim))
    with store.sessions() as s:
        s.add_all(rows)
        s.commit()
    yield dept
    with store.sessions() as s:
        s.execute(delete(Task).where(Task.department == dept))  # type: ignore[arg-type]
        s.commit()


def before(store, actor: Actor) -> list[str]:
    """The former filter: every task of the department, claimed by nobody or by me, waiting for one
    of my roles, due first and undated last."""
    with store.sessions() as s:
        tasks = s.exec(select(Task).where(Task.department == actor.department)).all()
    mine = {r.value for r in actor.roles}
    keep = [t for t in tasks if t.claimed_by in (None, actor.username) and mine & set(t.roles)]
    keep.sort(key=lambda t: (t.due is None, t.due or date.min, t.case_id))
    return [t.case_id for t in keep]


def ids(page: dict[str, Any]) -> list[str]:
    return [t["case_id"] for t in page["items"]]


@pytest.mark.parametrize("roles", [[r] for r in STAFF_ROLES] + [[Role.HANDLER, Role.APPROVER], [Role.CLERK, Role.HEAD]],
                         ids=lambda rs: "+".join(r.value for r in rs))
def test_mine_in_sql_is_the_former_filter(store, department, roles):
    service = store.app.state.cases
    actor = Actor(username="me", roles=roles, department=department)
    expected = before(store, actor)
    assert expected or not {r.value for r in roles} & {r for rs in ROLE_SETS for r in rs}  # a real comparison
    page = service.tasks(actor, "mine", 100, 0)
    assert ids(page) == expected and page["total"] == len(expected)
    # the database pages: a middle page is the same slice
    page = service.tasks(actor, "mine", 3, 2)
    assert ids(page) == expected[2:5] and page["total"] == len(expected)


def test_department_scope_orders_undated_tasks_last(store, department):
    service = store.app.state.cases
    actor = Actor(username="me", roles=[Role.HANDLER], department=department)
    page = service.tasks(actor, "department", 100, 0)
    assert page["total"] == len(ROLE_SETS) * len(CLAIMS)
    dues = [t["due"] for t in page["items"]]
    dated = [d for d in dues if d is not None]
    assert dues == dated + [None] * (len(dues) - len(dated)) and dated == sorted(dated)
    others = service.tasks(actor, "claimed_by_others", 100, 0)
    assert {t["claimed_by"] for t in others["items"]} == {"someone-else"} and others["total"] == len(ROLE_SETS)
