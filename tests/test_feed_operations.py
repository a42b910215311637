"""Operating the event feed: delivered events pruned after the retention (status still counts them),
the delivery workflow asking for that pruning in its own clock, and parked events listed and
re-queued by an admin over HTTP and from the command line; malformed addresses refused, or (stored
earlier) failing each attempt with a `last_error`."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select
from temporalio import activity
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.feed import FeedActivities
from banjian.db import make_engine, session_factory
from banjian.feed import DELIVERED, PARKED, PENDING, Delivery, Subscriber, add_subscriber, event_body, status
from banjian.feed import list_overview as feed_list
from banjian.feed_contracts import DRAIN_ACTIVITY, PRUNE_ACTIVITY, DrainResult, FeedInput, PruneInput
from banjian.seed import ensure_base
from banjian.settings import Settings
from workflows.feed import FeedWorkflow

SECRET = "feed-ops-secret-0123456789"
NOW = datetime.now(UTC)


def _row(name: str, case_id: str, seq: int, state: str, delivered_days_ago: float | None = None) -> Delivery:
    return Delivery(subscriber=name, case_id=case_id, seq=seq, state=state, next_at=NOW, created_at=NOW,
                    attempts=3 if state == PARKED else 1, last_error="HTTP 400" if state == PARKED else None,
                    delivered_at=None if delivered_days_ago is None else NOW - timedelta(days=delivered_days_ago),
                    body=event_body(case_id, f"no-{case_id}", seq, "submitted", "2026-12-02T08:00:00+08:00",
                                    "submitted", {}))


def _sessions(engine) -> Callable[[], Session]:
    sessions = session_factory(engine)
    return sessions


def _fill(sessions: Callable[[], Session], name: str) -> None:
    add_subscriber(sessions, name, "http://127.0.0.1:1/events", SECRET)
    with sessions() as session:
        session.add_all([_row(name, "c1", 1, DELIVERED, 40), _row(name, "c1", 2, DELIVERED, 31),
                         _row(name, "c1", 3, DELIVERED, 2), _row(name, "c1", 4, PENDING),
                         _row(name, "c2", 1, PARKED), _row(name, "c3", 1, PARKED)])
        session.commit()


# --- retention --------------------------------------------------------------------------------------
async def test_delivered_events_older_than_the_retention_are_pruned_and_still_counted(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    ensure_base(engine)
    sessions = _sessions(engine)
    _fill(sessions, "prov")
    _fill(sessions, "other")
    feed = FeedActivities(sessions, Settings(data_dir=tmp_path))
    pruned = ActivityEnvironment().run(feed.prune, PruneInput(name="prov", before=NOW - timedelta(days=30)))
    assert pruned == 2
    with sessions() as session:
        after = status(session, "prov")
        assert (after["delivered"], after["pending"], after["parked"]) == (3, 1, 2)
        assert session.get(Delivery, 1) is None  # the oldest row went ...
        assert status(session, "other")["delivered"] == 3  # ... and only the pruned subscriber's
        remaining = [r.seq for r in session.exec(Delivery.__table__.select().where(  # type: ignore[attr-defined]
            Delivery.subscriber == "prov", Delivery.state == DELIVERED))]
    assert remaining == [3]
    # pruning again removes nothing more and counts nothing twice
    assert ActivityEnvironment().run(feed.prune, PruneInput(name="prov", before=NOW - timedelta(days=30))) == 0
    with sessions() as session:
        assert status(session, "prov")["delivered"] == 3
    engine.dispose()


async def test_the_delivery_workflow_prunes_by_its_own_clock_waits_on_timers_and_continues_as_new(client):
    asked: list[PruneInput] = []
    drains: list[FeedInput] = []

    @activity.defn(name=PRUNE_ACTIVITY)
    async def prune(inp: PruneInput) -> int:
        asked.append(inp)
        return 0

    @activity.defn(name=DRAIN_ACTIVITY)
    async def drain(inp: FeedInput) -> DrainResult:
        """The far end is down for five rounds, then the subscriber is removed."""
        drains.append(inp)
        assert inp.now is not None
        return DrainResult(removed=True) if len(drains) == 6 else DrainResult(retry_at=inp.now + timedelta(seconds=0.2))

    queue = f"feed-ops-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[FeedWorkflow], activities=[prune, drain]):
        started = datetime.now(UTC)
        handle = await client.start_workflow(
            FeedWorkflow.run, FeedInput(name="prov", retention_days=30, rounds_per_run=2),
            id=f"feed-ops-{uuid.uuid4().hex[:8]}", task_queue=queue)
        assert await handle.result() == "removed"
        last_run = [e async for e in client.get_workflow_handle(handle.id).fetch_history_events()]
    # one prune per run: six rounds of two are three runs, each cut at its start minus the retention
    assert len(asked) == 3 and all(a.name == "prov" for a in asked)
    cuts = [a.before + timedelta(days=30) for a in asked]
    assert started - timedelta(seconds=5) <= cuts[0] <= cuts[1] <= cuts[2] <= datetime.now(UTC)
    # every drain carries the workflow's clock; each failed round waited on a timer of the workflow
    assert [d.now is not None for d in drains] == [True] * 6
    assert drains[1].now - drains[0].now >= timedelta(seconds=0.1)
    # the last run holds its own rounds only: history stays bounded however long the far end is down
    assert sum(e.HasField("timer_started_event_attributes") for e in last_run) == 1
    assert sum(e.HasField("activity_task_scheduled_event_attributes") for e in last_run) == 3  # prune + 2 drains
    assert len(last_run) < 40


# --- parked events --------------------------------------------------------------------------------
async def test_an_admin_lists_parked_events_and_requeues_them(stack, people):
    name = f"parked-{uuid.uuid4().hex[:6]}"
    _fill(stack.sessions, name)
    admin = people.admin
    r = await admin.get(f"/api/subscribers/{name}/parked")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed["total"] == 2
    assert [(e["event_id"], e["case_no"], e["attempts"], e["last_error"]) for e in listed["items"]] == [
        ("c2-1", "no-c2", 3, "HTTP 400"), ("c3-1", "no-c3", 3, "HTTP 400")]
    assert (await admin.get(f"/api/subscribers/{name}/parked", params={"limit": 1, "offset": 1})).json()["items"][0][
        "event_id"] == "c3-1"
    bad = await admin.get(f"/api/subscribers/{name}/parked", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text
    r = await admin.post(f"/api/subscribers/{name}/retry")
    assert r.status_code == 200, r.text
    assert r.json()["requeued"] == 2 and r.json()["parked"] == 0
    assert (await admin.get(f"/api/subscribers/{name}/parked")).json() == {"items": [], "total": 0}
    assert (await admin.post("/api/subscribers/nobody-here/retry")).status_code == 404
    await admin.stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())


def test_subscribers_cli_lists_parked_events_and_retries_them(tmp_path):
    from services.cli import app as cli

    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    assert runner.invoke(cli, ["subscribers", "add", "prov", "--url", "http://127.0.0.1:1/events", "--secret",
                               SECRET, *d]).exit_code == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    with Session(engine) as session:
        session.add_all([_row("prov", "c2", 1, PARKED), _row("prov", "c2", 2, PENDING)])
        session.commit()
    out = runner.invoke(cli, ["subscribers", "parked", "prov", *d])
    assert out.exit_code == 0, out.output
    assert [e["event_id"] for e in json.loads([x for x in out.output.strip().splitlines() if x.startswith("{")][-1])["items"]] == ["c2-1"]
    out = runner.invoke(cli, ["subscribers", "retry", "prov", *d])
    assert out.exit_code == 0, out.output
    answer = json.loads([x for x in out.output.strip().splitlines() if x.startswith("{")][-1])
    assert (answer["requeued"], answer["parked"], answer["pending"]) == (1, 0, 2)
    assert runner.invoke(cli, ["subscribers", "retry", "nobody", *d]).exit_code == 1
    engine.dispose()


async def test_a_delivery_workflow_started_before_the_retention_replays_on_the_current_code(client):
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    from tests.feed_v1_workflow import FeedWorkflowV1

    drains: list[FeedInput] = []

    @activity.defn(name=DRAIN_ACTIVITY)
    async def drain(inp: FeedInput) -> DrainResult:
        drains.append(inp)
        return DrainResult(removed=len(drains) == 3, delivered=1)

    queue = f"feed-v1-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[FeedWorkflowV1], activities=[drain]):
        handle = await client.start_workflow(FeedWorkflowV1.run, FeedInput(name="prov"),
                                             id=f"feed-v1-{uuid.uuid4().hex[:8]}", task_queue=queue)
        assert await handle.result() == "removed"
    history = await handle.fetch_history()
    assert sum(e.HasField("activity_task_scheduled_event_attributes") for e in history.events) == 3
    converter = client.data_converter if client.data_converter else pydantic_data_converter
    result = await Replayer(workflows=[FeedWorkflow], data_converter=converter).replay_workflow(
        history, raise_on_replay_failure=False)
    assert result.replay_failure is None  # no prune, no timer where the old code issued none


# --- malformed addresses ------------------------------------------------------------------------------
BAD_URLS = ["http://[::1/events", "http://127.0.0.1:99999/events", "http://ää..com/events", "http://h:port/events",
            "http:///events", "ftp://127.0.0.1/events"]


def test_a_malformed_address_is_refused_in_one_line_by_the_cli(tmp_path):
    """`subscribers add` with a bad IPv6 literal was a traceback (PUT /api/subscribers/{name} a 500), and
    a host name the sender cannot post to (`ää..com`) was stored."""
    from services.cli import app as cli

    runner = CliRunner()
    for url in BAD_URLS:
        out = runner.invoke(cli, ["subscribers", "add", "prov", "--url", url, "--data-dir", str(tmp_path)])
        assert out.exit_code == 1 and isinstance(out.exception, SystemExit), (url, out.output)
        assert "url: 订阅地址须为 http(s) 网址 / url must be an http(s) URL" in out.output, (url, out.output)
        assert "Traceback" not in out.output
    engine = make_engine(f"sqlite:///{tmp_path / 'banjian.db'}")
    with Session(engine) as session:
        assert session.exec(select(Subscriber)).all() == []
    engine.dispose()
    ok = runner.invoke(cli, ["subscribers", "add", "prov", "--url", "https://省政务.中国/events", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output


async def test_the_api_refuses_a_malformed_address_with_a_422(stack):
    admin = stack.user(f"admin-{uuid.uuid4().hex[:6]}", "admin")
    for url in BAD_URLS:
        r = await admin.put(f"/api/subscribers/bad-{uuid.uuid4().hex[:6]}", json={"url": url, "secret": SECRET})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["detail"]["field"] == "url" and r.json()["detail"]["code"] == "invalid_url", (url, r.text)


async def test_an_address_stored_before_the_check_fails_each_attempt_and_says_why(tmp_path):
    """A subscriber whose stored address the sender cannot parse (added by an earlier release): each
    attempt is a failure recorded in `last_error` (pending, retried), not a failed activity that left
    `last_error` empty while the queue grew."""
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    ensure_base(engine)
    sessions = _sessions(engine)
    with sessions() as session:
        session.add(Subscriber(name="old", url="http://ää..com/events", secret=SECRET, created_at=NOW))
        session.add(_row("old", "c1", 1, PENDING))
        session.commit()
    feed = FeedActivities(sessions, Settings(data_dir=tmp_path, feed_poll_seconds=0.1))
    result = await ActivityEnvironment().run(feed.drain, FeedInput(name="old", drain_seconds=2))
    assert result.retry_at is not None and result.delivered == 0
    with sessions() as session:
        now = status(session, "old")
        row = session.exec(select(Delivery).where(Delivery.subscriber == "old")).one()
    assert now["pending"] == 1 and now["delivered"] == 0
    assert "InvalidURL" in (now["last_error"] or "") and row.attempts >= 1, now
    engine.dispose()


async def test_the_status_says_when_the_error_happened_and_how_old_the_queue_is(tmp_path):
    """`last_error` is kept after later successes: `last_error_at`, `last_delivered_at` and
    `oldest_pending_at` tell an operator whether it is the present (a far end down for an hour) or
    the past (a blip last week, events flowing since)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    ensure_base(engine)
    sessions = _sessions(engine)
    _fill(sessions, "prov")  # its address is a closed port: every attempt fails
    feed = FeedActivities(sessions, Settings(data_dir=tmp_path, feed_poll_seconds=0.1))
    before = datetime.now(UTC)
    result = await ActivityEnvironment().run(feed.drain, FeedInput(name="prov", drain_seconds=2))
    assert result.retry_at is not None
    with sessions() as session:
        now = status(session, "prov")
        listed = next(s for s in feed_list(session) if s["name"] == "prov")
    assert now["pending"] == 1 and "ConnectError" in now["last_error"]
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(now["last_error_at"]) <= datetime.now(UTC)
    assert datetime.fromisoformat(now["oldest_pending_at"]) == NOW.replace(microsecond=0)
    assert datetime.fromisoformat(now["last_delivered_at"]) == (NOW - timedelta(days=2)).replace(microsecond=0)
    assert {k: listed[k] for k in now if k in listed} == {k: now[k] for k in now if k in listed}
    assert {"last_error_at", "last_delivered_at", "oldest_pending_at"} <= set(listed)
    # a subscriber added again (a new address) starts with no error
    add_subscriber(sessions, "prov", "http://127.0.0.1:2/events", SECRET)
    with sessions() as session:
        again = status(session, "prov")
    assert again["last_error"] is None and again["last_error_at"] is None
    engine.dispose()
