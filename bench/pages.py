"""Benchmark: how fast each web page answers on the demo data.

    python bench/pages.py [--requests N] [--uploads U]

Starts `banjian up --demo` in a fresh temporary data dir (127.0.0.1, ports 18480-18482 and
17480), logs in through the login page as the demo users, and requests every page N times
one after another (a warm-up request first), as a browser would: session cookie, full HTML.
Prints p50/p90 per page and the upload throughput of a 5 MiB file (POST /api/files, U times),
and writes bench/results/pages.json. Criterion: p50 < 100 ms per page.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.cases import StackProcess

DEMO_PASSWORD = "banjian-demo"
PORTS = {"port": 18480, "ui_port": 18481, "temporal_port": 17480}


def login(base: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=30)
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 303, r.text
    return c


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, path
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--uploads", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="banjian-pages-") as tmp:
        stack = StackProcess(Path(tmp))
        stack.port, stack.ui_port, stack.temporal_port = PORTS["port"], PORTS["ui_port"], PORTS["temporal_port"]
        stack._spawn("stack", [str(Path(sys.executable).parent / "banjian"),
                               "up", "--demo", "--data-dir", tmp, "--port", str(stack.port),
                               "--temporal-port", str(stack.temporal_port), "--ui-port", str(stack.ui_port)],
                     {**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            await stack.wait_ready(180)
            base = stack.base
            anon = httpx.Client(base_url=base, timeout=30)
            applicant, clerk = login(base, "zhangsan"), login(base, "amr_clerk")
            admin, auditor = login(base, "admin"), login(base, "auditor")
            mine = re.findall(r'href="/cases/(\d+)"', applicant.get("/my/cases").text)
            work = re.findall(r'href="/cases/(\d+)"', clerk.get("/work?scope=department").text)
            pages = [("/", anon, ""), ("/guide", anon, ""), ("/guide/food-business-licence", anon, ""),
                     ("/login", anon, ""), ("/apply/food-business-licence", applicant, ""),
                     ("/my/cases", applicant, ""), (f"/cases/{mine[0]}", applicant, " (applicant)"),
                     ("/work", clerk, ""), (f"/cases/{work[0]}", clerk, " (clerk)"), ("/admin/users", admin, ""),
                     ("/admin/calendar/2026", admin, ""), ("/admin/items", admin, ""),
                     (f"/audit/cases/{mine[0]}", auditor, "")]
            results = {}
            for path, client, who in pages:
                ms = timed(client, path, args.requests)
                q = statistics.quantiles(ms, n=10)
                results[re.sub(r"\d{10,}", "{id}", path) + who] = {"p50_ms": round(statistics.median(ms), 1),
                                                             "p90_ms": round(q[8], 1), "n": len(ms)}
            # the audit page replays a case's history the first time it is shown (then until the case
            # changes, the replay result is reused; the tamper check runs every time)
            firsts = []
            for cid in dict.fromkeys(mine[1:] + work):
                t0 = time.perf_counter()
                assert auditor.get(f"/audit/cases/{cid}").status_code == 200
                firsts.append((time.perf_counter() - t0) * 1000)
            if firsts:
                results["/audit/cases/{id} first view"] = {"p50_ms": round(statistics.median(firsts), 1),
                                                           "p90_ms": round(max(firsts), 1), "n": len(firsts)}
            # upload throughput: a 5 MiB PDF through POST /api/files (SM3, type check, disk), one at a time
            body = b"%PDF-1.7\n" + os.urandom(5 * 1024 * 1024 - 9)
            up = []
            for _ in range(args.uploads):
                t0 = time.perf_counter()
                r = applicant.post("/api/files", files={"file": ("bench.pdf", body, "application/pdf")})
                up.append(time.perf_counter() - t0)
                assert r.status_code == 201, r.text
            upload = {"file_mib": 5, "n": len(up), "p50_ms": round(statistics.median(up) * 1000, 1),
                      "mib_per_s": round(5 / statistics.median(up), 1)}
            print(f"upload 5 MiB: p50 {upload['p50_ms']} ms, {upload['mib_per_s']} MiB/s")
            print(f"{'page':40} {'p50 ms':>8} {'p90 ms':>8}")
            for page, r in results.items():
                flag = "PASS" if r["p50_ms"] < 100 else "FAIL"
                print(f"{page:40} {r['p50_ms']:8.1f} {r['p90_ms']:8.1f}  {flag}")
            out = Path(__file__).resolve().parent / "results"
            out.mkdir(exist_ok=True)
            (out / "pages.json").write_text(json.dumps({"pages": results, "upload": upload}, ensure_ascii=False,
                                                       indent=2))
        finally:
            stack.stop()


if __name__ == "__main__":
    asyncio.run(main())
