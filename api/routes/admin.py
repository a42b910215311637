"""Administration over HTTP: lifting a login lock (admin), and the admin log (auditors, admins)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.bounds import Offset
from api.deps import CurrentUser, SessionDep, require
from banjian import audit
from banjian.adminlog import read_admin_log
from banjian.db import User
from banjian.enums import Role
from banjian.errors import NotFound
from banjian.logins import LoginGuard

router = APIRouter(prefix="/api", tags=["admin"])


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/admin/users/{username}/unlock")
def unlock(username: Annotated[str, Path(max_length=200)], request: Request, actor: CurrentUser,
           session: SessionDep) -> dict:
    """Lift a user's login lock and forget their failed attempts (admin); recorded in the admin log."""
    require(actor, Role.ADMIN)
    if session.get(User, username) is None:
        raise NotFound("unknown_user", f"用户 {username} 不存在", f"no user {username}", "username")
    guard: LoginGuard = request.app.state.logins
    return {"username": username, "was_locked": guard.lift(username, actor.username, _address(request))}


@router.get("/audit/admin-log")
def admin_log(request: Request, actor: CurrentUser, session: SessionDep,
              action: Annotated[str | None, Query(max_length=64, description="a prefix: user., login., …")] = None,
              user: Annotated[str | None, Query(alias="actor", max_length=64)] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100,
              offset: Offset = 0) -> dict:
    """The admin log, newest first (auditors and admins); an auditor's read is itself logged."""
    require(actor, Role.AUDITOR, Role.ADMIN)
    out = read_admin_log(session, action, user, limit, offset)
    audit.log_read(request.app.state.sessions, actor, None, "admin-log")
    return out

