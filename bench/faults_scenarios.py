"""The fault scenarios: each runs real processes under a steady write load, injects one fault,
lets the flow settle and returns its figures (bench/faults_harness.py says how they are
counted). Sizes: `TEST` for tests/faults (tens of writes), `BENCH` for `make bench`.

Every scenario is bounded: the load has a fixed size and pace, the fault a fixed duration,
and settling a deadline after which the figures are taken as they are (lost events then show
as lost, `settled` as false).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from sqlalchemy.engine import make_url

from bench.faults_harness import (
    HOPS,
    Figures,
    Hop,
    Progress,
    Stack,
    WriteLoad,
    counter,
    cursor_at_least,
    effects_missing,
    finish,
    hop_figures,
    observe,
    settle,
    warm_up,
)
from bench.faults_proxy import CutMode, ProxiedBroker, TcpProxy
from kernel.contracts.insurance import PolicyActivatedV1
from kernel.db import utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventEnvelope, event_time, to_kafka
from kernel.kafka import ensure_topics, make_producer
from kernel.uscc import make_uscc
from services.inspection.models import Enterprise as RegistryEntry


@dataclass(frozen=True)
class Size:
    """How big a run is: writes at a steady rate, how long the fault lasts, settling deadline."""

    writes: int
    rate: float
    hold: float
    settle: float


TEST = Size(writes=30, rate=15.0, hold=2.0, settle=60.0)
BENCH = Size(writes=1500, rate=50.0, hold=10.0, settle=120.0)


# Each instance's database, as the scenario reaches it directly (SQLite files under the
# scenario's directory when not given).
Databases = dict[str, str]


@asynccontextmanager
async def standard_stack(
    root: Path,
    bootstrap: str,
    databases: Databases | None = None,
    *,
    insurance_via: str | None = None,
) -> AsyncIterator[Stack]:
    """Insurance and inspection, each consuming the other's events, on one broker.

    `insurance_via` is the database URL insurance itself is given (a proxy in front of the
    database the scenario observes directly).
    """
    databases = databases or {}
    stack = Stack(root, bootstrap)
    stack.add(
        "insurance",
        "insurance",
        sources={"inspection": "inspection"},
        database_url=insurance_via or databases.get("insurance"),
        observe_url=databases.get("insurance"),
    )
    stack.add(
        "inspection",
        "inspection",
        sources={"insurance": "insurance"},
        database_url=databases.get("inspection"),
    )
    try:
        await asyncio.gather(stack.start("insurance"), stack.start("inspection"))
        yield stack
    finally:
        await stack.close()


async def _begin(stack: Stack, *, idempotent: bool = False) -> tuple[WriteLoad, Progress, float]:
    """The insurer registered, one write carried through every hop, sampling started."""
    load = WriteLoad(stack, idempotent=idempotent)
    await load.register_insurer()
    await warm_up(stack, load, HOPS)
    return load, Progress(stack, HOPS).start(), time.monotonic()


async def broker_outage(root: Path, size: Size, databases: Databases | None = None) -> Figures:
    """The broker goes away mid-load (every connection reset, new ones refused) and comes back
    with its log and offsets, as a Kafka broker with a disk does after a crash."""
    with ProxiedBroker(root / "broker") as broker:
        async with standard_stack(root, broker.bootstrap, databases) as stack:
            load, progress, started = await _begin(stack)
            run = asyncio.create_task(load.run(size.writes, size.rate))
            await load.sent_at_least(size.writes // 3)
            broker.proxy.cut("reset")
            cut_at = load.sent
            await asyncio.sleep(size.hold)  # how long the broker stays away
            broker.proxy.restore()
            restored_at = load.sent
            await run
            settled = await finish(stack, load, HOPS, size.settle)
            return await observe(
                stack,
                load,
                scenario="broker_outage",
                fault=f"broker unreachable for {size.hold} s mid-load (connections reset, "
                "new ones refused), back with its data",
                started=started,
                settled=settled,
                rate=size.rate,
                progress=progress,
                extra={
                    "writes_during_outage": restored_at - cut_at,
                    "connections_reset": broker.proxy.connections_reset,
                },
            )


async def published(stack: Stack, name: str) -> int:
    """Events of `name` a broker has acknowledged."""
    outbox = stack.tables(name).outbox
    rows = await stack.rows(
        name, sa.select(sa.func.count()).where(outbox.c.published_at.is_not(None))
    )
    return int(rows[0][0])


async def broker_data_loss(root: Path, size: Size, databases: Databases | None = None) -> Figures:
    """The broker is SIGKILLed mid-load and restarts empty (memory storage): topics, offsets
    and undelivered events are gone, and the consumers must get them from the sources."""
    broker = DevBroker()
    broker.start()
    try:
        async with standard_stack(root, broker.bootstrap, databases) as stack:
            load, progress, started = await _begin(stack)
            run = asyncio.create_task(load.run(size.writes, size.rate))
            await load.sent_at_least(size.writes // 3)
            # Freeze inspection first, so that the broker dies holding events nobody has read:
            # those exist nowhere but in insurance's outbox once the broker comes back empty.
            inspection = stack.instances["inspection"].proc
            assert inspection is not None
            assert broker.pid is not None
            before = await published(stack, "insurance")
            os.killpg(inspection.pid, signal.SIGSTOP)
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    unread = await published(stack, "insurance") - before
                    if unread >= 3:
                        break
                    await asyncio.sleep(0.05)
                os.killpg(broker.pid, signal.SIGKILL)
            finally:
                os.killpg(inspection.pid, signal.SIGCONT)
            killed_at = load.sent
            await asyncio.to_thread(broker.stop)  # reaps the dead process
            await asyncio.sleep(size.hold)  # how long the broker stays dead
            await asyncio.to_thread(broker.start)
            back_at = load.sent
            await run
            settled = await finish(stack, load, HOPS, size.settle)
            return await observe(
                stack,
                load,
                scenario="broker_data_loss",
                fault=f"broker SIGKILLed mid-load, restarted empty after {size.hold} s",
                started=started,
                settled=settled,
                rate=size.rate,
                progress=progress,
                extra={
                    "writes_while_broker_dead": back_at - killed_at,
                    "unread_events_the_broker_lost": unread,
                },
            )
    finally:
        broker.stop()


async def consumer_sigkill(root: Path, size: Size, databases: Databases | None = None) -> Figures:
    """Inspection (consumer of insurance, producer for insurance) is SIGKILLed mid-stream and
    restarted on the same database: no graceful stop, no lease released, offsets uncommitted."""
    with DevBroker() as broker:
        async with standard_stack(root, broker.bootstrap, databases) as stack:
            load, progress, started = await _begin(stack)
            run = asyncio.create_task(load.run(size.writes, size.rate))
            await load.sent_at_least(size.writes // 3)
            # Mid-stream: inspection is applying the measured load when it dies.
            await cursor_at_least(stack, HOPS[0], 1 + size.writes // 4, size.settle)
            await stack.kill("inspection")
            killed = stack.instances["inspection"].lives[-1]
            await asyncio.sleep(size.hold)  # how long inspection stays dead
            await stack.start("inspection")
            await run
            settled = await finish(stack, load, HOPS, size.settle)
            return await observe(
                stack,
                load,
                scenario="consumer_sigkill",
                fault=f"inspection SIGKILLed mid-stream, restarted after {size.hold} s",
                started=started,
                settled=settled,
                rate=size.rate,
                progress=progress,
                extra={"applied_before_kill": killed.inbox_at_end},
            )


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    await ensure_topics(bootstrap, [topic])
    producer = make_producer(bootstrap, idempotence=False, timeout_s=10)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def _as_messages(envelopes: list[EventEnvelope]) -> list[tuple[bytes | None, bytes]]:
    out = []
    for envelope in envelopes:
        message = to_kafka(envelope)
        key = message.key.encode() if isinstance(message.key, str) else message.key
        out.append((key, message.value))
    return out


async def registry_state(stack: Stack, name: str) -> list[tuple[Any, ...]]:
    """The registry as people see it, without times: equal states mean equal effects.

    `version` counts the updates an entry received, so an event applied twice shows here even
    when its second application wrote the same values.
    """
    e = RegistryEntry
    rows = await stack.rows(
        name,
        sa.select(
            e.uscc,
            e.name,
            e.district,
            e.sector,
            e.tier,
            e.insurer_id,
            e.insured_until,
            e.credit_standing,
            e.registered_by,
            e.version,
        ).order_by(e.uscc),
    )
    return [tuple(r) for r in rows]


async def duplicates_and_reordering(
    root: Path, size: Size, databases: Databases | None = None, seed: int = 8
) -> Figures:
    """Every event delivered again, twice, shuffled: to the live consumer, and to a fresh one
    that sees nothing but that stream. Both must end in the state of in-order single delivery."""
    with DevBroker() as broker:
        async with standard_stack(root, broker.bootstrap, databases) as stack:
            load, progress, started = await _begin(stack)
            await load.run(size.writes, size.rate)
            settled = await finish(stack, load, HOPS, size.settle)
            reference = await registry_state(stack, "inspection")
            envelopes = await stack.replay("insurance")
            stream = envelopes * 2
            random.Random(seed).shuffle(stream)
            before = await stack.metrics("inspection")
            labels = {"service": "inspection", "source": "insurance"}
            await _produce(broker.bootstrap, "insurance.events", _as_messages(stream))
            # Bounded wait until the live consumer has dealt with every redelivery.
            deadline = time.monotonic() + size.settle
            absorbed = 0
            while time.monotonic() < deadline:
                now = await stack.metrics("inspection")
                absorbed = int(
                    counter(now, "consumer_events_total", outcome="duplicate", **labels)
                    - counter(before, "consumer_events_total", outcome="duplicate", **labels)
                )
                if absorbed >= len(stream):
                    break
                await asyncio.sleep(0.2)
            live_state = await registry_state(stack, "inspection")

            # A fresh inspection on a broker that holds only the shuffled, doubled stream.
            with DevBroker() as shuffled:
                await _produce(shuffled.bootstrap, "insurance.events", _as_messages(stream))
                stack.add(
                    "inspection-b",
                    "inspection",
                    sources={"insurance": "insurance"},
                    bootstrap=shuffled.bootstrap,
                )
                await stack.start("inspection-b")
                fresh_hop = Hop("insurance", "inspection-b")
                fresh_settled = await settle(stack, [fresh_hop], size.settle)
                # Settled means its cursor is at the head; wait until it has also consumed every
                # message of the stream (what backfill fetched arrives again as duplicates).
                deadline = time.monotonic() + size.settle
                consumed = 0
                while time.monotonic() < deadline:
                    m = await stack.metrics("inspection-b")
                    outcomes = ("applied", "ignored", "duplicate")
                    consumed = int(
                        counter(m, "consumer_events_total", outcome=outcomes, **labels)
                        - counter(m, "consumer_backfilled_events_total", **labels)
                    )
                    if consumed >= len(stream):
                        break
                    await asyncio.sleep(0.2)
                fresh = await hop_figures(stack, fresh_hop)
                fresh_state = await registry_state(stack, "inspection-b")
                fresh_missing = await effects_missing(
                    stack, load.writes, registry="inspection-b", copy="insurance"
                )
                await stack.stop("inspection-b")
            figures = await observe(
                stack,
                load,
                scenario="duplicates_and_reordering",
                fault="every event redelivered twice more in a shuffled order, to the live "
                "consumer and to a fresh one",
                started=started,
                settled=settled and fresh_settled,
                rate=size.rate,
                progress=progress,
                extra={
                    "redelivered_messages": len(stream),
                    "absorbed_by_live_consumer": absorbed,
                    "live_state_unchanged": live_state == reference,
                    "fresh_consumer": {
                        "messages_consumed": consumed,
                        "applied": fresh.applied,
                        "duplicates": fresh.duplicates,
                        "lost": fresh.lost,
                        "backfilled": fresh.backfilled,
                        "redeliveries_absorbed": fresh.redeliveries_absorbed,
                        "state_equals_in_order": fresh_state == reference,
                        "effects_missing": fresh_missing,
                    },
                    "registry_entries": len(reference),
                },
            )
            # The fresh consumer's count joins the scenario's figures.
            figures.duplicates += fresh.duplicates
            figures.lost += fresh.lost
            figures.applied[fresh_hop.label] = fresh.applied
            return figures


async def _emit_contract_breaking(stack: Stack, name: str) -> str:
    """A producer bug: an event in insurance's outbox whose payload breaks its own contract.

    It goes through the real relay, gets the next sequence number and is served by replay like
    any other event; only its data is wrong (no policy, a malformed USCC).
    """
    event_id = str(uuid.uuid4())
    outbox = stack.tables(name).outbox
    async with stack.engine(name).begin() as conn:
        await conn.execute(
            sa.insert(outbox).values(
                event_id=event_id,
                type=PolicyActivatedV1.TYPE,
                subject=make_uscc(799_999),
                data={"uscc": "NOT-A-USCC", "insurer_id": "PICC-QD"},
                occurred_at=event_time(utcnow()),
            )
        )
    return event_id


async def _read_topic(bootstrap: str, topic: str, expected: int, timeout: float) -> list[Any]:
    """Messages of partition 0 of `topic` from its start (bounded)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    messages: list[Any] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=300)
            messages.extend(batch.get(tp, []))
    finally:
        await consumer.stop()
    return messages


