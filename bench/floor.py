"""The floor of a read-your-writes submit, measured on the reference itself (issue 13).

The bar compares banjian's submit with a bare `start_workflow`, which answers as soon as the server
has stored the start: it waits for no workflow code at all. A submit that answers only once the case
is recorded must wait for at least one workflow task (the workflow, or an activity it runs, writes the
read model). This script measures that floor with nothing of banjian in it: the shared reference's
own workflow (`BareCaseN`, on its own fresh dev server with the same pragmas, driver and worker in one
process, as `run_bench.py` runs it), opened two ways, back to back and alternating:

  start   `start_workflow`, then K Updates (the reference exactly: its submit is the start)
  uws     `execute_update_with_start_workflow` of the first action (an Update whose handler only
          appends to a list), then the K remaining Updates: the cheapest submit that waits for the
          workflow, with no read-model write, no activity and no validator work
  eager   `start_workflow(request_eager_start=True)` of the same workflow whose first task runs one
          local activity that wakes the starter (`bench/floor_workflow.py`), then the K Updates: the
          cheapest eager submit that answers after its first task's local activity (writing nothing)

and prints each way's first round trip p50 and the ratio uws ÷ start. If that ratio is above 3, no
design that answers after a workflow task can meet "submit p50 ≤ 3× a bare start" on this machine.

    python bench/floor.py --cases 200 --users 10 --rounds 3
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED))

import bare_case  # noqa: E402  (the shared reference's workflow, unchanged)
import run_bench  # noqa: E402  (its dev server, worker and statistics)
from temporalio.client import Client, WithStartWorkflowOperation  # noqa: E402
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
import floor_workflow  # noqa: E402


async def run_uws(client: Client, tq: str, n: int, users: int, tag: str, updates: int) -> dict[str, Any]:
    """n cases of BareCaseN with updates + 1 actions, the first through update-with-start."""
    plan = bare_case.case_plan(updates + 1)
    sem = asyncio.Semaphore(users)
    first: list[float] = []
    later: list[float] = []
    errors: list[str] = []

    async def one(i: int) -> None:
        async with sem:
            wid = f"uws-{tag}-{i}"
            try:
                t0 = time.perf_counter()
                start = WithStartWorkflowOperation(bare_case.BareCaseN.run, args=[wid, updates + 1], id=wid,
                                                   task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
                await client.execute_update_with_start_workflow(bare_case.BareCaseN.act, plan[0],
                                                                start_workflow_operation=start)
                t = time.perf_counter()
                first.append(t - t0)
                h = await start.workflow_handle()
                for action in plan[1:]:
                    await h.execute_update(bare_case.BareCaseN.act, action)
                    t2 = time.perf_counter()
                    later.append(t2 - t)
                    t = t2
                assert await h.result() == f"licence-{wid}"
            except Exception as e:  # counted and shown, as run_bench does
                errors.append(f"{wid}: {e!r}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {"n": n, "errors": len(errors), "error_samples": errors[:3], "cases_per_s": len(first) / wall,
            "first_p50_ms": 1000 * statistics.median(first) if first else None,
            "update_p50_ms": 1000 * statistics.median(later) if later else None}


async def run_eager(client: Client, tq: str, n: int, users: int, tag: str, updates: int) -> dict[str, Any]:
    """n cases of EagerBareCase started eagerly; the first round trip ends when its local activity ran."""
    plan = bare_case.case_plan(updates)
    sem = asyncio.Semaphore(users)
    first: list[float] = []
    later: list[float] = []
    errors: list[str] = []
    eager = 0

    async def one(i: int) -> None:
        nonlocal eager
        async with sem:
            wid = f"eager-{tag}-{i}"
            try:
                t0 = time.perf_counter()
                recorded = floor_workflow.RECORDED[wid] = asyncio.get_running_loop().create_future()
                h = await client.start_workflow(floor_workflow.EagerBareCase.run, args=[wid, updates], id=wid,
                                                task_queue=tq, request_eager_start=True)
                eager += bool(getattr(h, "__temporal_eagerly_started", False))
                await recorded
                t = time.perf_counter()
                first.append(t - t0)
                for action in plan:
                    await h.execute_update(bare_case.BareCaseN.act, action)
                    t2 = time.perf_counter()
                    later.append(t2 - t)
                    t = t2
                assert await h.result() == f"licence-{wid}"
            except Exception as e:
                errors.append(f"{wid}: {e!r}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {"n": n, "errors": len(errors), "error_samples": errors[:3], "cases_per_s": len(first) / wall,
            "eagerly_started": eager, "first_p50_ms": 1000 * statistics.median(first) if first else None,
            "update_p50_ms": 1000 * statistics.median(later) if later else None}


async def run_start(client: Client, tq: str, n: int, users: int, tag: str, updates: int) -> dict[str, Any]:
    r = await run_bench.run_cases(client, tq, n, users, tag, updates=updates)
    return {"n": n, "errors": r["errors"], "error_samples": r["error_samples"], "cases_per_s": r["per_s"],
            "first_p50_ms": r["lat_ms"]["start"]["p50"], "update_p50_ms": r["lat_ms"]["update_all"]["p50"]}


async def one_phase(way: str, a: argparse.Namespace) -> dict[str, Any]:
    work = tempfile.mkdtemp(prefix=f"floor-{way}-")
    server = run_bench.DevServer("sqlite", work, ["journal_mode=wal", "synchronous=normal"])
    server.start()
    try:
        client = await server.connect()
        tq = f"floor-{uuid.uuid4().hex[:8]}"
        run = {"uws": run_uws, "eager": run_eager, "start": run_start}[way]
        async with Worker(client, task_queue=tq, workflows=[*bare_case.WORKFLOWS, floor_workflow.EagerBareCase],
                          activities=[*bare_case.ACTIVITIES, floor_workflow.mark_recorded]):
            await run(client, tq, a.warmup, a.users, f"warm-{way}", a.updates)
            return await run(client, tq, a.cases, a.users, way, a.updates)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


async def measure(a: argparse.Namespace) -> list[dict[str, Any]]:
    """`a.rounds` rounds of every way, each way first in turn; each round's results and ratios."""
    rows: list[dict[str, Any]] = []
    for r in range(a.rounds):
        ways = WAYS[r % len(WAYS):] + WAYS[:r % len(WAYS)]
        got = {way: await one_phase(way, a) for way in ways}
        ratios = {way: got[way]["first_p50_ms"] / got["start"]["first_p50_ms"] for way in WAYS[1:]}
        rows.append({"round": r + 1, **got, "ratios": ratios})
        print(f"round {r + 1}: " + "; ".join(
            f"{way} first p50 {got[way]['first_p50_ms']:.1f} ms, Update p50 {got[way]['update_p50_ms']:.1f} ms, "
            f"{got[way]['cases_per_s']:.2f} cases/s, {got[way]['errors']} errors" for way in WAYS)
            + " | " + ", ".join(f"{way} ÷ start {x:.2f}×" for way, x in ratios.items()), flush=True)
    return rows


async def main(a: argparse.Namespace) -> int:
    rows = await measure(a)
    for way in WAYS[1:]:
        print(f"median {way} ÷ start: {statistics.median(row['ratios'][way] for row in rows):.2f}× (the bar: ≤ 3×)")
    if a.out:
        with open(a.out, "a") as f:
            f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "load": os.getloadavg(), "args": vars(a), "rounds": rows}) + "\n")
    return 1 if any(row[w]["errors"] for row in rows for w in WAYS) else 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--updates", type=int, default=6, help="Updates after the first round trip")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each way first in turn")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "floor.jsonl"))
    return ap


WAYS = ("start", "uws", "eager")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parser().parse_args())))
