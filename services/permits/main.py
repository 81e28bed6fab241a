"""The permits service: the permit item catalogue (measures 3 and 4)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from services.permits.applications import count_overdue
from services.permits.config import PermitsSettings, get_settings
from services.permits.consumers import handlers
from services.permits.models import Base
from services.permits.projects_router import projects_router
from services.permits.router import applications_router, licences_router, router


def create_app(settings: PermitsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or get_settings(),
        metadata=Base.metadata,
        handlers=handlers,
        routers=[router, applications_router, licences_router, projects_router],
        sla_clocks={"permit_applications": count_overdue},
        title="Permits service",
        description="The permit item catalogue: versioned implementation elements, service "
        "guides, approval modes (instant, pledge, standard), published approver contacts.",
    )


app = create_app()
