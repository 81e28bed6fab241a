"""(placeholder replaced by the module's owner)"""

from __future__ import annotations

from fastapi import FastAPI

from gateway.context import GatewayRuntime


def install_aggregation(app: FastAPI, runtime: GatewayRuntime) -> None:
    """Wire this part into the app (routes, middleware, start/stop hooks)."""
