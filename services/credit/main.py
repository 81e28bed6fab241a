"""The credit service: red and black lists, penalty publicity, credit repair (measures 5, 10)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from kernel.app import ServiceRuntime, create_service_app
from kernel.db import unit_of_work
from kernel.workdays import WorkingDayCalendar, shanghai_today
from services.credit import (
    lists_router,
    public_router,
    records_router,
    repair_router,
    service,
    website,
)
from services.credit.config import CreditSettings, get_settings
from services.credit.consumers import make_handlers
from services.credit.models import Base
from services.credit.router import router

log = logging.getLogger("credit")


async def daily_pass_loop(runtime: ServiceRuntime) -> None:
    """End expired publicity and list terms and freeze the day's export (at start, then
    periodically; each pass is idempotent for its business date)."""
    settings = runtime.settings
    assert isinstance(settings, CreditSettings)
    while True:
        try:
            async with unit_of_work(runtime.session_factory, runtime.hooks) as session:
                done = await service.daily_pass(session, runtime.outbox, shanghai_today())
            if any(done.values()):
                log.info("daily pass: %s", done)
        except Exception as exc:
            # The next pass retries: every step is idempotent for its business date.
            log.warning("daily pass failed: %s", exc)
        await asyncio.sleep(settings.daily_pass_seconds)


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
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
        ],
        handlers=make_handlers(calendar),
        background=[daily_pass_loop, website.website_delivery_loop],
        title="Credit service",
        description="Red and black lists, penalty publicity with computed windows and repair "
        "notices (告知书, 明白纸), credit repair within 3 working days, the public change feed "
        "and the daily export for other departments.",
    )


app = create_app()
