"""Dependencies of the routes: the services built at start-up, the database session, the caller.

They are coroutines: FastAPI runs a plain `def` dependency in a worker thread, a hop that cost
more than the work itself here. None of them waits on the network: a Session does no I/O until
a route uses it (routes that do are plain `def`, run in the thread pool), and the caller's user
row is read only when the short cache misses (a primary-key read, in a worker thread).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from api.service import CaseService
from banjian.auth import Tokens, actor_of
from banjian.catalog import Catalog
from banjian.contracts import Actor
from banjian.db import User
from banjian.enums import Role
from banjian.errors import Forbidden, Unauthorised
from banjian.labels import roles_zh
from banjian.service_accounts import TOKEN_KIND
from banjian.service_accounts import load_actor as load_service_actor
from banjian.sessions import SessionRules, end_session, rules_for
from banjian.settings import Settings

ACTOR_TTL_S = 5.0
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    with request.app.state.sessions() as session:
        yield session


async def get_cases(request: Request) -> CaseService:
    return request.app.state.cases


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def current_user(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    token = token or request.cookies.get("banjian_token")
    if not token:
        raise Unauthorised("not_authenticated", "请先登录", "not logged in")
    tokens: Tokens = request.app.state.tokens
    username, kind, key, issued_at = tokens.verify(token)
    if kind == TOKEN_KIND:
        return await _service_actor(request, username, key)
    actor, rules = await _cached_user(request, username)
    refusal = rules.refusal(token, issued_at)
    if refusal is not None:
        raise Unauthorised("invalid_token", *refusal)
    return actor


async def _service_actor(request: Request, name: str, key: str | None) -> Actor:
    """A department system's service account (banjian/service_accounts.py), cached like users,
    under its credential generation: a token of an earlier one (rotated, revoked, re-added) is 401."""
    actor, _ = await _cached(request, f"{TOKEN_KIND}:{name}:{key or ''}",
                             lambda sessions, _: _no_rules(load_service_actor(sessions, name, key)),
                             ("系统账号凭据已更换、吊销或账号不存在，请重新获取令牌",
                              "the service account's credentials were rotated or revoked, or it was removed: "
                              "get a new token"))
    return actor


async def _cached_user(request: Request, username: str) -> tuple[Actor, SessionRules]:
    return await _cached(request, username, _load_user, ("用户不存在或已停用", "the user no longer exists"))


async def end_token(request: Request, token: str) -> None:
    """Log a user's token out: recorded in the read model (every API process refuses it within
    `ACTOR_TTL_S`, this one at once). An invalid or expired token needs nothing."""
    tokens: Tokens = request.app.state.tokens
    try:
        username, kind, _, _ = tokens.verify(token)
    except Unauthorised:
        return
    expiry = tokens.expiry(token)
    if kind is not None or expiry is None:
        return
    await asyncio.to_thread(end_session, request.app.state.sessions, token, username, expiry)
    request.app.state.actors.pop(username, None)


NO_RULES = SessionRules(None, frozenset())


def _no_rules(actor: Actor | None) -> tuple[Actor, SessionRules] | None:
    return None if actor is None else (actor, NO_RULES)


async def _cached(request: Request, key: str,
                  load: Callable[[Callable[[], Session], str], tuple[Actor, SessionRules] | None],
                  gone: tuple[str, str]) -> tuple[Actor, SessionRules]:
    """A caller's roles (and what ends their sessions early) are read at most every few seconds: a
    change reaches the API that quickly, and a page or inbox read costs no database round trip. A
    miss reads the rows in a worker thread (a busy pool must never block the event loop)."""
    known: dict[str, tuple[float, tuple[Actor, SessionRules]]] = request.app.state.actors
    now = time.monotonic()
    hit = known.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    found = await asyncio.to_thread(load, request.app.state.sessions, key)
    if found is None:
        known.pop(key, None)
        raise Unauthorised("invalid_token", gone[0], gone[1])
    known[key] = (now + ACTOR_TTL_S, found)
    return found


def _load_user(sessions: Callable[[], Session], username: str) -> tuple[Actor, SessionRules] | None:
    with sessions() as session:
        user = session.get(User, username)
        if user is None or not user.active:
            return None
        return actor_of(user), rules_for(session, username, user.sessions_from)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
CasesDep = Annotated[CaseService, Depends(get_cases)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
CurrentUser = Annotated[Actor, Depends(current_user)]


def require(actor: Actor, *roles: Role) -> None:
    """403 unless the caller has one of `roles`."""
    if not actor.has(*roles):
        raise Forbidden("forbidden_role", f"需要以下角色之一：{roles_zh(roles)}",
                        f"needs one of the roles: {', '.join(roles)}")


async def admin_user(actor: CurrentUser) -> Actor:
    """The caller, who must be an admin: a dependency, so that 403 comes before the body's 422."""
    require(actor, Role.ADMIN)
    return actor


AdminUser = Annotated[Actor, Depends(admin_user)]
