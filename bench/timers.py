"""Many open cases waiting on durable timers: memory, restart, and resuming them (issue 13, item 4).

    python bench/timers.py --open-cases 10000 [--users 20] [--sample 200]

On `banjian up` (a subprocess on free ports, as bench/cases.py starts it): submit N
`fire-safety-inspection` cases through HTTP — each then waits on its deemed-acceptance timer (5
working days) — and record the memory of the `banjian up` process and of its Temporal server; stop
the system (Ctrl-C) and start it again on the same data dir, timing how long until it answers; then
accept a random sample of the cases (their workflows are no longer in the worker's cache, so each
first action replays the case's history) and compare those actions with the same action on warm cases.

How late a due timer fires is not measured here: no item has a deadline shorter than a working day,
so no timer of these cases falls due within a benchmark run. Prints a summary and writes JSON.
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
        cold = rng.sample([i for i in ids if i not in set(warm)], min(args.sample, len(ids) - len(warm)))
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--open-cases", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--sample", type=int, default=200, help="cases accepted after the restart (default 200)")
    ap.add_argument("--out", type=Path, default=RESULTS / "timers.json")
    args = ap.parse_args()
    if not (1 <= args.open_cases <= 50_000 and 1 <= args.users <= 200 and 1 <= args.sample <= args.open_cases):
        ap.error("out of bounds: 1 ≤ open-cases ≤ 50000, 1 ≤ users ≤ 200, 1 ≤ sample ≤ open-cases")
    r = asyncio.run(run(args))
    report(r)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, ensure_ascii=False, indent=2))
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
