"""`safety replay`: a consumer's position per source, and the missing events applied from the
source's replay endpoint through the consumer's own code path.

What the design allows, and so what this command does:

- A consumer applies each source's events strictly in `sequence` order; its cursor is the last
  sequence settled (applied, ignored, duplicate or dead-lettered). There are no holes below the
  cursor, only a tail the consumer has not reached: the lag, `head - cursor`.
- Catching up fetches `GET /events?after=<cursor>` pages from the source and hands them to the
  same `EventApplier.backfill` the running consumer uses. Every apply is one transaction holding
  the effect, the inbox row and a compare-and-set move of the cursor, so this is safe while the
  service runs: whichever of the two reaches a sequence first applies it, the other skips it.
- Re-applying events at or below the cursor (after a handler fix) is refused by design: the
  handlers are not idempotent on their own, the inbox is what makes them exactly-once, and
  re-running one after later events of the same enterprise were applied would break their
  order. Dead-lettered events stay in `dead_letters` with their payload and error, to be dealt
  with by a migration or a compensating action that knows the domain.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.table import Table

from kernel.auth.service_token import ServiceTokenProvider
from kernel.consumer import EventApplier, Handlers
from kernel.db import make_engine, make_session_factory
from kernel.replay import ReplayClient, ReplayUnavailable
from kernel.settings import ServiceSettings
from kernel.tables import KernelTables, kernel_tables
from ops.common import (
    CONSUMERS,
    JSON,
    NO_PROGRESS,
    OpsError,
    Step,
    app_settings,
    console,
    display_url,
    fails_cleanly,
    one_line,
    print_json,
    progress,
    sqlite_file_missing,
)

# Events applied per backfill call: the progress bar moves once per page of the source's answer.
CHUNK = 500


@dataclass
class SourcePosition:
    """Where a consumer stands on one source, and what a catch-up did."""

    source: str
    cursor: int
    head: int | None
    dead_letters: int
    applied: int = 0
    dead_lettered: int = 0
    error: str | None = None

    @property
    def lag(self) -> int | None:
        return None if self.head is None else max(self.head - self.cursor, 0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"lag": self.lag}


def consumer_handlers(app: str, settings: ServiceSettings) -> tuple[sa.MetaData, Handlers]:
    """The consumer's schema and the handlers its running app registers."""
    root = f"services.{app}"
    metadata: sa.MetaData = importlib.import_module(f"{root}.models").Base.metadata
    consumers = importlib.import_module(f"{root}.consumers")
    if app == "credit":
        # Credit builds its handlers around its calendar and business date (services/credit/main).
        from kernel.workdays import WorkingDayCalendar
        from services.credit.dependencies import business_date

        calendar = (
            WorkingDayCalendar.from_directory(settings.calendar_dir)
            if settings.calendar_dir
            else WorkingDayCalendar()
        )
        handlers: Handlers = consumers.make_handlers(calendar, lambda: business_date(settings))
    else:
        handlers = consumers.handlers
    return metadata, handlers


def parse_source_urls(values: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise typer.BadParameter(
                f"{value!r} is not SOURCE=http(s)://host:port", param_hint="--source-url"
            )
        urls[name.strip()] = url.strip()
    return urls


def replay(
    consumer: Annotated[
        str,
        typer.Argument(help=f"The consuming service: {', '.join(CONSUMERS)}.", show_default=False),
    ],
    sources: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="A producing service whose events to replay (repeat; default: every source "
            "the consumer subscribes to).",
        ),
    ] = None,
    status_only: Annotated[
        bool,
        typer.Option("--status", help="Only show cursor, head and lag per source; apply nothing."),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="The consumer's database (default: its settings)."),
    ] = None,
    source_url: Annotated[
        list[str] | None,
        typer.Option(
            "--source-url",
            help="SOURCE=URL of a source's API, overriding <CONSUMER>_SOURCE_URLS (repeat).",
        ),
    ] = None,
    as_json: Annotated[bool, JSON] = False,
    no_progress: Annotated[bool, NO_PROGRESS] = False,
) -> None:
    """Catch a consumer up on events it missed (事件重放), from the sources' replay endpoints.

    Shows, per source, the consumer's cursor, the source's latest sequence (head) and the lag,
    then fetches the missing events and applies them through the consumer's own handlers,
    exactly once (the inbox and the cursor make it safe while the service runs). Events already
    applied are never applied again: the handlers rely on the inbox for that. Exits 1 when a
    source cannot be reached or no longer holds the events (past its retention period).
    """
    if consumer not in CONSUMERS:
        raise typer.BadParameter(
            f"{consumer!r} consumes no events; choose from {', '.join(CONSUMERS)}",
            param_hint="CONSUMER",
        )
    overrides = parse_source_urls(source_url or [])
    _run(
        consumer,
        sources or [],
        database_url,
        overrides,
        status_only=status_only,
        as_json=as_json,
        show_progress=not no_progress,
    )


