"""`safety publish-list` through a real gateway in front of a real inspection app.

Registry rows are written directly (their standing arrives by events in production); the
yearly plan and the inspectors are made through the inspection API, as the bureau makes them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from gateway.config import GatewaySettings
from gateway.main import create_app as create_gateway
from kernel.auth.dev import DevIssuer
from kernel.db import utcnow
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from ops.cli import app
from ops.publish import next_publishable_month
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app
from services.inspection.models import Enterprise
from tests.support import bearer, serving

pytestmark = pytest.mark.database("inspection")

POOL = [make_uscc(9300 + i) for i in range(8)]


async def invoke(args: list[str]) -> Result:
    # The gateway and the service answer on this event loop: the command runs on a thread.
    return await asyncio.to_thread(CliRunner().invoke, app, args)


def registry_row(uscc: str, n: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "uscc": uscc,
        "name": f"青岛运维测试企业{n}有限公司",
        "district": "市北区",
        "sector": "trade",
        "tier": "general",
        "standardisation_level": 0,
        "is_pre_ipo": False,
        "is_specialised": False,
        "credit_standing": "normal",
        "risk_level": None,
        "licences_active": 0,
        "registered_by": "test",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


async def test_publishes_the_list_and_prints_the_commitment(
    database_url: str,
    make_database_url: Callable[..., Awaitable[str]],
    auth_settings: AuthSettings,
    issuer: DevIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_DEV_KEY_DIR", str(auth_settings.dev_key_dir))
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    # A month whose deadline is weeks away, whatever today is: the one after the next due.
    year, month = next_publishable_month(shanghai_today() + timedelta(days=35))
    inspection = create_app(
        InspectionSettings(
            database_url=database_url,
            auth=auth_settings,
            relay_enabled=False,
            consumers_enabled=False,
            background_enabled=False,
        )
    )
    async with serving(inspection) as upstream:
        runtime = inspection.state.runtime
        async with runtime.session_factory() as session, session.begin():
            await session.execute(
                sa.insert(Enterprise), [registry_row(u, n) for n, u in enumerate(POOL)]
            )
        officer = bearer(issuer, "officer", "officer-001")
        async with httpx.AsyncClient(base_url=upstream) as http:
            for n in range(4):
                r = await http.post(
                    "/inspectors",
                    headers=officer,
                    json={
                        "name": f"执法员{n}",
                        "subject": f"officer-2{n:02d}",
                        "district": "市北区",
                        "sectors": ["trade"],
                        "monthly_cap": 10,
                    },
                )
                assert r.status_code == 201, r.text
            r = await http.post("/plans", headers=officer, json={"year": year})
            assert r.status_code == 201, r.text
            r = await http.post(
                f"/plans/{r.json()['id']}/approval", headers=bearer(issuer, "leader", "leader-1")
            )
            assert r.status_code == 200, r.text

        gateway_settings = GatewaySettings.model_validate(
            {
                "inspection_url": upstream,
                "auth": auth_settings,
                "database_url": await make_database_url(kind, "gateway"),
            }
        )
        async with serving(create_gateway(gateway_settings)) as gateway:
            args = [
                "publish-list",
                "--gateway",
                gateway,
                "--month",
                f"{year}-{month:02d}",
                "--source-round",
                f"{year}-001",
                "--source-date",
                (shanghai_today() + timedelta(days=1)).isoformat(),
                "--count",
                "2",
            ]
            published = await invoke([*args, "--json"])
            assert published.exit_code == 0, published.output
            summary = json.loads(published.stdout)
            path = f"/api/inspection/draws/{year}/{month}"
            assert summary["public_url"] == gateway + path
            assert summary["draw_count"] == 2
            assert summary["state"] == "committed"
            async with httpx.AsyncClient() as http:
                public = (await http.get(gateway + path)).json()  # no token: it is public
            assert public["commitment"] == summary["commitment"]
            assert summary["pool_size"] == public["pool_size"] >= 2

            # The same month again: the service's problem+json, one line, exit 1.
            again = await invoke(args)
            assert again.exit_code == 1
            assert again.stderr.strip() == (
                f"error: {year}-{month:02d} not published: HTTP 409 Conflict: "
                f"the draw for {year}-{month:02d} is already published [draw_exists]"
            )

            # A caller without the role: refused by the service, named.
            denied = await invoke([*args, "--token", issuer.mint("enterprise", POOL[0])])
            assert denied.exit_code == 1
            assert "HTTP 403" in denied.stderr