POISON_BYTES = b"\x00\x01 not a CloudEvent \xff"


async def poison(root: Path, size: Size, databases: Databases | None = None) -> Figures:
    """Two poison messages in insurance's stream: bytes that are no CloudEvent (produced
    straight to the topic), and an event whose payload breaks its contract (a producer bug).
    Each must be dead-lettered with its error and counted, and the stream must flow past it."""
    with DevBroker() as broker:
        async with standard_stack(root, broker.bootstrap, databases) as stack:
            load, progress, started = await _begin(stack)
            run = asyncio.create_task(load.run(size.writes, size.rate))
            await load.sent_at_least(size.writes // 3)
            await _produce(broker.bootstrap, "insurance.events", [(b"poison", POISON_BYTES)])
            await load.sent_at_least(2 * size.writes // 3)
            poison_id = await _emit_contract_breaking(stack, "insurance")
            await run
            settled = await finish(stack, load, HOPS, size.settle)

            t = stack.tables("inspection")
            letters = await stack.rows(
                "inspection",
                sa.select(
                    t.dead_letters.c.event_id, t.dead_letters.c.sequence, t.dead_letters.c.error
                ),
            )
            poison_seq = next((r.sequence for r in letters if r.event_id == poison_id), None)
            after = 0
            if poison_seq is not None:
                after = int(
                    (
                        await stack.rows(
                            "inspection",
                            sa.select(sa.func.count()).where(
                                t.inbox.c.source == "insurance",
                                t.inbox.c.sequence > poison_seq,
                                t.inbox.c.outcome == "applied",
                            ),
                        )
                    )[0][0]
                )
            samples = await stack.metrics("inspection")
            dlq = await _read_topic(broker.bootstrap, "inspection.dlq", 2, timeout=10)
            return await observe(
                stack,
                load,
                scenario="poison",
                fault="a non-CloudEvent message and a contract-breaking event in the stream",
                started=started,
                settled=settled,
                rate=size.rate,
                progress=progress,
                extra={
                    "dead_letter_rows": [
                        {"event_id": r.event_id, "sequence": r.sequence, "error": r.error[:200]}
                        for r in letters
                    ],
                    "dead_letters_metric": {
                        source: counter(
                            samples,
                            "consumer_dead_letters_total",
                            service="inspection",
                            source=source,
                        )
                        for source in ("unknown", "insurance")
                    },
                    "dlq_messages": [
                        {
                            "value_head": bytes(m.value[:40]).decode(errors="replace"),
                            "error": dict(m.headers)
                            .get("error", b"")
                            .decode(errors="replace")[:200],
                        }
                        for m in dlq
                    ],
                    "poison_event_id": poison_id,
                    "poison_sequence": poison_seq,
                    "applied_after_poison": after,
                },
            )


async def database_unavailable(
    root: Path, size: Size, databases: Databases, mode: CutMode = "reset"
) -> Figures:
    """Insurance's PostgreSQL taken away mid-load (through a proxy; the server itself keeps
    running): writes must be refused as 503 problem+json with Retry-After, nothing half-written,
    /ready must say so, and the same process must serve again once the database is back.

    The load's client retries every refused write afterwards with its Idempotency-Key, as a
    careful client would: a write whose commit did land before the connection dropped is then
    answered from the key store, never applied twice.
    """
    url = make_url(databases["insurance"])
    proxy = TcpProxy(url.port or 5432, url.host or "127.0.0.1").start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with DevBroker() as broker:
            async with standard_stack(
                root, broker.bootstrap, databases, insurance_via=proxied
            ) as stack:
                insurance = stack.instances["insurance"]
                assert insurance.proc is not None
                pid = insurance.proc.pid
                load, progress, started = await _begin(stack, idempotent=True)
                run = asyncio.create_task(load.run(size.writes, size.rate))
                await load.sent_at_least(size.writes // 3)
                proxy.cut(mode)
                cut_at = time.monotonic()
                first_during = load.sent
                # What an orchestrator's probe sees meanwhile (bounded by its own timeout).
                ready = await stack.http.get(f"{insurance.url}/ready", timeout=10)
                ready_body = ready.json()
                remaining = size.hold - (time.monotonic() - cut_at)
                if remaining > 0:
                    await asyncio.sleep(remaining)  # how long the database stays away
                last_during = load.sent
                proxy.restore()
                restored_at = time.monotonic()
                await run
                retried = await load.retry_refused()
                settled = await finish(stack, load, HOPS, size.settle)
                sent_during = [w for w in load.writes if first_during < w.n <= last_during]
                # Sent well inside the outage (not racing the cut or the restore).
                inside = [w for w in sent_during if cut_at + 0.2 < w.sent_at < restored_at - 0.2]
                refused = [w for w in load.writes if w.first_status >= 400 or w.first_status == 0]
                return await observe(
                    stack,
                    load,
                    scenario=f"database_unavailable_{mode}",
                    fault=f"insurance's database cut ({mode}) for {size.hold} s mid-load",
                    started=started,
                    settled=settled,
                    rate=size.rate,
                    progress=progress,
                    extra={
                        "first_answers": {
                            str(s): n
                            for s, n in sorted(Counter(w.first_status for w in load.writes).items())
                        },
                        "refused_first": len(refused),
                        "sent_during_outage": len(sent_during),
                        # Refusals answered after the database was back, and the last one.
                        "refused_after_restore": sum(
                            1 for w in refused if w.answered_at > restored_at
                        ),
                        "last_refusal_after_restore_s": round(
                            max((w.answered_at - restored_at for w in refused), default=0.0), 2
                        ),
                        "first_answers_during_outage": {
                            str(st): n
                            for st, n in sorted(Counter(w.first_status for w in inside).items())
                        },
                        "refused_503": sum(1 for w in refused if w.first_status == 503),
                        "refused_500": sum(1 for w in refused if w.first_status == 500),
                        "refusals_not_problem_json": sum(1 for w in refused if not w.problem_json),
                        "refusals_without_retry_after": sum(
                            1 for w in refused if w.first_status == 503 and not w.retry_after
                        ),
                        "refusal_codes": sorted({c for w in refused for c in w.codes}),
                        "retried": retried,
                        "written_before_refusal": sum(1 for w in load.writes if w.replayed),
                        "ready_during_outage": {
                            "status": ready.status_code,
                            "database_ok": ready_body.get("checks", {})
                            .get("database", {})
                            .get("ok"),
                        },
                        "same_process_after": insurance.proc is not None
                        and insurance.proc.pid == pid
                        and insurance.proc.poll() is None,
                    },
                )
    finally:
        proxy.stop()
