"""A burst of applications to a real `banjian up`: 50 applicants submitting 25 at a time on a
fresh stack. Every one is answered 201 with a case of its own (they queue; none is a 500), and
the figures are printed for docs/benchmarks.md."""
from __future__ import annotations

import asyncio
import statistics
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from banjian.auth import add_user
from banjian.db import make_engine, session_factory
from banjian.ids import make_citizen_id
from banjian.seed import ensure_base
from tests.test_durability import ITEM, PASSWORD, Up, free_port

pytestmark = pytest.mark.slow

APPLICANTS = 50
CONCURRENCY = 25



def _users(data: Path) -> list[tuple[str, str]]:
    """50 applicants (username, id number), written before `up` starts."""
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{(data / 'banjian.db').resolve()}")
    ensure_base(engine)

    sessions = session_factory(engine)

    people = []
    for n in range(APPLICANTS):
        idn = make_citizen_id("330106", date(1970 + n % 30, 1 + n % 12, 1 + n % 28), 100 + n)
        add_user(sessions, f"burst{n:02d}", PASSWORD, ["applicant"], None, idn, f"申请人{n:02d}")
        people.append((f"burst{n:02d}", idn))
    engine.dispose()
    return people


async def _burst(base: str, people: list[tuple[str, str]]) -> tuple[list[httpx.Response], list[float], float]:
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        tokens = []
        for username, _ in people:
            r = await http.post("/api/auth/token", data={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens.append(r.json()["access_token"])
        item = (await http.get(f"/api/items/{ITEM}", headers={"Authorization": f"Bearer {tokens[0]}"})).json()
        form = {f["name"]: {"text": "测试", "number": 50, "boolean": True, "date": "2026-12-01",
                            "choice": (f.get("choices") or [""])[0]}[f["type"]]
                for f in item["form"] if f["required"]}
        materials = [{"name": m["name"]} for m in item["materials"] if m["required"]]
        gate = asyncio.Semaphore(CONCURRENCY)
        took: list[float] = []

        async def submit(n: int) -> httpx.Response:
            _, idn = people[n]
            body = {"item_code": ITEM, "applicant": {"kind": "citizen", "id_number": idn, "name": f"申请人{n:02d}"},
                    "form": form, "materials": materials, "channel": "web", "idempotency_key": f"burst-{n}"}
            async with gate:
                t0 = time.monotonic()
                r = await http.post("/api/cases", json=body, headers={"Authorization": f"Bearer {tokens[n]}"})
                took.append(time.monotonic() - t0)
                return r

        t0 = time.monotonic()
        results = await asyncio.gather(*(submit(n) for n in range(len(people))))
        return list(results), took, time.monotonic() - t0


def test_burst_of_50_submissions_25_at_a_time_queues_and_never_fails(tmp_path):
    data = tmp_path / "burst"
    people = _users(data)
    up = Up(data)
    taken: set[int] = set()
    up.port, up.ui_port = free_port(taken), free_port(taken)
    up.temporal_port = free_port(taken)
    up.base = f"http://127.0.0.1:{up.port}"
    try:
        up.start()
        up.wait_ready()
        results, took, wall = asyncio.run(_burst(up.base, people))
        statuses = [r.status_code for r in results]
        assert not [s for s in statuses if s >= 500 and s != 503], [r.text for r in results if r.status_code >= 500]
        for r in results:
            if r.status_code == 503:
                assert r.headers.get("Retry-After"), r.text
        assert statuses == [201] * APPLICANTS, (statuses, [r.text[:300] for r in results if r.status_code != 201])
        cases = [r.json() for r in results]
        assert len({c["id"] for c in cases}) == len({c["case_no"] for c in cases}) == APPLICANTS
        for (username, idn), c in zip(people, cases, strict=True):
            assert c["applicant"]["id_number"] == idn, (username, c["id"])
        took.sort()
        print(f"\nburst: {APPLICANTS} submissions, {CONCURRENCY} at a time: {wall:.1f} s wall, "
              f"{APPLICANTS / wall:.1f}/s; latency p50 {statistics.median(took):.2f} s, "
              f"p95 {took[int(0.95 * len(took)) - 1]:.2f} s, max {took[-1]:.2f} s")
        assert "Traceback" not in up.log(), up.log()
    finally:
        up.kill()
