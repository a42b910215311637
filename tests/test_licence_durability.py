"""Issued exactly once when the worker process dies mid-issue: a real `banjian worker` process is
SIGKILLed while `issue_licence` holds right after committing the licence (the test hook
BANJIAN_LICENCE_ISSUE_HOLD); a new worker process retries the activity and finishes the case with the
same licence and one `licence_issued` entry in the history."""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from api.app import create_app
from banjian.db import make_engine
from banjian.licence_store import Licence
from banjian.seed import ensure_base
from banjian.settings import Settings
from tests.conftest import (
    TEST_PAYLOAD_KEYS,
    Stack,
    own_licence_range,
    own_serial_range,
    staff_every_department,
)
from tests.test_durability import CLEAN_ENV
from tests.test_licences import FOOD
from tests.test_scale_out import Proc

pytestmark = pytest.mark.slow


async def _wait_for(check, what: str, timeout: float, procs: list[Proc]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        for p in procs:
            assert p.proc.poll() is None, f"{p.name} exited:\n{p.log()}"
        await asyncio.sleep(0.2)
    pytest.fail(f"{what} not within {timeout:.0f} s:\n" + "\n".join(p.log() for p in procs))


async def test_a_worker_killed_mid_issue_leaves_one_licence(temporal_env, client, tmp_path):
    target = client.service_client.config.target_host
    settings = Settings(data_dir=tmp_path / "data", task_queue=f"banjian-kill-{uuid.uuid4().hex[:8]}",
                        simulation=True, temporal_address=target, payload_keys=TEST_PAYLOAD_KEYS)
    settings.data_dir.mkdir()
    engine = make_engine(settings.db_url)
    ensure_base(engine)
    staff_every_department(engine)
    own_serial_range(engine)
    own_licence_range(engine)
    hold = tmp_path / "hold-issue"
    held = tmp_path / "hold-issue.held"
    environ = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    environ.update(PYTHONUNBUFFERED="1", BANJIAN_DATA_DIR=str(settings.data_dir), DATABASE_URL=settings.db_url,
                   TEMPORAL_ADDRESS=target, BANJIAN_TASK_QUEUE=settings.task_queue,
                   BANJIAN_PAYLOAD_KEYS=TEST_PAYLOAD_KEYS, BANJIAN_SIMULATION="1")
    procs: list[Proc] = []
    app = create_app(settings, client=client, engine=engine)  # the API in process, no worker in it
    try:
        hold.touch()
        procs.append(Proc("worker1", ["worker"], {**environ, "BANJIAN_LICENCE_ISSUE_HOLD": str(hold)}, tmp_path))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://banjian.test", timeout=120) as http:
                stack = Stack(settings, engine, client, temporal_env, http, app)
                await _kill_mid_issue(stack, procs, environ, hold, held, tmp_path)
    finally:
        for p in procs:
            p.kill()
        engine.dispose()


async def _kill_mid_issue(stack: Stack, procs: list[Proc], environ: dict[str, str], hold: Path, held: Path,
                          logs: Path) -> None:
    applicant = stack.applicant()
    r = await applicant.apply(FOOD)
    assert r.status_code == 201, r.text
    case = await stack.staff("amr", "clerk").ok(r.json()["id"], "accept")
    while case["current_step"]["kind"] == "review":
        case = await stack.staff("amr", case["current_step"]["role"]).ok(case["id"], "pass")
    case_id = case["id"]
    approver = stack.staff("amr", "approver")
    approving = asyncio.create_task(approver.act(case_id, "approve"))  # answers when a worker finishes it

    async def is_held() -> bool:
        return held.exists()

    await _wait_for(is_held, "issue_licence holding after its commit", 120, procs)
    with Session(stack.engine) as session:  # the licence is in the library; the activity never completed
        assert len(session.exec(select(Licence).where(Licence.case_id == case_id)).all()) == 1
    procs[0].kill()  # SIGKILL to the worker's process group
    assert procs[0].proc.returncode is not None and procs[0].proc.returncode < 0
    procs.append(Proc("worker2", ["worker"], environ, logs))

    async def issued() -> bool:
        c = await applicant.case(case_id)
        return bool(c["result"] and c["result"]["licence_id"])

    # the attempt on the dead worker times out (start-to-close 30 s); the retry runs on worker2
    await _wait_for(issued, "the case's licence after the restart", 180, procs[1:])
    answer = await approving
    assert answer.status_code in (200, 504), answer.text  # 504: the API stopped waiting, the update went on
    case = await applicant.case(case_id)
    licence_id = case["result"]["licence_id"]
    assert case["status"] == "decided" and case["result"]["decision"] == "approved"
    assert [h["action"] for h in case["history"]].count("licence_issued") == 1
    assert [h["action"] for h in case["history"]].count("approve") == 1
    with Session(stack.engine) as session:
        rows = session.exec(select(Licence).where(Licence.case_id == case_id)).all()
        assert [row.id for row in rows] == [licence_id]
    v = (await stack.http.get(f"/api/licences/{licence_id}/verify")).json()
    assert v["valid"] is True and v["signature_valid"] is True
    # the new worker also started the licence's expiry timer, once
    # (its id is the licence's: on a Temporal server shared by several test stacks the task queue
    # may be another stack's when their licence numbers meet, so only its existence is checked)
    desc = await stack.client.get_workflow_handle(f"licence-{licence_id}").describe()
    assert desc.id == f"licence-{licence_id}"
    delivered = await stack.staff("amr", "clerk").ok(case_id, "deliver", method="electronic")
    assert delivered["status"] == "concluded" and delivered["result"]["licence_id"] == licence_id
    hold.unlink()
