"""The event feed's timing promises (contract: "the first attempt comes within 5 s of the event,
retries at most 30 s apart"), checked where each is kept:

- the drain activity sends a new case's first event while another event still hangs on the far end,
  and counts an event's next attempt from the start of the failed one (a timeout does not stretch
  the gap);
- the API wakes a delivery workflow waiting out a retry when a case's next event was queued and
  never tried, and the workflow's wait ends on that signal;
- a delivery workflow recorded before the wake signal replays on the current code."""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import uvicorn
from fastapi import FastAPI, Request, Response
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer, Worker

from activities.feed import FeedActivities
from api.feed import FeedStarter
from banjian.db import make_engine, session_factory
from banjian.feed import PENDING, Delivery, add_subscriber, event_body, set_paused
from banjian.feed_contracts import (
    DRAIN_ACTIVITY,
    PRUNE_ACTIVITY,
    WAKE_SIGNAL,
    DrainResult,
    FeedInput,
    PruneInput,
)
from banjian.seed import ensure_base
from banjian.settings import Settings
from tests.feed_receiver import free_port
from workflows.feed import FeedWorkflow

SECRET = "feed-timing-secret-0123456789"


def _row(name: str, case_id: str, seq: int, attempts: int = 0, retry_in: float = 0) -> Delivery:
    now = datetime.now(UTC)
    return Delivery(subscriber=name, case_id=case_id, seq=seq, state=PENDING, attempts=attempts,
                    next_at=now + timedelta(seconds=retry_in),
                    created_at=now, body=event_body(case_id, f"no-{case_id}", seq, "submitted",
                                                    "2026-12-02T08:00:00+08:00", "submitted", {}))


