"""`safety health`: every upstream's readiness as the gateway sees it (its `/health`)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from ops.common import JSON, OpsError, console, fails_cleanly, print_json
from ops.publish import DEFAULT_GATEWAY


@fails_cleanly
def health(
    gateway: Annotated[
        str,
        typer.Option("--gateway", envvar="SAFETY_GATEWAY_URL", help="The gateway's base URL."),
    ] = DEFAULT_GATEWAY,
    as_json: Annotated[bool, JSON] = False,
) -> None:
    """Show each service's readiness (database, broker) through the gateway; exit 1 if any is
    not ready (服务健康检查)."""
    base = gateway.rstrip("/")
    try:
        response = httpx.get(f"{base}/health", timeout=httpx.Timeout(15.0, connect=5.0))
    except httpx.HTTPError as exc:
        raise OpsError(f"cannot reach the gateway at {base}: {exc}") from None
    try:
        report: dict[str, Any] = response.json()
        upstreams: dict[str, Any] = report["upstreams"]
    except (ValueError, KeyError, TypeError):
        raise OpsError(
            f"{base}/health answered {response.status_code} without a health report"
        ) from None
    if as_json:
        print_json(report)
    else:
        table = Table("service", "status", "latency ms", "circuit", "error")
        for name, up in upstreams.items():
            table.add_row(
                name,
                str(up.get("status")),
                f"{up.get('latency_ms', 0):.0f}",
                str(up.get("circuit", "-")),
                str(up.get("error") or "-"),
            )
        console().print(table)
    failing = [name for name, up in upstreams.items() if up.get("status") != "ok"]
    if failing:
        raise OpsError(f"not ready: {', '.join(failing)}")
