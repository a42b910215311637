"""Service accounts (系统账号) of department systems: "accept outside, handle inside" (外网受理、内网办理).

A department's own business system gets a client id and a secret (argon2-hashed like passwords,
shown once). Its client-credentials token acts as the department's system: the account's name is
the history `actor`, `system_of:{dept}` the history `role`, and it holds every staff role of that
department (clerk, handler, approver, head, lead), so it may take any action a member of the
department's staff may take, on that department's cases only.

Every credential has a generation, `key_id` (random, new on `add` and on `rotate`). A token carries
the generation it was issued under (its `kid` claim) and the API compares it with the account's on
every request (`load_actor`, behind the API's few-second caller cache): rotating, revoking or
removing and re-adding an account ends every token issued before, and a re-added account is a new
account whose tokens the old one's never match.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel, col, select

from banjian.auth import hash_password, verify_password
from banjian.contracts import Actor
from banjian.db import Department
from banjian.enums import STAFF_ROLES
from banjian.errors import Invalid, NotFound
from banjian.timefmt import iso_at

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
    #: the credential generation its tokens carry (`kid`): new on every add and rotate (0018)
    key_id: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})


def role_of(department: str) -> str:
    """The history role of a department's system."""
    return f"system_of:{department}"


def actor_of_account(account: ServiceAccount) -> Actor:
    """The Actor a service account's token resolves to: every staff role of its department."""
    return Actor(username=account.name, roles=sorted(STAFF_ROLES), department=account.department,
                 display_name=account.name, acts_as=role_of(account.department))


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _new_key() -> str:
    return secrets.token_hex(16)


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
                                 department=department, created_at=datetime.now(UTC), key_id=_new_key())
        session.add(account)
        session.commit()
        return {"client_id": account.client_id, "client_secret": secret}


def rotate_account(sessions: Callable[[], Session], name: str) -> dict[str, str]:
    """A new secret for the same client id; the old secret stops working at once, and so do the
    tokens issued with it (a new credential generation)."""
    secret = _new_secret()
    with sessions() as session:
        account = _get(session, name)
        account.secret_hash, account.rotated_at, account.active = hash_password(secret), datetime.now(UTC), True
        account.key_id = _new_key()
        session.add(account)
        session.commit()
        return {"client_id": account.client_id, "client_secret": secret}


def revoke_account(sessions: Callable[[], Session], name: str) -> None:
    """Revoke: its secret no longer gives tokens and its tokens no longer work (a rotate later
    makes it active again with a new secret; the tokens issued before stay dead)."""
    with sessions() as session:
        account = _get(session, name)
        account.active, account.key_id = False, _new_key()
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


def load_actor(sessions: Callable[[], Session], name: str, key: str | None) -> Actor | None:
    """The Actor of an active account whose credential generation is `key` (the token's `kid`),
    else None: revoked, removed, rotated or re-added since the token was issued."""
    if not key:
        return None
    with sessions() as session:
        account = session.get(ServiceAccount, name)
        if account is None or not account.active or not secrets.compare_digest(account.key_id or "", key):
            return None
        return actor_of_account(account)


def list_accounts(session: Session) -> list[dict[str, Any]]:
    """Every account, by name: name, client id, department, created, rotated and state (`active` or
    `revoked`); never a secret, its hash or the credential generation."""
    rows = session.exec(select(ServiceAccount).order_by(col(ServiceAccount.name))).all()
    return [{"name": a.name, "client_id": a.client_id, "department": a.department,
             "created_at": iso_at(a.created_at), "rotated_at": iso_at(a.rotated_at),
             "state": "active" if a.active else "revoked"} for a in rows]
