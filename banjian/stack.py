"""`banjian up`: the embedded Temporal server, a worker and the API in one command.

Ctrl-C (SIGINT) or SIGTERM stops the API, then the worker, then the server. Restarting on the
same data dir resumes every open case: the server's SQLite file keeps the workflows and timers.
"""
from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from api.app import create_app
from banjian.db import make_engine
from banjian.seed import ensure_base
from banjian.settings import Settings
from banjian.temporal import DevServer, connect
from worker import build_worker

log = logging.getLogger("banjian")


async def run_stack(settings: Settings, demo: bool = False) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
        server.start()
        client = await server.wait_ready()
    else:
        client = await connect(settings)
    # the worker and the API draw on pools of their own: a burst of requests never starves activities
    worker = build_worker(client, settings, make_engine(settings.db_url, **settings.pool_options("worker")))
    worker_task = asyncio.create_task(worker.run())
    try:
        app = create_app(settings, client=client, engine=engine, ready=not demo)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
        api = uvicorn.Server(config)
        api_task = asyncio.create_task(api.serve())
        while not api.started:
            if api_task.done():
                await api_task
                raise RuntimeError(f"the API could not start on port {settings.port}")
            await asyncio.sleep(0.05)
        base = f"http://{settings.host}:{settings.port}"
        print(f"banjian is up\n  API:          {base}/api\n  API docs:     {base}/docs\n"
              + (f"  Temporal UI:  http://127.0.0.1:{settings.temporal_ui_port}\n" if server else "")
              + f"  Temporal:     {settings.temporal_target}\n  Data dir:     {settings.data_dir.resolve()}\n"
              + ("  Simulation clock: on\n" if settings.simulation else "")
              + "Press Ctrl-C to stop.", flush=True)
        if demo:
            from banjian.demo import load_demo

            await load_demo(app, settings)
            app.state.ready = True
            print("demo data loaded (users: see README.md)", flush=True)
        await api_task
    finally:
        log.info("stopping the worker")
        try:
            await asyncio.wait_for(worker.shutdown(), timeout=15)
            await asyncio.wait_for(worker_task, timeout=5)
        except (Exception, asyncio.CancelledError):  # stopped already, or not in time: the server stop ends it
            worker_task.cancel()
        if server is not None:
            server.stop()
