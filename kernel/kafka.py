"""aiokafka clients configured the way this platform needs them."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


def make_producer(bootstrap: str, *, idempotence: bool, timeout_s: float) -> AIOKafkaProducer:
    """acks=all so an acknowledged event survives a leader change; idempotence where served."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotence,
        linger_ms=2,
        request_timeout_ms=int(timeout_s * 1000),
        retry_backoff_ms=200,
        metadata_max_age_ms=30_000,
    )


def make_consumer(bootstrap: str, group_id: str, *, timeout_s: float) -> AIOKafkaConsumer:
    """Manual commits after the DB commit; `earliest` so a broker that lost offsets replays."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=max(int(timeout_s * 1000), 15_000),
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        metadata_max_age_ms=5_000,
        retry_backoff_ms=200,
        max_poll_records=500,
    )


async def ensure_topics(bootstrap: str, topics: list[str], *, partitions: int = 1) -> None:
    """Create topics that do not exist yet (the broker may have been restarted empty)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
    await admin.start()
    try:
        existing: Any = await admin.list_topics()
        missing = [t for t in topics if t not in set(existing)]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
                )
    finally:
        await admin.close()