@fails_cleanly
def _run(
    consumer: str,
    sources: list[str],
    database_url: str | None,
    overrides: dict[str, str],
    *,
    status_only: bool,
    as_json: bool,
    show_progress: bool,
) -> None:
    settings: ServiceSettings = app_settings(consumer)
    metadata, handlers = consumer_handlers(consumer, settings)
    unknown = [s for s in sources if s not in handlers.sources]
    if unknown:
        raise typer.BadParameter(
            f"{consumer} does not consume {', '.join(unknown)}; "
            f"it consumes {', '.join(handlers.sources)}",
            param_hint="--source",
        )
    chosen = list(dict.fromkeys(sources)) or handlers.sources
    url = database_url or settings.database_url
    if sqlite_file_missing(url):
        raise OpsError(f"{consumer}: no database at {display_url(url)}: run `safety migrate`")
    source_urls = settings.source_urls | overrides
    with progress(show_progress) as step:
        positions = asyncio.run(
            _replay(
                consumer,
                settings,
                url,
                metadata,
                handlers,
                chosen,
                source_urls,
                apply=not status_only,
                step=step,
            )
        )
    _report(consumer, positions, as_json=as_json, status_only=status_only)
    failed = [p for p in positions if p.error]
    if failed:
        raise OpsError("; ".join(f"{p.source}: {p.error}" for p in failed))


async def _replay(
    consumer: str,
    settings: ServiceSettings,
    url: str,
    metadata: sa.MetaData,
    handlers: Handlers,
    sources: list[str],
    source_urls: dict[str, str],
    *,
    apply: bool,
    step: Callable[[str, int | None], Step],
) -> list[SourcePosition]:
    engine = make_engine(url)
    client = ReplayClient(source_urls, ServiceTokenProvider(settings.auth, consumer))
    try:
        factory = make_session_factory(engine)
        tables = kernel_tables(metadata)
        await _require_schema(consumer, engine, tables, url)
        applier = EventApplier(
            service=consumer,
            factory=factory,
            tables=tables,
            handlers=handlers,
            replay=client,
            max_attempts=settings.consumer_max_attempts,
        )
        positions = []
        for source in sources:
            position = await _position(applier, client, tables, factory, source)
            if apply and position.error is None and position.lag:
                await _catch_up(applier, client, tables, factory, position, step)
            positions.append(position)
        return positions
    finally:
        await client.aclose()
        await engine.dispose()


async def _require_schema(consumer: str, engine: Any, tables: KernelTables, url: str) -> None:
    try:
        async with engine.connect() as conn:
            present = await conn.run_sync(lambda c: sa.inspect(c).has_table(tables.cursors.name))
    except Exception as exc:
        raise OpsError(f"{consumer}: cannot read {display_url(url)}: {one_line(exc)}") from None
    if not present:
        raise OpsError(
            f"{consumer}: {display_url(url)} has no consumer tables: "
            f"run `safety migrate {consumer}`"
        )


async def _dead_letters(factory: Any, tables: KernelTables, source: str) -> int:
    dead = tables.dead_letters
    async with factory() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(dead).where(dead.c.source == source)
        )
    return int(count or 0)


async def _position(
    applier: EventApplier, client: ReplayClient, tables: KernelTables, factory: Any, source: str
) -> SourcePosition:
    cursor = await applier.cursor(source)
    position = SourcePosition(source, cursor, None, await _dead_letters(factory, tables, source))
    try:
        # One event is enough: every page carries the source's head.
        position.head = (await client.fetch(source, cursor, limit=1)).head
    except ReplayUnavailable as exc:
        position.error = str(exc)
    return position


async def _catch_up(
    applier: EventApplier,
    client: ReplayClient,
    tables: KernelTables,
    factory: Any,
    position: SourcePosition,
    step: Callable[[str, int | None], Step],
) -> None:
    source, start = position.source, position.cursor
    assert position.head is not None
    head = position.head
    bar = step(f"{applier.service} <- {source}", head - start)
    dead_before = position.dead_letters
    cursor = start
    try:
        while cursor < head:
            # Bounded calls, so the bar moves; `backfill` itself pages, applies and retries.
            position.applied += await applier.backfill(
                source, until=min(cursor + CHUNK, head), wait=False
            )
            moved = await applier.cursor(source)
            if moved <= cursor:
                raise ReplayUnavailable(f"no progress past sequence {cursor}")
            cursor = moved
            # Events keep arriving while we catch up: follow the head the source reports.
            head = max(head, (await client.fetch(source, cursor, limit=1)).head)
            bar.update(cursor - start, head - start)
    except ReplayUnavailable as exc:
        position.error = str(exc)
    position.cursor = await applier.cursor(source)
    position.head = max(head, position.cursor)
    position.dead_letters = await _dead_letters(factory, tables, source)
    position.dead_lettered = position.dead_letters - dead_before


def _report(
    consumer: str, positions: list[SourcePosition], *, as_json: bool, status_only: bool
) -> None:
    if as_json:
        print_json({"consumer": consumer, "sources": [p.as_dict() for p in positions]})
        return
    columns = ["source", "cursor", "head", "lag", "dead letters"]
    if not status_only:
        columns += ["applied now", "dead-lettered now"]
    table = Table(*columns, "error", title=f"{consumer}: position per source")
    for p in positions:
        row = [p.source, str(p.cursor), _or_dash(p.head), _or_dash(p.lag), str(p.dead_letters)]
        if not status_only:
            row += [str(p.applied), str(p.dead_lettered)]
        table.add_row(*row, p.error or "-")
    console().print(table)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)
