"""The insurance service: insurer-government linkage (measure 2)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from kernel.app import ServiceRuntime, create_service_app
from kernel.db import unit_of_work
from kernel.workdays import shanghai_today
from services.insurance import service
from services.insurance.config import InsuranceSettings, get_settings
from services.insurance.models import Base
from services.insurance.router import router

log = logging.getLogger("insurance")


async def activation_loop(runtime: ServiceRuntime) -> None:
    """Activate policies whose start date arrived (checked at start, then periodically)."""
    settings = runtime.settings
    assert isinstance(settings, InsuranceSettings)
    while True:
        try:
            async with unit_of_work(runtime.session_factory, runtime.hooks) as session:
                count = await service.activate_due_policies(
                    session, runtime.outbox, shanghai_today()
                )
            if count:
                log.info("activated %d policies", count)
        except Exception as exc:
            log.warning("policy activation pass failed: %s", exc)
        await asyncio.sleep(settings.activation_check_seconds)


def create_app(settings: InsuranceSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or get_settings(),
        metadata=Base.metadata,
        routers=[router],
        background=[activation_loop],
        title="Insurance service",
        description="Work-safety liability policies, the 6+3 insurer services, supervision.",
    )


app = create_app()
