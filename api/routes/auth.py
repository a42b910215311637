"""Login (OAuth2 password flow) and the caller's own profile."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, SessionDep, SettingsDep
from banjian.auth import verify_password
from banjian.db import User
from banjian.errors import Unauthorised
from banjian.logins import LoginGuard

router = APIRouter(prefix="/api", tags=["identity"])


@router.post("/auth/token")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep) -> dict:
    """Exchange a username and password for a bearer token. Failed attempts are throttled per user
    and per address (429 with Retry-After); a user locked after repeated failures gets 429 whatever
    the password (banjian/logins.py)."""
    guard: LoginGuard = request.app.state.logins
    guard.check_lock(form.username)
    user = session.get(User, form.username)
    if user is None or not user.active or not verify_password(user.password_hash, form.password):
        guard.failed(form.username, request.client.host if request.client else "unknown")
        raise Unauthorised("bad_credentials", "用户名或密码错误", "wrong username or password", field="password")
    return {"access_token": request.app.state.tokens.issue(user.username), "token_type": "bearer",
            "expires_in": settings.token_ttl_seconds}


@router.get("/me")
def me(actor: CurrentUser, session: SessionDep) -> dict:
    """Who the caller is: roles, department and identity."""
    user = session.get(User, actor.username)
    return {"username": user.username, "display_name": user.display_name, "roles": user.roles,
            "department": user.department, "id_kind": user.id_kind, "id_number": user.id_number}
