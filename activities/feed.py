"""Delivery of the event feed (banjian/feed.py) to one subscriber: the drain activity.

It runs for `drain_seconds`, looking every `feed_poll_seconds` for due events: the head (lowest
undelivered `seq`) of each case, unless parked or waiting out its backoff. Heads of different cases
go out at once, each as soon as it is due, whatever else is still in flight (a far end that hangs
on one event delays no other case's first attempt); the next event of a case only after the
previous one was acknowledged (2xx) and marked delivered. Any other answer (refused or broken
connection, timeout, 3xx, 4xx, 5xx) is retried without end (contract: until the far end answers
2xx), with a doubling backoff capped at `feed_retry_max_seconds` and counted from the start of the
failed attempt, so that attempts stay at most 30 s apart even when each one times out. When nothing
is in flight or due and the latest attempts failed (the far end is down) the drain returns
`retry_at` and the workflow waits on a durable timer rather than this activity sleeping.
Each subscriber has its own activity (and HTTP client): a slow one delays nobody else, and case
actions never wait on the feed.

Times (`next_at`, `delivered_at`, the pruning cut-off) are in the workflow's clock: the drain
starts from the `now` the workflow gives it (or the wall clock, if later) and adds the wall time it
has run since, so retries and
retention follow virtual time under time skipping and the wall clock in production.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, update
from sqlmodel import Session, and_, col, select
from temporalio import activity

from banjian.feed import (
    DELIVERED,
    PARKED,
    PENDING,
    SIGNATURE_HEADER,
    Delivery,
    Subscriber,
    prune_delivered,
    sign,
)
from banjian.feed_contracts import DRAIN_ACTIVITY, PRUNE_ACTIVITY, DrainResult, FeedInput, PruneInput
from banjian.settings import Settings

log = logging.getLogger("banjian.feed")

def _heads(name: str) -> Any:
    """Each case's head for a subscriber: its lowest undelivered (pending or parked) `seq`."""
    return (select(col(Delivery.case_id).label("case_id"), func.min(Delivery.seq).label("seq"))
            .where(col(Delivery.subscriber) == name, col(Delivery.state).in_([PENDING, PARKED]))
            .group_by(col(Delivery.case_id)).subquery())


