"""Faults on the consuming side: a consumer killed, events delivered again and out of order,
poison messages."""

from __future__ import annotations

from pathlib import Path

from bench.faults_scenarios import (
    TEST,
    consumer_sigkill,
    duplicates_and_reordering,
    poison,
)
from tests.faults.conftest import assert_nothing_lost_or_doubled, explain


async def test_consumer_killed_mid_stream_applies_each_event_once(tmp_path: Path) -> None:
    figures = await consumer_sigkill(tmp_path, TEST)
    why = explain(figures)
    # It died with part of the stream applied and committed, the rest still to come.
    before = figures.extra["applied_before_kill"].get("insurance", 0)
    assert 0 < before < figures.writes_accepted, why
    assert figures.writes_accepted == figures.writes_attempted, why
    assert_nothing_lost_or_doubled(figures)


async def test_duplicated_and_shuffled_delivery_ends_in_the_in_order_state(
    tmp_path: Path,
) -> None:
    figures = await duplicates_and_reordering(tmp_path, TEST)
    why = explain(figures)
    extra = figures.extra
    assert_nothing_lost_or_doubled(figures)
    # The live consumer recognised every redelivery and its registry did not change (the
    # entries' versions included: a second application would have bumped them).
    assert extra["absorbed_by_live_consumer"] == extra["redelivered_messages"], why
    assert extra["live_state_unchanged"], why
    # A fresh consumer fed only the shuffled, doubled stream reaches the same registry.
    fresh = extra["fresh_consumer"]
    assert fresh["messages_consumed"] == extra["redelivered_messages"], why
    assert fresh["state_equals_in_order"], why
    assert (fresh["applied"], fresh["duplicates"], fresh["lost"]) == (
        figures.writes_accepted,
        0,
        0,
    ), why
    assert fresh["effects_missing"] == 0, why
    assert extra["registry_entries"] == figures.writes_accepted, why


async def test_poison_is_dead_lettered_counted_and_the_stream_flows_past_it(
    tmp_path: Path,
) -> None:
    figures = await poison(tmp_path, TEST)
    why = explain(figures)
    extra = figures.extra
    assert_nothing_lost_or_doubled(figures)
    # Both poisons parked with their error: the bytes without an event id, the bad event
    # with its id and the sequence it consumed.
    rows = extra["dead_letter_rows"]
    assert len(rows) == 2, why
    raw = next(r for r in rows if r["event_id"] is None)
    bad = next(r for r in rows if r["event_id"] == extra["poison_event_id"])
    assert "not a CloudEvent" in raw["error"], why
    assert "payload invalid" in bad["error"], why
    assert bad["sequence"] == extra["poison_sequence"], why
    assert figures.hops[0].dead_lettered == 1, why
    # Counted on /metrics, and copied to the dead-letter topic with the error in a header.
    assert extra["dead_letters_metric"] == {"unknown": 1.0, "insurance": 1.0}, why
    assert len(extra["dlq_messages"]) == 2, why
    assert all("MalformedEvent" in m["error"] for m in extra["dlq_messages"]), why
    # The partition kept flowing: every write after the bad event was applied.
    after = figures.writes_accepted - (extra["poison_sequence"] - 1)
    assert extra["applied_after_poison"] == after > 0, why
