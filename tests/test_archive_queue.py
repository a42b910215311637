"""The archive package off the case's path (issue 13): a closed case is queued in the read model by the
transaction that records its close, and the workers' sweepers build its package from the queue —
no activity in the case's history, nothing lost when no sweeper runs or one dies mid-batch, and one
package per case however many sweepers (and the API's build on demand) meet on it."""
from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from activities.archive import ArchiveActivities, ArchiveSweeper
from banjian import archive_queue
from banjian.archive_queue import ArchiveQueueEntry
from banjian.crypto import sm3_hex
from banjian.db import Archive
from tests.conftest import People, Stack, drop_postgres, make_stack, new_postgres_url
from tests.test_budget import run_case

ITEM = "fire-safety-inspection"


def queued(stack: Stack) -> set[str]:
    with stack.sessions() as s:
        return set(s.exec(select(ArchiveQueueEntry.case_id)).all())


def archives(stack: Stack, case_ids: list[str]) -> list[Archive]:
    with stack.sessions() as s:
        return list(s.exec(select(Archive).where(Archive.case_id.in_(case_ids))).all())  # type: ignore[attr-defined]


def sweeper(stack: Stack, lease: timedelta = timedelta(seconds=30), batch: int = 20) -> ArchiveSweeper:
    """A sweeper as a (re)started worker process makes it."""
    archiver = ArchiveActivities(stack.sessions, stack.settings.archive_dir, stack.client)
    return ArchiveSweeper(archiver, stack.sessions, every=0.05, batch=batch, lease=lease)


def package_is_whole(arc: Archive) -> dict:
    data = Path(arc.path).read_bytes()
    assert sm3_hex(data) == arc.sm3 and len(data) == arc.size
    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))


@pytest.fixture(params=["sqlite", "postgres"])
async def idle_stack(request, temporal_env, client, tmp_path) -> AsyncIterator[Stack]:
    """A stack whose worker runs no sweeper (as if every worker process were down for the archive), on
    each read-model database."""
    url = new_postgres_url() if request.param == "postgres" else None
    try:
        async for s in make_stack(temporal_env, client, tmp_path, url, settings_options={"archive_sweep_seconds": 0}):
            yield s
    finally:
        if url is not None:
            await asyncio.to_thread(drop_postgres, url)


async def test_the_sweeper_archives_a_closed_case_without_an_activity_in_its_history(stack, people):
    cid = await run_case(people)
    for _ in range(300):  # the stack's worker sweeps every second
        # the sweeper writes the package's row, then settles the queue in its own transaction
        if archives(stack, [cid]) and cid not in queued(stack):
            break
        await asyncio.sleep(0.1)
    [arc] = archives(stack, [cid])
    assert cid not in queued(stack)
    manifest = package_is_whole(arc)
    assert manifest["case_id"] == cid and manifest["status"] == "concluded"
    history = await stack.client.get_workflow_handle(f"case-{cid}").fetch_history()
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    # the exported history holds the transition that closed the case (its marker), not a history cut
    # off while that workflow task was in flight
    with zipfile.ZipFile(arc.path) as z:
        exported = WorkflowHistory.from_json(f"case-{cid}", z.read(f"temporal-history/{cid}.json").decode())
        actions = json.loads(z.read("actions.json"))
    markers = [e for e in exported.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
               and "data" in e.marker_recorded_event_attributes.details]
    assert len(markers) == 7 and actions[-1]["action"] == "deliver"


async def test_a_case_closed_while_no_sweeper_runs_is_archived_when_one_starts(idle_stack):
    people = People(idle_stack)
    open_case = (await people.applicant().apply(ITEM)).json()["id"]
    cid = await run_case(people)
    await asyncio.sleep(0.5)
    assert queued(idle_stack) == {cid}  # queued with its close; an open case is not
    assert archives(idle_stack, [cid]) == []
    # a sweeper claims it and dies before building (kill -9): the row stays, and comes back once its
    # lease ends
    with idle_stack.sessions() as s:
        assert archive_queue.claim(s, 10, timedelta(milliseconds=300)) == [(cid, 1)]
        assert archive_queue.claim(s, 10, timedelta(seconds=30)) == []  # leased: no one else takes it
    await asyncio.sleep(0.4)
    await sweeper(idle_stack).drain()
    [arc] = archives(idle_stack, [cid])
    assert package_is_whole(arc)["case_id"] == cid
    assert queued(idle_stack) == set() and archives(idle_stack, [open_case]) == []


async def test_several_sweepers_and_the_api_make_one_package_per_case(idle_stack):
    people = People(idle_stack)
    cases = [await run_case(people) for _ in range(3)]
    assert queued(idle_stack) == set(cases)
    auditor = idle_stack.user("auditor-arch", "auditor")
    sweepers = [sweeper(idle_stack, batch=1), sweeper(idle_stack, batch=2), sweeper(idle_stack)]
    # the API's build on demand races them; and two sweepers whose leases ended at once build the same
    # cases (as after a long pause), which the claim of the archive row settles
    direct = [sweeper(idle_stack).archiver.ensure_many(cases) for _ in range(2)]
    got = await asyncio.gather(*(s.drain() for s in sweepers), *direct,
                               *(auditor.get(f"/api/cases/{c}/archive") for c in cases))
    for r in got[-len(cases):]:
        assert r.status_code == 200, r.text
    built = archives(idle_stack, cases)
    assert sorted(a.case_id for a in built) == sorted(cases)
    for arc, r in zip(sorted(built, key=lambda a: a.case_id), sorted(got[-len(cases):], key=lambda r: r.url.path),
                      strict=True):
        package_is_whole(arc)
        assert r.headers["x-banjian-sm3"] == arc.sm3
    for batch in got[len(sweepers):len(sweepers) + 2]:
        assert {c: a.sm3 for c, a in batch.archived.items()} == {a.case_id: a.sm3 for a in built}
    assert queued(idle_stack) == set()
    assert not list(idle_stack.settings.archive_dir.glob(".*.tmp"))  # the losers' files are gone


