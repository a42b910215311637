"""The outbound event feed (办件信息汇聚): subscribers and their outbox of case events.

Every history entry of every case (sub-cases included) becomes one delivery row per subscriber,
written by `enqueue` in the same transaction as the history itself (activities/records.py), so an
event is never recorded without being queued, nor queued twice. A delivery workflow per subscriber
(workflows/feed.py) drains its rows through `activities/feed.py`: per case in `seq` order, retried
with backoff until the far end answers 2xx, whatever else it answers (events a release before
2026-12-03 parked on a 4xx wait for an operator, who lists and re-queues them: `parked`,
`requeue_parked`). Delivered rows are pruned after the
retention (`feed_retention_days`) by the delivery workflow; the subscriber keeps their count.

Body: `{"event_id", "case_no", "case_id", "seq", "action", "at", "status", "data"}` and the detail
keys of banjian/feed_events.py (item, department, actor, actor_kind, role, comment, reason), serialised once
at enqueue time so that every retry sends the same bytes; `X-Banjian-Signature` is the lower-case hex
HMAC-SM3 of those bytes keyed with the subscriber's secret. Rows queued before the detail keys
existed keep their stored bytes and are delivered as they are.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Column, Index, Text, UniqueConstraint, case, delete, func, insert, text, update
from sqlmodel import Field, Session, SQLModel, col, select

from banjian import feed_events
from banjian.crypto import hmac_sm3_hex
from banjian.db import Department
from banjian.errors import Invalid, NotFound
from banjian.timefmt import china_times, iso_at

PENDING, DELIVERED, PARKED = "pending", "delivered", "parked"
SIGNATURE_HEADER = "X-Banjian-Signature"


class Subscriber(SQLModel, table=True):
    __tablename__ = "feed_subscribers"
    name: str = Field(primary_key=True, max_length=64)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    paused: bool = False
    last_error: str | None = Field(default=None, max_length=500)
    #: when `last_error` happened (migration 0027): an error kept after later successes reads as old
    last_error_at: datetime | None = None
    created_at: datetime
    #: delivered events already pruned (the retention): `status` adds them to the delivered rows
    pruned_delivered: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: the departments whose cases' events it takes, comma-separated codes (migration 0036); null: every
    departments: str | None = Field(default=None, max_length=2000)


class Delivery(SQLModel, table=True):
    """One event for one subscriber."""

    __tablename__ = "feed_deliveries"
    __table_args__ = (UniqueConstraint("subscriber", "case_id", "seq", name="uq_feed_delivery"),
                      Index("ix_feed_deliveries_sub_state", "subscriber", "state", "case_id", "seq"))
    id: int | None = Field(default=None, primary_key=True)
    subscriber: str = Field(max_length=64)
    case_id: str = Field(max_length=40)
    seq: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    next_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)


def sign(secret: str, body: bytes) -> str:
    """The `X-Banjian-Signature` of a body."""
    return hmac_sm3_hex(secret.encode(), body)


def event_id(case_id: str, seq: int) -> str:
    """Stable across retries and the same for every subscriber."""
    return f"{case_id}-{seq}"


def event_body(case_id: str, case_no: str | None, seq: int, action: str, at: str, status: str,
               data: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """The bytes sent for one event: the contract's keys, and `extra` (the detail keys of
    banjian/feed_events.py), which never replaces one of them."""
    return json.dumps({**(extra or {}), "event_id": event_id(case_id, seq), "case_no": case_no, "case_id": case_id,
                       "seq": seq, "action": action, "at": at, "status": status, "data": china_times(data)},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True)


#: enqueue's one query on the case action path, as plain SQL: SQLModel's `select` costs 0.3-0.6 ms a
#: call here (statement building and ORM result handling), this 0.05-0.1 ms. Not cached across
#: calls on purpose: a cached list would miss the events of a subscriber just added by another
#: process (the contract: every event from the moment it is added).
_SUBSCRIBERS = text("SELECT name, departments FROM feed_subscribers")


def enqueue(session: Session, case_id: str, case_no: str | None, status: str,
            events: Sequence[tuple[int, str, str, dict[str, Any]]],
            extras: Sequence[dict[str, Any]] | None = None) -> int:
    """Queue new history entries `(seq, action, at_iso, data)` for every subscriber (of the stream's
    department, for one limited to some: the `department` of the extras), in the caller's
    transaction (no commit): one multi-row INSERT on the session's connection (no ORM unit of work
    on the case action path). `extras`, one per event, are their detail keys (banjian/feed_events.py).
    Returns the number of rows added."""
    if not events:
        return 0
    conn = session.connection()
    subscribers = conn.execute(_SUBSCRIBERS).all()
    if not subscribers:
        return 0
    now = datetime.now(UTC)
    bodies = [event_body(case_id, case_no, seq, action, at, status, data, extras[i] if extras else None)
              for i, (seq, action, at, data) in enumerate(events)]
    # a stream's events are one department's (a sub-case is a stream of its own): a subscriber limited
    # to some departments takes all of a stream's events or none, so its `seq` has no gaps
    department = (extras[0].get("department") if extras else None)
    rows = [dict(subscriber=name, case_id=case_id, seq=seq, state=PENDING, attempts=0, next_at=now, created_at=now,
                 body=body)
            for name, only in subscribers if only is None or department in only.split(",")
            for (seq, *_), body in zip(events, bodies, strict=True)]
    if rows:
        conn.execute(_insert_deliveries(), rows)
    return len(rows)


@cache
def _insert_deliveries() -> Any:
    return insert(Delivery.__table__)  # type: ignore[attr-defined]


def enqueue_history(session: Session, case_no: str | None, status: str, entries: Sequence[Any],
                    context: dict[str, Any] | None = None, refusal: str | None = None) -> int:
    """`enqueue` for new history rows (`CaseEvent`s of one case), as the read model writes them;
    `context` is the case's item and department (`feed_events.case_context`), `refusal` the case's
    recorded reason of a denial (for a `deny` event)."""
    if not entries:
        return 0
    return enqueue(session, entries[0].case_id, case_no, status,
                   [(e.seq, e.action, iso_at(e.at) or "", e.data or {}) for e in entries],
                   [feed_events.details(context, e.actor, e.role, e.action, e.comment, e.data or {}, refusal)
                    for e in entries])


def _check(name: str, url: str) -> None:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise Invalid("invalid_name", "订阅者名称须为 1 至 64 个字母、数字或 -_.",
                      "name must be 1 to 64 letters, digits or -_.", "name")
    if not _sendable(url):
        raise Invalid("invalid_url", "订阅地址须为 http(s) 网址", "url must be an http(s) URL", "url")
    if "@" in urlsplit(url).netloc:  # shown to supervisors and auditors in the status, and in the admin log
        raise Invalid("invalid_url", "订阅地址不能包含用户名或密码：事件以签名（X-Banjian-Signature）证明来源",
                      "url must not carry a user name or password: events prove their origin by their signature "
                      "(X-Banjian-Signature)", "url")


def _sendable(url: str) -> bool:
    """Whether `url` is an http(s) address with a host that the sender can post to: a malformed one
    (`http://[::1/x`, port 99999, a host name that is no IDNA name such as `ää..com`) was a 500 on
    `PUT /api/subscribers/{name}` and a traceback in the CLI, or was stored and then failed every
    delivery without a `last_error`."""
    if len(url) > 2000:
        return False
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
        sent = httpx.URL(url)  # the sender's own parsing (IDNA host names)
    except (ValueError, httpx.InvalidURL):
        return False
    # urlsplit drops blanks around the address but the sender does not (` http://…` was stored and
    # then failed every delivery with UnsupportedProtocol): both parsings must see an http(s) host
    return (parsed.scheme in ("http", "https") and bool(parsed.hostname)
            and sent.scheme in ("http", "https") and bool(sent.host))


def clean_url(url: str) -> str:
    """A subscriber's address as given, less blanks around it (a pasted address's trailing newline)."""
    return url.strip()


MAX_DEPARTMENTS = 100


def add_subscriber(sessions: Callable[[], Session], name: str, url: str, secret: str | None = None,
                   departments: Sequence[str] | None = None) -> str:
    """Add a subscriber, or replace the address, secret and departments of one of that name (its queue
    is kept); returns the secret (generated when not given). `departments`: the codes whose cases'
    events it takes (None: every event)."""
    _check(name, url)
    only = _departments(sessions, departments)
    if secret is not None and not 16 <= len(secret) <= 200:
        raise Invalid("weak_secret", "密钥须为 16 至 200 个字符", "the secret needs 16 to 200 characters", "secret")
    if secret is not None and (secret != secret.strip() or not secret.isprintable()):
        # a far end that keeps the key without the pasted blank or newline refuses every signature
        raise Invalid("invalid_secret", "密钥不能以空白开头或结尾，也不能含控制字符",
                      "the secret must not begin or end with a blank, nor hold a control character", "secret")
    secret = secret or secrets.token_hex(32)
    with sessions() as session:
        sub = session.get(Subscriber, name) or Subscriber(name=name, url=url, secret=secret,
                                                          created_at=datetime.now(UTC))
        sub.url, sub.secret, sub.paused, sub.last_error, sub.last_error_at = url, secret, False, None, None
        sub.departments = only
        session.add(sub)
        session.commit()
    return secret


def _departments(sessions: Callable[[], Session], codes: Sequence[str] | None) -> str | None:
    """The stored form of a subscriber's departments (sorted, comma-separated), each a known code."""
    if codes is None:
        return None
    if not 1 <= len(codes) <= MAX_DEPARTMENTS:
        raise Invalid("invalid_departments", f"departments 须列出 1 至 {MAX_DEPARTMENTS} 个部门编码（不限部门时不传）",
                      f"departments lists 1 to {MAX_DEPARTMENTS} department codes (leave it out for every department)",
                      "departments")
    with sessions() as session:
        known = set(session.exec(select(Department.code)).all())
    for i, code in enumerate(codes):
        if code not in known:
            raise Invalid("unknown_department", f"部门 {code[:40]} 不存在", f"no department {code[:40]}",
                          f"departments[{i}]")
    return ",".join(sorted(set(codes)))


