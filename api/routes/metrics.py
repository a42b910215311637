"""`GET /metrics`: Prometheus text (banjian/metrics.py). Open like the health probe unless
`BANJIAN_METRICS_TOKEN` is set; it carries counts and latencies, never personal data.

Under `banjian up` the workers run as child processes with metrics endpoints of their own: this
route fetches each and answers every process's metrics in one text, labelled `process` ("api",
"worker1", …); a worker that does not answer is `banjian_worker_metrics_up{process} 0`."""
from __future__ import annotations

import hmac
from datetime import UTC, datetime

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from banjian import archive_queue, feed
from banjian.db import Case
from banjian.errors import Unauthorised
from banjian.feed_metrics import FeedQueues
from banjian.metrics import exposition, merged

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    state = request.app.state
    want = state.settings.metrics_token
    if want:
        got = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(got.encode(), want.encode()):
            raise Unauthorised("not_authenticated", "需要指标访问令牌", "the metrics token is required")

    def cases_by_status():
        with state.sessions() as session:
            return [(s, n) for s, n in session.exec(select(Case.status, func.count()).group_by(Case.status)).all()]

    def archive_queue_depth() -> int:
        with state.sessions() as session:
            return archive_queue.depth(session)

    def feed_overview() -> list[dict]:
        with state.sessions() as session:
            return feed.list_overview(session)

    try:  # a database that does not answer is a figure of its own, not a failed scrape
        counts, depth, subscribers = cases_by_status(), archive_queue_depth(), feed_overview()
    except SQLAlchemyError:
        own = exposition(database_up=False)
    else:
        own = exposition(lambda: counts, lambda: depth, database_up=True,
                         feed_queues=FeedQueues(lambda: subscribers, datetime.now(UTC)))
    workers: dict[str, str] = getattr(state, "worker_metrics", None) or {}
    if not workers:
        return Response(own, media_type=CONTENT_TYPE_LATEST)
    parts, up = {"api": own}, []
    for name, url in workers.items():
        try:
            r = httpx.get(url, timeout=2)
            r.raise_for_status()
            parts[name] = r.content
            up.append(f'banjian_worker_metrics_up{{process="{name}"}} 1')
        except httpx.HTTPError:  # restarting, or stuck: say so rather than fail the whole scrape
            up.append(f'banjian_worker_metrics_up{{process="{name}"}} 0')
    head = "# HELP banjian_worker_metrics_up Whether a worker process answered this scrape\n" \
           "# TYPE banjian_worker_metrics_up gauge\n"
    parts["api"] = own + (head + "\n".join(up) + "\n").encode()
    return Response(merged(parts), media_type=CONTENT_TYPE_LATEST)
