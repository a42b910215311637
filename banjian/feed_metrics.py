"""The event feed's queues as Prometheus gauges, read from the read model at scrape time, one series
per subscriber (`subscriber` label): what an alert at 3 a.m. needs to see that the provincial
platform has stopped taking events, without anyone running `banjian subscribers status`.

- banjian_feed_pending{subscriber}: events waiting for delivery;
- banjian_feed_retrying{subscriber}: of those, the ones the far end refused at least once;
- banjian_feed_max_attempts{subscriber}: the attempts of the pending event tried most often;
- banjian_feed_oldest_pending_seconds{subscriber}: how long the longest-waiting event has waited
  (0 when none waits): an alert on this (say > 600) catches a far end that is down;
- banjian_feed_parked{subscriber}: events a release before 2026-12-03 parked;
- banjian_feed_paused{subscriber}: 1 while an operator has paused it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: (series name, help, the overview's key); each a gauge per subscriber
_GAUGES = [
    ("banjian_feed_pending", "Feed events waiting for delivery, per subscriber", "pending"),
    ("banjian_feed_retrying", "Pending feed events the subscriber refused at least once", "retrying"),
    ("banjian_feed_max_attempts", "Attempts of the pending feed event tried most often", "max_attempts"),
    ("banjian_feed_parked", "Feed events parked by an earlier release (see banjian subscribers retry)", "parked"),
]


class FeedQueues(Collector):
    """`overview` gives `banjian.feed.list_overview`'s rows; `now` the time of the scrape."""

    def __init__(self, overview: Callable[[], Iterable[dict[str, Any]]], now: datetime) -> None:
        self.overview = overview
        self.now = now

    def collect(self):
        rows = list(self.overview())
        for name, text, key in _GAUGES:
            family = GaugeMetricFamily(name, text, labels=["subscriber"])
            for row in rows:
                family.add_metric([row["name"]], row[key])
            yield family
        oldest = GaugeMetricFamily("banjian_feed_oldest_pending_seconds",
                                   "Seconds the longest-waiting feed event has waited (0 when none)",
                                   labels=["subscriber"])
        paused = GaugeMetricFamily("banjian_feed_paused", "Whether an operator paused the subscriber",
                                   labels=["subscriber"])
        for row in rows:
            since = row["oldest_pending_at"]
            waited = (self.now - datetime.fromisoformat(since)).total_seconds() if since else 0.0
            oldest.add_metric([row["name"]], max(0.0, waited))
            paused.add_metric([row["name"]], 1 if row["state"] == "paused" else 0)
        yield oldest
        yield paused
