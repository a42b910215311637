"""`GET /metrics`: Prometheus text (banjian/metrics.py). Open like the health probe unless
`BANJIAN_METRICS_TOKEN` is set; it carries counts and latencies, never personal data."""
from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func
from sqlmodel import select

from banjian.db import Case
from banjian.errors import Unauthorised
from banjian.metrics import exposition

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

    return Response(exposition(cases_by_status), media_type=CONTENT_TYPE_LATEST)
