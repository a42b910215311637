"""Restarting what dies inside `banjian up` (the embedded Temporal server, the worker) with
back-off, and giving up after repeated failures so that the process supervisor (systemd,
Kubernetes) restarts the whole process instead of leaving a service that answers 503 forever.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from banjian.ops import StartupError


class GaveUp(StartupError):
    """A part of `banjian up` kept dying: the process exits non-zero."""


@dataclass
class Backoff:
    """Delays 1, 2, 4, ... s (at most `max_delay`) between restarts of one part; after `max_failures`
    deaths, each within `reset_after` seconds of the previous restart, it gives up."""

    what: str
    initial: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    max_failures: int = 5
    reset_after: float = 120.0
    failures: int = 0
    last_restart: float | None = field(default=None)

    def next_delay(self, now: float | None = None) -> float:
        """Record a death; the delay before the next restart, or GaveUp."""
        now = time.monotonic() if now is None else now
        if self.last_restart is not None and now - self.last_restart > self.reset_after:
            self.failures = 0  # it ran long enough: this is a new incident
        self.failures += 1
        if self.failures > self.max_failures:
            raise GaveUp(f"{self.what} died {self.failures} times in a row; giving up (exit 1) so that the "
                         "process supervisor restarts banjian up")
        return min(self.max_delay, self.initial * self.factor ** (self.failures - 1))

    def restarted(self, now: float | None = None) -> None:
        self.last_restart = time.monotonic() if now is None else now
