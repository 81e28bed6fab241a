"""The development broker: hash pinning, produce/consume, memory-only restart, clean stop."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kernel import devbroker
from kernel.devbroker import BrokerBinaryError, DevBroker, DevBrokerError


def _producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer with the settings this broker supports (no idempotence), acks from all."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, request_timeout_ms=5000
    )


async def _send(producer: AIOKafkaProducer, topic: str, value: bytes) -> int:
    """Send one record keyed by an enterprise's USCC; return its offset."""
    metadata = await producer.send_and_wait(topic, value, key=b"91370200MA3C123456")
    offset: int = metadata.offset
    return offset


async def _consume_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    """Read `expected` records from the beginning of topic (no group: no rebalance delay)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:
        while len(values) < expected:
            batches = await consumer.getmany(timeout_ms=500)
            values += [record.value for records in batches.values() for record in records]
    finally:
        await consumer.stop()
    return values


async def _topics(bootstrap: str) -> set[str]:
    """Topic names the broker reports (an all-topics metadata request creates nothing)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        topics: set[str] = await consumer.topics()
    finally:
        await consumer.stop()
    return topics


def _group_exists(pgid: int) -> bool:
    """True if any process is left in the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_produce_consume_restart_loses_data_and_stop_leaves_nothing() -> None:
    topic = f"devbroker-{uuid.uuid4().hex[:8]}"
    untouched = f"{topic}-untouched"  # no client refers to it after the restart
    broker = DevBroker()
    producer = _producer(broker.bootstrap)
    try:
        broker.start()
        assert broker.is_running
        assert broker.bootstrap == f"127.0.0.1:{broker.port}"
        async with asyncio.timeout(10):
            await producer.start()
            assert await _send(producer, topic, b"first") == 0
            assert await _send(producer, topic, b"second") == 1
            assert await _consume_all(broker.bootstrap, topic, 2) == [b"first", b"second"]
            other = _producer(broker.bootstrap)
            await other.start()
            await _send(other, untouched, b"gone soon")
            await other.stop()
            assert {topic, untouched} <= await _topics(broker.bootstrap)

        with pytest.raises(DevBrokerError, match="already in use"):
            DevBroker(broker.port).start()

        first_pid = broker.pid
        broker.restart()  # the producer stays connected throughout
        assert broker.is_running
        assert broker.pid != first_pid
        assert first_pid is not None
        assert not _group_exists(first_pid)
        async with asyncio.timeout(15):
            # Memory storage: topics and records are gone. (The live producer's metadata
            # refresh auto-creates its topic again, empty, so only `untouched` stays absent.)
            assert untouched not in await _topics(broker.bootstrap)
            assert await _send(producer, topic, b"after restart") == 0
            assert await _consume_all(broker.bootstrap, topic, 1) == [b"after restart"]

        pgid = broker.pid
        broker.stop()  # with the producer's connection still open
        assert not broker.is_running
        # Exited on the interrupt by itself, not SIGKILLed after the grace period.
        assert broker.returncode == 0
        assert pgid is not None
        assert not _group_exists(pgid)
        broker.stop()  # idempotent
    finally:
        broker.stop()
        async with asyncio.timeout(10):
            await producer.stop()


def test_binary_with_unexpected_hash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    key = devbroker._platform_key()
    if key not in devbroker.PINNED_SHA256:
        pytest.skip(f"no pin for {key}")
    monkeypatch.setitem(devbroker.PINNED_SHA256, key, "0" * 64)
    # The override is for platforms without a pin; it never accepts a mismatch.
    monkeypatch.setenv(devbroker.ALLOW_UNPINNED_ENV, "1")
    with pytest.raises(BrokerBinaryError, match="does not match the pinned"):
        devbroker.resolve_verified_binary()
    with pytest.raises(BrokerBinaryError):
        DevBroker().start()


def test_unpinned_platform_needs_explicit_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devbroker, "_platform_key", lambda: ("plan9", "mips"))
    monkeypatch.delenv(devbroker.ALLOW_UNPINNED_ENV, raising=False)
    with pytest.raises(BrokerBinaryError, match=devbroker.ALLOW_UNPINNED_ENV):
        devbroker.resolve_verified_binary()
    monkeypatch.setenv(devbroker.ALLOW_UNPINNED_ENV, "1")
    path, digest = devbroker.resolve_verified_binary()
    assert path.is_file()
    assert len(digest) == 64
