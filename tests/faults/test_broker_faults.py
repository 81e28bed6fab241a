"""The broker taken away mid-load: with its data kept, and restarted empty."""

from __future__ import annotations

from pathlib import Path

from bench.faults_scenarios import TEST, broker_data_loss, broker_outage
from tests.faults.conftest import assert_nothing_lost_or_doubled, explain


async def test_broker_outage_loses_and_doubles_nothing(tmp_path: Path) -> None:
    figures = await broker_outage(tmp_path, TEST)
    why = explain(figures)
    # HTTP writes never wait for the broker: all of them are accepted, during the outage too.
    assert figures.writes_accepted == figures.writes_attempted, why
    assert figures.extra["writes_during_outage"] > 0, why
    assert figures.extra["connections_reset"] > 0, why
    assert_nothing_lost_or_doubled(figures)
    assert figures.applied == {
        "insurance->inspection": figures.writes_accepted,
        "inspection->insurance": figures.writes_accepted,
    }, why


async def test_events_only_a_killed_broker_held_are_replayed_from_the_source(
    tmp_path: Path,
) -> None:
    figures = await broker_data_loss(tmp_path, TEST)
    why = explain(figures)
    assert figures.writes_accepted == figures.writes_attempted, why
    assert figures.extra["writes_while_broker_dead"] > 0, why
    # Events the broker had acknowledged but nobody had read exist only in the source's outbox
    # after the restart: they can only have arrived through the replay endpoint.
    unread = figures.extra["unread_events_the_broker_lost"]
    assert unread >= 1, why
    assert figures.hops[0].backfilled >= unread, why
    assert_nothing_lost_or_doubled(figures)
