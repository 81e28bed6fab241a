"""The credit service: penalty publicity and credit repair (measures 5 and 10)."""

from __future__ import annotations

from fastapi import FastAPI

from kernel.app import create_service_app
from services.credit.config import CreditSettings, get_settings
from services.credit.models import Base
from services.credit.router import router


def create_app(settings: CreditSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or get_settings(),
        metadata=Base.metadata,
        routers=[router],
        title="Credit service",
        description="Administrative penalty publicity with computed windows and repair notices.",
    )


app = create_app()
