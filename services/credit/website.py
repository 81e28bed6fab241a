"""The credit website adapter (信用网站): pushes queued repair results, with retries and a log.

Measure 10 asks for repair results to be "uploaded to the credit website". Results are queued
as WebsiteDelivery rows by the use cases (services.credit.repair) in the decision's own
transaction; this module delivers them:

1. claim: in a short transaction, take the due pending rows (SELECT ... FOR UPDATE SKIP LOCKED
   on PostgreSQL, so two replicas never take the same row; SQLite has a single writer) and push
   their next_attempt_at forward as a lease, then commit;
2. send: POST each payload with no transaction open, so a slow website never holds a lock or a
   connection;
3. record: in a second short transaction, log the attempt and move the row on.

A process that dies between 1 and 3 leaves the row to be claimed again after the lease; the
website sees the same Idempotency-Key (the delivery id) and can drop the repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kernel.app import ServiceRuntime
from kernel.db import CommitHooks, SessionFactory, unit_of_work, utcnow
from kernel.errors import Conflict, NotFound
from kernel.workdays import shanghai_today
from services.credit.config import CreditSettings
from services.credit.models import WebsiteDelivery, WebsiteDeliveryAttempt
from services.credit.repair import SERVICE, refresh_overdue_gauge
from services.credit.repair_domain import (
    DeliveryVerdict,
    retry_delay_seconds,
    verdict_after_attempt,
)

log = logging.getLogger("credit.website")

CLAIM_BATCH: Final = 20
# Longer than one HTTP attempt can take, so a live sender's row is never claimed twice.
LEASE_MARGIN: Final = timedelta(seconds=30)

WEBSITE_ATTEMPTS = Counter(
    "credit_website_delivery_attempts_total",
    "Attempts to deliver repair results to the credit website, by verdict",
    ["service", "verdict"],
)
WEBSITE_FAILED = Gauge(
    "credit_website_deliveries_failed",
    "Deliveries to the credit website that gave up and wait for an operator's retry",
    ["service"],
)


@dataclass(frozen=True)
class _Claimed:
    id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int


async def _claim(
    factory: SessionFactory, hooks: CommitHooks | None, now: datetime, lease: timedelta
) -> list[_Claimed]:
    # Results about one application reach the website in the order they were decided: a
    # revocation waits while the approval it undoes is still undelivered (in backoff, or
    # failed and waiting for an operator), or the website would end on "approved".
    earlier = aliased(WebsiteDelivery)
    undelivered_before = (
        sa.select(earlier.id)
        .where(
            earlier.subject_id == WebsiteDelivery.subject_id,
            earlier.state != "delivered",
            earlier.created_at < WebsiteDelivery.created_at,
        )
        .exists()
    )
    async with unit_of_work(factory, hooks) as session:
        rows = (
            await session.scalars(
                sa.select(WebsiteDelivery)
                .where(
                    WebsiteDelivery.state == "pending",
                    WebsiteDelivery.next_attempt_at <= now,
                    ~undelivered_before,
                )
                .order_by(WebsiteDelivery.next_attempt_at, WebsiteDelivery.id)
                .limit(CLAIM_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            row.next_attempt_at = now + lease
        return [_Claimed(row.id, dict(row.payload)) for row in rows]


async def _send(
    client: httpx.AsyncClient, settings: CreditSettings, delivery: _Claimed
) -> _Outcome:
    assert settings.website_url is not None
    headers = {"Idempotency-Key": delivery.id}
    if settings.website_token:
        headers["Authorization"] = f"Bearer {settings.website_token}"
    started = time.perf_counter()
    try:
        response = await client.post(settings.website_url, json=delivery.payload, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        elapsed = int((time.perf_counter() - started) * 1000)
        return _Outcome(None, f"{type(exc).__name__}: {exc}"[:2000], elapsed)
    elapsed = int((time.perf_counter() - started) * 1000)
    if response.is_success:
        return _Outcome(response.status_code, None, elapsed)
    return _Outcome(
        response.status_code, f"HTTP {response.status_code}: {response.text[:500]}", elapsed
    )


async def _record(
    factory: SessionFactory,
    hooks: CommitHooks | None,
    settings: CreditSettings,
    delivery_id: str,
    outcome: _Outcome,
    now: datetime,
) -> DeliveryVerdict | None:
    async with unit_of_work(factory, hooks) as session:
        row = await session.scalar(
            sa.select(WebsiteDelivery)
            .where(WebsiteDelivery.id == delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        session.add(
            WebsiteDeliveryAttempt(
                delivery_id=delivery_id,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        if row is None or row.state != "pending":
            return None
        row.attempts += 1
        verdict = verdict_after_attempt(
            outcome.status_code, row.attempts, settings.website_max_attempts
        )
        row.last_error = outcome.error
        if verdict is DeliveryVerdict.delivered:
            row.state = "delivered"
            row.delivered_at = now
        elif verdict is DeliveryVerdict.failed:
            row.state = "failed"
        else:
            delay = retry_delay_seconds(
                row.attempts, settings.website_backoff_seconds, settings.website_backoff_max_seconds
            )
            row.next_attempt_at = now + timedelta(seconds=delay)
    WEBSITE_ATTEMPTS.labels(SERVICE, verdict.value).inc()
    return verdict


async def deliver_due(
    factory: SessionFactory,
    settings: CreditSettings,
    hooks: CommitHooks | None = None,
    now: datetime | None = None,
) -> int:
    """One delivery pass: attempt every due pending delivery once; the number attempted.

    `now` pins the clock (tests); by default each step reads the current instant. With no
    website configured nothing is claimed: deliveries stay pending until it is.
    """
    if not settings.website_url:
        return 0

    def clock() -> datetime:
        return now if now is not None else utcnow()

    lease = timedelta(seconds=settings.website_timeout_seconds) + LEASE_MARGIN
    claimed = await _claim(factory, hooks, clock(), lease)
    if not claimed:
        return 0
    async with httpx.AsyncClient(timeout=settings.website_timeout_seconds) as client:
        for delivery in claimed:
            outcome = await _send(client, settings, delivery)
            verdict = await _record(factory, hooks, settings, delivery.id, outcome, clock())
            if verdict is not DeliveryVerdict.delivered:
                log.warning(
                    "credit website delivery %s: %s (%s)", delivery.id, verdict, outcome.error
                )
    return len(claimed)


async def count_failed(session: AsyncSession) -> int:
    """Deliveries that gave up and wait for an operator."""
    value = await session.scalar(
        sa.select(sa.func.count())
        .select_from(WebsiteDelivery)
        .where(WebsiteDelivery.state == "failed")
    )
    return int(value or 0)


async def website_delivery_loop(runtime: ServiceRuntime) -> None:
    """Deliver queued results to the credit website, and refresh the repair gauges, forever."""
    settings = runtime.settings
    assert isinstance(settings, CreditSettings)
    if not settings.website_url:
        log.warning("CREDIT_WEBSITE_URL is not set: repair results stay queued until it is")
    while True:
        try:
            while await deliver_due(runtime.session_factory, settings, runtime.hooks):
                pass  # a full batch may leave more due rows; drain before sleeping
            async with unit_of_work(runtime.session_factory) as session:
                WEBSITE_FAILED.labels(SERVICE).set(await count_failed(session))
                # Overdue follows the calendar, not only decisions: recount every pass.
                await refresh_overdue_gauge(session, shanghai_today())
        except Exception as exc:
            log.warning("credit website delivery pass failed: %s", exc)
        await asyncio.sleep(settings.website_poll_seconds)


# --- operator reads and retry --------------------------------------------------------------


async def list_deliveries(
    session: AsyncSession,
    *,
    state: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[WebsiteDelivery]:
    """Deliveries, newest first, after a (created_at, id) cursor."""
    query = (
        sa.select(WebsiteDelivery)
        .order_by(WebsiteDelivery.created_at.desc(), WebsiteDelivery.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(WebsiteDelivery.state == state)
    if after is not None:
        created_at, last_id = after
        query = query.where(
            sa.or_(
                WebsiteDelivery.created_at < created_at,
                sa.and_(WebsiteDelivery.created_at == created_at, WebsiteDelivery.id < last_id),
            )
        )
    return (await session.scalars(query)).all()


async def get_delivery(
    session: AsyncSession, delivery_id: str
) -> tuple[WebsiteDelivery, list[WebsiteDeliveryAttempt]]:
    """A delivery and its attempt log, oldest attempt first; 404 if absent."""
    delivery = await session.get(WebsiteDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"website delivery {delivery_id} not found", code="delivery_not_found")
    attempts = (
        await session.scalars(
            sa.select(WebsiteDeliveryAttempt)
            .where(WebsiteDeliveryAttempt.delivery_id == delivery_id)
            .order_by(WebsiteDeliveryAttempt.id)
        )
    ).all()
    return delivery, list(attempts)


async def retry_delivery(session: AsyncSession, delivery_id: str) -> WebsiteDelivery:
    """Put a failed delivery back in the queue, due now, with a fresh attempt budget."""
    delivery = await session.scalar(
        sa.select(WebsiteDelivery)
        .where(WebsiteDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(f"website delivery {delivery_id} not found", code="delivery_not_found")
    if delivery.state != "failed":
        raise Conflict(
            f"only a failed delivery can be retried; this one is {delivery.state}",
            code="delivery_not_failed",
        )
    delivery.state = "pending"
    # The attempt log keeps every earlier attempt; the counter drives the new backoff.
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    await session.flush()
    return delivery
