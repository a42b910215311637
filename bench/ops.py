"""Operations figures: start-up with many open cases, backup and restore, a worker outage, a
rolling restart of two API processes.

    python bench/ops.py [--open-cases 10000] [--users 16] [--outage 60] [--outage-cases 20]
                        [--requests-per-s 20] [--phases start,restore,outage,rolling]

Everything runs in a fresh temporary data dir on 127.0.0.1, on ports from 18220-18299 and
17220-17299 (the Temporal server); results go to bench/results/ops-latest.json.

- start:   N open cases (submitted, each with its deemed-acceptance timer) made through the Temporal
           client (as bench/cases.py's bare mode), then `banjian up` stopped (Ctrl-C) and started
           again: seconds until GET /api/health is 200.
- restore: `banjian backup` of the running system (the seconds the stores were held still, and in
           all), `banjian restore` into a new data dir, and `banjian up` on it until healthy.
- outage:  the server, one `banjian worker` and two `banjian api` as separate processes with the
           simulation clock; K cases are advanced past their acceptance deadline while the worker is
           down for --outage seconds; how long after the worker is back every timer has fired and
           is visible in the read model (deemed acceptance). A timer that fell due at the start of an
           outage of D seconds fires D + that catch-up late; the catch-up depends on the backlog, not
           on D, so a 10-minute outage costs 10 minutes plus the same catch-up.
- rolling: a client sends reads and actions at a steady rate to the two API processes (each
           request to the next one, retried once on the other when the connection is refused, as a
           load balancer does) while each API in turn is stopped (SIGTERM: graceful) and started
           again; counts the requests lost (no answer) and the 5xx answers.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
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
from temporalio.client import Client  # noqa: E402

from bench.cases import (  # noqa: E402
    APPLICANT_ID,
    Measured,
    Setup,
    StackProcess,
    attach,
    background_load,
    banjian_cli,
    bare_case,
    drive,
    machine,
)

RESULTS = ROOT / "bench" / "results"
_used: set[int] = set()


def port(low: int) -> int:
    """A free port in [low, low + 80) (the ranges this machine's engineers were given)."""
    for p in range(low, low + 80):
        if p in _used:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        _used.add(p)
        return p
    raise RuntimeError(f"no free port in {low}-{low + 79}")


class Up(StackProcess):
    """`banjian up` on ports of the allowed ranges."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, "up")
        self.port, self.temporal_port, self.ui_port = port(18220), port(17220), port(18220)


class Split(StackProcess):
    """The Temporal server (simulation clock), one worker and two APIs as separate processes."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, "split")
        self.port, self.port2, self.temporal_port, self.ui_port = port(18220), port(18220), port(17220), port(18220)

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.port2}"]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "BANJIAN_SIMULATION": "1",
               "TEMPORAL_ADDRESS": self.temporal_target, "BANJIAN_DATA_DIR": str(self.data_dir),
               "PYTHONPYCACHEPREFIX": str(self.data_dir / "pycache")}
        for k in ("DATABASE_URL", "BANJIAN_DATABASE_URL", "PYTHONDONTWRITEBYTECODE"):
            env.pop(k, None)
        return env

    def start(self, bytecode_cache: bool = True) -> None:
        from banjian.settings import Settings
        from banjian.temporal import DevServer

        settings = Settings(data_dir=self.data_dir, temporal_port=self.temporal_port, ui_port=self.ui_port,
                            simulation=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn("temporal_server", DevServer(settings).command(), self.env())
        self.cli("migrate")
        self.start_worker()
        for name, p in (("api1", self.port), ("api2", self.port2)):
            self.start_api(name, p)

    def start_worker(self) -> None:
        self._spawn("worker", [banjian_cli(), "worker"], self.env())

    def start_api(self, name: str, p: int) -> None:
        self._spawn(name, [banjian_cli(), "api", "--port", str(p)], self.env())

    def signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(60)


async def healthy(base: str, timeout: float = 300) -> float:
    """Seconds until GET /api/health answers 200."""
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() - t0 < timeout:
            try:
                if (await http.get(f"{base}/api/health")).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} not healthy in {timeout:.0f} s")


