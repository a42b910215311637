"""Readiness: the database, the Temporal server, a worker, and the demo data when asked for."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from banjian.temporal import worker_problem

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when every part is ready, else 503 naming the part that is not."""
    state = request.app.state
    out = {"status": "ok", "database": "ok", "temporal": "ok", "worker": "ok"}
    try:
        await asyncio.to_thread(_ping, state.sessions)
    except Exception as e:  # report, never raise: this is the readiness probe
        out["database"] = f"error: {e.__class__.__name__}"
    try:
        _, problem = await worker_problem(state.client, state.settings)
        if problem:
            out["worker"] = problem
    except Exception as e:
        out["temporal"] = f"error: {e.__class__.__name__}"
        out["worker"] = "unknown"
    if not getattr(state, "ready", True):
        out["demo"] = "loading"
        out["status"] = "starting"
    if any(v != "ok" for k, v in out.items() if k != "status"):
        out["status"] = "unavailable" if out["status"] == "ok" else out["status"]
        return JSONResponse(out, status_code=503)
    return JSONResponse(out)


def _ping(sessions) -> None:
    with sessions() as session:
        session.exec(text("SELECT 1"))
