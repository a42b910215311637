"""`GET /api/health` and a worker that stopped polling: Temporal keeps listing a poller for minutes
after its last poll, so a frozen worker (SIGSTOP, a hung event loop) must be told by the age of its
last poll, not by its presence in the list."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from types import SimpleNamespace

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.taskqueue.v1 import PollerInfo

from api.routes.health import health
from banjian.temporal import POLLER_SILENCE_S


def _request(*polled_ago: float) -> SimpleNamespace:
    pollers = [PollerInfo(identity=f"w{i}", last_access_time=Timestamp(seconds=int(time.time() - ago)))
               for i, ago in enumerate(polled_ago)]

    class Service:
        async def describe_task_queue(self, req, timeout=None):
            return SimpleNamespace(pollers=pollers)

    @contextmanager
    def sessions():
        yield SimpleNamespace(exec=lambda *_: None)

    state = SimpleNamespace(sessions=sessions, client=SimpleNamespace(workflow_service=Service()),
                            settings=SimpleNamespace(namespace="default", task_queue="banjian"), ready=True)
    return SimpleNamespace(app=SimpleNamespace(state=state))


async def test_a_worker_that_polled_within_the_minute_is_ok():
    r = await health(_request(5, POLLER_SILENCE_S * 3))  # one live poller is enough
    assert r.status_code == 200 and json.loads(r.body)["worker"] == "ok"


async def test_a_worker_listed_but_silent_for_minutes_is_reported():
    r = await health(_request(POLLER_SILENCE_S + 30))
    body = json.loads(r.body)
    assert r.status_code == 503 and body["status"] == "unavailable"
    assert body["worker"].startswith(f"no worker has polled for {POLLER_SILENCE_S} s")