def departments_of(sub: Subscriber) -> list[str] | None:
    return sub.departments.split(",") if sub.departments else None


def _get(session: Session, name: str) -> Subscriber:
    sub = session.get(Subscriber, name)
    if sub is None:
        raise NotFound("unknown_subscriber", f"订阅者 {name} 不存在", f"no subscriber {name}", "name")
    return sub


def set_paused(sessions: Callable[[], Session], name: str, paused: bool) -> None:
    """Pause or resume; resuming also gives parked events another try (the operator fixed the far end)."""
    with sessions() as session:
        sub = _get(session, name)
        sub.paused = paused
        session.add(sub)
        if not paused:
            _requeue(session, name)
        session.commit()


def _requeue(session: Session, name: str) -> int:
    result = session.execute(update(Delivery).where(col(Delivery.subscriber) == name, col(Delivery.state) == PARKED)
                             .values(state=PENDING, attempts=0, next_at=datetime.now(UTC)))
    return int(getattr(result, "rowcount", 0) or 0)


def requeue_parked(sessions: Callable[[], Session], name: str) -> int:
    """Give every parked event of a subscriber another try (an operator fixed the far end or the
    event's cause), without changing whether it is paused; returns how many were re-queued."""
    with sessions() as session:
        _get(session, name)
        count = _requeue(session, name)
        session.commit()
    return count


