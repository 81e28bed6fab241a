"""The inspection service: registry, planning, draws, the four-step procedure (measures 1, 6-9)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from services.inspection import (
    cases_router,
    draws_router,
    guidance_router,
    hazards_router,
    outreach_router,
    plans_router,
    public_stats_router,
    registry_router,
)
from services.inspection.config import InspectionSettings, get_settings
from services.inspection.consumers import handlers
from services.inspection.models import Base
from services.inspection.router import router


def create_app(settings: InspectionSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or get_settings(),
        metadata=Base.metadata,
        routers=[
            router,
            registry_router.router,
            plans_router.router,
            draws_router.router,
            cases_router.router,
            hazards_router.router,
            guidance_router.router,
            outreach_router.router,
            public_stats_router.router,
        ],
        handlers=handlers,
        title="Inspection service",
        description="Supervision registry kept from events, risk-based yearly plans, verifiable "
        "double-random draws, the four-step procedure with lenient enforcement, hazards, pledge "
        "verification visits, public guidance lists and outreach.",
    )


app = create_app()
