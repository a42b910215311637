"""The event feed when things go wrong for real: a worker process SIGKILLed twice mid-delivery, a far
end down for a long stretch of the delivery workflow's virtual time (its retries are durable timers,
so time skipping moves them), and the events of a joint case's department sub-cases.

Delivery here runs at the contract's own retry rhythm (doubling from 1 s, capped at 30 s); the
stack has its own task queue and SQLite read model, and starts and kills its workers itself."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, col, select
from temporalio.testing import TimeSkipper, TimeSkippingConfig

from api.app import create_app
from banjian.db import make_engine
from banjian.feed import PENDING, Delivery
from banjian.feed_contracts import feed_workflow_id
from banjian.seed import ensure_base
from banjian.settings import Settings
from tests.conftest import TEST_PAYLOAD_KEYS, Stack, staff_every_department
from tests.test_durability import BANJIAN, CLEAN_ENV, ROOT
from tests.test_feed import Receiver, _history_seqs, _status, _subscribe, _until
from worker import build_worker

#: ports of this module's receivers (the range this suite's feed tests own)
PORTS = range(18500, 18540)


class LocalReceiver(Receiver):
    def __init__(self) -> None:
        super().__init__()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/events"
        self.server.config.port = self.port


_next_port = itertools.count()


def _free_port() -> int:
    """A free port of the range, a different one each time (a subscriber left by an earlier test
    must never reach a later test's receiver)."""
    import socket

    start = next(_next_port)
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18500-18539")


@pytest.fixture
async def leave(contract_stack) -> AsyncIterator[list[str]]:
    """Names of subscribers a test adds: removed after it (queue and workflow with them), so that
    none of them reaches a later test's receiver."""
    names: list[str] = []
    yield names
    admin = contract_stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    for name in names:
        r = await contract_stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
async def contract_stack(temporal_env, client, tmp_path_factory) -> AsyncIterator[Stack]:
    """A stack whose feed keeps the contract's retry schedule (1 s doubling to 30 s)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("feed-durable"),
                        task_queue=f"banjian-feedd-{uuid.uuid4().hex[:8]}", simulation=True,
                        temporal_address=client.service_client.config.target_host, payload_keys=TEST_PAYLOAD_KEYS,
                        workflow_sandbox=True, feed_retry_base_seconds=1, feed_retry_max_seconds=30,
                        feed_timeout_seconds=3, feed_poll_seconds=0.2, feed_drain_seconds=2,
                        # no continue-as-new within a test: on the time-skipping dev server (1.32) the
                        # new run of a skipped workflow gets its first task only when the wall clock
                        # reaches its virtual start (seen here); tests/test_feed_operations.py checks it
                        feed_rounds_per_run=1000)
    engine = make_engine(settings.db_url, **settings.pool_options("api"))
    ensure_base(engine)
    staff_every_department(engine)
    app = create_app(settings, client=client, engine=engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test", timeout=90) as http:
            yield Stack(settings, engine, client, temporal_env, http, app)
    engine.dispose()


class WorkerProcess:
    """`banjian worker` as an operating-system process on the stack's task queue and database."""

    def __init__(self, stack: Stack, logs) -> None:
        s = stack.settings
        self.env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
        self.env.update(PYTHONUNBUFFERED="1", BANJIAN_SIMULATION="1", BANJIAN_DATA_DIR=str(s.data_dir),
                        BANJIAN_TASK_QUEUE=s.task_queue, TEMPORAL_ADDRESS=s.temporal_target,
                        BANJIAN_PAYLOAD_KEYS=TEST_PAYLOAD_KEYS, BANJIAN_WORKFLOW_SANDBOX="1",
                        **{f"BANJIAN_{k.upper()}": str(getattr(s, k)) for k in (
                            "feed_retry_base_seconds", "feed_retry_max_seconds", "feed_timeout_seconds",
                            "feed_poll_seconds", "feed_drain_seconds", "feed_rounds_per_run")})
        self.logs, self.proc, self.starts = logs, None, 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.logs / f"worker-{self.starts}.log", "wb")
        self.proc = subprocess.Popen([str(BANJIAN), "worker"], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=ROOT, start_new_session=True)

    def sigkill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def log(self) -> str:
        return (self.logs / f"worker-{self.starts}.log").read_text(errors="replace")[-3000:]


