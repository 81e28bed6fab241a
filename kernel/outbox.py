"""Transactional outbox and its relay.

`Outbox.emit` writes the event row in the caller's transaction, so the state change and its
event commit together (or not at all). `OutboxRelay` publishes committed rows after the fact:
it assigns each row the next per-source `sequence`, sends in sequence order with acks=all, and
marks rows published only after the broker acknowledged them. With several replicas a lease
row elects one relay; the lease is renewed inside the transaction that assigns sequences, so a
relay that lost its lease cannot hand out numbers (fencing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from opentelemetry.trace import Span, SpanKind, Tracer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel import metrics
from kernel.aio import bounded
from kernel.db import SessionFactory, unit_of_work, utcnow
from kernel.events import EventContract, EventEnvelope, event_time, to_kafka
from kernel.tables import KernelTables
from kernel.tracing import (
    NO_TRACER,
    context_from_traceparent,
    current_traceparent,
    end_span,
    kafka_trace_headers,
)

log = logging.getLogger("kernel.outbox")

SEQUENCE_COUNTER = "outbox_sequence"
RELAY_LEASE = "outbox_relay"


class Outbox:
    """Where use cases put the events of their transaction."""

    def __init__(self, tables: KernelTables) -> None:
        self._table = tables.outbox

    async def emit(self, session: AsyncSession, subject: str, payload: EventContract) -> str:
        """Record `payload` as an event about `subject` in the current transaction."""
        event_id = str(uuid.uuid4())
        await session.execute(
            sa.insert(self._table).values(
                event_id=event_id,
                type=payload.TYPE,
                subject=subject,
                data=payload.model_dump(mode="json"),
                occurred_at=event_time(utcnow()),
                # The relay publishes later, in another task: the trace waits in the row.
                traceparent=current_traceparent(),
            )
        )
        return event_id


class Producer(Protocol):
    """What the relay needs from a Kafka producer (aiokafka's AIOKafkaProducer)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(
        self,
        topic: str,
        *,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> asyncio.Future[Any]: ...


def row_to_envelope(row: Any, source: str) -> EventEnvelope:
    """An outbox row as the CloudEvent it travels as (relay and replay use the same mapping)."""
    return EventEnvelope(
        id=row.event_id,
        source=source,
        type=row.type,
        subject=row.subject,
        time=row.occurred_at,
        sequence=row.sequence,
        data=row.data,
    )


class OutboxRelay:
    """Publishes committed outbox rows in order; one active relay per service."""

    def __init__(
        self,
        *,
        service: str,
        factory: SessionFactory,
        tables: KernelTables,
        topic: str,
        producer_factory: Callable[[], Producer],
        batch_size: int = 500,
        poll_seconds: float = 0.5,
        lease_seconds: float = 15.0,
        send_timeout: float = 10.0,
        retention: timedelta = timedelta(days=30),
        idempotency_retention: timedelta = timedelta(hours=24),
        on_connect: Callable[[], Awaitable[None]] | None = None,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._on_connect = on_connect
        self._tracer = tracer
        self.service = service
        self.source = "/" + service
        self._factory = factory
        self._t = tables
        self._topic = topic
        self._producer_factory = producer_factory
        self._producer: Producer | None = None
        self._batch = batch_size
        self._poll = poll_seconds
        self._lease_for = timedelta(seconds=lease_seconds)
        self._send_timeout = send_timeout
        self._retention = retention
        self._idempotency_retention = idempotency_retention
        self._wake = asyncio.Event()
        self._holder = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.is_leader = False
        self.last_error: str | None = None
        self._last_purge = 0.0

    def wake(self) -> None:
        """Called after a commit that wrote events: publish now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; broker and database errors are retried with backoff."""
        backoff = self._poll
        try:
            while True:
                try:
                    published = await self.publish_once()
                    backoff = self._poll
                    if published >= self._batch:
                        continue
                    await self._maybe_purge()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    metrics.RELAY_ERRORS.labels(self.service).inc()
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    # With the type: a TimeoutError (a stalled database) has no message at all.
                    log.warning(
                        "%s relay: %s (retrying in %.1fs)", self.service, self.last_error, backoff
                    )
                    await self._drop_producer()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                with contextlib.suppress(TimeoutError):
                    await bounded(self._wake.wait(), self._poll)
                self._wake.clear()
        finally:
            await self._drop_producer()

    async def publish_once(self) -> int:
        """One pass: take the lease, number new rows, publish a batch. Returns events sent."""
        self._wake.clear()
        if not await self._assign_sequences():
            return 0
        async with self._factory() as session:
            # Before publishing: with the broker away this pass fails below, and the backlog's
            # growth and age are exactly what the gauges must show then.
            await self._observe_backlog(session)
            rows = (
                await session.execute(
                    sa.select(self._t.outbox)
                    .where(
                        self._t.outbox.c.published_at.is_(None),
                        self._t.outbox.c.sequence.is_not(None),
                    )
                    .order_by(self._t.outbox.c.sequence)
                    .limit(self._batch)
                )
            ).all()
        if not rows:
            return 0
        producer = await self._ensure_producer()
        futures = []
        spans: list[Span] = []
        try:
            for row in rows:
                span = self._publish_span(row)
                spans.append(span)
                message = to_kafka(row_to_envelope(row, self.source))
                key = message.key.encode() if isinstance(message.key, str) else message.key
                # Trace context in the record's headers, not in the CloudEvent: replay serves
                # the same bytes and consumers compare them.
                headers = [*message.headers.items(), *kafka_trace_headers(span)]
                futures.append(
                    await producer.send(self._topic, value=message.value, key=key, headers=headers)
                )
            results = await bounded(
                asyncio.gather(*futures, return_exceptions=True), self._send_timeout
            )
        except BaseException as exc:
            for span in spans:
                end_span(span, exc)
            raise
        for span, result in zip(spans, results, strict=True):
            end_span(span, result if isinstance(result, BaseException) else None)
        acked = [
            row.sequence
            for row, r in zip(rows, results, strict=True)
            if not isinstance(r, BaseException)
        ]
        failed = [r for r in results if isinstance(r, BaseException)]
        if acked:
            async with unit_of_work(self._factory) as session:
                await session.execute(
                    sa.update(self._t.outbox)
                    .where(self._t.outbox.c.sequence.in_(acked))
                    .values(published_at=utcnow())
                )
                # Counted after the acknowledgement, so an idle relay shows 0 pending.
                await self._observe_backlog(session)
            metrics.EVENTS_PUBLISHED.labels(self.service).inc(len(acked))
        if failed:
            raise failed[0]
        self.last_error = None
        return len(acked)

    def _publish_span(self, row: Any) -> Span:
        """A PRODUCER span for one event, child of the span that emitted it (if any)."""
        return self._tracer.start_span(
            f"send {self._topic}",
            context=context_from_traceparent(row.traceparent),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.operation.name": "send",
                "messaging.destination.name": self._topic,
                "messaging.message.id": row.event_id,
                "messaging.kafka.message.key": row.subject,
                "cloudevents.event_id": row.event_id,
                "cloudevents.event_type": row.type,
                "cloudevents.event_source": self.source,
                "cloudevents.event_subject": row.subject,
                "safety.event.sequence": row.sequence,
            },
        )

    async def _observe_backlog(self, session: AsyncSession) -> None:
        """Set the pending-events and oldest-pending-age gauges from the outbox (one query on
        the unpublished index)."""
        outbox = self._t.outbox
        pending, oldest = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.min(outbox.c.occurred_at)).where(
                    outbox.c.published_at.is_(None)
                )
            )
        ).one()
        metrics.OUTBOX_PENDING.labels(self.service).set(pending or 0)
        age = 0.0 if oldest is None else max((utcnow() - oldest).total_seconds(), 0.0)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(age)

    async def _assign_sequences(self) -> bool:
        """Renew the lease and number unsequenced rows in one transaction; False if not leader."""
        outbox, counters = self._t.outbox, self._t.counters
        try:
            async with unit_of_work(self._factory) as session:
                if not await self._hold_lease(session):
                    self.is_leader = False
                    return False
                self.is_leader = True
                ids = (
                    await session.scalars(
                        sa.select(outbox.c.id)
                        .where(outbox.c.sequence.is_(None))
                        .order_by(outbox.c.id)
                        .limit(self._batch)
                    )
                ).all()
                if not ids:
                    return True
                current = await session.scalar(
                    sa.select(counters.c.value).where(counters.c.name == SEQUENCE_COUNTER)
                )
                if current is None:
                    current = 0
                    await session.execute(
                        sa.insert(counters).values(name=SEQUENCE_COUNTER, value=0)
                    )
                await session.execute(
                    sa.update(outbox)
                    .where(outbox.c.id == sa.bindparam("row_id"))
                    .values(sequence=sa.bindparam("seq")),
                    [{"row_id": i, "seq": current + n} for n, i in enumerate(ids, start=1)],
                )
                await session.execute(
                    sa.update(counters)
                    .where(counters.c.name == SEQUENCE_COUNTER)
                    .values(value=current + len(ids))
                )
            return True
        except IntegrityError:
            # Another replica inserted the lease or counter row first: it leads this round.
            self.is_leader = False
            return False

    async def _hold_lease(self, session: AsyncSession) -> bool:
        leases = self._t.leases
        now = utcnow()
        result = await session.execute(
            sa.update(leases)
            .where(
                leases.c.name == RELAY_LEASE,
                sa.or_(leases.c.holder == self._holder, leases.c.expires_at < now),
            )
            .values(holder=self._holder, expires_at=now + self._lease_for)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        exists = await session.scalar(
            sa.select(sa.func.count()).where(leases.c.name == RELAY_LEASE)
        )
        if exists:
            return False
        await session.execute(
            sa.insert(leases).values(
                name=RELAY_LEASE, holder=self._holder, expires_at=now + self._lease_for
            )
        )
        return True

    async def _ensure_producer(self) -> Producer:
        if self._producer is None:
            if self._on_connect is not None:
                await self._on_connect()
            producer = self._producer_factory()
            try:
                await bounded(producer.start(), self._send_timeout)
            except BaseException:
                with contextlib.suppress(Exception):
                    await bounded(producer.stop(), 5)
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        # aiokafka's stop() can hang while the broker is down; never let it block the relay.
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await bounded(producer.stop(), 5)

    async def _maybe_purge(self) -> None:
        loop = asyncio.get_running_loop()
        if not self.is_leader or loop.time() - self._last_purge < 3600:
            return
        self._last_purge = loop.time()
        await self.purge()

    async def purge(self) -> None:
        """Drop what has served its time, so the kernel's tables do not grow without bound.

        Published events after the retention (replay serves no older ones); inbox rows after
        the same (an event that old is behind its source's cursor, refused by sequence before
        its id is looked up); stored answers to Idempotency-Keys after a day, the window a
        client has to retry (they hold whole responses, licence tokens included).
        """
        now = utcnow()
        cutoff = now - self._retention
        t = self._t
        async with unit_of_work(self._factory) as session:
            await session.execute(sa.delete(t.outbox).where(t.outbox.c.published_at < cutoff))
            await session.execute(sa.delete(t.inbox).where(t.inbox.c.processed_at < cutoff))
            await session.execute(
                sa.delete(t.idempotency).where(
                    t.idempotency.c.created_at < now - self._idempotency_retention
                )
            )

    async def release(self) -> None:
        """Give up the lease on shutdown so a standby takes over at once."""
        if not self.is_leader:
            return
        with contextlib.suppress(Exception):
            async with unit_of_work(self._factory) as session:
                await session.execute(
                    sa.delete(self._t.leases).where(
                        self._t.leases.c.name == RELAY_LEASE,
                        self._t.leases.c.holder == self._holder,
                    )
                )
