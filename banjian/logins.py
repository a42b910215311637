"""Login throttling and lockout (contract, "Identity").

- More than `login_limit` (10) failed attempts for one user, or from one address, within the window
  (15 minutes): further failed attempts answer 429 with `Retry-After`; a right password is still
  accepted.
- `lockout_after` (20) failures for one user within the window lock the user for `lockout_seconds`
  (15 minutes): every attempt answers 429, a right password too, until the lock ends or an admin
  lifts it. Locking and lifting are recorded in the admin log.
- Service accounts (`client_credentials`) are throttled the same way but never locked: their secret
  is 256 random bits that no guessing reaches, and a lock would let anyone who knows a client id
  (it is not a secret) cut a department's system or the provincial platform off.

State lives in the read model (tables `login_failures`, `login_locks`), so every API process of a
deployment counts the same attempts.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, col, select

from banjian.adminlog import SYSTEM, record_admin
from banjian.errors import DomainError
from banjian.timefmt import aware, iso_at


class LoginFailure(SQLModel, table=True):
    __tablename__ = "login_failures"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, max_length=200)
    address: str = Field(index=True, max_length=64)
    at: datetime = Field(index=True)


class LoginLock(SQLModel, table=True):
    __tablename__ = "login_locks"
    username: str = Field(primary_key=True, max_length=200)
    locked_at: datetime
    until: datetime
    failures: int = 0
    lifted_by: str | None = None
    lifted_at: datetime | None = None


class TooManyAttempts(DomainError):
    """429: the caller must wait `retry_after` seconds."""

    status = 429

    def __init__(self, code: str, message: str, message_en: str, retry_after: int) -> None:
        super().__init__(code, message, message_en, "username")
        self.retry_after = max(1, retry_after)


class LoginGuard:
    """Counts failed logins per user and per address, and keeps user locks."""

    def __init__(self, sessions: Callable[[], Session], window_seconds: int = 900, limit: int = 10,
                 lockout_after: int = 20, lockout_seconds: int = 900,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.sessions, self.now = sessions, now
        self.window = timedelta(seconds=window_seconds)
        self.limit, self.lockout_after = limit, lockout_after
        self.lockout = timedelta(seconds=lockout_seconds)

    def check_lock(self, username: str) -> None:
        """Raise TooManyAttempts while the user is locked (whatever the password)."""
        with self.sessions() as session:
            lock = session.get(LoginLock, username)
        if lock is not None and lock.lifted_at is None and aware(lock.until) > self.now():
            raise self._locked(lock)

    def _locked(self, lock: LoginLock) -> TooManyAttempts:
        until = aware(lock.until)
        return TooManyAttempts("account_locked", f"登录失败次数过多，账户已锁定至 {iso_at(until)}，或请管理员解锁",
                               f"too many failed logins: the account is locked until {iso_at(until)} "
                               "or until an admin lifts the lock",
                               math.ceil((until - self.now()).total_seconds()))

    def failed(self, username: str, address: str, lockable: bool = True) -> None:
        """Record a failed attempt; raise TooManyAttempts when it is over a limit (else return: 401).
        `lockable=False` (a service account): throttled, never locked."""
        now = self.now()
        since = now - self.window
        with self.sessions() as session:
            session.add(LoginFailure(username=username[:200], address=address[:64], at=now))
            # old attempts are of no use to the limits: keep the table small
            session.execute(delete(LoginFailure).where(col(LoginFailure.at) < now - 4 * self.window))
            session.commit()
            by_user = self._recent(session, LoginFailure.username == username[:200], since)
            by_address = self._recent(session, LoginFailure.address == address[:64], since)
            lock = None
            if lockable and len(by_user) >= self.lockout_after:
                lock = session.get(LoginLock, username[:200])
                if lock is None or lock.lifted_at is not None or aware(lock.until) <= now:
                    lock = lock or LoginLock(username=username[:200], locked_at=now, until=now)
                    lock.locked_at, lock.until, lock.failures = now, now + self.lockout, len(by_user)
                    lock.lifted_by = lock.lifted_at = None
                    session.add(lock)
                    session.commit()
                    session.refresh(lock)
                    addresses = sorted({a for _, a in by_user})
                    record_admin(self.sessions, SYSTEM, "login.lockout", username,
                                 {"failures": len(by_user), "window_seconds": int(self.window.total_seconds()),
                                  "until": iso_at(lock.until), "addresses": addresses[:20]}, address)
                else:
                    lock = None  # already locked: answered below like any lock
                    self.check_lock(username)
        if lock is not None:
            raise self._locked(lock)
        waits = [self._wait(times, now) for times in (by_user, by_address) if len(times) > self.limit]
        if waits:
            raise TooManyAttempts("too_many_attempts", "登录失败次数过多，请稍后再试",
                                  "too many failed logins: try again later", max(waits))

    def _recent(self, session: Session, where, since: datetime) -> list[tuple[datetime, str]]:
        rows = session.exec(select(LoginFailure.at, LoginFailure.address).where(where)
                            .where(col(LoginFailure.at) >= since).order_by(col(LoginFailure.at).desc())).all()
        return [(aware(at), a) for at, a in rows]

    def _wait(self, times: list[tuple[datetime, str]], now: datetime) -> int:
        """Seconds until at most `limit - 1` failures remain in the window (the next failure is then a 401)."""
        edge = times[self.limit - 1][0]  # newest first: once this one leaves the window, the count is limit-1
        return math.ceil((edge + self.window - now).total_seconds())

    def lift(self, username: str, admin: str, address: str | None = None) -> bool:
        """An admin lifts a user's lock (and forgets their failed attempts); False if none was in force."""
        now = self.now()
        with self.sessions() as session:
            lock = session.get(LoginLock, username)
            active = lock is not None and lock.lifted_at is None and aware(lock.until) > now
            if lock is not None and active:
                lock.lifted_by, lock.lifted_at = admin, now
                session.add(lock)
            session.execute(delete(LoginFailure).where(LoginFailure.username == username))
            session.commit()
        record_admin(self.sessions, admin, "login.unlock", username, {"was_locked": active}, address)
        return active
