"""Keeps one delivery workflow (workflows/feed.py) running per feed subscriber.

The subscribers live in SQL (added by the CLI or the admin routes); every few seconds the API
starts the delivery workflow of each one, a no-op for those already running (USE_EXISTING), so a
subscriber added by the CLI is served within seconds and a removed one's workflow ends by itself.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from banjian.feed import Subscriber
from banjian.feed_contracts import FEED_WORKFLOW, FeedInput, feed_workflow_id
from banjian.settings import Settings

log = logging.getLogger("banjian.feed")

#: how often the subscriber list is looked at (seconds)
LOOK_EVERY = 2.0


class FeedStarter:
    def __init__(self, client: Client, sessions: Callable[[], Session], settings: Settings) -> None:
        self.client, self.sessions, self.settings = client, sessions, settings

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

    async def forever(self) -> None:
        while True:
            try:
                await self.once()
            except Exception as e:  # the server or database is down: next look
                log.warning("feed: could not start delivery workflows: %s", e)
            await asyncio.sleep(LOOK_EVERY)


@contextlib.asynccontextmanager
async def running(starter: FeedStarter):
    task = asyncio.create_task(starter.forever())
    try:
        yield starter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
