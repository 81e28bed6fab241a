"""Mass assignment (OWASP API3): a client sets only what a request body declares.

Two checks. Every request body of every app (the four services and the gateway) is, all the
way down its nested objects, a closed schema in the OpenAPI document (`additionalProperties:
false`, pydantic's extra="forbid"), so an unknown field is refused instead of dropped; the
few open maps are listed below with the reason. And on the main create endpoints, each field
the server owns (ids, states, timestamps, who decided, the tenant a record belongs to, chain
fields) is refused with a 422 that names it, and nothing is written; the same body without it
is then accepted, so the refusal was that field's alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.main import create_app as create_gateway
from gateway.models import Base as GatewayBase
from kernel.auth.dev import DevIssuer
from kernel.db import make_engine
from kernel.errors import PROBLEM_JSON
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from tests.credit.api import test_repair as credit_repair
from tests.gateway.support import gateway_settings, running_gateway
from tests.inspection.api import test_cases as cases
from tests.insurance.api.test_push_risk import assessment_body
from tests.insurance.api.test_whistles import whistle_body
from tests.permits.api.test_items import item_body
from tests.permits.api.test_projects import project_body
from tests.security.conftest import SEALER_COLUMNS, SEALER_TABLES, Service
from tests.support import bearer
from tests.support.builders import policy_body
from tests.support.seed import seed_insurer

# Open maps a request body may hold on purpose, (app, where in the schema) -> why.
OPEN_MAPS: dict[tuple[str, str], str] = {
    # The item's own particulars (premises, storage capacity...): names vary by item, values are
    # strings, at most 50; stored as the applicant's statement, never merged into a column.
    ("permits", "ApplicationCreate.form"): "free particulars of the item's form",
    # RFC 6749 §3.2: the token endpoint MUST ignore request parameters it does not recognise.
    ("gateway", "POST /oauth/token"): "OAuth2 token request, form-encoded",
}


def open_objects(app: FastAPI) -> tuple[set[str], set[str]]:
    """Every object of every request body's schema, and those among them that accept
    properties they do not declare."""
    doc = app.openapi()
    components = doc.get("components", {}).get("schemas", {})
    checked: set[str] = set()
    found: set[str] = set()

    def walk(schema: Any, where: str, seen: frozenset[str]) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(components[name], name, seen | {name})
            return
        if schema.get("type") == "object" or "properties" in schema:
            checked.add(where)
            if schema.get("additionalProperties") is not False:
                found.add(where)
        for prop, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{prop}", seen)
        for key in ("items", "additionalProperties"):
            walk(schema.get(key), f"{where}[]", seen)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where, seen)

    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema"), f"{method.upper()} {path}", frozenset())
    return checked, found


def gateway_app(auth: AuthSettings) -> FastAPI:
    return create_gateway(
        gateway_settings({}, auth=auth, database_url="sqlite+aiosqlite:///:memory:")
    )


@pytest.mark.parametrize("name", ["permits", "credit", "inspection", "insurance", "gateway"])
def test_every_request_body_refuses_fields_it_does_not_declare(
    services: dict[str, Service], auth_settings: AuthSettings, name: str
) -> None:
    app = gateway_app(auth_settings) if name == "gateway" else services[name].app
    checked, found = open_objects(app)
    assert len(checked) > 3, f"{name}: the walk found almost nothing to check: {checked}"
    allowed = {where for (owner, where) in OPEN_MAPS if owner == name}
    assert sorted(found - allowed) == [], f"{name}: request bodies that accept unknown fields"


class _Tag(BaseModel):
    label: str


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    tags: list[_Tag]


def test_the_walk_finds_an_open_object_however_deep() -> None:
    """The check above is only as good as the walk: it sees an open model inside a closed one."""
    app = FastAPI()

    @app.post("/closed")
    async def closed(body: _Closed) -> None:
        return None

    checked, found = open_objects(app)
    assert (checked, found) == ({"_Closed", "_Tag"}, {"_Tag"})


# --- server-owned fields on the create endpoints --------------------------------------------

W = make_uscc(5401)  # the enterprise creating things here
OTHER = make_uscc(5402)  # another enterprise, whose USCC it must not be able to claim
NOW = datetime.now(UTC).isoformat()


@dataclass
class Gateway:
    client: httpx.AsyncClient
    engine: AsyncEngine

    async def snapshot(self) -> dict[str, list[str]]:
        """The gateway's own tables, row by row (the audit sealer's columns aside)."""
        out: dict[str, list[str]] = {}
        async with self.engine.connect() as conn:
            for table in GatewayBase.metadata.sorted_tables:
                if table.name in SEALER_TABLES:
                    continue
                skip = SEALER_COLUMNS.get(table.name, frozenset())
                columns = [c for c in table.columns if c.name not in skip]
                rows = (await conn.execute(sa.select(*columns))).all()
                out[table.name] = sorted(repr(tuple(r)) for r in rows)
        return out


@pytest.fixture(scope="module")
async def gateway(auth_settings: AuthSettings, security_tmp: Path) -> AsyncIterator[Gateway]:
    url = f"sqlite+aiosqlite:///{security_tmp / 'gateway-mass.db'}"
    settings = gateway_settings({}, auth=auth_settings, database_url=url, rate_limits_enabled=False)
    engine = make_engine(url)
    try:
        async with running_gateway(settings) as client:
            yield Gateway(client, engine)
    finally:
        await engine.dispose()


async def refuse_each_then_accept(
    client: httpx.AsyncClient,
    snapshot: Callable[[], Awaitable[Any]],
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    server_owned: dict[str, Any],
) -> dict[str, Any]:
    before = await snapshot()
    for field, value in server_owned.items():
        assert field not in body, field
        r = await client.post(path, json={**body, field: value}, headers=headers)
        assert r.status_code == 422, (field, r.text)
        assert r.headers["content-type"].startswith(PROBLEM_JSON)
        problem = r.json()
        assert [(e["field"], e["rule"]) for e in problem["errors"]] == [
            (field, "extra_forbidden")
        ], problem
        assert field in problem["detail"]
    assert await snapshot() == before, f"POST {path}: a refused body wrote"
    r = await client.post(path, json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    created: dict[str, Any] = r.json()
    return created


def as_(issuer: DevIssuer, role: str, subject: str) -> dict[str, str]:
    return bearer(issuer, role, subject)


class TestServices:
    async def test_permits(self, services: dict[str, Service], issuer: DevIssuer) -> None:
        permits = services["permits"]
        c, snap = permits.client, permits.snapshot
        created = await refuse_each_then_accept(
            c,
            snap,
            "/applications",
            as_(issuer, "enterprise", W),
            {"item_code": "QD-AJ-001", "enterprise_name": "青岛质检化工有限公司"},
            {
                "uscc": OTHER,
                "id": "00000000-0000-4000-8000-000000000001",
                "status": "approved",
                "path": "instant",
                "submitted_at": NOW,
                "due_on": "2099-01-01",
                "decided_by": "leader:me",
                "licence": {"number": "QDAJ-2026-999999"},
                "priority": 0,
                "version": 9,
            },
        )
        assert (created["uscc"], created["status"]) == (W, "under_review")
        await refuse_each_then_accept(
            c,
            snap,
            "/projects",
            as_(issuer, "officer", "officer-wang"),
            project_body(uscc=W, enterprise_name="青岛质检化工有限公司"),
            {
                "id": "p-1",
                "current_stage": "completion",
                "registered_at": NOW,
                "registered_by": "admin:me",
                "version": 3,
            },
        )
        await refuse_each_then_accept(
            c,
            snap,
            "/items",
            as_(issuer, "admin", "admin-001"),
            item_body(code="QD-SEC-001"),
            {"version": 7, "published_at": NOW, "published_by": "admin:me", "sequence": 1},
        )

    async def test_credit(self, services: dict[str, Service], issuer: DevIssuer) -> None:
        credit = services["credit"]
        api = credit_repair.Api(credit.client, credit.runtime, credit.app, issuer)
        api.travel_to(credit_repair.RECORDED)
        await refuse_each_then_accept(
            credit.client,
            credit.snapshot,
            "/penalties",
            api.officer,
            credit_repair.penalty_body(W, 541),
            {
                "id": "r-1",
                "state": "ended",
                "record_class": "incentive",
                "publicity_ends_on": "2026-03-13",
                "recorded_by": "leader:me",
                "created_at": NOW,
                "sequence": 1,
                "hash": "0" * 64,
            },
        )
        record = await api.penalty(W, 542)  # moves the business date to when repair may start
        created = await refuse_each_then_accept(
            credit.client,
            credit.snapshot,
            "/repairs",
            api.enterprise(W),
            credit_repair.repair_body(record),
            {
                "uscc": OTHER,
                "state": "approved",
                "decided_by": "officer:me",
                "decided_on": "2026-06-11",
                "due_on": "2099-01-01",
                "id": "rp-1",
            },
        )
        assert (created["uscc"], created["state"]) == (W, "pending")
        credit.app.dependency_overrides.clear()

    async def test_inspection(self, services: dict[str, Service], issuer: DevIssuer) -> None:
        inspection = services["inspection"]
        api = cases.Api(inspection.client, inspection.runtime, inspection.app, issuer)
        api.travel_to(cases.TODAY)
        await api.enterprise_entry(W)
        case = await refuse_each_then_accept(
            inspection.client,
            inspection.snapshot,
            "/inspections",
            api.officer,
            cases.start_body(W),
            {
                "id": "i-1",
                "state": "closed",
                "started_on": "2026-01-01",
                "created_by": "leader:me",
                "findings": [],
                "version": 5,
            },
        )
        found = await refuse_each_then_accept(
            inspection.client,
            inspection.snapshot,
            f"/inspections/{case['id']}/hazards",
            api.officer,
            {"grade": "general", "description": "配电箱前堆放杂物", "evidence": cases.EVIDENCE},
            {"state": "rectified", "uscc": OTHER, "rectify_by": "2099-01-01", "id": "h-1"},
        )
        hazard = found["hazards"][-1]["id"]
        await refuse_each_then_accept(
            inspection.client,
            inspection.snapshot,
            f"/hazards/{hazard}/rectification-report",
            api.enterprise(W),
            {"description": "已清理配电箱前杂物", "evidence": cases.EVIDENCE},
            {"state": "rectified", "verified_on": "2026-03-10", "uscc": OTHER, "version": 9},
        )
        inspection.app.dependency_overrides.clear()

    async def test_insurance(self, services: dict[str, Service], issuer: DevIssuer) -> None:
        insurance = services["insurance"]
        c, snap = insurance.client, insurance.snapshot
        await seed_insurer(insurance.runtime, "MASS-A")
        await seed_insurer(insurance.runtime, "MASS-B")
        insurer = as_(issuer, "insurer", "MASS-A")
        policy = await refuse_each_then_accept(
            c,
            snap,
            "/policies",
            insurer,
            policy_body(5401, uscc=W),
            {
                "insurer_id": "MASS-B",
                "id": "pol-1",
                "status": "cancelled",
                "risk_level": "low",
                "registered_at": NOW,
                "version": 2,
            },
        )
        assert policy["insurer_id"] == "MASS-A"
        today = datetime.now(UTC).date().isoformat()
        await refuse_each_then_accept(
            c,
            snap,
            "/insurer/risk-assessments",
            insurer,
            assessment_body(policy["id"], assessed_on=today),
            {"insurer_id": "MASS-B", "uscc": OTHER, "id": "ra-1", "received_at": NOW},
        )
        whistle = await refuse_each_then_accept(
            c,
            snap,
            "/whistles",
            as_(issuer, "enterprise", W),
            whistle_body(),
            {
                "uscc": OTHER,
                "insurer_id": "MASS-B",
                "state": "closed",
                "raised_at": NOW,
                "respond_by": NOW,
            },
        )
        assert (whistle["uscc"], whistle["insurer_id"]) == (W, "MASS-A")
        await refuse_each_then_accept(
            c,
            snap,
            "/insurers",
            as_(issuer, "admin", "admin-001"),
            {
                "id": "MASS-C",
                "name": "中国大地财产保险股份有限公司青岛分公司",
                "uscc": make_uscc(5403),
                "contact_name": "赵经理",
                "contact_phone": "0532-80003333",
            },
            {"status": "suspended", "registered_by": "admin:me", "registered_at": NOW},
        )


async def test_gateway(gateway: Gateway, issuer: DevIssuer) -> None:
    admin = as_(issuer, "admin", "admin-001")
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await refuse_each_then_accept(
        gateway.client,
        gateway.snapshot,
        "/api/gateway/grants",
        admin,
        {
            "department": "QD-MARKET",
            "dataset": "licences",
            "purpose": "市场主体许可核验",
            "legal_basis": "《优化营商环境条例》第五十一条",
            "expires_at": expires,
        },
        {"id": "g-1", "granted_by": "admin:me", "created_at": NOW, "revoked_at": None},
    )
    client = await refuse_each_then_accept(
        gateway.client,
        gateway.snapshot,
        "/api/gateway/clients",
        admin,
        {"role": "department", "subject": "QD-MARKET", "name": "市场监管局数据交换"},
        {"client_id": "qdc_" + "a" * 24, "client_secret": "chosen", "secret_hash": "x"},
    )
    assert client["client_secret"] != "chosen"
    key = await refuse_each_then_accept(
        gateway.client,
        gateway.snapshot,
        "/api/gateway/api-keys",
        admin,
        {"subject": "MASS-A", "name": "承保系统"},
        {"key": "qdk_chosen", "key_hash": "x", "id": "k-1", "revoked_at": None},
    )
    assert key["key"] != "qdk_chosen"