# --- the drain ----------------------------------------------------------------------------------
async def test_a_hanging_event_delays_no_other_cases_first_attempt_and_its_retry_counts_from_its_start(tmp_path):
    arrivals: dict[str, list[float]] = {}
    far_end = FastAPI()

    @far_end.post("/events")
    async def events(request: Request) -> Response:
        event = await request.json()
        arrivals.setdefault(event["case_id"], []).append(time.time())
        if event["case_id"] == "slow":  # hangs 3 s, then fails
            await asyncio.sleep(3)
            return Response(status_code=503)
        return Response(status_code=200)

    port = free_port(18360, 18379)
    server = uvicorn.Server(uvicorn.Config(far_end, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    ensure_base(engine)
    sessions = session_factory(engine)
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        add_subscriber(sessions, "prov", f"http://127.0.0.1:{port}/events", SECRET)
        with sessions() as session:
            session.add(_row("prov", "slow", 1))
            session.commit()
        settings = Settings(data_dir=tmp_path, feed_timeout_seconds=10, feed_retry_base_seconds=4,
                            feed_retry_max_seconds=4, feed_poll_seconds=0.1)
        drain = asyncio.create_task(ActivityEnvironment().run(FeedActivities(sessions, settings).drain,
                                                              FeedInput(name="prov", drain_seconds=30)))
        while "slow" not in arrivals:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        queued = time.time()
        with sessions() as session:  # a new case's event while the slow one hangs
            session.add(_row("prov", "fast", 1))
            session.commit()
        result: DrainResult = await asyncio.wait_for(drain, 20)
    finally:
        server.should_exit = True
        await serving
        engine.dispose()
    # the new case's first attempt came at once, not after the hanging one's answer (3 s)
    assert arrivals["fast"][0] - queued < 1.5, arrivals
    assert arrivals["fast"][0] < arrivals["slow"][0] + 2
    # the far end failed last: the drain hands the wait to the workflow, up to 4 s after the slow
    # event's attempt began (not 4 s after its 3-s answer), so attempts stay within the cap
    assert result.delivered == 1 and result.retry_at is not None
    assert result.retry_at.timestamp() - arrivals["slow"][0] <= 4.5, (result, arrivals)


# --- the API's wake-up -------------------------------------------------------------------------
def test_the_api_wakes_a_subscriber_whose_new_case_head_waited_a_look_untried(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    ensure_base(engine)
    sessions = session_factory(engine)
    for name in ("down", "paused", "blocked", "no-worker"):
        add_subscriber(sessions, name, "http://127.0.0.1:1/events", SECRET)
    set_paused(sessions, "paused", True)
    with sessions() as session:  # each subscriber's far end failed an event, retried 20 s from now
        session.add_all([_row(name, f"old-{name}", 1, attempts=3, retry_in=20) for name in ("down", "paused")])
        session.add(_row("no-worker", "old-no-worker", 1, attempts=3, retry_in=-60))  # nobody retried it
        session.commit()
    starter = FeedStarter(None, sessions, Settings(data_dir=tmp_path))  # type: ignore[arg-type]
    assert starter.waiting() == []  # the first look only marks where the queue stands
    with sessions() as session:
        session.add_all([_row("down", "c1", 1),  # a new case's head, never tried
                         _row("paused", "c2", 1),  # paused: nothing is sent, nothing to wake
                         _row("blocked", "c3", 1, attempts=4, retry_in=20), _row("blocked", "c3", 2),  # behind seq 1
                         _row("no-worker", "c4", 1)])  # no drain has run for a minute: no signal piles up
        session.commit()
    assert starter.waiting() == []  # queued since the last look: the drain may still take them
    assert starter.waiting() == ["down"]  # a look later still untried: the workflow is waiting
    assert starter.waiting() == []  # each event wakes once
    engine.dispose()


# --- the delivery workflow ----------------------------------------------------------------------
async def test_the_wake_signal_ends_the_retry_wait(client: Client):
    drains: list[datetime] = []

    @activity.defn(name=PRUNE_ACTIVITY)
    async def prune(inp: PruneInput) -> int:
        return 0

    @activity.defn(name=DRAIN_ACTIVITY)
    async def drain(inp: FeedInput) -> DrainResult:
        """The far end is down: the next retry is 30 s away; the third round finds it removed."""
        drains.append(datetime.now(UTC))
        assert inp.now is not None
        return DrainResult(removed=len(drains) == 3, retry_at=inp.now + timedelta(seconds=30))

    queue = f"feed-wake-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[FeedWorkflow], activities=[prune, drain]):
        handle = await client.start_workflow(FeedWorkflow.run, FeedInput(name="prov"),
                                             id=f"feed-wake-{uuid.uuid4().hex[:8]}", task_queue=queue)
        while len(drains) < 1:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        await handle.signal(WAKE_SIGNAL)
        while len(drains) < 2:
            assert datetime.now(UTC) - drains[0] < timedelta(seconds=10), "no drain after the wake"
            await asyncio.sleep(0.05)
        await handle.signal(WAKE_SIGNAL)
        assert await handle.result() == "removed"
    assert drains[1] - drains[0] < timedelta(seconds=10)  # woken, not after the 30-s timer
    assert drains[2] - drains[1] < timedelta(seconds=10)


async def test_a_delivery_workflow_recorded_before_the_wake_signal_replays_on_the_current_code(client: Client):
    from tests.feed_v2_workflow import FeedWorkflowV2

    drains: list[FeedInput] = []

    @activity.defn(name=PRUNE_ACTIVITY)
    async def prune(inp: PruneInput) -> int:
        return 0

    @activity.defn(name=DRAIN_ACTIVITY)
    async def drain(inp: FeedInput) -> DrainResult:
        drains.append(inp)
        assert inp.now is not None
        return DrainResult(removed=len(drains) == 3, retry_at=inp.now + timedelta(seconds=0.2))

    queue = f"feed-v2-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[FeedWorkflowV2], activities=[prune, drain]):
        handle = await client.start_workflow(FeedWorkflowV2.run, FeedInput(name="prov"),
                                             id=f"feed-v2-{uuid.uuid4().hex[:8]}", task_queue=queue)
        assert await handle.result() == "removed"
    history = await handle.fetch_history()
    assert sum(e.HasField("timer_started_event_attributes") for e in history.events) == 2
    converter = client.data_converter if client.data_converter else pydantic_data_converter
    result = await Replayer(workflows=[FeedWorkflow], data_converter=converter).replay_workflow(
        history, raise_on_replay_failure=False)
    assert result.replay_failure is None  # its plain timers replay as they were recorded
