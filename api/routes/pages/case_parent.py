"""A sub-case page's link to its joint case or bundle (主件) and how the sub-case is named."""
from __future__ import annotations

from typing import Any

from banjian.contracts import Actor
from banjian.db import Case as CaseRow
from banjian.errors import DomainError


def parent_of(cases: Any, actor: Actor, case: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether the caller may open a sub-case's joint case (a participating department may not: the
    link would lead to a 404), and the parent's kind (`joint` or `bundle`: how the sub-case is named)."""
    if not case.get("parent_id"):
        return False, None
    with cases.sessions() as session:
        parent = session.get(CaseRow, case["parent_id"])
        kind = parent.kind if parent is not None else None
        try:
            cases.row(session, actor, case["parent_id"])
        except DomainError:
            return False, kind
    return True, kind
