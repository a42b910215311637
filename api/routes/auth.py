"""Login (OAuth2 password flow), department systems' client-credentials tokens, and the caller's
own profile."""
from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request, Response

from api.bodies import media_type_of
from api.deps import CurrentUser, SessionDep, SettingsDep
from banjian.auth import verify_password
from banjian.db import User
from banjian.errors import DomainError, Invalid, Unauthorised
from banjian.logins import LoginGuard
from banjian.nul_text import refuse_nul
from banjian.service_accounts import TOKEN_KIND, authenticate

router = APIRouter(prefix="/api", tags=["identity"])

FormText = Annotated[str | None, Form(max_length=512)]
#: RFC 6749 5.1: a token response is never stored by a cache
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _basic(request: Request) -> tuple[str, str] | None:
    """client id and secret from an `Authorization: Basic` header (RFC 6749 2.3.1), if any."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = raw.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


def _challenge(scheme: str | None) -> dict[str, str] | None:
    return {"WWW-Authenticate": f'{scheme} realm="banjian"'} if scheme else None


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _require_form(request: Request) -> None:
    """A token request is a form (RFC 6749 4.3.2, 4.4.2). A system that posted JSON was answered 422
    `missing_credentials` ("username and password are required") even for `client_credentials`:
    now a 415 that says what to send."""
    media_type = media_type_of(request)
    if media_type and media_type not in FORM_TYPES:
        raise DomainError("unsupported_media_type",
                          f"令牌请求须以表单提交，请求头 Content-Type 须为 application/x-www-form-urlencoded"
                          f"（实际为 {media_type}）",
                          "a token request is a form: send it with Content-Type: application/x-www-form-urlencoded "
                          f"(got {media_type})", field="Content-Type", status=415)


@router.post("/auth/token")
def token(request: Request, response: Response, session: SessionDep, settings: SettingsDep, grant_type: FormText = None,
          username: FormText = None, password: FormText = None, client_id: FormText = None,
          client_secret: FormText = None) -> dict:
    """Exchange a username and password (`grant_type=password` or none) or a service account's
    client id and secret (`grant_type=client_credentials`, as form fields or HTTP Basic) for a bearer
    token. Failed attempts are throttled per user or client and per address (429 with Retry-After);
    a user locked after repeated failures gets 429 whatever the password; a service account is never
    locked (banjian/logins.py). A client
    that sent HTTP Basic is answered a 401 with the `Basic` challenge (RFC 6749 5.2); no token
    answer may be cached (`Cache-Control: no-store`, RFC 6749 5.1)."""
    guard: LoginGuard = request.app.state.logins
    response.headers.update(NO_STORE)
    _require_form(request)
    refuse_nul({"username": username, "client_id": client_id})  # never a name; PostgreSQL refuses it in a lookup
    address = request.client.host if request.client else "unknown"
    if grant_type == "client_credentials":
        basic = _basic(request)
        challenge = "Basic" if request.headers.get("authorization", "").lower().startswith("basic ") else None
        if basic is not None and not client_id:
            client_id, client_secret = basic
        if not client_id or not client_secret:
            raise Unauthorised("bad_client", "缺少客户端标识或密钥", "client_id and client_secret are required",
                               field="client_id", extra_headers=_challenge(challenge))
        account = authenticate(session, client_id, client_secret)
        if account is None:
            guard.failed(client_id, address, lockable=False)
            raise Unauthorised("bad_client", "客户端标识或密钥错误", "wrong client_id or client_secret",
                               field="client_secret", extra_headers=_challenge(challenge))
        return {"access_token": request.app.state.tokens.issue(account.name, TOKEN_KIND, account.key_id), "token_type": "bearer",
                "expires_in": settings.token_ttl_seconds}
    if grant_type not in (None, "", "password"):
        raise Invalid("unsupported_grant_type", "不支持的授权方式", "grant_type must be password or client_credentials",
                      "grant_type")
    if not username or password is None:
        raise Invalid("missing_credentials", "请输入用户名和密码", "username and password are required", "username")
    guard.check_lock(username)
    user = session.get(User, username)
    if user is None or not user.active or not verify_password(user.password_hash, password):
        guard.failed(username, address)
        raise Unauthorised("bad_credentials", "用户名或密码错误", "wrong username or password", field="password")
    return {"access_token": request.app.state.tokens.issue(user.username), "token_type": "bearer",
            "expires_in": settings.token_ttl_seconds}


@router.get("/me")
def me(actor: CurrentUser, session: SessionDep) -> dict:
    """Who the caller is: roles, department and identity (a service account: its name, staff roles
    and department, `kind: "service"`)."""
    if actor.acts_as:
        return {"username": actor.username, "display_name": actor.display_name,
                "roles": [str(r) for r in actor.roles], "department": actor.department, "id_kind": None,
                "id_number": None, "kind": TOKEN_KIND, "acts_as": actor.acts_as}
    user = session.get(User, actor.username)
    return {"username": user.username, "display_name": user.display_name, "roles": user.roles,
            "department": user.department, "id_kind": user.id_kind, "id_number": user.id_number}
