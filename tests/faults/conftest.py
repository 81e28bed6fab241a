"""Fault tests: real processes (broker, insurance, inspection) under a small steady load.

Each test runs one scenario of bench/faults_scenarios.py at its `TEST` size (tens of writes)
and asserts on the figures it returns; `make bench` runs the same scenarios bigger. A scenario
stops by itself: fixed load, fixed fault duration, a deadline for settling, and every process
it started is stopped on the way out (SIGTERM, SIGKILL after 15 s).
"""

from __future__ import annotations

import json

from bench.faults_harness import Figures


def explain(figures: Figures) -> str:
    """The whole figure set, for an assertion's message."""
    return json.dumps(figures.params(), ensure_ascii=False, indent=1, default=str)


def assert_nothing_lost_or_doubled(figures: Figures) -> None:
    """The promise of every scenario: each accepted write's event applied exactly once at each
    hop, its effect present, nothing half-written at the source."""
    why = explain(figures)
    assert figures.settled, why
    assert figures.lost == 0, why
    assert figures.duplicates == 0, why
    assert figures.effects_missing == 0, why
    assert figures.extra["source"] == {
        "accepted_not_stored": 0,
        "accepted_without_event": 0,
        "events_beyond_one_per_write": 0,
        "refused_but_stored": 0,
        "stored_without_event": 0,
    }, why
    for hop in figures.hops:
        assert hop.applied + hop.dead_lettered == hop.events, why
        assert hop.applications == hop.applied, why
