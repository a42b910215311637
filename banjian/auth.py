"""Users and tokens: argon2 password hashes, signed bearer tokens, and the user registry."""
from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from banjian.contracts import Actor
from banjian.db import Department, User
from banjian.enums import DEPARTMENT_ROLES, IdKind, Role
from banjian.errors import DomainError, Invalid, NotFound, Unauthorised
from banjian.ids import IdError, validate_id
from banjian.sessions import sessions_from_now

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


PASSWORD_MIN_LENGTH = 10


def check_password(password: str) -> None:
    """The password rule (contract): at least 10 characters, with letters and digits."""
    if (len(password) < PASSWORD_MIN_LENGTH or not any(c.isalpha() for c in password)
            or not any(c.isdigit() for c in password)):
        raise Invalid("weak_password", f"密码至少 {PASSWORD_MIN_LENGTH} 位，且须同时包含字母和数字",
                      f"the password needs at least {PASSWORD_MIN_LENGTH} characters, with letters and digits",
                      "password")


def actor_of(user: User) -> Actor:
    return Actor(username=user.username, roles=[Role(r) for r in user.roles], department=user.department,
                 display_name=user.display_name, id_number=user.id_number)


#: verified tokens remembered by `Tokens.claims` (a bound, not a cache policy: full means start over)
VERIFIED_TOKENS = 4096


class Tokens:
    """HS256 bearer tokens signed with the data dir's secret key."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self.secret, self.ttl = secret, ttl_seconds
        # token -> (subject, kind, key, issued at, expiry): a token's signature and claims cannot
        # change, so each is verified once and afterwards only its expiry is compared (every request
        # carries one). What ends a token early (a logout, a new password) is in the read model
        # (banjian/sessions.py) and checked by the API.
        self._verified: dict[str, tuple[str, str | None, str | None, float | None, float]] = {}

    def issue(self, username: str, kind: str | None = None, key: str | None = None) -> str:
        """A token for a user, or (`kind="service"`) for a service account of that name; `key` is the
        account's credential generation (`kid`), which the API compares with the account's on every
        request, so a rotated, revoked or re-added account's earlier tokens stop working."""
        now = datetime.now(UTC)
        # `jti` makes every token unique: two sign-ins in one second (a logout and a login again) must
        # not share a token, or ending the first would end the second
        claims: dict = {"sub": username, "iat": now, "exp": now + timedelta(seconds=self.ttl),
                        "jti": secrets.token_urlsafe(12)}
        if kind:
            claims["kind"] = kind
        if key:
            claims["kid"] = key
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def subject(self, token: str) -> str:
        return self.claims(token)[0]

    def claims(self, token: str) -> tuple[str, str | None]:
        """(subject, kind) of a valid token: kind is None for a user."""
        sub, kind, _, _ = self.verify(token)
        return sub, kind

    def expiry(self, token: str) -> datetime | None:
        """When a validly signed token expires (None: it is not one)."""
        try:
            return datetime.fromtimestamp(float(jwt.decode(token, self.secret, algorithms=["HS256"],
                                                           options={"verify_exp": False})["exp"]), UTC)
        except (jwt.PyJWTError, KeyError, TypeError, ValueError, OverflowError):
            return None

    def verify(self, token: str) -> tuple[str, str | None, str | None, float | None]:
        """(subject, kind, key, issued at) of a valid token: kind is None for a user, key None unless
        the token is a service account's (its credential generation); issued at in epoch seconds."""
        known = self._verified.get(token)
        if known is not None and known[4] > time.time():  # PyJWT's rule: expired once exp <= now
            return known[0], known[1], known[2], known[3]
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"])
            kid, iat = claims.get("kid"), claims.get("iat")
            found = (claims["sub"], claims.get("kind"), kid if isinstance(kid, str) else None,
                     float(iat) if isinstance(iat, int | float) else None, float(claims.get("exp", math.inf)))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            self._verified.pop(token, None)
            raise Unauthorised("invalid_token", "登录已失效，请重新登录", "the token is invalid or expired") from None
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = found
        return found[0], found[1], found[2], found[3]


def guess_id_kind(id_number: str) -> str:
    """citizen or organisation: a credit code may have 17 leading digits too, so the number that
    validates wins; if neither does, the shape decides (for the error message)."""
    for kind in (IdKind.CITIZEN.value, IdKind.ORGANISATION.value):
        try:
            validate_id(kind, id_number)
            return kind
        except IdError:
            pass
    n = id_number.strip().upper()
    return IdKind.CITIZEN.value if len(n) == 18 and n[:17].isdigit() else IdKind.ORGANISATION.value


def user_problems(session_factory: Callable[[], Session], username: str, password: str, roles: list[str],
                  department: str | None = None, id_number: str | None = None, id_kind: str | None = None,
                  password_policy: bool = True) -> list[DomainError]:
    """Every rule a new or replaced user breaks, in the order the fields are checked (username,
    password, roles, department, identity number), at most one per field: a form shows them all at
    once. The field of a role problem is `role`."""
    problems: list[DomainError] = []
    if not username or len(username) > 64:
        problems.append(Invalid("invalid_username", "用户名须为 1 至 64 个字符", "username must be 1 to 64 characters",
                                "username"))
    if password_policy:
        try:
            check_password(password)
        except Invalid as e:
            problems.append(e)
    parsed: list[Role] = []
    try:
        parsed = [Role(r) for r in roles]
    except ValueError as e:
        problems.append(Invalid("unknown_role", f"未知角色：{e}", f"unknown role: {e}", "role"))
    else:
        if not parsed or Role.SYSTEM in parsed:
            problems.append(Invalid("unknown_role", "至少指定一个角色", "give at least one role", "role"))
    if any(r in DEPARTMENT_ROLES for r in parsed) and not department:
        problems.append(Invalid("department_required", "窗口和审批人员必须属于一个部门",
                                "staff roles need a department", "department"))
    if id_number:
        try:
            validate_id(id_kind or guess_id_kind(id_number), id_number)
        except IdError as e:
            problems.append(Invalid(e.code, e.message, e.message_en, "id_number"))
    if department:
        with session_factory() as session:
            if session.get(Department, department) is None:
                problems.append(NotFound("unknown_department", f"部门 {department} 不存在", f"no department {department}",
                                         "department"))
    return problems


def add_user(session_factory: Callable[[], Session], username: str, password: str, roles: list[str],
             department: str | None = None, id_number: str | None = None, name: str | None = None,
             id_kind: str | None = None, password_policy: bool = True) -> User:
    """Create or replace a user, checking the password rule, roles, department and identity number
    (`password_policy=False` only for the demo's fixed accounts, never in production); the first
    problem of `user_problems` is raised."""
    problems = user_problems(session_factory, username, password, roles, department, id_number, id_kind,
                             password_policy)
    if problems:
        raise problems[0]
    parsed = [Role(r) for r in roles]
    if id_number:
        if id_kind is None:
            id_kind = guess_id_kind(id_number)
        id_number = validate_id(id_kind, id_number)
    with session_factory() as session:
        user = session.get(User, username)
        if user is None:
            user = User(username=username, password_hash="", created_at=datetime.now(UTC))
        else:  # replaced: its new password ends the sessions of the old one
            user.sessions_from = sessions_from_now()
        user.password_hash = hash_password(password)
        user.roles = [r.value for r in parsed]
        user.department = department
        user.display_name = name or user.display_name or username
        user.id_number = id_number
        user.id_kind = id_kind if id_number else None
        session.add(user)
        session.commit()
        session.refresh(user)
        return user
