"""What crosses Temporal's boundary for the event feed (pydantic and the standard library only)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: the delivery workflow's type name, and the drain activity's
FEED_WORKFLOW = "FeedDelivery"
DRAIN_ACTIVITY = "feed_drain"


class FeedInput(BaseModel):
    """One subscriber's delivery workflow: its name and the timing of its drain activity."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    drain_seconds: float = Field(default=60.0, ge=1, le=600)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)


class DrainResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    removed: bool = False
    delivered: int = 0


def feed_workflow_id(task_queue: str, name: str) -> str:
    """The delivery workflow of subscriber `name` (the task queue keeps test stacks apart)."""
    return f"feed-{task_queue}-{name}"
