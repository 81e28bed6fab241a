"""CORS: the configured web frontends may call the API from a browser; no other origin may."""

from __future__ import annotations

from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role
from tests.gateway.conftest import GatewayFactory
from tests.support import bearer

PORTAL = "https://portal.safety.qingdao.gov.cn"


async def test_a_configured_origin_gets_its_preflight_and_answers(
    make_gateway: GatewayFactory, issuer: DevIssuer
) -> None:
    async with make_gateway(cors_origins=[PORTAL]) as c:
        preflight = await c.options(
            "/api/permits/applications",
            headers={
                "Origin": PORTAL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
        answer = await c.get(
            "/api/permits/items", headers={"Origin": PORTAL, **bearer(issuer, Role.officer)}
        )
    # The preflight carries no credentials: identity and the upstream never see it.
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PORTAL
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= {
        h.strip() for h in allowed.split(",")
    }
    assert "access-control-allow-credentials" not in preflight.headers  # bearer, not cookies
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == PORTAL
    exposed = answer.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed


async def test_another_origin_gets_no_cors_grant(make_gateway: GatewayFactory) -> None:
    async with make_gateway(cors_origins=[PORTAL]) as c:
        preflight = await c.options(
            "/api/permits/applications",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        answer = await c.get("/api/permits/items", headers={"Origin": "https://evil.example"})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


async def test_without_configured_origins_there_is_no_cors(make_gateway: GatewayFactory) -> None:
    async with make_gateway() as c:
        answer = await c.get("/api/permits/items", headers={"Origin": PORTAL})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
