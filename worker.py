"""Starts a banjian worker: the case and joint workflows and the activities that touch the world.

    python worker.py            (or `banjian worker`)

Reads the settings from the environment (BANJIAN_*, DATABASE_URL, TEMPORAL_ADDRESS).
"""
from __future__ import annotations

import asyncio
import gc
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.archive import ArchiveActivities, ArchiveSweeper
from activities.calendar import CalendarActivities
from activities.feed import FeedActivities
from activities.front_office import LimitActivities, ReminderActivities
from activities.inquiries import InquiryActivities
from activities.joint import ParentNotifier
from activities.licences import LicenceActivities, LicenceWatch, no_licence_watch
from activities.payments import PaymentActivities
from activities.records import RecordActivities
from activities.rectification import RectificationActivities
from banjian.catalog import Catalog
from banjian.db import make_engine, session_factory
from banjian.licence_store import master_key
from banjian.metrics import ActivityMetrics
from banjian.payments import provider_for
from banjian.settings import Settings
from workflows.registry import WORKFLOWS


class BanjianWorker(Worker):
    """The SDK's worker, with the archive sweeper running beside it for as long as the worker runs."""

    def __init__(self, *args: Any, sweeper: ArchiveSweeper | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sweeper = sweeper

    async def run(self) -> None:
        sweeping = asyncio.create_task(self.sweeper.run(), name="archive-sweeper") if self.sweeper else None
        try:
            await super().run()
        finally:
            if sweeping is not None:
                sweeping.cancel()
                await asyncio.gather(sweeping, return_exceptions=True)


@activity.defn(name="archive_case")
async def no_archive(case_id: str) -> str:
    """What-if runs (services.whatif_run) keep no archive package of their simulated cases."""
    return ""


def build_worker(client: Client, settings: Settings, engine=None, archive: bool = True) -> Worker:
    """A worker on the configured task queue with every workflow and activity of banjian, and the
    archive sweeper beside it (`archive=False`: a what-if run's worker, which keeps no archive and no
    licence expiry timers).

    Workflows run outside the SDK's sandbox unless `settings.workflow_sandbox` (the tests set it): the
    sandbox converts every payload through code run inside it, about 13 % of `banjian up`'s CPU
    under load (docs/benchmarks.md). Workflow code stays deterministic either way: tests and the replay
    of recorded histories run it sandboxed."""
    engine = engine or make_engine(settings.db_url, **settings.pool_options("worker"))

    sessions = session_factory(engine)

    catalog = Catalog(sessions)
    calendar = CalendarActivities(sessions)
    records = RecordActivities(sessions, catalog.effective, calendar.current)
    notifier = ParentNotifier(client)
    archiver = ArchiveActivities(sessions, settings.archive_dir, client)
    feed = FeedActivities(sessions, settings)
    licensing = LicenceActivities(sessions, master_key(settings.licence_master_key), settings.region_code,
                                  settings.licence_issue_hold)
    watch = LicenceWatch(sessions, client).watch_licence if archive else no_licence_watch
    if archive:
        licensing.seal_legacy()
    inquiries = InquiryActivities(sessions)
    limits = LimitActivities(calendar)
    payments = PaymentActivities(sessions, provider_for(settings))
    reminders = ReminderActivities(sessions, catalog)
    rectifications = RectificationActivities(sessions, calendar.current, client)
    sweeper = ArchiveSweeper(archiver, sessions, every=settings.archive_sweep_seconds) \
        if archive and settings.archive_sweep_seconds > 0 else None
    return BanjianWorker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[calendar.plan_deadlines, calendar.count_working_days, records.record_case,
                    records.record_transition, notifier.notify_parent,
                    archiver.archive_case if archive else no_archive, feed.drain, feed.prune,
                    licensing.issue_licence, licensing.expire_licence, watch,
                    inquiries.record_inquiry, limits.add_limit, payments.open_payment_order,
                    payments.record_payment, payments.refund_payment, reminders.send_appointment_reminder,
                    rectifications.open_rectification, rectifications.record_rectification,
                    rectifications.note_rectification],
        activity_executor=ThreadPoolExecutor(max_workers=16),
        interceptors=[ActivityMetrics()],  # failed activities and warnings fired, in /metrics
        max_concurrent_activities=16,
        sweeper=sweeper,
        **({} if settings.workflow_sandbox else {"workflow_runner": UnsandboxedWorkflowRunner()}),
    )


async def main(settings: Settings | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop polling and let running tasks finish."""
    from banjian.logs import configure_logging
    from banjian.ops.workers import die_with_parent
    from banjian.temporal import connect_waiting

    die_with_parent()  # a child of `banjian up` ends with it
    settings = settings or Settings()
    configure_logging(settings)
    runtime, sdk_port = None, None
    if settings.worker_metrics_port is not None and settings.sdk_metrics:
        from banjian.metrics import core_metrics_runtime
        from banjian.ops.workers import free_port

        sdk_port = free_port()
        runtime = core_metrics_runtime(sdk_port)  # served by the core, merged into this process's endpoint
    client = await connect_waiting(settings, runtime)  # a server restarting meanwhile is waited for
    if settings.worker_metrics_port is not None:
        import logging

        from banjian.metrics import serve_worker_metrics

        try:
            serve_worker_metrics(settings.worker_metrics_port, sdk_port)
        except OSError as e:  # the port was taken meanwhile: work on without a metrics endpoint
            logging.getLogger("banjian").warning("worker metrics on port %s unavailable (%s): running without",
                                                 settings.worker_metrics_port, e)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, settings):
        # start-up's objects (modules, the client, the worker) live as long as the process: frozen out
        # of the collector's way, its full collections stop walking them again and again
        gc.freeze()
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