def parked(session: Session, name: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """The parked events of a subscriber (oldest first): each event's id, case, seq, attempts, error."""
    _get(session, name)
    where = (col(Delivery.subscriber) == name, col(Delivery.state) == PARKED)
    total = session.exec(select(func.count()).select_from(Delivery).where(*where)).one()
    rows = session.exec(select(Delivery).where(*where).order_by(col(Delivery.id)).offset(offset).limit(limit)).all()
    return {"items": [{"event_id": event_id(r.case_id, r.seq), "case_id": r.case_id, "case_no": _case_no(r.body),
                       "seq": r.seq, "attempts": r.attempts, "last_error": r.last_error,
                       "created_at": iso_at(r.created_at)} for r in rows], "total": total}


def _case_no(body: str) -> str | None:
    try:
        return json.loads(body).get("case_no")
    except ValueError:
        return None


def prune_delivered(sessions: Callable[[], Session], name: str, before: datetime) -> int:
    """Delete a subscriber's events delivered before `before`, adding them to its pruned counter in
    the same transaction (so `status` counts them still); run by the delivery workflow."""
    with sessions() as session:
        sub = session.get(Subscriber, name)
        if sub is None:
            return 0
        result = session.execute(delete(Delivery).where(col(Delivery.subscriber) == name,
                                                        col(Delivery.state) == DELIVERED,
                                                        col(Delivery.delivered_at) < before))
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            session.execute(update(Subscriber).where(col(Subscriber.name) == name)
                            .values(pruned_delivered=col(Subscriber.pruned_delivered) + count))
        session.commit()
    return count


def remove_subscriber(sessions: Callable[[], Session], name: str) -> None:
    """Remove a subscriber and its queue (its delivery workflow ends on its next look)."""
    with sessions() as session:
        sub = _get(session, name)
        session.execute(delete(Delivery).where(col(Delivery.subscriber) == name))
        session.delete(sub)
        session.commit()


def list_subscribers(session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).order_by(col(Subscriber.name))).all())


