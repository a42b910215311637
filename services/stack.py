"""`banjian up`: the embedded Temporal server, the workers and the API in one command.

The workers run as child processes (`settings.worker_processes`, banjian/ops/workers.py), or inside
this process when that is 0.

Before starting anything it checks the ports, the data dir (locked for this process, 0700) and the
databases, and fails with one line naming the cause. While it runs, a dead Temporal server child or
worker is restarted with back-off; after repeated deaths `up` exits non-zero.
Ctrl-C (SIGINT) or SIGTERM stops the API, then the worker, then the server. Restarting on the
same data dir resumes every open case: the server's SQLite file keeps the workflows and timers.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from contextlib import asynccontextmanager

import uvicorn
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from banjian.db import make_engine
from banjian.logs import configure_logging
from banjian.ops import StartupError, preflight
from banjian.ops.datadir import DataDirLock, check_read_model_place, secure
from banjian.ops.orphans import stop_orphan_servers
from banjian.ops.supervise import Backoff
from banjian.ops.workers import ArchiverProcess, WorkerProcess
from banjian.seed import ensure_base
from banjian.settings import Settings
from banjian.temporal import DevServer, connect
from worker import build_worker

log = logging.getLogger("banjian")

#: how often the supervisor looks at the server child and the worker task (seconds)
WATCH_EVERY = 0.5
#: seconds the API lets requests in flight finish when it stops, before it cancels them
SHUTDOWN_GRACE_S = 10


class Parts:
    """The server child and the workers of one `banjian up`, restarted when they die."""

    def __init__(self, settings: Settings, engine, server: DevServer | None, client: Client) -> None:
        self.settings, self.engine, self.server, self.client = settings, engine, server, client
        self.worker: Worker | None = None  # the in-process worker (worker_processes = 0)
        self.worker_task: asyncio.Task | None = None
        self.processes = [WorkerProcess(settings, n + 1) for n in range(settings.worker_processes)]
        if self.processes and settings.archive_process and settings.archive_sweep_seconds > 0:
            self.processes.append(ArchiverProcess(settings))
        self.server_backoff = Backoff("the Temporal server")
        self.worker_backoff = Backoff("the worker")  # the in-process worker (worker_processes = 0)
        # one count per child: an archiver's death is no second death of a worker, and the deaths of
        # different children never add up to `up` giving up
        self.process_backoffs = {p.name: Backoff(f"{p.role} process {p.number}") for p in self.processes}

    def start_worker(self) -> None:
        if self.processes:
            for p in self.processes:
                p.start()
            return
        if self.engine is None:
            self.engine = make_engine(self.settings.db_url, **self.settings.pool_options("worker"))
        self.worker = build_worker(self.client, self.settings, self.engine)
        self.worker_task = asyncio.create_task(self.worker.run())

    async def watch(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """Runs until cancelled; raises GaveUp when a part keeps dying. Restarts nothing once
        `stopping()` (Ctrl-C to the process group also ends the server child)."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if stopping():
                continue
            if self.server is not None and self.server.proc is not None and self.server.proc.poll() is not None:
                await self._restart_server(self.server)
            if self.worker_task is not None and self.worker_task.done():
                await self._restart_worker(self.worker_task)
            for p in self.processes:
                if p.exit_code() is not None:
                    await self._restart_process(p)

    async def _restart_server(self, server: DevServer) -> None:
        code = server.proc.returncode if server.proc else None
        delay = self.server_backoff.next_delay()
        log.error("the Temporal server exited (code %s); restarting it in %.0f s (attempt %d of %d)",
                  code, delay, self.server_backoff.failures, self.server_backoff.max_failures)
        await asyncio.sleep(delay)
        try:
            await asyncio.to_thread(server.start)
            await server.wait_ready(timeout=60)
        except Exception as e:  # noticed again by the next look: its process is gone
            log.error("the Temporal server did not come back: %s", e)
            server.stop()
            return
        self.server_backoff.restarted()
        log.warning("the Temporal server is back on port %s", self.settings.temporal_port)

    async def _restart_worker(self, task: asyncio.Task) -> None:
        error = None if task.cancelled() else task.exception()
        delay = self.worker_backoff.next_delay()
        log.error("the worker stopped (%s); restarting it in %.0f s (attempt %d of %d)",
                  f"{type(error).__name__}: {error}" if error else "no error", delay,
                  self.worker_backoff.failures, self.worker_backoff.max_failures)
        await asyncio.sleep(delay)
        self.start_worker()
        self.worker_backoff.restarted()
        log.warning("the worker is polling again")

    async def _restart_process(self, p: WorkerProcess) -> None:
        backoff = self.process_backoffs[p.name]
        delay = backoff.next_delay()
        log.error("%s process %d exited (code %s); restarting it in %.0f s (attempt %d of %d)", p.role,
                  p.number, p.exit_code(), delay, backoff.failures, backoff.max_failures)
        await asyncio.sleep(delay)
        p.start()
        backoff.restarted()
        log.warning("%s process %d is %s again", p.role, p.number, "polling" if p.role == "worker" else "running")

    async def stop(self) -> None:
        log.info("stopping the worker")
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in self.processes))
        if self.worker is not None and self.worker_task is not None:
            try:
                await asyncio.wait_for(self.worker.shutdown(), timeout=15)
                await asyncio.wait_for(self.worker_task, timeout=5)
            except (Exception, asyncio.CancelledError):  # stopped already, or not in time: the server stop ends it
                self.worker_task.cancel()
        if self.server is not None:
            self.server.stop()
        log.info("banjian stopped: the workers%s are down; `banjian up` on this data dir resumes every open case",
                 " and the Temporal server" if self.server is not None else "")


