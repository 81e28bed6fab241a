"""The portal's home page: what the public can check here, and the two commonest forms."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.portal.rendering import render

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    # Reads nothing from the services: the page people land on stays up when they are not.
    return render(request, "home.html", {}, max_age=300)
