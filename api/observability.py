"""Per-request observability: a request id, the case id, request metrics and one access-log line.

The request id is the caller's `X-Request-Id` (the same header makes a case action idempotent) or a
new one; it is sent back in `X-Request-Id`. Both ids are in context variables for every log line
written while the request runs (banjian/logs.py). Metrics are labelled with the route template.
"""
from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from banjian.logs import case_id_var, request_id_var
from banjian.metrics import app_metrics

log = logging.getLogger("banjian.http")
_CASE_IN_PATH = re.compile(r"/cases/([0-9A-Za-z_-]{1,64})(?:/|$)")
_SAFE_ID = re.compile(r"^[0-9A-Za-z._:-]{1,64}$")


class Observe:
    """ASGI middleware: ids in context, `X-Request-Id` on the answer, metrics and an access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        found = _CASE_IN_PATH.search(scope["path"])
        case_id = found.group(1) if found and found.group(1) != "by-number" else None
        tokens = (request_id_var.set(request_id), case_id_var.set(case_id))
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            m = app_metrics()
            m.http_requests.labels(scope["method"], route, str(status)).inc()
            m.http_seconds.labels(scope["method"], route).observe(elapsed)
            log.info("%s %s %s", scope["method"], route, status,
                     extra={"method": scope["method"], "route": route, "status": status,
                            "duration_ms": round(elapsed * 1000, 1)})
            request_id_var.reset(tokens[0])
            case_id_var.reset(tokens[1])
