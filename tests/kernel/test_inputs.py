"""A NUL character anywhere in a request is a 422 naming the field, in every service, on SQLite
and PostgreSQL alike (PostgreSQL text cannot hold U+0000: it was a 500 there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit.config import CreditSettings
from services.credit.main import create_app as credit_app
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app as inspection_app
from services.permits.config import PermitsSettings
from services.permits.main import create_app as permits_app
from tests.support import bearer, running

USCC = make_uscc(9301)


def quiet(**settings: Any) -> dict[str, Any]:
    """Settings for a service driven only over HTTP: no relay, consumers or periodic jobs."""
    return {
        "relay_enabled": False,
        "consumers_enabled": False,
        "background_enabled": False,
        **settings,
    }


def nul_field(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_failed"
    (error,) = body["errors"]
    assert error["rule"] == "string_nul_character"
    return str(error["field"])


async def assert_refused(
    app: FastAPI, requests: list[tuple[str, str, Any, dict[str, str], str]]
) -> None:
    async with running(app) as (client, _):
        for method, path, body, headers, field in requests:
            response = await client.request(method, path, json=body, headers=headers)
            assert nul_field(response) == field, (method, path)


@pytest.mark.database("permits")
async def test_permits(
    database_url: str,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
    tmp_path: Path,
) -> None:
    settings = PermitsSettings(
        **quiet(
            database_url=database_url,
            kafka_bootstrap_servers=broker.bootstrap,
            auth=auth_settings,
            licence_key_dir=tmp_path / "licence-keys",
        )
    )
    enterprise = bearer(issuer, "enterprise", USCC)
    body = {"item_code": "QD-AJ-003", "enterprise_name": "青岛\x00化工有限公司"}
    await assert_refused(
        permits_app(settings),
        [
            ("POST", "/applications", body, enterprise, "enterprise_name"),
            ("GET", "/items?q=%00", None, {}, "q"),
            ("GET", "/licences/QDAJ-2026-%00", None, {}, "number"),
        ],
    )
    async with running(permits_app(settings)) as (client, _):
        listed = await client.get("/applications", headers=enterprise)
        assert listed.json()["items"] == []  # nothing was written


@pytest.mark.database("credit")
async def test_credit(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> None:
    settings = CreditSettings(
        **quiet(
            database_url=database_url, kafka_bootstrap_servers=broker.bootstrap, auth=auth_settings
        )
    )
    await assert_refused(
        credit_app(settings),
        [
            ("GET", "/redlist?q=%00", None, {}, "q"),
            ("GET", "/standing/9137%00", None, {}, "uscc"),
        ],
    )


@pytest.mark.database("inspection")
async def test_inspection(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> None:
    settings = InspectionSettings(
        **quiet(
            database_url=database_url, kafka_bootstrap_servers=broker.bootstrap, auth=auth_settings
        )
    )
    officer = bearer(issuer, "officer", "officer-001")
    body = {
        "uscc": USCC,
        "name": "青岛\x00测试企业",
        "district": "黄岛区",
        "sector": "hazardous_chemicals",
    }
    await assert_refused(
        inspection_app(settings),
        [
            ("POST", "/enterprises", body, officer, "name"),
            ("GET", "/hazards?state=%00", None, officer, "state"),
        ],
    )
