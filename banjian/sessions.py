"""When a user's sign-ins stop working before their tokens expire.

Two events end sessions early, and both live in the read model, so every API process of a
deployment sees them (within the few seconds it remembers a caller) and a restart forgets neither:

- **A logout** ends one token: its SHA-256 is kept in `ended_sessions` until the token would have
  expired anyway.
- **A new password** (an admin or `banjian users add` replacing the user) ends every token issued
  before it: `users.sessions_from` is the moment, to the second (a token's `iat` is whole seconds).
  Deactivating a user refuses the user outright; that rule is in the API.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, col, select

from banjian.timefmt import aware


class EndedSession(SQLModel, table=True):
    """A token ended by a logout, kept until it would have expired."""

    __tablename__ = "ended_sessions"
    token_sha256: str = Field(primary_key=True, max_length=64)
    username: str = Field(index=True, max_length=64)
    expires_at: datetime = Field(index=True)


def token_digest(token: str) -> str:
    """What is stored of an ended token: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def sessions_from_now() -> datetime:
    """The moment a new password takes effect, in whole seconds as tokens' `iat` are: a token issued
    in the same second after the change stays valid."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class SessionRules:
    """What ends a user's tokens early: tokens issued before `sessions_from` (a password change) and
    the digests of tokens ended by a logout."""

    sessions_from: float | None
    ended: frozenset[str]

    def refusal(self, token: str, issued_at: float | None) -> tuple[str, str] | None:
        """Why the token no longer works (Chinese, English), or None."""
        if token_digest(token) in self.ended:
            return "已退出登录，请重新登录", "the token was ended by a logout"
        if self.sessions_from is not None and (issued_at is None or issued_at < self.sessions_from):
            return "密码已更改，请重新登录", "the password was changed after this token was issued: log in again"
        return None


def end_session(sessions: Callable[[], Session], token: str, username: str, expires_at: datetime) -> None:
    """Record a logout; tokens already past their expiry are swept out on the way."""
    now = datetime.now(UTC)
    with sessions() as session:
        session.exec(delete(EndedSession).where(col(EndedSession.expires_at) <= now))  # type: ignore[call-overload]
        if expires_at > now and session.get(EndedSession, token_digest(token)) is None:
            session.add(EndedSession(token_sha256=token_digest(token), username=username, expires_at=expires_at))
        session.commit()


def ended_tokens(session: Session, username: str) -> frozenset[str]:
    """The digests of the user's tokens ended by a logout and not yet expired."""
    now = datetime.now(UTC)
    rows = session.exec(select(EndedSession.token_sha256).where(
        EndedSession.username == username, col(EndedSession.expires_at) > now)).all()
    return frozenset(rows)


def rules_for(session: Session, username: str, sessions_from: datetime | None) -> SessionRules:
    return SessionRules(aware(sessions_from).timestamp() if sessions_from is not None else None,
                        ended_tokens(session, username))