async def test_the_queue_depth_is_a_metric(idle_stack):
    people = People(idle_stack)
    cid = await run_case(people)
    text = (await idle_stack.http.get("/metrics")).text
    assert f"{archive_queue.DEPTH_METRIC} 1.0" in text, text[-800:]
    await sweeper(idle_stack).drain()
    assert archives(idle_stack, [cid])
    assert f"{archive_queue.DEPTH_METRIC} 0.0" in (await idle_stack.http.get("/metrics")).text


def test_the_migration_queues_closed_cases_that_have_no_package(tmp_path):
    from alembic import command
    from sqlalchemy import MetaData, Table, create_engine
    from sqlmodel import Session

    from banjian.db import Case
    from banjian.migrate import alembic_config, upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0016")  # the read model before the queue
    now = datetime.now(UTC)

    # the rows as that schema held them: its own columns (later migrations add more to `cases`)
    cases = Table("cases", MetaData(), autoload_with=engine)

    def case(cid: str, status: str, parent: str | None = None) -> dict:
        row = Case(id=cid, item_code="x", item_version=1, item_name="x", kind="single", department="amr",
                   status=status, applicant_id_number="1", applicant_name="a", channel="web", parent_id=parent,
                   submitted_at=now, concluded_at=now if status != "in_review" else None, snapshot={}, rev=1,
                   clock_at=now, recorded_at=now).model_dump()
        return {k: v for k, v in row.items() if k in cases.c}

    with engine.begin() as conn:
        conn.execute(cases.insert(), [case("closed", "concluded"), case("refused", "refused"), case("open", "in_review"),
                                      case("archived", "concluded"), case("closed-01", "concluded", parent="closed")])
    with Session(engine) as s:
        s.add(Archive(case_id="archived", path="/nowhere.zip", sm3="0" * 64, size=1, created_at=now))
        s.commit()
    upgrade(engine)
    with Session(engine) as s:
        assert set(s.exec(select(ArchiveQueueEntry.case_id)).all()) == {"closed", "refused"}
    engine.dispose()


def test_a_history_holds_the_close_only_once_its_marker_is_there():
    from banjian.audit import read_history
    from banjian.audit.archive import holds_record

    histories = Path(__file__).parent / "histories"
    lean = WorkflowHistory.from_json("v3", (histories / "v3.approved_electronic.json").read_text(encoding="utf-8"))
    last = max(r.entry.seq for r in read_history("v3", lean).records)
    assert holds_record(lean, last)
    # as the sweeper may see it while the closing action's workflow task is in flight: no marker yet
    markers = [i for i, e in enumerate(lean.events) if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    cut = WorkflowHistory(lean.workflow_id, lean.events[:markers[-1]])
    assert not holds_record(cut, last)
    # a case recorded by `record_case` activities (before the markers): no workflow task in flight
    old = WorkflowHistory.from_json("v1", (histories / "approved_electronic.json").read_text(encoding="utf-8"))
    assert holds_record(old, 10**6)
    started = max(i for i, e in enumerate(old.events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    assert not holds_record(WorkflowHistory(old.workflow_id, old.events[:started + 1]), 10**6)


async def test_a_sweeper_that_keeps_failing_backs_off_and_logs_one_traceback(monkeypatch, caplog):
    """With the database down the sweeper logged a full traceback every second (280 of them, 38,000
    log lines, in a six-minute PostgreSQL outage): now it waits 1, 2, 4, … up to 30 s between tries,
    logs the first failure with its traceback and the next ones in one line, and says when it works."""
    import logging


    sweeper = ArchiveSweeper(None, lambda: None, every=1.0)  # type: ignore[arg-type]
    outcomes = [ConnectionError("connection refused")] * 7 + [0, 0]
    pauses: list[float] = []

    async def sweep() -> int:
        got = outcomes.pop(0)
        if isinstance(got, Exception):
            raise got
        return got

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if not outcomes:
            raise asyncio.CancelledError

    monkeypatch.setattr(sweeper, "sweep", sweep)
    sweeper.pause = sleep  # this sweeper's waits only: patching asyncio.sleep would reach every task
    # of the process's event loop (a module's live server stopped by the fake's CancelledError)
    with caplog.at_level(logging.INFO, logger="banjian"), pytest.raises(asyncio.CancelledError):
        await sweeper.run()
    assert pauses == [1, 2, 4, 8, 16, 30, 30, 1, 1]
    records = [r for r in caplog.records if "archive sweep" in r.getMessage()]
    assert sum(1 for r in records if r.exc_info) == 1
    assert sum(1 for r in records if "failed again" in r.getMessage()) == 6
    assert "works again after 7 failed attempts" in records[-1].getMessage()
