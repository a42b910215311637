"""The archive package (banjian/audit/archive.py), written once a case concludes: by the worker's
sweeper, which drains the archive queue (banjian/archive_queue.py) off the case's path, and, for
cases started before the queue existed, by the `archive_case` activity their workflows still call."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session
from temporalio import activity

from banjian import archive_queue
from banjian.audit.archive import Archiver, Batch

log = logging.getLogger("banjian")

#: a history still moving (the workflow task that recorded the close in flight): looked at again after
SETTLE_DELAY = timedelta(milliseconds=300)
#: after this many claims a case's package is built from the history as it is, moving or not (a
#: workflow whose tasks keep failing must not keep its case from the archive)
MAX_SETTLE_ATTEMPTS = 20
#: sweeps failing in a row wait longer each time, doubling up to this pause (seconds)
MAX_FAILURE_PAUSE = 30.0
#: a build that failed (its case row missing, Temporal away) is tried again after
RETRY_DELAY = timedelta(seconds=10)


class ArchiveActivities(Archiver):
    @activity.defn(name="archive_case")
    async def archive_case(self, case_id: str) -> str:
        """Write the case's archive package (once); return its SM3 digest (hex)."""
        return (await self.ensure(case_id)).sm3


class ArchiveSweeper:
    """Drains the archive queue in a worker process: wakes every `every` seconds, claims up to `batch`
    cases under a lease of `lease`, builds their packages as one batch and deletes their queue rows.

    A loop in the worker process rather than a Temporal workflow or schedule: it adds no history
    event, activity task or workflow task per case (the point of taking the archive off the case's
    path), costs one indexed read per wake when the queue is empty, and does not make a time-skipping
    test server skip time as a forever-looping timer workflow would. Durability is the queue's: a
    sweeper killed mid-batch leaves its rows, claimed again when their lease ends."""

    def __init__(self, archiver: Archiver, session_factory: Callable[[], Session], every: float = 1.0,
                 batch: int = 20, lease: timedelta = timedelta(seconds=30)) -> None:
        self.archiver, self.session_factory = archiver, session_factory
        self.every, self.batch, self.lease = every, batch, lease
        self.pause = asyncio.sleep  # how it waits between sweeps (a test replaces it for this sweeper alone)

    async def run(self) -> None:
        """Sweep until cancelled; a full batch is followed by the next one at once. While sweeps fail
        (the database or Temporal away: the rows wait in the queue) the pause doubles up to
        `MAX_FAILURE_PAUSE`; the first failure is logged with its traceback, the next ones in one line
        each, and the first sweep that works again says so."""
        failures = 0
        while True:
            pause = self.every
            try:
                full = await self.sweep() >= self.batch
            except Exception as e:
                failures += 1
                pause = max(self.every, min(self.every * 2 ** min(failures - 1, 16), MAX_FAILURE_PAUSE))
                if failures == 1:
                    log.exception("the archive sweep failed; trying again in %.1f s", pause)
                else:
                    log.warning("the archive sweep failed again (%d in a row: %s: %s); trying again in %.1f s",
                                failures, type(e).__name__, " ".join(str(e).split())[:200], pause)
                full = False
            else:
                if failures:
                    log.info("the archive sweep works again after %d failed attempts", failures)
                failures = 0
            if not full:
                await self.pause(pause)

    async def sweep(self) -> int:
        """One batch: returns how many cases it claimed."""
        claimed = await asyncio.to_thread(self._claim)
        if not claimed:
            return 0
        done = await self.archiver.ensure_many([cid for cid, _ in claimed],
                                               settle={cid for cid, n in claimed if n < MAX_SETTLE_ATTEMPTS})
        await asyncio.to_thread(self._settle, done)
        return len(claimed)

    async def drain(self, timeout: float = 60) -> None:
        """Sweep until the queue is empty (tests, and tools that want every package now)."""
        async with asyncio.timeout(timeout):
            while await asyncio.to_thread(self.depth):
                if not await self.sweep():
                    await asyncio.sleep(0.05)

    def depth(self) -> int:
        with self.session_factory() as session:
            return archive_queue.depth(session)

    def _claim(self) -> list[tuple[str, int]]:
        with self.session_factory() as session:
            return archive_queue.claim(session, self.batch, self.lease)

    def _settle(self, done: Batch) -> None:
        with self.session_factory() as session:
            archive_queue.finish(session, list(done.archived))
            for cid in done.waiting:
                archive_queue.later(session, cid, SETTLE_DELAY)
            for cid, error in done.failed.items():
                log.warning("archive package of case %s not built (%s): trying again later", cid, error)
                archive_queue.later(session, cid, RETRY_DELAY, error)