class FeedActivities:
    """The drain and prune activities; take a session factory and the settings (timing of retries and polls)."""

    def __init__(self, sessions: Callable[[], Session], settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings

    @activity.defn(name=DRAIN_ACTIVITY)
    async def drain(self, inp: FeedInput) -> DrainResult:
        """Deliver due events of one subscriber for a while; `removed` once the subscriber is gone,
        `retry_at` as soon as the far end seems down (the workflow waits for it)."""
        beat = asyncio.create_task(self._heartbeat())
        inflight: dict[str, asyncio.Task[bool]] = {}  # by case: one event each
        delivered = 0
        failing = False  # the latest answer was a failure: the far end seems down
        try:
            loop = asyncio.get_running_loop()
            # the workflow's clock, never behind the wall clock (an activity may start late)
            started, base = loop.time(), max(inp.now or datetime.now(UTC), datetime.now(UTC))

            def now() -> datetime:
                return base + timedelta(seconds=loop.time() - started)

            async with httpx.AsyncClient(timeout=self.settings.feed_timeout_seconds) as http:
                while True:
                    rows: list[Delivery] = []
                    if loop.time() < started + inp.drain_seconds:
                        due = await asyncio.to_thread(self._due, inp.name, now(), set(inflight),
                                                      self.settings.feed_batch - len(inflight))
                        if due is None:
                            return DrainResult(removed=True, delivered=delivered)
                        sub, rows = due
                        for row in rows:  # a new case's head goes out now, whatever is still in flight
                            inflight[row.case_id] = asyncio.create_task(self._send(http, sub, row, now))
                    elif not inflight:
                        break
                    if not inflight:
                        # nothing due, nothing in flight, the far end failed us last: wait in the workflow
                        # for the earliest retry (a new event wakes it, workflows/feed.py)
                        retry_at = await asyncio.to_thread(self._next_retry, inp.name) if failing else None
                        if retry_at is not None:
                            return DrainResult(delivered=delivered, retry_at=retry_at)
                        await asyncio.sleep(self.settings.feed_poll_seconds)
                        continue
                    done, _ = await asyncio.wait(inflight.values(), timeout=self.settings.feed_poll_seconds,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    for case_id in [c for c, task in inflight.items() if task in done]:
                        ok = inflight.pop(case_id).result()
                        delivered += ok
                        failing = not ok
        finally:
            beat.cancel()
            for task in inflight.values():
                task.cancel()
            await asyncio.gather(beat, *inflight.values(), return_exceptions=True)
        return DrainResult(delivered=delivered)

    @activity.defn(name=PRUNE_ACTIVITY)
    def prune(self, inp: PruneInput) -> int:
        """Delete the subscriber's events delivered before `inp.before`, counting them (status keeps
        its `delivered` figure); returns how many went."""
        return prune_delivered(self.sessions, inp.name, inp.before)

    async def _heartbeat(self) -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(1)

    def _due(self, name: str, now: datetime, busy: set[str], limit: int) -> tuple[Subscriber, list[Delivery]] | None:
        """The subscriber and its due case heads, but those of the `busy` cases (an event of theirs is
        in flight), at most `limit` (none while paused); None when it was removed. Parked events (a 4xx
        parked them before this release retried every answer) wait for an operator's `retry`."""
        with self.sessions() as session:
            sub = session.get(Subscriber, name)
            if sub is None:
                return None
            if sub.paused:
                return sub, []
            heads = _heads(name)
            rows = session.exec(
                select(Delivery).join(heads, and_(col(Delivery.case_id) == heads.c.case_id,
                                                  col(Delivery.seq) == heads.c.seq))
                .where(col(Delivery.subscriber) == name, col(Delivery.state) == PENDING, col(Delivery.next_at) <= now,
                       col(Delivery.case_id).not_in(busy))
                .order_by(col(Delivery.id)).limit(max(limit, 0))).all()
            return sub, list(rows)

    def _next_retry(self, name: str) -> datetime | None:
        """When the earliest waiting case head of the subscriber is due again; None when none waits."""
        heads = _heads(name)
        with self.sessions() as session:
            at = session.exec(select(func.min(Delivery.next_at))
                              .join(heads, and_(col(Delivery.case_id) == heads.c.case_id,
                                                col(Delivery.seq) == heads.c.seq))
                              .where(col(Delivery.subscriber) == name, col(Delivery.state) == PENDING)).one()
        return None if at is None else at if at.tzinfo else at.replace(tzinfo=UTC)

    async def _send(self, http: httpx.AsyncClient, sub: Subscriber, row: Delivery,
                    now: Callable[[], datetime]) -> bool:
        """Post one event; True when acknowledged (else it is due again after its backoff)."""
        attempt = now()  # the next attempt is counted from this one's start, not from its timeout
        body = row.body.encode()
        headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(sub.secret, body),
                   "X-Banjian-Event-Id": f"{row.case_id}-{row.seq}"}
        try:
            answer = await http.post(sub.url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as e:  # an address stored before it was checked
            await asyncio.to_thread(self._failed, sub.name, row, f"{type(e).__name__}: {e}"[:300], attempt)
            return False
        if 200 <= answer.status_code < 300:
            await asyncio.to_thread(self._delivered, row, now())
            return True
        await asyncio.to_thread(self._failed, sub.name, row, f"HTTP {answer.status_code}", attempt)
        return False

    def _delivered(self, row: Delivery, now: datetime) -> None:
        with self.sessions() as session:
            session.execute(update(Delivery).where(col(Delivery.id) == row.id)
                            .values(state=DELIVERED, delivered_at=now, attempts=row.attempts + 1))
            session.commit()

    def _failed(self, name: str, row: Delivery, error: str, attempt: datetime) -> None:
        """Record a failed attempt (made at `attempt`): the event is due again after its backoff."""
        wait = min(self.settings.feed_retry_max_seconds, self.settings.feed_retry_base_seconds * 2 ** min(row.attempts, 16))
        message = f"{row.case_id}-{row.seq}: {error}"
        if row.attempts == 0:  # one line per event, not one per retry through a long outage
            log.warning("feed: event %s-%s to subscriber %s failed: %s; retrying until it answers 2xx",
                        row.case_id, row.seq, name, error)
        with self.sessions() as session:
            session.execute(update(Delivery).where(col(Delivery.id) == row.id, col(Delivery.state) == PENDING)
                            .values(state=PENDING, attempts=row.attempts + 1,
                                    next_at=attempt + timedelta(seconds=wait), last_error=message))
            session.execute(update(Subscriber).where(col(Subscriber.name) == name)
                            .values(last_error=message, last_error_at=attempt))
            session.commit()
