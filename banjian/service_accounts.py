"""Service accounts (系统账号) of department systems: "accept outside, handle inside" (外网受理、内网办理).

A department's own business system gets a client id and a secret (argon2-hashed like passwords,
shown once). Its client-credentials token acts as the department's system: the account's name is
the history `actor`, `system_of:{dept}` the history `role`, and it holds every staff role of that
department (clerk, handler, approver, head, lead), so it may take any action a member of the
department's staff may take, on that department's cases only.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from sqlmodel import Field, Session, SQLModel, select

from banjian.auth import hash_password, verify_password
from banjian.contracts import Actor
from banjian.db import Department
from banjian.enums import STAFF_ROLES
from banjian.errors import Invalid, NotFound

#: JWT claim that marks a service account's token (a user's token has none).
TOKEN_KIND = "service"


class ServiceAccount(SQLModel, table=True):
    __tablename__ = "service_accounts"
    name: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(unique=True, max_length=64)
    secret_hash: str
    department: str = Field(index=True, max_length=32)
    active: bool = True
    created_at: datetime
    rotated_at: datetime | None = None


def role_of(department: str) -> str:
    """The history role of a department's system."""
    return f"system_of:{department}"


def actor_of_account(account: ServiceAccount) -> Actor:
    """The Actor a service account's token resolves to: every staff role of its department."""
    return Actor(username=account.name, roles=sorted(STAFF_ROLES), department=account.department,
                 display_name=account.name, acts_as=role_of(account.department))


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def add_account(sessions: Callable[[], Session], name: str, department: str) -> dict[str, str]:
    """Create (or replace) an account; returns its client id and secret (the only time it is shown)."""
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise Invalid("invalid_name", "账号名须为 1 至 64 个字母、数字或 -_.", "name must be 1 to 64 letters, "
                      "digits or -_.", "name")
    secret = _new_secret()
    with sessions() as session:
        if session.get(Department, department) is None:
            raise NotFound("unknown_department", f"部门 {department} 不存在", f"no department {department}",
                           "department")
        old = session.get(ServiceAccount, name)
        if old is not None:
            session.delete(old)
            session.flush()
        account = ServiceAccount(name=name, client_id=f"bj_{secrets.token_hex(12)}", secret_hash=hash_password(secret),
                                 department=department, created_at=datetime.now(UTC))
        session.add(account)
        session.commit()
        return {"client_id": account.client_id, "client_secret": secret}


def rotate_account(sessions: Callable[[], Session], name: str) -> dict[str, str]:
    """A new secret for the same client id; the old secret stops working at once."""
    secret = _new_secret()
    with sessions() as session:
        account = _get(session, name)
        account.secret_hash, account.rotated_at, account.active = hash_password(secret), datetime.now(UTC), True
        session.add(account)
        session.commit()
        return {"client_id": account.client_id, "client_secret": secret}


def revoke_account(sessions: Callable[[], Session], name: str) -> None:
    """Revoke: its secret no longer gives tokens and its tokens no longer work."""
    with sessions() as session:
        account = _get(session, name)
        account.active = False
        session.add(account)
        session.commit()


def _get(session: Session, name: str) -> ServiceAccount:
    account = session.get(ServiceAccount, name)
    if account is None:
        raise NotFound("unknown_account", f"系统账号 {name} 不存在", f"no service account {name}", "name")
    return account


def authenticate(session: Session, client_id: str, client_secret: str) -> ServiceAccount | None:
    """The active account with this client id and secret, else None."""
    account = session.exec(select(ServiceAccount).where(ServiceAccount.client_id == client_id[:64])).first()
    if account is None or not account.active or not verify_password(account.secret_hash, client_secret):
        return None
    return account


def load_actor(sessions: Callable[[], Session], name: str) -> Actor | None:
    """The Actor of an active account, or None (revoked or removed)."""
    with sessions() as session:
        account = session.get(ServiceAccount, name)
        return actor_of_account(account) if account is not None and account.active else None
