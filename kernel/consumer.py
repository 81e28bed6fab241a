"""Idempotent, ordered event consumption (the inbox side).

Each source's events are applied strictly in `sequence` order. A message whose sequence is at
or below the source's cursor is a redelivery and changes nothing. A message that skips ahead
reveals a gap (the broker lost data, or a publish failed part-way): the missing events are
fetched from the source's replay endpoint and applied first. Every apply is one transaction
holding the effect, the inbox row and the cursor move; the Kafka offset is committed only
after it. A handler that keeps failing is retried with backoff, then dead-lettered (table,
topic, metric) and the stream moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from sqlalchemy.ext.asyncio import AsyncSession

from kernel import audit, metrics
from kernel.aio import bounded
from kernel.db import SessionFactory, unit_of_work, utcnow
from kernel.errors import database_unavailable
from kernel.events import EventContract, EventEnvelope, MalformedEvent, from_kafka, parse_payload
from kernel.replay import ReplayClient, ReplayUnavailable
from kernel.tables import KernelTables
from kernel.tracing import NO_TRACER, context_from_headers, mark_failed

log = logging.getLogger("kernel.consumer")

HandlerFn = Callable[[AsyncSession, Any, EventEnvelope], Awaitable[None]]


@dataclass(frozen=True)
class Handler:
    """A typed handler for one event type: payload validated against its contract first."""

    contract: type[EventContract]
    fn: HandlerFn


class Handlers:
    """The event types a service reacts to, grouped by producing service."""

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(self, contract: type[EventContract]) -> Callable[[HandlerFn], HandlerFn]:
        """Decorator: handle events of `contract.TYPE`."""

        def register(fn: HandlerFn) -> HandlerFn:
            self._by_type[contract.TYPE] = Handler(contract, fn)
            return fn

        return register

    def get(self, event_type: str) -> Handler | None:
        return self._by_type.get(event_type)

    @property
    def sources(self) -> list[str]:
        """Producing services whose topics must be consumed (from the `<source>.` prefix)."""
        return sorted({t.split(".", 1)[0] for t in self._by_type})


class _Duplicate(Exception):
    pass


class KafkaMessageLike(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


class EventApplier:
    """Applies envelopes to the database in order, exactly once. Broker-independent."""

    def __init__(
        self,
        *,
        service: str,
        factory: SessionFactory,
        tables: KernelTables,
        handlers: Handlers,
        replay: ReplayClient | None,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
        on_dead_letter: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self.service = service
        self.tracer = tracer
        self._factory = factory
        self._t = tables
        self._handlers = handlers
        self._replay = replay
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._on_dead_letter = on_dead_letter
        self.backfill_error: str | None = None
        # The highest sequence known to exist per source, for the consumer-lag gauge: an event
        # seen is a lower bound, replay's head is the source's own answer.
        self._heads: dict[str, int] = {}

    def _note_head(
        self, source: str, head: int, cursor: int, *, authoritative: bool = False
    ) -> None:
        """Record that `source` has reached `head` and that we stand at `cursor`."""
        known = head if authoritative else max(self._heads.get(source, 0), head)
        self._heads[source] = known
        metrics.CONSUMER_LAG.labels(self.service, source).set(max(known - cursor, 0))

    async def cursor(self, source: str) -> int:
        """The last sequence of `source` applied here (0 if none)."""
        async with self._factory() as session:
            value = await session.scalar(
                sa.select(self._t.cursors.c.last_sequence).where(self._t.cursors.c.source == source)
            )
        return int(value or 0)

    async def deliver(self, envelope: EventEnvelope, origin: KafkaMessageLike | None) -> str:
        """Apply `envelope` after anything missing before it. Returns the outcome."""
        source = envelope.source_name
        cursor = await self.cursor(source)
        self._note_head(source, envelope.sequence, cursor)
        if envelope.sequence <= cursor:
            metrics.EVENTS_CONSUMED.labels(self.service, source, "duplicate").inc()
            return "duplicate"
        if envelope.sequence > cursor + 1:
            await self.backfill(source, until=envelope.sequence - 1)
        return await self._apply_with_retries(envelope, origin)

    async def backfill(self, source: str, until: int | None = None, *, wait: bool = True) -> int:
        """Fetch and apply `source`'s events after our cursor (up to `until`).

        With `wait`, an unreachable source is retried until it answers: applying later events
        first would break order, so the partition waits rather than skip.
        """
        if self._replay is None or not self._replay.knows(source):
            raise ReplayUnavailable(f"gap in {source} events and no replay URL configured")
        applied = 0
        delay = 0.2
        while True:
            cursor = await self.cursor(source)
            if until is not None and cursor >= until:
                break
            try:
                page = await self._replay.fetch(source, cursor)
                self.backfill_error = None
            except ReplayUnavailable as exc:
                self.backfill_error = str(exc)
                if not wait:
                    raise
                log.warning("%s: backfill from %s waiting: %s", self.service, source, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._note_head(source, page.head, cursor, authoritative=True)
            events = [e for e in page.events if until is None or e.sequence <= until]
            if not events:
                if until is not None and page.head < until:
                    raise ReplayUnavailable(
                        f"{source} head is {page.head} but an event claims sequence {until + 1}"
                    )
                break
            for event in events:
                # No remote parent: replay serves the events' bytes, not their trace context.
                # Inside a Kafka record's span (the gap it revealed) the span is its child.
                with self.tracer.start_as_current_span(
                    f"process {source}.events",
                    kind=SpanKind.CONSUMER,
                    attributes=self.span_attributes(event, f"{source}.events", "replay"),
                ) as span:
                    outcome = await self._apply_with_retries(event, None)
                    span.set_attribute("safety.event.outcome", outcome)
                if outcome != "duplicate":
                    applied += 1
                    metrics.BACKFILLED.labels(self.service, source).inc()
        return applied

    def span_attributes(self, envelope: EventEnvelope, topic: str, delivery: str) -> dict[str, Any]:
        """What a consumer span says about the event it applies."""
        return {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": self.service,
            "messaging.message.id": envelope.id,
            "cloudevents.event_id": envelope.id,
            "cloudevents.event_type": envelope.type,
            "cloudevents.event_source": envelope.source,
            "cloudevents.event_subject": envelope.subject,
            "safety.event.sequence": envelope.sequence,
            "safety.consumer": self.service,
            "safety.event.delivery": delivery,
        }

    async def _apply_with_retries(
        self, envelope: EventEnvelope, origin: KafkaMessageLike | None
    ) -> str:
        outcome = await self._apply_until_settled(envelope, origin)
        # Every outcome settles the sequence (applied, ignored, duplicate, dead-lettered):
        # the cursor now stands at least at it.
        self._note_head(envelope.source_name, envelope.sequence, envelope.sequence)
        return outcome

    async def _apply_until_settled(
        self, envelope: EventEnvelope, origin: KafkaMessageLike | None
    ) -> str:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._apply_once(envelope)
            except _Duplicate:
                metrics.EVENTS_CONSUMED.labels(
                    self.service, envelope.source_name, "duplicate"
                ).inc()
                return "duplicate"
            except MalformedEvent as exc:
                await self._dead_letter(envelope, origin, exc, attempt)
                return "dead_lettered"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if database_unavailable(exc):
                    # Not the event's fault: a good event must not be dead-lettered because
                    # the database was away for longer than the retries. The runner waits.
                    raise
                if attempt >= self._max_attempts:
                    await self._dead_letter(envelope, origin, exc, attempt)
                    return "dead_lettered"
                log.warning(
                    "%s: %s seq %s failed (attempt %d/%d): %s",
                    self.service,
                    envelope.type,
                    envelope.sequence,
                    attempt,
                    self._max_attempts,
                    exc,
                )
                await asyncio.sleep(self._retry_base * 2 ** (attempt - 1))

    async def _apply_once(self, envelope: EventEnvelope) -> str:
        started = time.perf_counter()
        handler = self._handlers.get(envelope.type)
        outcome = "applied" if handler else "ignored"
        with audit.acting(f"event:{envelope.source_name}", f"{envelope.type} {envelope.id}"):
            outcome = await self._apply_in_transaction(envelope, handler, outcome)
        metrics.APPLY_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        metrics.EVENTS_CONSUMED.labels(self.service, envelope.source_name, outcome).inc()
        return outcome

    async def _apply_in_transaction(
        self, envelope: EventEnvelope, handler: Handler | None, outcome: str
    ) -> str:
        async with unit_of_work(self._factory) as session:
            seen = await self._advance(session, envelope, outcome)
            if seen:
                # The same event under another sequence: consume the number, not the effect.
                outcome = "duplicate"
            elif handler is not None:
                payload = parse_payload(envelope, handler.contract)
                await handler.fn(session, payload, envelope)
        return outcome

    async def _advance(self, session: AsyncSession, envelope: EventEnvelope, outcome: str) -> bool:
        """Move the cursor by exactly one (compare-and-set) and record the inbox row.

        Returns True if this event id was already processed (its effect must not repeat).
        Raises _Duplicate if the sequence was already consumed (by a replica, or a replay).
        """
        cursors, inbox = self._t.cursors, self._t.inbox
        source = envelope.source_name
        now = utcnow()
        result = await session.execute(
            sa.update(cursors)
            .where(cursors.c.source == source, cursors.c.last_sequence == envelope.sequence - 1)
            .values(last_sequence=envelope.sequence, updated_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            exists = await session.scalar(
                sa.select(sa.func.count()).where(cursors.c.source == source)
            )
            if exists or envelope.sequence != 1:
                raise _Duplicate()
            await session.execute(
                sa.insert(cursors).values(source=source, last_sequence=1, updated_at=now)
            )
        already = await session.scalar(
            sa.select(sa.func.count()).where(inbox.c.event_id == envelope.id)
        )
        if already:
            return True
        await session.execute(
            sa.insert(inbox).values(
                event_id=envelope.id,
                source=source,
                sequence=envelope.sequence,
                type=envelope.type,
                outcome=outcome,
                processed_at=now,
            )
        )
        return False

    async def _dead_letter(
        self,
        envelope: EventEnvelope | None,
        origin: KafkaMessageLike | None,
        error: BaseException,
        attempts: int,
        raw: bytes | None = None,
    ) -> None:
        """Park a failing message with its error; advance past it so the stream flows."""
        source = envelope.source_name if envelope else "unknown"
        metrics.DEAD_LETTERS.labels(self.service, source).inc()
        error_text = f"{type(error).__name__}: {error}"[:4000]
        log.error(
            "%s: dead-lettering %s: %s",
            self.service,
            envelope.id if envelope else "message",
            error_text,
        )
        payload = raw
        if payload is None and envelope is not None:
            payload = envelope.model_dump_json().encode()
        record = {
            "event_id": envelope.id if envelope else None,
            "source": source if envelope else None,
            "sequence": envelope.sequence if envelope else None,
            "type": envelope.type if envelope else None,
            "topic": origin.topic if origin else f"{source}.events",
            "partition": origin.partition if origin else -1,
            "offset": origin.offset if origin else -1,
            "payload": payload or b"",
            "error": error_text,
            "attempts": attempts,
            "created_at": utcnow(),
        }
        async with unit_of_work(self._factory) as session:
            if envelope is not None:
                try:
                    if await self._advance(session, envelope, "dead_lettered"):
                        return
                except _Duplicate:
                    return
            await session.execute(sa.insert(self._t.dead_letters).values(**record))
        if self._on_dead_letter is not None:
            with contextlib.suppress(Exception):
                await self._on_dead_letter(record)

    async def dead_letter_raw(self, message: KafkaMessageLike, error: BaseException) -> None:
        """A message that is not even a CloudEvent: park it without touching any cursor."""
        await self._dead_letter(None, message, error, 1, raw=message.value or b"")


class ConsumerRunner:
    """Runs a Kafka consumer group for the service's subscriptions, forever, self-healing."""

    def __init__(
        self,
        *,
        applier: EventApplier,
        sources: list[str],
        consumer_factory: Callable[[], Any],
        idle_sweep_seconds: float = 30.0,
        stall_seconds: float = 60.0,
    ) -> None:
        self.applier = applier
        self.sources = sources
        self.topics = [f"{s}.events" for s in sources]
        self._consumer_factory = consumer_factory
        self._sweep = idle_sweep_seconds
        self._stall = stall_seconds
        self.connected = False
        self.assigned = False
        self.last_error: str | None = None
        self._last_progress = 0.0

    async def run(self) -> None:
        """Consume until cancelled; on broker errors, recreate the consumer after a pause.

        Sweeps run on their own timer beside the Kafka consumer: while it (re)joins its group
        (on the dev broker ~19 s after a member died or left; a rebalance on Kafka) or the
        broker is away, the sources are still asked for what is missing.
        """
        sweeper = asyncio.create_task(self._sweep_when_idle())
        try:
            await self._run_consumer()
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep_when_idle(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_progress = loop.time()
        while True:
            await asyncio.sleep(self._sweep)
            if loop.time() - self._last_progress >= self._sweep:
                try:
                    await self.sweep()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database away: the next round tries again
                    log.info("%s: sweep failed: %s", self.applier.service, exc)

    async def _run_consumer(self) -> None:
        delay = 0.5
        while True:
            consumer = self._consumer_factory()
            try:
                await bounded(consumer.start(), 15)
                consumer.subscribe(self.topics)
                self.connected = True
                delay = 0.5
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                self.last_error = f"{type(exc).__name__}: {exc}"
                metrics.CONSUMER_RESTARTS.labels(self.applier.service).inc()
                log.warning("%s consumer restarting in %.1fs: %s", self.applier.service, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                self.connected = False
                self.assigned = False
                with contextlib.suppress(Exception):
                    await bounded(consumer.stop(), 5)

    async def _consume(self, consumer: Any) -> None:
        loop = asyncio.get_running_loop()
        last_message = loop.time()
        while True:
            batches = await bounded(consumer.getmany(timeout_ms=500, max_records=500), 30)
            self.assigned = bool(consumer.assignment())
            for tp, messages in batches.items():
                for message in messages:
                    await self._handle_held(message)
                    self._last_progress = loop.time()
                await bounded(
                    consumer.commit({tp: OffsetAndMetadata(messages[-1].offset + 1, "")}), 15
                )
                last_message = loop.time()
            now = loop.time()
            if now - last_message > self._stall and not consumer.assignment():
                raise RuntimeError("no partitions assigned for too long; rejoining the group")

    async def _handle_held(self, message: Any) -> None:
        """Handle `message`, holding the partition while the database is away.

        Recreating the Kafka consumer for a database outage would cost a group rejoin (a
        rebalance) and change nothing: the offset is not committed, so the same message is
        tried again here until the database answers.
        """
        delay = 0.2
        while True:
            try:
                await self._handle(message)
                return
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: database unavailable, holding: %s", self.applier.service, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _handle(self, message: Any) -> None:
        # The producer's span (from the record's headers) is the parent; what the handler
        # emits is stored under this span, so the next hop continues the same trace.
        span = self.applier.tracer.start_span(
            f"process {message.topic}",
            context=context_from_headers(message.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": message.topic,
                "messaging.destination.partition.id": str(message.partition),
                "messaging.kafka.offset": message.offset,
                "messaging.consumer.group.name": self.applier.service,
                "safety.consumer": self.applier.service,
            },
        )
        with trace.use_span(span, end_on_exit=True):
            try:
                envelope = from_kafka(message.value, message.key, message.headers)
            except MalformedEvent as exc:
                mark_failed(span, exc)
                await self.applier.dead_letter_raw(message, exc)
                return
            span.set_attributes(self.applier.span_attributes(envelope, message.topic, "kafka"))
            outcome = await self.applier.deliver(envelope, message)
            span.set_attribute("safety.event.outcome", outcome)
            if outcome == "dead_lettered":
                mark_failed(span, "dead-lettered")

    async def sweep(self) -> None:
        """Backfill every source from its replay endpoint (anti-entropy: a broker that forgot
        events sends nothing that would reveal the gap, so an idle consumer asks)."""
        for source in self.sources:
            try:
                await bounded(self.applier.backfill(source, wait=False), 60)
            except (ReplayUnavailable, TimeoutError) as exc:
                log.info("%s: sweep of %s skipped: %s", self.applier.service, source, exc)
