"""The inspection service: registry, planning, draws, the four-step procedure (measures 1, 6-9)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from services.inspection.config import InspectionSettings, get_settings
from services.inspection.consumers import handlers
from services.inspection.models import Base
from services.inspection.router import router


def create_app(settings: InspectionSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or get_settings(),
        metadata=Base.metadata,
        routers=[router],
        handlers=handlers,
        title="Inspection service",
        description="Supervision registry, risk-based planning, double-random draws, inspections.",
    )


app = create_app()
