"""The credit service: red and black lists, penalty publicity, credit repair (measures 5, 10)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date

from fastapi import FastAPI

from kernel.app import BackgroundJob, ServiceRuntime, create_service_app
from kernel.db import unit_of_work
from kernel.workdays import WorkingDayCalendar
from services.credit import (
    lists_router,
    public_history_router,
    public_router,
    public_stats_router,
    records_router,
    repair_router,
    service,
    website,
)
from services.credit.config import CreditSettings, get_settings
from services.credit.consumers import make_handlers
from services.credit.dependencies import business_date
from services.credit.models import Base
from services.credit.repair import refresh_overdue_gauge
from services.credit.router import router

log = logging.getLogger("credit")


def daily_pass_loop(today: Callable[[], date]) -> BackgroundJob:
    """End expired publicity and list terms and freeze the day's export (at start, then
    periodically; each pass is idempotent for its business date)."""

    async def daily_pass(runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, CreditSettings)
        while True:
            try:
                async with unit_of_work(runtime.session_factory, runtime.hooks) as session:
                    done = await service.daily_pass(session, runtime.outbox, today())
                if any(done.values()):
                    log.info("daily pass: %s", done)
            except Exception as exc:
                # The next pass retries: every step is idempotent for its business date.
                log.warning("daily pass failed: %s", exc)
            await asyncio.sleep(settings.daily_pass_seconds)

    return daily_pass


def create_app(
    settings: CreditSettings | None = None, *, today: Callable[[], date] | None = None
) -> FastAPI:
    """The app; `today` is the business-date clock of the consumers and the daily pass
    (requests read theirs from the `business_today` dependency), by default Asia/Shanghai's
    date under CREDIT_CLOCK_OFFSET_DAYS."""
    settings = settings or get_settings()
    configured = settings
    today = today or (lambda: business_date(configured))
    # The runtime builds the same calendar; the handlers need theirs before it exists.
    calendar = (
        WorkingDayCalendar.from_directory(settings.calendar_dir)
        if settings.calendar_dir
        else WorkingDayCalendar()
    )
    return create_service_app(
        settings=settings,
        metadata=Base.metadata,
        routers=[
            router,
            records_router.router,
            lists_router.router,
            repair_router.router,
            public_router.router,
            public_stats_router.router,
            public_history_router.router,
        ],
        handlers=make_handlers(calendar, today),
        background=[daily_pass_loop(today), website.website_delivery_loop],
        # Also keeps credit_repairs_overdue (the repair module's own gauge) current.
        sla_clocks={"credit_repairs": refresh_overdue_gauge},
        title="Credit service",
        description="Red and black lists, penalty publicity with computed windows and repair "
        "notices (告知书, 明白纸), credit repair within 3 working days, the public change feed "
        "and the daily export for other departments.",
    )


app = create_app()
