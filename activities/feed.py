"""Delivery of the event feed (banjian/feed.py) to one subscriber: the drain activity.

It runs for `drain_seconds`, looking every `feed_poll_seconds` for due events: the head (lowest
undelivered `seq`) of each case, unless parked or waiting out its backoff. Heads of different cases
go out at once; the next event of a case only after the previous one was acknowledged (2xx) and
marked delivered. Refused, timed out, 5xx, 408 and 429 answers are retried with a doubling backoff
capped at `feed_retry_max_seconds`; any other 4xx parks the event (and so its case) until an
operator re-queues it. When every due event of a round failed (the far end is down) the drain
returns `retry_at` and the workflow waits on a durable timer rather than this activity sleeping.
Each subscriber has its own activity (and HTTP client): a slow one delays nobody else, and case
actions never wait on the feed.

Times (`next_at`, `delivered_at`, the pruning cut-off) are in the workflow's clock: the drain
starts from the `now` the workflow gives it (or the wall clock, if later) and adds the wall time it
has run since, so retries and
retention follow virtual time under time skipping and the wall clock in production.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

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

RETRIED_4XX = (408, 429)
log = logging.getLogger("banjian.feed")


class FeedActivities:
    """The drain and prune activities; take a session factory and the settings (timing of retries and polls)."""

    def __init__(self, sessions: Callable[[], Session], settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings

    @activity.defn(name=DRAIN_ACTIVITY)
    async def drain(self, inp: FeedInput) -> DrainResult:
        """Deliver due events of one subscriber for a while; `removed` once the subscriber is gone,
        `retry_at` as soon as a whole round failed (the workflow waits for it)."""
        beat = asyncio.create_task(self._heartbeat())
        delivered = 0
        try:
            loop = asyncio.get_running_loop()
            # the workflow's clock, never behind the wall clock (an activity may start late)
            started, base = loop.time(), max(inp.now or datetime.now(UTC), datetime.now(UTC))

            def now() -> datetime:
                return base + timedelta(seconds=loop.time() - started)

            async with httpx.AsyncClient(timeout=self.settings.feed_timeout_seconds) as http:
                while loop.time() < started + inp.drain_seconds:
                    due = await asyncio.to_thread(self._due, inp.name, now())
                    if due is None:
                        return DrainResult(removed=True, delivered=delivered)
                    sub, rows = due
                    if not rows:
                        await asyncio.sleep(self.settings.feed_poll_seconds)
                        continue
                    sent = await asyncio.gather(*(self._send(http, sub, row, now) for row in rows))
                    delivered += sum(ok for ok, _ in sent)
                    retries = [at for ok, at in sent if at is not None]
                    if not any(ok for ok, _ in sent):
                        if retries and len(rows) < self.settings.feed_batch:
                            return DrainResult(delivered=delivered, retry_at=min(retries))
                        await asyncio.sleep(self.settings.feed_poll_seconds)  # all parked: look again later
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
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

    def _due(self, name: str, now: datetime) -> tuple[Subscriber, list[Delivery]] | None:
        """The subscriber and its due case heads (none while paused); None when it was removed."""
        with self.sessions() as session:
            sub = session.get(Subscriber, name)
            if sub is None:
                return None
            if sub.paused:
                return sub, []
            open_ = col(Delivery.state).in_([PENDING, PARKED])
            heads = (select(col(Delivery.case_id).label("case_id"), func.min(Delivery.seq).label("seq"))
                     .where(col(Delivery.subscriber) == name, open_).group_by(col(Delivery.case_id)).subquery())
            rows = session.exec(
                select(Delivery).join(heads, and_(col(Delivery.case_id) == heads.c.case_id,
                                                  col(Delivery.seq) == heads.c.seq))
                .where(col(Delivery.subscriber) == name, col(Delivery.state) == PENDING,
                       col(Delivery.next_at) <= now)
                .order_by(col(Delivery.id)).limit(self.settings.feed_batch)).all()
            return sub, list(rows)

    async def _send(self, http: httpx.AsyncClient, sub: Subscriber, row: Delivery,
                    now: Callable[[], datetime]) -> tuple[bool, datetime | None]:
        """Post one event: (acknowledged, when to try it again unless parked)."""
        body = row.body.encode()
        headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(sub.secret, body),
                   "X-Banjian-Event-Id": f"{row.case_id}-{row.seq}"}
        try:
            answer = await http.post(sub.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            at = await asyncio.to_thread(self._failed, sub.name, row, f"{type(e).__name__}: {e}"[:300], False, now())
            return False, at
        if 200 <= answer.status_code < 300:
            await asyncio.to_thread(self._delivered, row, now())
            return True, None
        park = 400 <= answer.status_code < 500 and answer.status_code not in RETRIED_4XX
        at = await asyncio.to_thread(self._failed, sub.name, row, f"HTTP {answer.status_code}", park, now())
        return False, None if park else at

    def _delivered(self, row: Delivery, now: datetime) -> None:
        with self.sessions() as session:
            session.execute(update(Delivery).where(col(Delivery.id) == row.id)
                            .values(state=DELIVERED, delivered_at=now, attempts=row.attempts + 1))
            session.commit()

    def _failed(self, name: str, row: Delivery, error: str, park: bool, now: datetime) -> datetime:
        """Record a failed attempt; returns when the event is due again."""
        wait = min(self.settings.feed_retry_max_seconds, self.settings.feed_retry_base_seconds * 2 ** min(row.attempts, 16))
        message = f"{row.case_id}-{row.seq}: {error}"
        if park or row.attempts == 0:  # one line per event, not one per retry through a long outage
            log.warning("feed: event %s-%s to subscriber %s failed: %s; %s", row.case_id, row.seq, name, error,
                        "parked until an operator re-queues it" if park else "retrying")
        with self.sessions() as session:
            session.execute(update(Delivery).where(col(Delivery.id) == row.id, col(Delivery.state) == PENDING)
                            .values(state=PARKED if park else PENDING, attempts=row.attempts + 1,
                                    next_at=now + timedelta(seconds=wait), last_error=message))
            session.execute(update(Subscriber).where(col(Subscriber.name) == name).values(last_error=message))
            session.commit()
        return now + timedelta(seconds=wait)
