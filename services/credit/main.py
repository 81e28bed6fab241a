"""The credit service: red and black lists, penalty publicity, credit repair (measures 5, 10)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from services.credit import lists_router, public_router, repair_router
from services.credit.config import CreditSettings, get_settings
from services.credit.models import Base
from services.credit.router import router


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or get_settings(),
        metadata=Base.metadata,
        routers=[router, lists_router.router, repair_router.router, public_router.router],
        title="Credit service",
        description="Red and black lists, penalty publicity with computed windows and repair "
        "notices, credit repair within 3 working days.",
    )


app = create_app()
