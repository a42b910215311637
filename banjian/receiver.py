"""A reference receiver of the event feed (`banjian receiver --port P --secret S`).

It does what a subscriber's endpoint should do: check `X-Banjian-Signature` (HMAC-SM3 of the raw
body), de-duplicate by `event_id` (a retry whose acknowledgement was lost is answered 200 again and
not counted twice), and check that each case's events come in `seq` order. Tests and operators can
make it misbehave: `POST /control {"fail": 503}` answers that status (300-599) to every event,
`{"hang": 5}` waits that many seconds before answering, `{}` is well again. `GET /report` tells
what it got; `GET /attempts` every POST it was sent, with its arrival time, event id and answer.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections import deque
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from banjian.feed import SIGNATURE_HEADER, sign


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail: int | None = Field(default=None, ge=300, le=599, description="answer this status to every event")
    hang: float = Field(default=0, ge=0, le=3600, description="seconds to wait before answering")


class Received:
    """What a receiver got: accepted events in arrival order and the problems it saw."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.last_seq: dict[str, int] = {}
        self.duplicates = 0
        self.bad_signatures = 0
        self.out_of_order: list[str] = []
        self.refused = 0
        #: every POST (the latest 10,000): `{"at": unix time of arrival, "event_id", "status": the answer}`
        self.attempts: deque[dict[str, Any]] = deque(maxlen=10_000)

    def take(self, event: dict[str, Any]) -> bool:
        """Record an event; False for a duplicate."""
        if event["event_id"] in self.seen:
            self.duplicates += 1
            return False
        last = self.last_seq.get(event["case_id"])
        if last is not None and event["seq"] != last + 1:
            self.out_of_order.append(event["event_id"])
        self.last_seq[event["case_id"]] = event["seq"]
        self.seen.add(event["event_id"])
        self.events.append(event)
        return True

    def report(self) -> dict[str, Any]:
        return {"received": len(self.events), "duplicates": self.duplicates, "bad_signatures": self.bad_signatures,
                "out_of_order": self.out_of_order, "refused": self.refused,
                "cases": len(self.last_seq)}

    def attempted(self, body: bytes, status: int, at: float) -> None:
        """Note one POST and its answer (the event id read from the body, if it is one)."""
        try:
            event_id = json.loads(body).get("event_id")
        except (ValueError, AttributeError):
            event_id = None
        self.attempts.append({"at": at, "event_id": event_id, "status": status})


def make_receiver(secret: str) -> FastAPI:
    """The receiver app; `app.state.received` and `app.state.control` are its state."""
    app = FastAPI(title="banjian feed receiver")
    app.state.received = Received()
    app.state.control = Control()

    @app.post("/events")
    async def events(request: Request) -> Response:
        arrived = time.time()
        answer = await _answer(request)
        app.state.received.attempted(await request.body(), answer.status_code, arrived)
        return answer

    async def _answer(request: Request) -> Response:
        control: Control = app.state.control
        got: Received = app.state.received
        if control.hang:
            await asyncio.sleep(control.hang)
        if control.fail:
            got.refused += 1
            return Response(status_code=control.fail)
        body = await request.body()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), sign(secret, body)):
            got.bad_signatures += 1
            return Response(status_code=401)
        try:
            event = json.loads(body)
            fresh = got.take(event)
        except (ValueError, KeyError, TypeError):
            return Response(status_code=400)
        return Response(json.dumps({"ok": True, "duplicate": not fresh}), media_type="application/json")

    @app.post("/control")
    async def control(request: Request) -> Response:
        # the body is JSON whatever the Content-Type says (`curl -d '{"fail": 503}'` sends a form type)
        try:
            body = Control.model_validate_json(await request.body() or b"{}")
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(x) for x in p['loc']) or 'body'}: {p['msg']}" for p in e.errors())
            return Response(json.dumps({"detail": f"控制指令无效 / invalid control: {problems}"}, ensure_ascii=False),
                            status_code=422, media_type="application/json")
        app.state.control = body
        return Response(body.model_dump_json(), media_type="application/json")

    @app.get("/report")
    async def report() -> dict:
        return app.state.received.report()

    @app.get("/attempts")
    async def attempts() -> dict:
        return {"items": list(app.state.received.attempts)[-1000:]}

    return app
