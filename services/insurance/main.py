"""The insurance service: insurer-government linkage (measure 2)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, FastAPI

from kernel.app import ServiceRuntime, create_service_app
from kernel.db import unit_of_work
from services.insurance import (
    campaigns_router,
    insurers_router,
    obligations,
    obligations_router,
    public_stats_router,
    push_router,
    service,
    supervision_router,
    whistles,
    whistles_router,
)
from services.insurance.config import InsuranceSettings, get_settings
from services.insurance.consumers import handlers
from services.insurance.dependencies import business_date
from services.insurance.models import Base
from services.insurance.router import router

log = logging.getLogger("insurance")


async def activation_loop(runtime: ServiceRuntime) -> None:
    """The policy life-cycle pass (activate, expire, end cancelled), at start then periodically."""
    settings = runtime.settings
    assert isinstance(settings, InsuranceSettings)
    while True:
        try:
            async with unit_of_work(runtime.session_factory, runtime.hooks) as session:
                report = await service.lifecycle_pass(
                    session, runtime.outbox, business_date(settings), settings
                )
            if report.total:
                log.info(
                    "policies: %d activated, %d expired, %d ended by cancellation",
                    report.activated,
                    report.expired,
                    report.cancelled,
                )
        except Exception as exc:
            log.warning("policy life-cycle pass failed: %s", exc)
        await asyncio.sleep(settings.activation_check_seconds)


def api_router() -> APIRouter:
    """Every insurance endpoint, behind the guards that apply to all of them."""
    api = APIRouter()
    for module_router in (
        router,
        insurers_router.router,
        obligations_router.router,
        push_router.router,
        supervision_router.router,
        whistles_router.router,
        campaigns_router.router,
        public_stats_router.router,
    ):
        api.include_router(module_router)
    return api


def create_app(settings: InsuranceSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or get_settings(),
        metadata=Base.metadata,
        routers=[api_router()],
        handlers=handlers,
        background=[activation_loop, whistles.whistle_loop],
        sla_clocks={"insurer_obligations": obligations.count_overdue},
        title="Insurance service",
        description="Work-safety liability policies, the 6+3 insurer services, supervision.",
    )


app = create_app()