async def run_stack(settings: Settings, demo: bool = False) -> None:
    configure_logging(settings)  # text, or JSON with BANJIAN_LOG_FORMAT=json
    secure(settings.data_dir)
    check_read_model_place(settings.data_dir, settings.database_url)  # marks a data dir served with DATABASE_URL
    # where this system's Temporal listens, for the other commands on the data dir (banjian/ops/datadir.py)
    api_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    api_host = f"[{api_host}]" if ":" in api_host else api_host
    endpoints = {"temporal_port": settings.temporal_port, "temporal_address": settings.temporal_address,
                 "namespace": settings.namespace, "api": f"http://{api_host}:{settings.port}"}
    with DataDirLock(settings.data_dir, endpoints):
        if settings.temporal_address is None:  # the server of an `up` killed outright holds the port
            stop_orphan_servers(settings.data_dir / preflight.TEMPORAL_FILE)
        preflight.check_all(settings)
        await _serve(settings, demo)


class _QuietStartup(logging.Filter):
    """Drops uvicorn's report of a failed application start-up (the traceback, then 'Application
    startup failed. Exiting.'): `up` says it in one line instead, the traceback in up-error.log."""

    def __init__(self, started: Callable[[], bool]) -> None:
        super().__init__()
        self.started = started

    def filter(self, record: logging.LogRecord) -> bool:
        return self.started() or record.levelno < logging.ERROR


async def _start_api(api: uvicorn.Server, app, port: int) -> asyncio.Task:
    """Start serving; a failure of the application's start-up (a full disk writing secret.key, a
    database gone) is raised as itself for `up`'s one line, not uvicorn's page of traceback and its
    sys.exit(3), after which `up` said it had stopped normally."""
    failures: list[BaseException] = []
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def recorded(a):
        try:
            async with inner(a) as state:
                yield state
        except Exception as e:
            if not api.started:
                failures.append(e)
            raise

    app.router.lifespan_context = recorded
    quiet = _QuietStartup(lambda: api.started)
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addFilter(quiet)

    async def serve() -> None:
        try:
            await api.serve()
        except SystemExit:  # uvicorn's STARTUP_FAILURE; in a task it would end the event loop at once
            if api.started:
                raise

    task = asyncio.create_task(serve())
    try:
        while not api.started:
            if task.done():
                await task
                if failures:
                    raise failures[0]
                raise StartupError(f"the API could not start on port {port}; choose another with --port")
            await asyncio.sleep(0.05)
    finally:
        uvicorn_log.removeFilter(quiet)
    return task


async def _serve(settings: Settings, demo: bool) -> None:
    # uvicorn stops on SIGINT and SIGTERM, then re-raises the signal with the handler it found:
    # a harmless one here, so the worker and the Temporal server below are stopped as well.
    signal.signal(signal.SIGTERM, lambda *_: log.info("SIGTERM: stopping"))
    engine = make_engine(settings.db_url, **settings.pool_options("api"))
    stored = ensure_base(engine)
    if stored:
        log.info("stored item definitions: %s", ", ".join(stored))
    server = None
    if settings.temporal_address is None:
        server = DevServer(settings)
        try:
            server.start()
        except RuntimeError as e:  # it exited at once, or never opened its port: its log says why
            raise StartupError(str(e)) from None
        try:
            client = await server.wait_ready()
        except Exception:
            server.stop()
            raise StartupError(f"the Temporal server on port {settings.temporal_port} did not answer; "
                               f"see {settings.data_dir / 'temporal.log'}") from None
    else:
        client = await connect(settings)
    # the worker and the API draw on pools of their own: a burst of requests never starves activities
    parts = Parts(settings, None, server, client)  # the in-process worker makes its pool when it starts
    parts.start_worker()
    watcher: asyncio.Task | None = None
    api: uvicorn.Server | None = None
    try:
        app = create_app(settings, client=client, engine=engine, ready=not demo)
        app.state.worker_metrics = {p.name: p.metrics_url for p in parts.processes  # merged into /metrics
                                    if p.role == "worker"}
        # on Ctrl-C a request still waiting (an action whose workflow does not answer) is cancelled after
        # SHUTDOWN_GRACE_S: it would otherwise hold the whole stack up for as long as it waits
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
        api = uvicorn.Server(config)
        api_task = await _start_api(api, app, settings.port)
        # What start-up made (modules, routes, the client; a few hundred thousand objects) lives as
        # long as the process: frozen out of the collector's way, its full collections stop walking
        # it again and again while requests run (measured: ~40 µs per request of an API call).
        gc.freeze()
        watcher = asyncio.create_task(parts.watch(stopping=lambda: api.should_exit))
        base = f"http://{settings.host}:{settings.port}"
        print(f"banjian is up\n  API:          {base}/api\n  API docs:     {base}/docs\n"
              + (f"  Temporal UI:  http://127.0.0.1:{settings.temporal_ui_port}\n" if server else "")
              + f"  Temporal:     {settings.temporal_target}\n  Data dir:     {settings.data_dir.resolve()}\n"
              + ("  Simulation clock: on\n" if settings.simulation else "")
              + "Press Ctrl-C to stop.", flush=True)
        if demo:
            from services.demo import load_demo

            await load_demo(app, settings)
            app.state.ready = True
            print("demo data loaded (users: see README.md)", flush=True)
        done, _ = await asyncio.wait({api_task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done:  # a part kept dying: stop serving, then say why
            api.should_exit = True
            await api_task
            watcher.result()
        await api_task
    finally:
        if watcher is not None:
            watcher.cancel()
        await parts.stop()