def run_cli(*args: str) -> dict[str, Any]:
    done = subprocess.run([banjian_cli(), *args], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"banjian {' '.join(args[:2])}: {done.stderr or done.stdout}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def users(stack: StackProcess) -> None:
    stack.users_add("bench-applicant", ["applicant"], id_number=APPLICANT_ID, name="测试申请人")
    for role in ("clerk", "handler", "approver", "admin"):
        stack.users_add(f"bench-{role}", [role], department=None if role == "admin" else "amr", name=role)


def converter(data_dir: Path):
    """The system's data converter: payloads are encrypted with the data dir's key ring."""
    from banjian.codec import data_converter
    from banjian.settings import Settings

    return data_converter(Settings(data_dir=data_dir))


async def populate(s: Setup, target: str, n: int, concurrency: int, until: str = "submitted", *,
                   data_dir: Path) -> dict[str, Any]:
    client = await Client.connect(target, data_converter=converter(data_dir))
    ids: list[str] = []

    async def one(m: Measured) -> None:
        ids.append(await bare_case(s, client, m, until=until))

    m, wall = await drive(n, concurrency, one)
    return {"cases": m.done, "errors": len(m.errors), "seconds": round(wall, 1),
            "cases_per_s": round(m.done / wall, 1) if wall else None, "ids": ids}


async def phase_start_and_restore(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stack = Up(tmp / "data")
    try:
        await users(stack)
        stack.start()
        out["first_start_s"] = round(await healthy(stack.base), 2)
        s = await attach(stack.base, APPLICANT_ID)
        made = await populate(s, stack.temporal_target, args.open_cases, args.users, data_dir=stack.data_dir)
        out["populate"] = {k: v for k, v in made.items() if k != "ids"}
        out["open_cases"] = made["cases"]
        stack.stop()
        out["temporal_db_mb"] = round((stack.data_dir / "temporal.db").stat().st_size / 2**20, 1)
        out["read_model_mb"] = round((stack.data_dir / "banjian.db").stat().st_size / 2**20, 1)
        out["load_before_restart"] = round(await background_load(), 2)
        stack.procs.clear()
        stack.start()
        out["restart_s"] = round(await healthy(stack.base), 2)
        if "restore" in args.phases:
            out["backup"] = run_cli("backup", "--data-dir", str(stack.data_dir), "--to", str(tmp / "b.tgz"))
            stack.stop()
            t0 = time.monotonic()
            out["restore"] = run_cli("restore", str(tmp / "b.tgz"), "--data-dir", str(tmp / "restored"))
            out["restore_s"] = round(time.monotonic() - t0, 2)
            again = Up(tmp / "restored")
            again.start()
            try:
                out["start_restored_s"] = round(await healthy(again.base), 2)
                async with httpx.AsyncClient(base_url=again.base, timeout=60) as http:
                    r = await http.post("/api/auth/token", data={"username": "bench-admin",
                                                                 "password": "bench-password-1"})
                    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
                    out["restored_cases"] = (await http.get("/api/cases?limit=1", headers=h)).json()["total"]
            finally:
                again.stop()
    finally:
        stack.stop()
    return out


async def phase_outage_and_rolling(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    split = Split(tmp / "split")
    try:
        await users(split)
        split.start()
        for b in split.bases:
            await healthy(b)
        s = await attach(split.base, APPLICANT_ID)
        if "outage" in args.phases:
            out["outage"] = await outage(args, split, s)
        if "rolling" in args.phases:
            out["rolling"] = await rolling(args, split, s)
    finally:
        split.stop()
    return out


async def outage(args: argparse.Namespace, split: Split, s: Setup) -> dict[str, Any]:
    from services.simulation import fast_forward

    made = await populate(s, split.temporal_target, args.outage_cases, 4, data_dir=split.data_dir)
    client = await Client.connect(split.temporal_target, data_converter=converter(split.data_dir))
    split.signal("worker", signal.SIGKILL)
    t_down = time.monotonic()
    advancing = [asyncio.create_task(fast_forward(client, cid, timedelta(days=10))) for cid in made["ids"]]
    await asyncio.sleep(args.outage)
    split.start_worker()
    t_back = time.monotonic()
    pending = set(made["ids"])
    fired_at: list[float] = []
    async with httpx.AsyncClient(base_url=split.base, timeout=30) as http:
        while pending and time.monotonic() - t_back < 600:
            for cid in list(pending):
                r = await http.get(f"/api/cases/{cid}", headers=s.headers("clerk"))
                if r.status_code == 200 and r.json()["status"] == "accepted":
                    pending.discard(cid)
                    fired_at.append(time.monotonic() - t_back)
            await asyncio.sleep(0.2)
    await asyncio.gather(*advancing, return_exceptions=True)
    return {"cases": len(made["ids"]), "outage_s": args.outage, "not_fired": len(pending),
            "catch_up_first_s": round(min(fired_at), 2) if fired_at else None,
            "catch_up_all_s": round(max(fired_at), 2) if fired_at else None,
            "late_for_a_timer_due_at_outage_start_s": round(args.outage + max(fired_at), 1) if fired_at else None,
            "down_total_s": round(t_back - t_down, 1)}


async def rolling(args: argparse.Namespace, split: Split, s: Setup) -> dict[str, Any]:
    made = await populate(s, split.temporal_target, 40, 4, data_dir=split.data_dir)
    ids = made["ids"]
    counts = {"sent": 0, "ok": 0, "retried": 0, "lost": 0, "5xx": 0, "4xx": 0}
    stop = asyncio.Event()
    bases = split.bases

    async def one(http: httpx.AsyncClient, n: int) -> None:
        counts["sent"] += 1
        cid = ids[n % len(ids)]
        if n % 4 == 0 and n // 4 < len(ids):  # every fourth request is an action (accept each case once)
            req = ("POST", f"/api/cases/{ids[n // 4]}/actions", {"json": {"action": "accept"},
                                                                  "headers": {**s.headers("clerk"),
                                                                              "X-Request-Id": f"roll-{n}"}})
        else:
            req = ("GET", f"/api/cases/{cid}", {"headers": s.headers("clerk")})
        for attempt in range(2):
            base = bases[(n + attempt) % 2]
            try:
                r = await http.request(req[0], f"{base}{req[1]}", **req[2])
            except httpx.TransportError:
                counts["retried"] += 1
                continue
            if r.status_code >= 500:
                counts["5xx"] += 1
            elif r.status_code >= 400:
                counts["4xx"] += 1
            else:
                counts["ok"] += 1
            return
        counts["lost"] += 1

    async def load() -> None:
        n = 0
        async with httpx.AsyncClient(timeout=60) as http:
            tasks = set()
            while not stop.is_set():
                t = asyncio.create_task(one(http, n))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                n += 1
                await asyncio.sleep(1 / args.requests_per_s)
            await asyncio.gather(*tasks)

    loader = asyncio.create_task(load())
    t0 = time.monotonic()
    await asyncio.sleep(2)
    for name, p in (("api1", split.port), ("api2", split.port2)):
        split.signal(name, signal.SIGTERM)
        split.start_api(name, p)
        await healthy(f"http://127.0.0.1:{p}")
        await asyncio.sleep(1)
    stop.set()
    await loader
    return {**counts, "seconds": round(time.monotonic() - t0, 1), "requests_per_s": args.requests_per_s}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "args": vars(args),
                               "load_at_start": round(await background_load(), 2)}
    with tempfile.TemporaryDirectory(prefix="banjian-ops-") as tmp:
        if "start" in args.phases:
            results["start"] = await phase_start_and_restore(args, Path(tmp))
        if {"outage", "rolling"} & set(args.phases):
            results.update(await phase_outage_and_rolling(args, Path(tmp)))
    results["load_at_end"] = round(await background_load(), 2)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--open-cases", type=int, default=10000)
    p.add_argument("--users", type=int, default=16, help="concurrency while making the open cases")
    p.add_argument("--outage", type=float, default=60, help="seconds the worker is down")
    p.add_argument("--outage-cases", type=int, default=20)
    p.add_argument("--requests-per-s", type=float, default=20)
    p.add_argument("--phases", type=lambda v: v.split(","), default=["start", "restore", "outage", "rolling"])
    args = p.parse_args()
    results = asyncio.run(run(args))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ops-latest.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