# --- a worker process SIGKILLed twice while deliveries are in flight ---------------------------------
async def test_every_event_arrives_once_per_event_id_in_order_when_the_worker_process_is_killed_twice(
        contract_stack, tmp_path, leave):
    stack = contract_stack
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    clerk = stack.staff("amr", "clerk")
    proc = WorkerProcess(stack, tmp_path)
    async with LocalReceiver() as rx:
        rx.control(hang=1.5)  # slow answers: deliveries are in flight whenever the worker dies
        name = f"kill-{uuid.uuid4().hex[:6]}"
        await _subscribe(stack, admin, name, rx.url)
        leave.append(name)
        proc.start()
        try:
            applicants = [stack.applicant() for _ in range(4)]
            cases = [(await applicants[i % 4].apply("food-business-licence")).json() for i in range(20)]
            for c in cases[:10]:
                await clerk.ok(c["id"], "accept")
            await _until(lambda: _got_some(rx, 3), 60, "deliveries under way")
            proc.sigkill()  # 1: mid-POST (the receiver hangs 1.5 s on every event)
            proc.start()
            for c in cases[10:]:
                await clerk.ok(c["id"], "accept")
            seen = len(rx.got.events)
            await _until(lambda: _got_some(rx, seen + 3), 60, "deliveries under way again")
            proc.sigkill()  # 2
            proc.start()
            rx.control(hang=0.05)
            expected = await _history_seqs(stack, clerk, [c["id"] for c in cases])
            total = sum(len(s) for s in expected.values())

            async def all_delivered() -> bool:
                return (await _status(admin, name))["delivered"] == total

            await _until(all_delivered, 240, f"all {total} events delivered\n{proc.log()}")
        finally:
            if proc.proc is not None and proc.proc.poll() is None:
                proc.sigkill()
        got = rx.got
        by_case: dict[str, list[int]] = {}
        for e in got.events:  # the receiver's de-duplicated events, in arrival order
            by_case.setdefault(e["case_id"], []).append(e["seq"])
        assert by_case == expected  # every seq of every case, once, in order, no gaps
        assert got.bad_signatures == 0 and got.out_of_order == []
        # a second copy only of an event whose acknowledgement the kill lost: at most one per
        # event in flight at a kill (at most a batch per kill)
        assert got.duplicates <= 2 * stack.settings.feed_batch
        assert (await _status(admin, name))["pending"] == 0


async def _got_some(rx: Receiver, n: int) -> bool:
    return len(rx.got.events) >= n


# --- a far end down for hours of virtual time ---------------------------------------------------
@pytest.fixture
async def worker(contract_stack) -> AsyncIterator[None]:
    async with build_worker(contract_stack.client, contract_stack.settings, contract_stack.engine):
        yield


def _attempts(stack: Stack, name: str) -> list[int]:
    with Session(stack.engine) as session:
        return list(session.exec(select(Delivery.attempts).where(col(Delivery.subscriber) == name,
                                                                 col(Delivery.state) == PENDING,
                                                                 col(Delivery.seq) == 1)).all())


async def test_a_far_end_down_for_hours_of_virtual_time_gets_retries_30_s_apart_and_everything_after(
        contract_stack, worker, leave):
    stack = contract_stack
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    clerk = stack.staff("amr", "clerk")
    async with LocalReceiver() as rx:
        rx.control(fail=503)
        name = f"down-{uuid.uuid4().hex[:6]}"
        await _subscribe(stack, admin, name, rx.url)
        leave.append(name)
        cases = [(await stack.applicant().apply("food-business-licence")).json() for _ in range(3)]
        await clerk.ok(cases[0]["id"], "accept")
        await _until(lambda: _refused(rx, 3), 20, "first attempts while down")
        handle = stack.client.get_workflow_handle(feed_workflow_id(stack.settings.task_queue, name))
        skipper = TimeSkipper(stack.client, config=TimeSkippingConfig(max_session_skip_count=100_000))
        started = await skipper.get_current_time(handle)
        down = timedelta(minutes=OUTAGE_MINUTES)
        for _ in range(int(down / STEP)):  # 30 s of virtual time at a time (what one retry may wait)
            assert await skipper.fast_forward(handle, STEP)
        elapsed = (await skipper.get_current_time(handle)) - started
        assert elapsed >= down
        # every case's head was tried at least once per 30 s of the outage (backoff 1, 2, 4 … 30 s;
        # a round also takes its drain's few milliseconds), and no wait was ever longer. Counted over
        # the outage itself: the clock may have run past its end (`elapsed`) by a step whose attempt is
        # not made yet (a loaded machine's full run counted 39 attempts for 1,230 s elapsed, 1,200 down;
        # one with every core busy 29, the skipper's steps outrunning the attempts they let fire). The
        # waits below are the rule (never more than 30 s); the count only rules out a growing back-off
        # (one of 1, 2, 4 … s without a cap makes about 10 attempts in 20 minutes)
        attempts = _attempts(stack, name)
        assert len(attempts) == 3 and min(attempts) >= down.total_seconds() / 60, (attempts, elapsed)
        waits = [e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
                 async for e in handle.fetch_history_events() if e.HasField("timer_started_event_attributes")]
        assert len(waits) >= min(attempts) - 1 and max(waits) <= timedelta(seconds=30)
        status = await _status(admin, name)
        assert status["delivered"] == 0 and "503" in status["last_error"]
        rx.control()  # the far end is back
        assert await skipper.fast_forward(handle, timedelta(seconds=31))
        expected = await _history_seqs(stack, clerk, [c["id"] for c in cases])
        total = sum(len(s) for s in expected.values())

        async def all_delivered() -> bool:
            return (await _status(admin, name))["delivered"] == total

        await _until(all_delivered, 60, "everything delivered once the far end is up")
        by_case: dict[str, list[int]] = {}
        for e in rx.got.events:
            by_case.setdefault(e["case_id"], []).append(e["seq"])
        assert by_case == expected and rx.got.out_of_order == [] and rx.got.duplicates == 0


