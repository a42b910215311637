"""Benchmark: e-licence verification (GET /api/licences/{id}/verify, no login) under 10 concurrent clients.

    python bench/licences.py [--clients 10] [--seconds 20]

Starts `banjian up --demo` in a fresh temporary data dir (127.0.0.1, ports 18490-18491 and 17490);
the demo issues 张三's business licence (营业执照). Each client verifies it in a loop, one request
at a time, for the given seconds after a warm-up; every verification checks the SM2 signature and
writes its log row. Prints requests per second and p50/p90 latency, and writes
bench/results/licences.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cases import StackProcess

PORTS = {"port": 18490, "ui_port": 18491, "temporal_port": 17490}


async def client_loop(http: httpx.AsyncClient, path: str, until: float, out: list[float]) -> None:
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        r = await http.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200 and r.json()["signature_valid"], r.text


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="banjian-licences-") as tmp:
        stack = StackProcess(Path(tmp))
        stack.port, stack.ui_port, stack.temporal_port = PORTS["port"], PORTS["ui_port"], PORTS["temporal_port"]
        stack._spawn("stack", [str(Path(sys.executable).parent / "banjian"),
                               "up", "--demo", "--data-dir", tmp, "--port", str(stack.port),
                               "--temporal-port", str(stack.temporal_port), "--ui-port", str(stack.ui_port)],
                     {**os.environ, "PYTHONUNBUFFERED": "1",
                      "BANJIAN_VERIFY_LIMIT": "100000"})  # every client shares 127.0.0.1: no per-address limit
        try:
            await stack.wait_ready(180)
            async with httpx.AsyncClient(base_url=stack.base, timeout=30) as http:
                licence_id = None
                for _ in range(120):  # the demo data is loaded after the server answers
                    r = await http.post("/api/auth/token", data={"username": "zhangsan", "password": "banjian-demo"})
                    if r.status_code == 200:
                        me = await http.get("/api/me/licences",
                                            headers={"Authorization": f"Bearer {r.json()['access_token']}"})
                        if me.status_code == 200 and me.json()["items"]:
                            licence_id = me.json()["items"][0]["id"]
                            break
                    await asyncio.sleep(1)
                assert licence_id, "the demo issued no licence"
                path = f"/api/licences/{licence_id}/verify"
                warm: list[float] = []
                await client_loop(http, path, time.perf_counter() + 2, warm)
            clients = [httpx.AsyncClient(base_url=stack.base, timeout=30) for _ in range(args.clients)]
            samples: list[list[float]] = [[] for _ in clients]
            t0 = time.perf_counter()
            until = t0 + args.seconds
            await asyncio.gather(*(client_loop(c, path, until, s) for c, s in zip(clients, samples, strict=True)))
            elapsed = time.perf_counter() - t0
            for c in clients:
                await c.aclose()
        finally:
            stack.stop()
    lat = sorted(x for s in samples for x in s)
    result = {"clients": args.clients, "seconds": round(elapsed, 1), "requests": len(lat),
              "rps": round(len(lat) / elapsed, 1), "p50_ms": round(statistics.median(lat), 1),
              "p90_ms": round(lat[int(len(lat) * 0.9)], 1), "load": os.getloadavg()[0]}
    print(json.dumps(result))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "licences.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
