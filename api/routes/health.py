"""Readiness: the database, the Temporal server, a worker, and the demo data when asked for."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when every part is ready, else 503 naming the part that is not."""
    state = request.app.state
    out = {"status": "ok", "database": "ok", "temporal": "ok", "worker": "ok"}
    try:
        await asyncio.to_thread(_ping, state.sessions)
    except Exception as e:  # report, never raise: this is the readiness probe
        out["database"] = f"error: {e.__class__.__name__}"
    try:
        resp = await state.client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=state.settings.namespace, task_queue=TaskQueue(name=state.settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), timeout=timedelta(seconds=3))
        if not resp.pollers:
            out["worker"] = "no worker polls the task queue"
        elif not any(_recent(p.last_access_time) for p in resp.pollers):
            # Temporal lists a poller for minutes after its last poll: a frozen or hung worker
            out["worker"] = f"no worker has polled for {POLLER_SILENCE_S} s (frozen or hung?)"
    except Exception as e:
        out["temporal"] = f"error: {e.__class__.__name__}"
        out["worker"] = "unknown"
    if not getattr(state, "ready", True):
        out["demo"] = "loading"
        out["status"] = "starting"
    if any(v != "ok" for k, v in out.items() if k != "status"):
        out["status"] = "unavailable" if out["status"] == "ok" else out["status"]
        return JSONResponse(out, status_code=503)
    return JSONResponse(out)


#: a live worker renews its long poll at least once a minute; silence longer than this means it is stuck
POLLER_SILENCE_S = 150


def _recent(last_access: Timestamp) -> bool:
    """Whether a poller polled within POLLER_SILENCE_S (a poller without a time counts as recent)."""
    if not last_access.seconds:
        return True
    return time.time() - last_access.seconds < POLLER_SILENCE_S


def _ping(sessions) -> None:
    with sessions() as session:
        session.exec(text("SELECT 1"))