async def test_a_new_cases_first_attempt_comes_within_5_s_while_the_far_end_is_down(contract_stack, worker, leave):
    """Contract: the first attempt within 5 s of the event, also while older events wait out a long
    backoff (the delivery workflow waits on its timer; the API wakes it: api/feed.py)."""
    stack = contract_stack
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    async with LocalReceiver() as rx:
        rx.control(fail=503)
        name = f"late-{uuid.uuid4().hex[:6]}"
        await _subscribe(stack, admin, name, rx.url)
        leave.append(name)
        first = (await stack.applicant().apply("food-business-licence")).json()

        async def long_backoff() -> bool:  # tried 5 times (1 + 2 + 4 + 8 s): the next wait is 16 s
            return sum(a["event_id"] == f"{first['id']}-1" for a in rx.got.attempts) >= 5

        await _until(long_backoff, 40, "five attempts of the first case's event")
        filed = time.time()
        second = (await stack.applicant().apply("food-business-licence")).json()

        async def tried() -> bool:
            return any(a["event_id"] == f"{second['id']}-1" for a in rx.got.attempts)

        await _until(tried, 15, "the second case's first attempt")
        at = next(a["at"] for a in rx.got.attempts if a["event_id"] == f"{second['id']}-1")
        assert at - filed <= 5, (at - filed, list(rx.got.attempts))
        rx.control()

        async def both() -> bool:
            return {f"{first['id']}-1", f"{second['id']}-1"} <= {e["event_id"] for e in rx.got.events}

        await _until(both, 40, "both delivered once the far end is up")


#: virtual minutes of outage. The dev server takes about one second of wall time per skip and a
#: retry is a skip (they are at most 30 s apart), so a whole day (2,880 skips) would take ~50 min.
OUTAGE_MINUTES = 20
STEP = timedelta(seconds=30)


async def _refused(rx: Receiver, n: int) -> bool:
    return rx.got.refused >= n


# --- a joint case's department sub-cases ------------------------------------------------------------
async def test_sub_case_events_reach_subscribers_with_their_own_case_number_and_seq(contract_stack, worker, leave):
    stack = contract_stack
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    clerk = stack.staff("hcd", "clerk")
    async with LocalReceiver() as rx:
        name = f"joint-{uuid.uuid4().hex[:6]}"
        await _subscribe(stack, admin, name, rx.url)
        leave.append(name)
        r = await stack.applicant(organisation=True).apply("construction-permit-joint")
        assert r.status_code == 201, r.text
        parent = await clerk.ok(r.json()["id"], "accept")
        subs = parent["sub_cases"]
        assert len(subs) == 4
        first = subs[0]
        dept = first["department"]
        sc = await stack.staff(dept, "handler").case(first["id"])
        while sc["current_step"]["kind"] == "review":
            sc = await stack.staff(dept, sc["current_step"]["role"]).ok(first["id"], "pass")
        await stack.staff(dept, "approver").ok(first["id"], "approve")
        ids = [parent["id"], *(s["id"] for s in subs)]
        auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
        state: dict[str, object] = {}

        async def all_delivered() -> bool:
            state["expected"] = await _own_history_seqs(auditor, ids)
            state["got"] = _by_case(rx)
            return state["got"] == state["expected"]

        try:
            await _until(all_delivered, 60, "the joint case's and its sub-cases' events delivered")
        except AssertionError as e:
            raise AssertionError(f"{e}: {state}, status {await _status(admin, name)}") from None
        expected = state["expected"]
        numbers = {cid: (await auditor.case(cid))["case_no"] for cid in ids}
        assert len(set(numbers.values())) == 5 and all(numbers.values())
        assert [numbers[s["id"]] for s in subs] == [f"{numbers[parent['id']]}-{n:02d}" for n in range(1, 5)]
        for e in rx.got.events:
            assert e["case_no"] == numbers[e["case_id"]], e  # a sub-case's own number, not its parent's
            assert e["event_id"] == f"{e['case_id']}-{e['seq']}"
        by_case = _by_case(rx)
        assert by_case == expected  # each sub-case numbered 1, 2, 3 … of its own
        assert all(seqs[0] == 1 and len(seqs) >= 1 for seqs in by_case.values()) and len(by_case) == 5
        assert rx.got.out_of_order == [] and rx.got.duplicates == 0


def _by_case(rx: Receiver) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in rx.got.events:
        out.setdefault(e["case_id"], []).append(e["seq"])
    return out


async def _own_history_seqs(reader, case_ids: list[str]) -> dict[str, list[int]]:
    """Each case's own history numbers (a joint case's history interleaves its sub-cases' entries,
    each naming its `case_id`)."""
    out = {}
    for cid in case_ids:
        r = await reader.get(f"/api/cases/{cid}/history")
        assert r.status_code == 200, r.text
        out[cid] = [e["seq"] for e in r.json() if e.get("case_id", cid) == cid]
    return out
