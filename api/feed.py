"""Keeps one delivery workflow (workflows/feed.py) running per feed subscriber, and wakes it when
events wait for their first attempt.

The subscribers live in SQL (added by the CLI or the admin routes); every few seconds the API
starts the delivery workflow of each one, a no-op for those already running (USE_EXISTING), so a
subscriber added by the CLI is served within seconds and a removed one's workflow ends by itself.

While a subscriber's far end is down its workflow waits out the retry backoff on a timer (up to
30 s) and sees no new event meanwhile. Every second the API looks at the events queued since its
look before the last one: a case's next event still untried a second after it was queued (the
drain, when it runs, takes it within `feed_poll_seconds`) means the workflow is waiting, and it is
sent the `wake` signal, so the event's first attempt comes within the contract's 5 s.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from banjian.feed import PARKED, PENDING, Delivery, Subscriber
from banjian.feed_contracts import FEED_WORKFLOW, WAKE_SIGNAL, FeedInput, feed_workflow_id
from banjian.settings import Settings

log = logging.getLogger("banjian.feed")

#: how often the subscriber list is looked at (seconds)
LOOK_EVERY = 2.0
#: how often the queue is looked at for events waiting for their first attempt (seconds)
WAKE_EVERY = 1.0
#: a retry due this long ago still counts as ahead (the drain it woke may be starting)
RECENT_RETRY = timedelta(seconds=5)


class FeedStarter:
    def __init__(self, client: Client, sessions: Callable[[], Session], settings: Settings) -> None:
        self.client, self.sessions, self.settings = client, sessions, settings
        #: the highest queue row id at the look before the last one, and at the last one
        self._looked: tuple[int | None, int | None] = (None, None)

    def _names(self) -> list[str]:
        with self.sessions() as session:
            return list(session.exec(select(Subscriber.name)).all())

    async def ensure(self, name: str) -> None:
        """Start the delivery workflow of `name` unless it runs."""
        s = self.settings
        await self.client.start_workflow(
            FEED_WORKFLOW, FeedInput(name=name, drain_seconds=s.feed_drain_seconds, timeout_seconds=s.feed_timeout_seconds,
                                    retention_days=s.feed_retention_days, rounds_per_run=s.feed_rounds_per_run),
            id=feed_workflow_id(s.task_queue, name), task_queue=s.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)

    async def once(self) -> None:
        for name in await asyncio.to_thread(self._names):
            await self.ensure(name)

    def waiting(self) -> list[str]:
        """Active subscribers with a case head queued between the last two looks and never tried,
        while another event waits out a retry (a failed attempt's next one is still ahead, or was due
        moments ago): their workflow waits on its timer. A subscriber whose worker is gone has no
        retry ahead after 30 s, and is not signalled again and again into a long history."""
        now = datetime.now(UTC)
        with self.sessions() as session:
            top = session.exec(select(func.max(Delivery.id))).one() or 0
            low, high = self._looked
            self._looked = (high, top)
            if low is None or high is None or high <= low:
                return []
            earlier = aliased(Delivery)
            before = exists().where(col(earlier.subscriber) == col(Delivery.subscriber),
                                    col(earlier.case_id) == col(Delivery.case_id), col(earlier.seq) < col(Delivery.seq),
                                    col(earlier.state).in_([PENDING, PARKED]))
            failed = aliased(Delivery)
            retrying = exists().where(col(failed.subscriber) == col(Delivery.subscriber), col(failed.state) == PENDING,
                                      col(failed.attempts) > 0, col(failed.next_at) > now - RECENT_RETRY)
            return list(session.exec(
                select(Delivery.subscriber).distinct().join(Subscriber, col(Subscriber.name) == Delivery.subscriber)
                .where(col(Delivery.id) > low, col(Delivery.id) <= high, col(Delivery.state) == PENDING,
                       col(Delivery.attempts) == 0, col(Subscriber.paused).is_(False), ~before, retrying)).all())

    async def wake_waiting(self) -> None:
        """Signal the delivery workflows of `waiting` subscribers."""
        for name in await asyncio.to_thread(self.waiting):
            handle = self.client.get_workflow_handle(feed_workflow_id(self.settings.task_queue, name))
            try:
                await handle.signal(WAKE_SIGNAL)
            except RPCError as e:  # not running (yet): its first drain takes the event anyway
                log.info("feed: could not wake the delivery of %s: %s", name, e)

    async def forever(self) -> None:
        looks = 0
        while True:
            try:
                if looks % round(LOOK_EVERY / WAKE_EVERY) == 0:
                    await self.once()
                await self.wake_waiting()
            except Exception as e:  # the server or database is down: next look
                log.warning("feed: could not start or wake delivery workflows: %s", e)
            looks += 1
            await asyncio.sleep(WAKE_EVERY)


@contextlib.asynccontextmanager
async def running(starter: FeedStarter):
    task = asyncio.create_task(starter.forever())
    try:
        yield starter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
