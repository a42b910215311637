"""Many open cases waiting on durable timers: memory, restart, and resuming them (issue 13, item 4).

    python bench/timers.py --open-cases 10000 [--users 20] [--sample 200]

On `banjian up` (a subprocess on free ports, as bench/cases.py starts it): submit N
`fire-safety-inspection` cases through HTTP — each then waits on its deemed-acceptance timer (5
working days) — and record the memory of the `banjian up` process and of its Temporal server; stop
the system (Ctrl-C) and start it again on the same data dir, timing how long until it answers; then
accept a random sample of the cases (their workflows are no longer in the worker's cache, so each
first action replays the case's history) and compare those actions with the same action on warm cases.

How late a due timer fires, with the N cases open: no item has a deadline shorter than a working day,
so the clocks of `--due` other cases are moved forward ten days (the embedded server's per-workflow
time skipping, services/simulation.py), which makes their deemed-acceptance timers fall due at that
moment; measured is the time from moving each clock to the read model showing the case `accepted`
(the timer fired, the workflow — replayed if not cached — acted, and the record was written), read
every 50 ms. Once before the restart (the worker's cache warm) and once right after it (every
workflow evicted). Prints a summary and writes JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.cases import RESULTS, CaseFailed, Measured, StackProcess, api_case, drive, prepare, summary  # noqa: E402


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def sizes_mib(data_dir: Path) -> dict[str, float]:
    return {p.name: round(p.stat().st_size / 2**20, 1) for p in data_dir.glob("*.db*") if p.is_file()}


async def accept_all(base: str, headers: dict[str, str], ids: list[str], users: int) -> list[float]:
    """Accept each case once (a clerk), `users` at a time; the latencies in seconds."""
    lat: list[float] = []
    todo = iter(ids)
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        async def user() -> None:
            for cid in todo:
                t0 = time.perf_counter()
                r = await http.post(f"/api/cases/{cid}/actions", json={"action": "accept"}, headers=headers)
                if r.status_code != 200:
                    raise CaseFailed(f"accept {cid} → {r.status_code} {r.text[:200]}")
                lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(user() for _ in range(users)))
    return lat


async def due_timers(stack: StackProcess, headers: dict[str, str], data_dir: Path, ids: list[str]) -> dict[str, Any]:
    """Move each case's clock ten days on (its deemed-acceptance timer falls due then) and time how long
    until the read model shows the case accepted; a summary in ms, and how many never fired (5 min)."""
    from temporalio.client import Client
    from temporalio.testing import TimeSkipper
    from temporalio.testing._timeskipping import TimeSkippingConfig

    from banjian.codec import data_converter
    from banjian.settings import Settings

    client = await Client.connect(stack.temporal_target, data_converter=data_converter(Settings(data_dir=data_dir)))
    skipper = TimeSkipper(client, config=TimeSkippingConfig(disable_propagation=True))
    due: dict[str, float] = {}
    skipped: list[float] = []

    async def advance(cid: str) -> None:
        due[cid] = time.perf_counter()
        await skipper.fast_forward(client.get_workflow_handle(f"case-{cid}"), timedelta(days=10))
        skipped.append(time.perf_counter() - due[cid])

    advancing = [asyncio.create_task(advance(cid)) for cid in ids]
    late: list[float] = []
    pending = set(ids)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=stack.base, timeout=30) as http:
        while pending and time.perf_counter() - t0 < 300:
            for cid in [c for c in ids if c in pending and c in due]:
                r = await http.get(f"/api/cases/{cid}", headers=headers)
                if r.status_code == 200 and r.json()["status"] == "accepted":
                    late.append(time.perf_counter() - due[cid])
                    pending.discard(cid)
            await asyncio.sleep(0.05)
    await asyncio.gather(*advancing, return_exceptions=True)
    # the server's own part: its fast-forward answers once the ten days are skipped (the timer fired and
    # the workflow task it caused completed), which bounds from below what the time skipping adds
    return {**summary(late), "not_fired": len(pending), "fast_forward_answered": summary(skipped)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="banjian-timers-"))
    stack = StackProcess(data_dir)
    out: dict[str, Any] = {"open_cases": args.open_cases, "users": args.users, "sample": args.sample}
    try:
        s = await prepare(stack)
        pids = stack.pids()
        out["rss_mib_idle"] = {k: rss_mib(p) for k, p in pids.items()}
        ids: list[str] = []
        async with httpx.AsyncClient(base_url=stack.base, timeout=120) as http:
            async def opener(m: Measured) -> None:
                ids.append(await api_case(s, http, m, until="submitted"))

            print(f"opening {args.open_cases} cases ({args.users} users) …", flush=True)
            m, wall = await drive(args.open_cases, args.users, opener)
        out["open"] = {"cases": m.done, "errors": len(m.errors), "wall_s": round(wall, 1),
                       "per_s": round(m.done / wall, 2) if wall else None, "submit": summary(m.submit)}
        await asyncio.sleep(2)
        out["rss_mib_with_open_cases"] = {k: rss_mib(p) for k, p in pids.items()}
        out["db_mib"] = sizes_mib(data_dir)
        rng = random.Random(13)
        warm = rng.sample(ids, min(args.sample // 4 or 1, len(ids)))
        out["accept_warm"] = summary(await accept_all(stack.base, s.headers("clerk"), warm, args.users))
        rest = [i for i in ids if i not in set(warm)]
        due_warm, due_cold = rng.sample(rest, min(args.due, len(rest) // 3)), []
        rest = [i for i in rest if i not in set(due_warm)]
        due_cold = rng.sample(rest, min(args.due, len(rest) // 2))
        rest = [i for i in rest if i not in set(due_cold)]
        if due_warm:
            print(f"timers falling due on {len(due_warm)} cases …", flush=True)
            out["timer_late_warm"] = await due_timers(stack, s.headers("clerk"), data_dir, due_warm)
        print("restarting …", flush=True)
        t0 = time.perf_counter()
        stack.stop()
        out["stop_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        stack.procs.clear()
        stack.start()
        await stack.wait_ready(timeout=600)
        out["restart_to_ready_s"] = round(time.perf_counter() - t0, 2)
        pids = stack.pids()
        out["rss_mib_after_restart"] = {k: rss_mib(p) for k, p in pids.items()}
        if due_cold:  # right after the restart: the worker replays each case as its timer fires
            out["timer_late_after_restart"] = await due_timers(stack, s.headers("clerk"), data_dir, due_cold)
        cold = rng.sample(rest, min(args.sample, len(rest)))
        t0 = time.perf_counter()
        out["accept_cold"] = summary(await accept_all(stack.base, s.headers("clerk"), cold, args.users))
        out["accept_cold_wall_s"] = round(time.perf_counter() - t0, 2)
        out["rss_mib_end"] = {k: rss_mib(p) for k, p in pids.items()}
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def report(r: dict[str, Any]) -> None:
    o = r["open"]
    print(f"\n{o['cases']} open cases made in {o['wall_s']} s ({o['per_s']}/s, {o['errors']} errors), "
          f"submit p50 {o['submit'].get('p50_ms')} ms")
    print(f"memory MiB: idle {r['rss_mib_idle']}, with the open cases {r['rss_mib_with_open_cases']}, "
          f"after restart {r['rss_mib_after_restart']}, end {r['rss_mib_end']}; files {r['db_mib']}")
    print(f"restart: stop {r['stop_s']} s, start to ready {r['restart_to_ready_s']} s")
    w, c = r["accept_warm"], r["accept_cold"]
    print(f"accept on cached cases: p50 {w.get('p50_ms')} ms p99 {w.get('p99_ms')} ms (n={w.get('n')}); "
          f"first action after the restart (replayed): p50 {c.get('p50_ms')} ms p99 {c.get('p99_ms')} ms "
          f"(n={c.get('n')}, {r['accept_cold_wall_s']} s)")
    for key, label in (("timer_late_warm", "before the restart"), ("timer_late_after_restart", "after the restart")):
        t = r.get(key)
        if t:
            print(f"a due timer's effect in the read model, {label}: p50 {t.get('p50_ms')} ms p99 {t.get('p99_ms')} "
                  f"ms max {t.get('max_ms')} ms (n={t.get('n')}, {t['not_fired']} not fired in 5 min; the "
                  f"server's fast-forward itself answered at p50 {t['fast_forward_answered'].get('p50_ms')} ms)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--open-cases", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--sample", type=int, default=200, help="cases accepted after the restart (default 200)")
    ap.add_argument("--due", type=int, default=50,
                    help="cases whose timers are made to fall due, before and again after the restart (default 50)")
    ap.add_argument("--out", type=Path, default=RESULTS / "timers.json")
    args = ap.parse_args()
    if not (1 <= args.open_cases <= 50_000 and 1 <= args.users <= 200 and 1 <= args.sample <= args.open_cases
            and 0 <= args.due <= 1000):
        ap.error("out of bounds: 1 ≤ open-cases ≤ 50000, 1 ≤ users ≤ 200, 1 ≤ sample ≤ open-cases, 0 ≤ due ≤ 1000")
    r = asyncio.run(run(args))
    report(r)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, ensure_ascii=False, indent=2))
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
