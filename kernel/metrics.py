"""Prometheus metrics shared by the kernel mechanisms, labelled by service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
