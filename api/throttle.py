"""A per-address request limit for public routes that need no login (e-licence verification): at
most `limit` requests from one address within a sliding `window`, then 429 with Retry-After.

Counts live in this process's memory (a restart forgets them; each API process counts its own), which
is enough to make walking the licence numbers slow; login throttling, which must hold across
processes, keeps its counts in the database instead (banjian/logins.py).
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from banjian.errors import DomainError


class TooManyRequests(DomainError):
    """429: the caller must wait `retry_after` seconds."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too_many_requests", "请求过于频繁，请稍后再试",
                         "too many requests from this address; retry later", None)
        self.retry_after = max(1, retry_after)


class AddressLimiter:
    """Sliding-window counts per address; `hit` records a request or raises TooManyRequests."""

    #: addresses remembered at most (the oldest quiet ones are forgotten first)
    MAX_ADDRESSES = 50_000

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, float(window_seconds), clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, address: str | None) -> None:
        key = address or "unknown"
        now = self.clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            self._hits[key] = hits  # re-inserted: the dict's order is the order of last use
            if len(hits) >= self.limit:
                raise TooManyRequests(math.ceil(hits[0] + self.window - now))
            hits.append(now)
            while len(self._hits) > self.MAX_ADDRESSES:
                del self._hits[next(iter(self._hits))]


__all__ = ["AddressLimiter", "TooManyRequests"]
