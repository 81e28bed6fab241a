"""Prometheus metrics shared by the kernel mechanisms, labelled by service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger("kernel.metrics")

EVENTS_PUBLISHED = Counter(
    "outbox_events_published_total",
    "Events the relay published and the broker acknowledged",
    ["service"],
)
RELAY_ERRORS = Counter("outbox_relay_errors_total", "Relay publish failures", ["service"])
OUTBOX_PENDING = Gauge(
    "outbox_pending_events", "Events not yet acknowledged by the broker", ["service"]
)
EVENTS_CONSUMED = Counter(
    "consumer_events_total",
    "Consumed events by outcome (applied, ignored, duplicate)",
    ["service", "source", "outcome"],
)
DEAD_LETTERS = Counter(
    "consumer_dead_letters_total", "Messages dead-lettered after failing", ["service", "source"]
)
BACKFILLED = Counter(
    "consumer_backfilled_events_total",
    "Events fetched from a source's replay endpoint",
    ["service", "source"],
)
CONSUMER_RESTARTS = Counter(
    "consumer_restarts_total",
    "Consumer client restarts after broker errors or stalls",
    ["service"],
)
APPLY_SECONDS = Histogram(
    "consumer_apply_seconds",
    "Time to apply one event including its commit",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds",
    "Age of the oldest event not yet acknowledged by the broker (0 when none)",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "consumer_lag_events",
    "Events of a source not yet applied here: the source's known head minus our cursor",
    ["service", "source"],
)
SLA_OVERDUE = Gauge(
    "sla_overdue",
    "Open items past their legal or promised deadline, by clock",
    ["service", "clock"],
)


# How a service counts one SLA clock's overdue items: (read-only session, business date) -> n.
SlaCount = Callable[[Any, date], Awaitable[int]]


class SlaGauges:
    """Refreshes a service's SLA-overdue gauges from its own queries, at most every
    `min_interval` seconds: on scrape, so an idle service costs nothing and a scrape every
    15 s costs one count per clock."""

    def __init__(
        self, service: str, clocks: Mapping[str, SlaCount], min_interval: float = 15.0
    ) -> None:
        self.service = service
        self.clocks = dict(clocks)
        self.min_interval = min_interval
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self, session_factory: Callable[[], Any], today: date) -> None:
        if not self.clocks or time.monotonic() - self._last < self.min_interval:
            return
        async with self._lock:
            if time.monotonic() - self._last < self.min_interval:
                return  # a concurrent scrape refreshed while this one waited
            try:
                async with session_factory() as session:
                    for clock, count in self.clocks.items():
                        SLA_OVERDUE.labels(self.service, clock).set(await count(session, today))
            except Exception as exc:
                # A database away must not fail the scrape: the other metrics (relay errors,
                # backlog) are what shows the outage; these keep their last values.
                log.warning("%s: SLA gauges not refreshed: %r", self.service, exc)
                return
            self._last = time.monotonic()
