"""The applicant's message centre over JSON (`/api/me/notices`, `banjian/notices.py`): what happened
on their own cases that needs them or tells them an outcome, with the read state kept per user."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SessionDep
from banjian import notices
from banjian.contracts import Actor
from banjian.enums import Role

router = APIRouter(tags=["notices"])
MAX_NOTICE_OFFSET = 2000


def _owner(actor: Actor) -> str | None:
    """Only an applicant has cases of their own (the API's visibility rule); anyone else has none."""
    return actor.username if actor.has(Role.APPLICANT) else None


@router.get("/api/me/notices")
def my_notices(actor: CurrentUser, session: SessionDep,
               unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
               limit: Annotated[int, Query(ge=1, le=100, description="1-100")] = 20,
               offset: Annotated[int, Query(ge=0, le=MAX_NOTICE_OFFSET,
                                            description=f"0-{MAX_NOTICE_OFFSET}")] = 0) -> dict:
    """The caller's notices, newest first: `{"items", "total", "unread"}`; reading them marks nothing."""
    owner = _owner(actor)
    if owner is None:
        return {"items": [], "total": 0, "unread": 0}
    found = notices.listing(session, owner, unread, limit, offset)
    # every unread one, never the header's cap (`unread_count`, shown as 99+)
    return {"items": notices.as_json(found), "total": found["total"],
            "unread": found["total"] if unread is True else notices.unread_total(session, owner)}


@router.post("/api/me/notices/read")
def mark_notices_read(actor: CurrentUser, session: SessionDep) -> dict:
    """Mark every notice listed now as read (as opening the notices page does) → `{"unread": 0}` unless
    one was recorded meanwhile."""
    owner = _owner(actor)
    if owner is None:
        return {"unread": 0}
    notices.mark_all_read(session, owner)
    return {"unread": notices.unread_total(session, owner)}
