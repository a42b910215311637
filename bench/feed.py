"""Throughput of the event feed (banjian/feed.py, activities/feed.py) to a local receiver.

    python bench/feed.py [--cases 200] [--events 10] [--port 18261]

Queues `cases × events` case events for one subscriber in a fresh SQLite read model (as the
history writes do), starts the reference receiver (`banjian receiver`, its own process: it checks
every signature, de-duplicates and checks the order), and runs the drain activity (what the
subscriber's delivery workflow runs) in an ActivityEnvironment until every event is delivered.
Prints events/s and the receiver's report. The workflow around the activity adds one activity
round trip per `feed_drain_seconds` (60 s): nothing at this scale.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.feed import FeedActivities  # noqa: E402
from banjian import feed  # noqa: E402
from banjian.db import make_engine, session_factory  # noqa: E402
from banjian.feed_contracts import FeedInput  # noqa: E402
from banjian.migrate import upgrade  # noqa: E402
from banjian.settings import Settings  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--events", type=int, default=10)
    p.add_argument("--port", type=int, default=18261)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    settings = Settings(data_dir=tmp, feed_drain_seconds=600)
    engine = make_engine(settings.db_url)
    upgrade(engine)

    sessions = session_factory(engine)

    url = f"http://127.0.0.1:{a.port}"
    feed.add_subscriber(sessions, "bench", f"{url}/events", SECRET)
    with sessions() as session:
        for c in range(a.cases):
            feed.enqueue(session, f"case-{c:05d}", f"NO-{c:05d}", "accepted",
                         [(s, "accept", "2026-12-02T08:00:00+08:00", {"n": s}) for s in range(1, a.events + 1)])
        session.commit()
    total = a.cases * a.events
    rx = subprocess.Popen([str(Path(sys.executable).parent / "banjian"), "receiver", "--port", str(a.port), "--secret", SECRET],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    await http.get(f"{url}/report")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            activities = FeedActivities(sessions, settings)
            drain = asyncio.create_task(ActivityEnvironment().run(activities.drain, FeedInput(name="bench",
                                                                                          drain_seconds=600)))
            started = time.perf_counter()
            while True:
                with sessions() as session:
                    st = feed.status(session, "bench")
                if st["delivered"] == total:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            drain.cancel()
            report = (await http.get(f"{url}/report")).json()
    finally:
        rx.terminate()
        rx.wait()
    print(json.dumps({"events": total, "cases": a.cases, "seconds": round(elapsed, 2),
                      "events_per_s": round(total / elapsed, 1), "receiver": report}))


if __name__ == "__main__":
    asyncio.run(main())
