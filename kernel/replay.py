"""Replay: a source serves its events after a sequence; consumers backfill gaps from it."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from pydantic import BaseModel

from kernel.auth.dependencies import require_scope
from kernel.auth.principal import Principal
from kernel.auth.service_token import REPLAY_SCOPE, ServiceTokenProvider
from kernel.db import SessionFactory
from kernel.errors import Gone
from kernel.events import EventEnvelope
from kernel.outbox import SEQUENCE_COUNTER, row_to_envelope
from kernel.tables import KernelTables
from kernel.tracing import NO_TRACER, end_span, trace_headers


class ReplayPage(BaseModel):
    """Events of one source after a sequence, in order, and the source's latest sequence."""

    source: str
    events: list[EventEnvelope]
    head: int


async def read_events(
    factory: SessionFactory, tables: KernelTables, source: str, after: int, limit: int
) -> ReplayPage:
    """Sequenced events after `after` (published or not: a sequence once given is served)."""
    outbox, counters = tables.outbox, tables.counters
    async with factory() as session:
        # The relay's counter, not max(sequence): retention may have purged every row.
        head = (
            await session.scalar(
                sa.select(counters.c.value).where(counters.c.name == SEQUENCE_COUNTER)
            )
            or 0
        )
        oldest = await session.scalar(sa.select(sa.func.min(outbox.c.sequence)))
        if after < head and (oldest is None or oldest > after + 1):
            first_kept = oldest if oldest is not None else head + 1
            raise Gone(
                f"events {after + 1}..{first_kept - 1} are past the retention period",
                code="replay_retention_exceeded",
                oldest_available=oldest,
            )
        rows = (
            await session.execute(
                sa.select(outbox)
                .where(outbox.c.sequence > after)
                .order_by(outbox.c.sequence)
                .limit(limit)
            )
        ).all()
    return ReplayPage(source=source, events=[row_to_envelope(r, source) for r in rows], head=head)


def replay_router() -> APIRouter:
    """`GET /events?after=N`, for other services only (scope events:replay)."""
    router = APIRouter(tags=["events"])

    @router.get(
        "/events",
        response_model=ReplayPage,
        summary="Events after a sequence (service-to-service replay)",
    )
    async def list_events(
        request: Request,
        _caller: Annotated[Principal, Depends(require_scope(REPLAY_SCOPE))],
        after: Annotated[
            int,
            # A sequence is a BIGINT: beyond it PostgreSQL cannot compare (a 500, not a 422).
            Query(ge=0, le=2**63 - 1, description="Return events with sequence > after"),
        ] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> Response:
        runtime = request.app.state.runtime
        page = await read_events(
            runtime.session_factory, runtime.tables, runtime.source, after, limit
        )
        return Response(orjson.dumps(page.model_dump(mode="json")), media_type="application/json")

    return router


class ReplayUnavailable(Exception):
    """The source could not be asked for its events; the consumer waits and retries."""


class ReplayClient:
    """Fetches missed events from the sources' replay endpoints."""

    def __init__(
        self,
        source_urls: dict[str, str],
        tokens: ServiceTokenProvider,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._urls = {k: v.rstrip("/") for k, v in source_urls.items()}
        self._tokens = tokens
        self._tracer = tracer
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))

    def knows(self, source: str) -> bool:
        return source in self._urls

    async def fetch(self, source: str, after: int, limit: int = 500) -> ReplayPage:
        """One page of `source`'s events after `after`."""
        base = self._urls.get(source)
        if base is None:
            raise ReplayUnavailable(f"no replay URL configured for source {source!r}")
        url = f"{base}/events"
        span = self._tracer.start_span(
            "GET /events",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "GET",
                "url.full": url,
                "server.address": source,
                "safety.replay.after": after,
            },
        )
        try:
            token = await self._tokens.token(self._client)
            response = await self._client.get(
                url,
                params={"after": after, "limit": limit},
                headers={
                    "Authorization": f"Bearer {token}",
                    **trace_headers(trace.set_span_in_context(span)),
                },
            )
        except (httpx.HTTPError, OSError) as exc:
            end_span(span, exc)
            raise ReplayUnavailable(f"{source} replay unreachable: {exc}") from exc
        except BaseException as exc:
            end_span(span, exc)
            raise
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code != 200:
            end_span(span, f"HTTP {response.status_code}")
            raise ReplayUnavailable(
                f"{source} replay answered {response.status_code}: {response.text[:300]}"
            )
        end_span(span)
        body: Any = response.json()
        return ReplayPage.model_validate(body)

    async def aclose(self) -> None:
        await self._client.aclose()
