"""A reference receiver of the event feed (banjian/receiver.py) served in the test's own event loop
and subscribed for the duration of a test: shared by the tests that follow events to a subscriber."""
from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from banjian.receiver import make_receiver


def free_port(first: int, last: int) -> int:
    """A free local port in [first, last] (each test file keeps a range of its own)."""
    for port in range(first, last + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}: another run holds the range")


@asynccontextmanager
async def subscribed_receiver(stack, admin, secret: str, ports: tuple[int, int],
                              prefix: str = "sub") -> AsyncIterator[Any]:
    """Serve a reference receiver, subscribe it (as `admin`) under a new name, yield the receiver (its
    `state.received` holds what arrived); then remove the subscriber and stop the receiver."""
    port = free_port(*ports)
    receiver = make_receiver(secret)
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=port,
                                           log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve())
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        r = await admin.put(f"/api/subscribers/{name}", json={"url": f"http://127.0.0.1:{port}/events",
                                                               "secret": secret})
        assert r.status_code == 200, r.text
        yield receiver
    finally:
        await stack.http.delete(f"/api/subscribers/{name}", headers=await admin.headers())
        server.should_exit = True
        await task
