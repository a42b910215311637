"""What crosses Temporal's boundary for the event feed (pydantic and the standard library only)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

#: the delivery workflow's type name, and its activities'
FEED_WORKFLOW = "FeedDelivery"
DRAIN_ACTIVITY = "feed_drain"
PRUNE_ACTIVITY = "feed_prune"
#: the signal that ends the delivery workflow's retry wait: new events wait for their first attempt
WAKE_SIGNAL = "wake"


class FeedInput(BaseModel):
    """One subscriber's delivery workflow: its name, the timing of its drain activity and how long
    delivered events are kept. The drain activity takes it too, with `now` set by the workflow."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    drain_seconds: float = Field(default=60.0, ge=1, le=600)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    retention_days: float = Field(default=30.0, ge=0.001, le=3650)
    rounds_per_run: int = Field(default=50, ge=2, le=1000)
    #: the workflow's clock when it scheduled the drain (virtual under time skipping); None: the wall clock
    now: datetime | None = None


class DrainResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    removed: bool = False
    delivered: int = 0
    #: every due event failed (the far end is down): the workflow waits until then on a durable timer
    retry_at: datetime | None = None


class PruneInput(BaseModel):
    """Delete the subscriber's events delivered before `before` (the workflow's clock minus the retention)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    before: datetime


def feed_workflow_id(task_queue: str, name: str) -> str:
    """The delivery workflow of subscriber `name` (the task queue keeps test stacks apart)."""
    return f"feed-{task_queue}-{name}"
