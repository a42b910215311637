"""`banjian archiver`: a process that only builds archive packages (电子文件归档), draining the
archive queue (banjian/archive_queue.py) with the same sweeper the workers otherwise run.

It lowers its own CPU priority to niceness `settings.archiver_nice` (BANJIAN_ARCHIVER_NICE, default
10; never raises it). `banjian up` runs it as a child and tells its workers not to sweep: a package is
about 10 ms of CPU per case (the history's JSON export above all), work nobody waits for, while an
action is someone at a counter or on a phone waiting. With its own interpreter it takes no turns at
the workers' interpreter lock either. On an idle machine it runs as soon as the queue has rows (every `archive_sweep_seconds`); on a saturated one it gets about a
tenth of a core and catches up when the load falls. A package asked for before it is built is built
on demand by the API (GET /api/cases/{id}/archive), as before.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal

from temporalio.client import Client

from activities.archive import ArchiveSweeper
from banjian.audit.archive import Archiver
from banjian.db import make_engine, session_factory
from banjian.settings import Settings

log = logging.getLogger("banjian")


def build_sweeper(client: Client, settings: Settings) -> ArchiveSweeper:
    """The sweeper of this process, on its own small connection pool."""
    engine = make_engine(settings.db_url, pool_size=2, max_overflow=2,
                         pool_timeout=settings.db_pool_timeout_seconds)

    sessions = session_factory(engine)

    return ArchiveSweeper(Archiver(sessions, settings.archive_dir, client), sessions,
                          every=max(settings.archive_sweep_seconds, 0.1))


async def main(settings: Settings | None = None) -> None:
    """Sweep until SIGTERM or SIGINT; a batch cut short leaves its rows to be claimed again."""
    from banjian.logs import configure_logging
    from banjian.ops.workers import die_with_parent
    from banjian.temporal import connect_waiting

    die_with_parent()
    settings = settings or Settings()
    os.nice(max(0, settings.archiver_nice - os.nice(0)))  # lowered to it, never raised (that needs root)
    configure_logging(settings)
    client = await connect_waiting(settings)
    sweeper = build_sweeper(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    gc.freeze()
    sweeping = asyncio.create_task(sweeper.run(), name="archive-sweeper")
    log.info("archiver: building archive packages (niceness %d)", os.nice(0))
    await stop.wait()
    sweeping.cancel()
    await asyncio.gather(sweeping, return_exceptions=True)