def _queues(session: Session, name: str | None = None) -> dict[str, dict[str, Any]]:
    """Per subscriber (one, or all) and state: the count of rows, the oldest row's creation and the
    latest delivery."""
    failed = col(Delivery.attempts) > 0
    stmt = select(Delivery.subscriber, Delivery.state, func.count(), func.min(Delivery.created_at),
                  func.max(Delivery.delivered_at), func.sum(case((failed, 1), else_=0)),
                  func.max(Delivery.attempts), func.min(case((failed, Delivery.next_at), else_=None)))
    if name is not None:
        stmt = stmt.where(col(Delivery.subscriber) == name)
    out: dict[str, dict[str, Any]] = {}
    for sub, state, n, oldest, latest, retrying, most, next_retry in session.exec(
            stmt.group_by(col(Delivery.subscriber), col(Delivery.state))):
        out.setdefault(sub, {})[state] = (n, oldest, latest, int(retrying or 0), int(most or 0), next_retry)
    return out


def _figures(sub: Subscriber, queue: dict[str, Any]) -> dict[str, Any]:
    """The queue's figures of one subscriber: counts, and the times that say whether `last_error` is
    the present (`oldest_pending_at`: the longest an event has waited; `last_delivered_at`), and
    the retries under way: `retrying` pending events have failed at least once, the most tried of
    them `max_attempts` times, the next retry due at `next_retry_at`."""
    pending, delivered, parked = (queue.get(s, (0, None, None, 0, 0, None)) for s in (PENDING, DELIVERED, PARKED))
    return {"pending": pending[0], "delivered": delivered[0] + (sub.pruned_delivered or 0), "parked": parked[0],
            "last_error": sub.last_error, "last_error_at": iso_at(sub.last_error_at),
            "last_delivered_at": iso_at(delivered[2]), "oldest_pending_at": iso_at(pending[1]),
            "retrying": pending[3], "max_attempts": pending[4], "next_retry_at": iso_at(pending[5])}


def list_overview(session: Session) -> list[dict[str, Any]]:
    """Every subscriber by name for an operator: name, url, created, state (`active` or `paused`)
    and its queue's figures; never the secret."""
    queues = _queues(session)
    return [{"name": s.name, "url": s.url, "departments": departments_of(s), "created_at": iso_at(s.created_at),
             "state": "paused" if s.paused else "active", **_figures(s, queues.get(s.name, {}))}
            for s in list_subscribers(session)]


def status(session: Session, name: str) -> dict[str, Any]:
    """`{"pending", "delivered", "parked", "paused", "last_error", "last_error_at", "last_delivered_at",
    "oldest_pending_at"}` of one subscriber."""
    sub = _get(session, name)
    figures = _figures(sub, _queues(session, name).get(name, {}))
    return {"name": name, "url": sub.url, "departments": departments_of(sub), **figures, "paused": sub.paused}
