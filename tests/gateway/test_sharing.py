"""Inter-department data sharing through the gateway, on SQLite and PostgreSQL: grants and
their lifecycle, reads under a grant from stand-ins of the owner services over real HTTP, and
the read log as the bureau, the department and the enterprise concerned see it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import Response

from gateway.config import UPSTREAM_NAMES
from gateway.models import AUDIT, DataRead, DataReadSubject, Grant
from gateway.sharing import (
    CATALOGUE,
    DataSet,
    Endpoint,
    ExpiryInvalid,
    GrantStatus,
    QueryInvalid,
    UpstreamQuery,
    check_expiry,
    grant_status,
    latest_expiry,
    subjects_of,
)
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role
from kernel.db import make_engine
from kernel.uscc import make_uscc
from tests.gateway.conftest import GatewayFactory
from tests.gateway.support import assert_problem
from tests.support import bearer, free_port, serving

A, B, C = make_uscc(4101), make_uscc(4102), make_uscc(4103)
CBIRC, MARKET = "QD-CBIRC", "QD-MARKET"

# What each stand-in path answers: two enterprises, and one row whose `uscc` is no USCC.
PAGES: dict[str, list[dict[str, Any]]] = {
    "/licences": [
        {"number": "QDAJ-2026-000001", "uscc": A},
        {"number": "QDAJ-2026-000002", "uscc": B},
        {"number": "QDAJ-2026-000003", "uscc": A},
        {"number": "QDAJ-2026-000004", "uscc": "not-a-uscc"},
    ],
    "/redlist": [{"id": "r-1", "uscc": B}],
    "/blacklist": [{"id": "b-1", "uscc": C}],
    "/penalties": [{"id": "p-1", "uscc": A}],
    "/inspections": [{"id": "i-1", "uscc": C}],
    "/coverage-gaps": [{"uscc": B, "sector": "mining", "last_policy": None}],
}


@dataclass
class Seen:
    path: str
    query: list[tuple[str, str]]
    claims: dict[str, Any]
    request_id: str | None


@dataclass
class Owners:
    """What reached the stand-ins of the owner services."""

    seen: list[Seen] = field(default_factory=list)


def _problem(status: int, code: str, **extra: Any) -> Response:
    body = {"status": status, "code": code, "detail": f"stand-in answered {code}", **extra}
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def owner_app(owners: Owners) -> FastAPI:
    """A stand-in owner service: pages of items carrying `uscc`, for the gateway's data:share
    service token only (read without verification: the services verify it for real)."""
    app = FastAPI()

    @app.get("/{path:path}")
    async def page(request: Request, path: str) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _problem(401, "unauthorized")
        if scheme != "Bearer" or claims.get("role") != "service":
            return _problem(403, "forbidden")
        if "data:share" not in str(claims.get("scope", "")).split():
            return _problem(403, "scope_required")
        owners.seen.append(
            Seen(
                request.url.path,
                list(request.query_params.multi_items()),
                claims,
                request.headers.get("x-request-id"),
            )
        )
        if request.query_params.get("cursor") == "stale":
            return _problem(422, "invalid_cursor", field="cursor")
        if request.query_params.get("name") == "broken":
            return _problem(500, "internal_error")
        if request.query_params.get("q") == "not-a-page":
            return Response(orjson.dumps({"rows": []}), media_type="application/json")
        items = PAGES.get(request.url.path)
        if items is None:
            return _problem(404, "not_found")
        return Response(
            orjson.dumps({"items": items, "next_cursor": "bmV4dA"}), media_type="application/json"
        )

    return app


@pytest.fixture(scope="module")
def owners() -> Owners:
    return Owners()


@pytest.fixture(scope="module")
async def owner_urls(owners: Owners) -> AsyncIterator[dict[str, str]]:
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(serving(owner_app(owners)))
            for name in ("permits", "credit", "inspection", "insurance")
        }


@pytest.fixture(autouse=True)
def _fresh_owners(owners: Owners) -> None:
    owners.seen.clear()


@pytest.fixture
def gateway(make_gateway: GatewayFactory, owner_urls: dict[str, str], database_url: str) -> Any:
    """`async with gateway(urls=...) as client:` the gateway in front of the stand-ins, on
    this test's database (SQLite or PostgreSQL), without rate limits."""

    def make(urls: dict[str, str] | None = None) -> Any:
        return make_gateway(
            urls={**owner_urls, **(urls or {})},
            database_url=database_url,
            rate_limits_enabled=False,
        )

    return make


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Any]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def rows(url: str, model: type[Any]) -> list[Any]:
    async with database(url) as engine, engine.connect() as conn:
        return list((await conn.execute(sa.select(model.__table__))).all())


def admin(issuer: DevIssuer) -> dict[str, str]:
    return bearer(issuer, Role.admin, "admin-001")


def department(issuer: DevIssuer, code: str = CBIRC) -> dict[str, str]:
    return bearer(issuer, Role.department, code)


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def grant_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "department": CBIRC,
        "dataset": "licences",
        "purpose": "保险机构承保前核验企业安全生产许可",
        "legal_basis": "《安全生产责任保险实施办法》第十条",
        "expires_at": in_days(90),
    }
    body.update(over)
    return body


async def grant(client: httpx.AsyncClient, issuer: DevIssuer, **over: Any) -> dict[str, Any]:
    r = await client.post("/api/gateway/grants", json=grant_body(**over), headers=admin(issuer))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def read(
    client: httpx.AsyncClient,
    issuer: DevIssuer,
    dataset: str = "licences",
    code: str = CBIRC,
    **params: str,
) -> httpx.Response:
    return await client.get(f"/api/data/{dataset}", params=params, headers=department(issuer, code))


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


class TestCatalogue:
    async def test_lists_every_data_set_with_its_owner_and_parameters(
        self, gateway: Any, issuer: DevIssuer
    ) -> None:
        async with gateway() as client:
            for who in (department(issuer), admin(issuer), bearer(issuer, Role.officer)):
                r = await client.get("/api/data", headers=who)
                assert r.status_code == 200, r.text
                shown = {d["code"]: d for d in r.json()["items"]}
                assert set(shown) == {
                    "licences",
                    "credit-lists",
                    "inspection-results",
                    "coverage-gaps",
                }
                assert shown["licences"]["owner"] == "permits"
                assert shown["credit-lists"]["selector"]["values"] == ["red", "black", "penalties"]
                assert {p["name"] for p in shown["inspection-results"]["parameters"]} == {
                    "uscc",
                    "state",
                    "cursor",
                    "limit",
                }

    async def test_others_may_not_list_it(self, gateway: Any, issuer: DevIssuer) -> None:
        async with gateway() as client:
            assert_problem(await client.get("/api/data"), 401, "unauthorized")
            for role in (Role.enterprise, Role.insurer):
                r = await client.get("/api/data", headers=bearer(issuer, role, A))
                assert_problem(r, 403, "forbidden")


class TestGrants:
    async def test_lifecycle_from_grant_to_revocation(
        self, gateway: Any, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway() as client:
            r = await client.post("/api/gateway/grants", json=grant_body(), headers=admin(issuer))
            assert r.status_code == 201, r.text
            made = r.json()
            assert r.headers["location"] == f"/api/gateway/grants/{made['id']}"
            assert made["status"] == "active"
            assert made["created_by"] == "admin:admin-001"
            assert made["department"] == CBIRC
            other = await grant(client, issuer, department=MARKET, dataset="credit-lists")

            one = await client.get(f"/api/gateway/grants/{made['id']}", headers=admin(issuer))
            assert one.json() == made
            everything = await client.get("/api/gateway/grants", headers=admin(issuer))
            assert [g["id"] for g in everything.json()["items"]] == [other["id"], made["id"]]
            bureau = await client.get(
                "/api/gateway/grants?department=QD-MARKET", headers=bearer(issuer, Role.leader)
            )
            assert [g["id"] for g in bureau.json()["items"]] == [other["id"]]
            own = await client.get("/api/gateway/grants", headers=department(issuer))
            assert [g["id"] for g in own.json()["items"]] == [made["id"]]
            assert_problem(
                await client.get(f"/api/gateway/grants/{other['id']}", headers=department(issuer)),
                404,
                "grant_not_found",
            )
            assert_problem(
                await client.get(
                    "/api/gateway/grants?department=QD-MARKET", headers=department(issuer)
                ),
                403,
                "grants_not_yours",
            )
            assert (await read(client, issuer)).status_code == 200

            url = f"/api/gateway/grants/{made['id']}/revoke"
            r = await client.post(url, json={"reason": "协议到期终止"}, headers=admin(issuer))
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "revoked"
            assert r.json()["revoked_by"] == "admin:admin-001"
            assert r.json()["revoked_reason"] == "协议到期终止"
            again = await client.post(url, json={"reason": "再次撤销"}, headers=admin(issuer))
            assert_problem(again, 409, "grant_revoked")
            body = assert_problem(await read(client, issuer), 403, "no_grant")
            assert body["dataset"] == "licences"
            revoked = await client.get("/api/gateway/grants?status=revoked", headers=admin(issuer))
            assert [g["id"] for g in revoked.json()["items"]] == [made["id"]]
            active = await client.get("/api/gateway/grants?status=active", headers=admin(issuer))
            assert [g["id"] for g in active.json()["items"]] == [other["id"]]
            trail = await client.get(
                "/api/gateway/audit",
                params={"entity": "grants", "entity_key": f'"{made["id"]}"'},
                headers=admin(issuer),
            )
            assert [(i["action"], i["actor"]) for i in trail.json()["items"]] == [
                ("update", "admin:admin-001"),
                ("insert", "admin:admin-001"),
            ]
            denied = await client.get("/api/gateway/audit", headers=department(issuer))
            assert_problem(denied, 403, "forbidden")
        (stored,) = [g for g in await rows(database_url, Grant) if g.id == made["id"]]
        assert stored.revoked_by == "admin:admin-001"
        # The audit log says who granted and who revoked, through which route, before/after.
        async with database(database_url) as engine, engine.connect() as conn:
            trail = (
                await conn.execute(
                    sa.select(AUDIT)
                    .where(AUDIT.c.entity == "grants", AUDIT.c.entity_key == f'"{made["id"]}"')
                    .order_by(AUDIT.c.id)
                )
            ).all()
        assert [(t.action, t.actor, t.via) for t in trail] == [
            ("insert", "admin:admin-001", "POST /api/gateway/grants"),
            ("update", "admin:admin-001", f"POST /api/gateway/grants/{made['id']}/revoke"),
        ]
        assert trail[1].before["revoked_at"] is None
        assert trail[1].after["revoked_reason"] == "协议到期终止"

    async def test_pages_newest_first(self, gateway: Any, issuer: DevIssuer) -> None:
        async with gateway() as client:
            made = [(await grant(client, issuer))["id"] for _ in range(3)]
            first = (await client.get("/api/gateway/grants?limit=2", headers=admin(issuer))).json()
            second = (
                await client.get(
                    f"/api/gateway/grants?limit=2&cursor={first['next_cursor']}",
                    headers=admin(issuer),
                )
            ).json()
            assert second["next_cursor"] is None
            assert [g["id"] for g in first["items"] + second["items"]] == made[::-1]

    @pytest.mark.parametrize(
        ("over", "status", "code", "field"),
        [
            ({"expires_at": in_days(-1)}, 422, "expiry_invalid", "expires_at"),
            ({"expires_at": in_days(2 * 366 + 1)}, 422, "expiry_invalid", "expires_at"),
            ({"expires_at": "2027-01-01T00:00:00"}, 422, "validation_failed", "expires_at"),
            ({"expires_at": "9999-12-31T23:00:00-14:00"}, 422, "validation_failed", "expires_at"),
            ({"dataset": "tax-records"}, 422, "validation_failed", "dataset"),
            ({"purpose": ""}, 422, "validation_failed", "purpose"),
            ({"purpose": "x" * 501}, 422, "validation_failed", "purpose"),
            ({"purpose": "核验\x00许可"}, 422, "validation_failed", "purpose"),
            ({"legal_basis": "依据\x00"}, 422, "validation_failed", "legal_basis"),
            ({"department": "QD CBIRC"}, 422, "validation_failed", "department"),
            ({"department": "Q" * 65}, 422, "validation_failed", "department"),
            ({"scope": "everything"}, 422, "validation_failed", "scope"),
        ],
    )
    async def test_bad_grants_are_refused_naming_the_field(
        self,
        gateway: Any,
        issuer: DevIssuer,
        database_url: str,
        over: dict[str, Any],
        status: int,
        code: str,
        field: str,
    ) -> None:
        async with gateway() as client:
            r = await client.post(
                "/api/gateway/grants", json=grant_body(**over), headers=admin(issuer)
            )
            body = assert_problem(r, status, code)
            fields = [e["field"] for e in body.get("errors", [])] or [body["field"]]
            assert field in fields
        assert await rows(database_url, Grant) == []

    async def test_only_an_admin_manages_grants(
        self, gateway: Any, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway() as client:
            made = await grant(client, issuer)
            revoke = f"/api/gateway/grants/{made['id']}/revoke"
            for role in (Role.officer, Role.leader, Role.department, Role.enterprise, Role.insurer):
                who = bearer(issuer, role, CBIRC if role is Role.department else A)
                r = await client.post("/api/gateway/grants", json=grant_body(), headers=who)
                assert_problem(r, 403, "forbidden")
                r = await client.post(revoke, json={"reason": "越权撤销"}, headers=who)
                assert_problem(r, 403, "forbidden")
            assert_problem(
                await client.post("/api/gateway/grants", json=grant_body()), 401, "unauthorized"
            )
            for role in (Role.enterprise, Role.insurer):
                r = await client.get("/api/gateway/grants", headers=bearer(issuer, role, A))
                assert_problem(r, 403, "forbidden")
        (stored,) = await rows(database_url, Grant)
        assert stored.revoked_at is None

    async def test_an_id_that_cannot_exist_is_not_found(
        self, gateway: Any, issuer: DevIssuer
    ) -> None:
        async with gateway() as client:
            for grant_id in ("nope", "%00", "0" * 36, "f" * 300):
                r = await client.get(f"/api/gateway/grants/{grant_id}", headers=admin(issuer))
                assert_problem(r, 404, "grant_not_found")


class TestReads:
    async def test_a_read_is_served_and_logged_with_the_enterprises_it_returned(
        self, gateway: Any, issuer: DevIssuer, owners: Owners, database_url: str
    ) -> None:
        async with gateway() as client:
            made = await grant(client, issuer)
            r = await client.get(
                "/api/data/licences",
                params={"status": "active", "limit": "20", "uscc": A.lower()},
                headers={**department(issuer), "X-Request-ID": "req-share-1"},
            )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["dataset"] == "licences"
        assert body["grant_id"] == made["id"]
        assert body["purpose"] == made["purpose"]
        assert body["items"] == PAGES["/licences"]
        assert body["next_cursor"] == "bmV4dA"
        (seen,) = owners.seen
        assert seen.path == "/licences"
        assert sorted(seen.query) == [("limit", "20"), ("status", "active"), ("uscc", A)]
        assert seen.claims["sub"] == "svc:gateway"
        assert seen.request_id == "req-share-1"
        (logged,) = await rows(database_url, DataRead)
        assert logged.id == body["read_id"]
        assert logged.outcome == "served"
        assert logged.record_count == 4
        assert logged.department == CBIRC
        assert logged.actor == "department:QD-CBIRC"
        assert logged.grant_id == made["id"]
        assert logged.purpose == made["purpose"]
        assert logged.query == {"status": "active", "limit": "20", "uscc": A}
        assert logged.request_id == "req-share-1"
        subjects = await rows(database_url, DataReadSubject)
        assert sorted(s.uscc for s in subjects) == sorted([A, B])
        assert {s.read_id for s in subjects} == {logged.id}

    async def test_each_data_set_reads_its_owner(
        self, gateway: Any, issuer: DevIssuer, owners: Owners
    ) -> None:
        async with gateway() as client:
            await grant(client, issuer, dataset="credit-lists")
            await grant(client, issuer, dataset="inspection-results")
            for params, path in (
                ({"list": "red", "q": "海晏"}, "/redlist"),
                ({"list": "black"}, "/blacklist"),
                ({"list": "penalties", "name": "海晏"}, "/penalties"),
            ):
                r = await read(client, issuer, "credit-lists", **params)
                assert r.status_code == 200, r.text
                assert r.json()["items"] == PAGES[path]
                assert owners.seen[-1].path == path
                assert ("list", params["list"]) not in owners.seen[-1].query
            r = await read(client, issuer, "inspection-results", state="closed")
            assert r.status_code == 200, r.text
            assert owners.seen[-1].path == "/inspections"
            assert owners.seen[-1].query == [("state", "closed")]
            await grant(client, issuer, dataset="coverage-gaps")
            r = await read(client, issuer, "coverage-gaps", sector="mining", district="黄岛区")
            assert r.status_code == 200, r.text
            assert r.json()["items"] == PAGES["/coverage-gaps"]
            assert owners.seen[-1].path == "/coverage-gaps"
            # Only the high-risk sectors the owner answers for: refused here, not upstream.
            refused = assert_problem(
                await read(client, issuer, "coverage-gaps", sector="trade"),
                422,
                "validation_failed",
            )
            assert refused["errors"][0]["field"] == "sector"

    async def test_the_service_token_is_minted_once_and_reused(
        self, gateway: Any, issuer: DevIssuer, owners: Owners
    ) -> None:
        async with gateway() as client:
            await grant(client, issuer)
            for _ in range(2):
                assert (await read(client, issuer)).status_code == 200
        first, second = owners.seen
        assert first.claims["jti"] == second.claims["jti"]
        assert first.claims["exp"] - first.claims["iat"] == 300

    async def test_without_a_grant_it_is_403_naming_the_data_set(
        self, gateway: Any, issuer: DevIssuer, owners: Owners, database_url: str
    ) -> None:
        async with gateway() as client:
            await grant(client, issuer, department=MARKET)
            await grant(client, issuer, dataset="credit-lists")
            body = assert_problem(await read(client, issuer), 403, "no_grant")
            assert body["dataset"] == "licences"
            assert "licences" in body["detail"]
            for unknown in ("tax-records", "x" * 300):
                assert_problem(await read(client, issuer, unknown), 404, "dataset_not_found")
        assert owners.seen == []
        assert await rows(database_url, DataRead) == []

    async def test_an_expired_grant_gives_no_access(
        self, gateway: Any, issuer: DevIssuer, owners: Owners, database_url: str
    ) -> None:
        async with gateway() as client:
            made = await grant(client, issuer)
            async with database(database_url) as engine, engine.begin() as conn:
                await conn.execute(
                    sa.update(Grant)
                    .where(Grant.id == made["id"])
                    .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
            assert_problem(await read(client, issuer), 403, "no_grant")
            shown = await client.get(f"/api/gateway/grants/{made['id']}", headers=admin(issuer))
            assert shown.json()["status"] == "expired"
        assert owners.seen == []

    async def test_two_grants_need_the_read_to_say_which(
        self, gateway: Any, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway() as client:
            first = await grant(client, issuer, purpose="承保前核验")
            second = await grant(client, issuer, purpose="理赔时核验")
            body = assert_problem(await read(client, issuer), 422, "grant_required")
            assert body["field"] == "grant"
            assert sorted(body["grants"]) == sorted([first["id"], second["id"]])
            r = await read(client, issuer, grant=second["id"])
            assert r.status_code == 200, r.text
            assert (r.json()["grant_id"], r.json()["purpose"]) == (second["id"], "理赔时核验")
            other = await grant(client, issuer, department=MARKET)
            assert_problem(await read(client, issuer, grant=other["id"]), 403, "no_grant")
        (logged,) = await rows(database_url, DataRead)
        assert (logged.grant_id, logged.purpose) == (second["id"], "理赔时核验")
        assert "grant" not in logged.query

    @pytest.mark.parametrize(
        ("dataset", "query", "field"),
        [
            ("licences", "sort=uscc", "sort"),
            ("licences", "limit=500", "limit"),
            ("licences", "limit=1&limit=2", "limit"),
            ("licences", "uscc=91370200XXXXXXXXXX", "uscc"),
            ("licences", "issued_from=2026-02-30", "issued_from"),
            # The owner's range: refused here, not sent on to come back as a failed read.
            ("licences", "issued_from=0001-01-01", "issued_from"),
            ("licences", "issued_to=9999-12-31", "issued_to"),
            ("licences", "cursor=%00", "cursor"),
            ("licences", "grant=a&grant=b", "grant"),
            ("credit-lists", "q=x", "list"),
            ("credit-lists", "list=grey", "list"),
            ("credit-lists", "list=penalties&q=x", "q"),
            ("credit-lists", "list=red&q=%00", "q"),
            ("inspection-results", "state=start", "state"),
        ],
    )
    async def test_a_parameter_outside_the_catalogue_is_422_naming_it(
        self,
        gateway: Any,
        issuer: DevIssuer,
        owners: Owners,
        database_url: str,
        dataset: str,
        query: str,
        field: str,
    ) -> None:
        async with gateway() as client:
            await grant(client, issuer, dataset=dataset)
            r = await client.get(f"/api/data/{dataset}?{query}", headers=department(issuer))
        body = assert_problem(r, 422, "validation_failed")
        assert field in [e["field"] for e in body["errors"]]
        assert owners.seen == []
        assert await rows(database_url, DataRead) == []

    async def test_only_departments_read(self, gateway: Any, issuer: DevIssuer) -> None:
        async with gateway() as client:
            await grant(client, issuer)
            assert_problem(await client.get("/api/data/licences"), 401, "unauthorized")
            for role in (Role.admin, Role.officer, Role.enterprise, Role.insurer):
                r = await client.get("/api/data/licences", headers=bearer(issuer, role, CBIRC))
                assert_problem(r, 403, "forbidden")

    async def test_an_owner_down_is_503_naming_it_and_logged_as_failed(
        self, gateway: Any, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(urls={"permits": closed_port()}) as client:
            made = await grant(client, issuer)
            body = assert_problem(
                await read(client, issuer, status="active"), 503, "upstream_unavailable"
            )
        assert body["upstream"] == "permits"
        (logged,) = await rows(database_url, DataRead)
        assert (logged.outcome, logged.record_count, logged.grant_id) == ("failed", 0, made["id"])
        assert logged.query == {"status": "active"}
        assert await rows(database_url, DataReadSubject) == []

    async def test_an_owner_error_is_503_and_a_refused_query_is_relayed(
        self, gateway: Any, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway() as client:
            await grant(client, issuer, dataset="credit-lists")
            r = await read(client, issuer, "credit-lists", list="penalties", name="broken")
            assert_problem(r, 503, "upstream_unavailable")
            r = await read(client, issuer, "credit-lists", list="black", q="not-a-page")
            assert_problem(r, 503, "upstream_unavailable")
            r = await read(client, issuer, "credit-lists", list="red", cursor="stale")
            body = assert_problem(r, 422, "invalid_cursor")
            assert (body["upstream"], body["field"]) == ("credit", "cursor")
        assert [x.outcome for x in await rows(database_url, DataRead)] == ["failed"] * 3

    async def test_no_log_no_data(
        self, gateway: Any, issuer: DevIssuer, owners: Owners, database_url: str
    ) -> None:
        async with gateway() as client:
            await grant(client, issuer)
            async with database(database_url) as engine, engine.begin() as conn:
                await conn.execute(sa.text("DROP TABLE data_read_subjects"))
            r = await read(client, issuer)
            body = assert_problem(r, 503, "read_log_unavailable")
            assert "QDAJ" not in r.text
            assert body["detail"].startswith("the read could not be logged")
        assert len(owners.seen) == 1
        assert await rows(database_url, DataRead) == []


class TestReadLog:
    async def reads(self, client: httpx.AsyncClient, issuer: DevIssuer) -> dict[str, int]:
        """CBIRC reads licences (A, B) and MARKET the black list (C)."""
        await grant(client, issuer)
        await grant(
            client, issuer, department=MARKET, dataset="credit-lists", purpose="市场监管联合惩戒"
        )
        licences = await read(client, issuer)
        blacklist = await read(client, issuer, "credit-lists", MARKET, list="black")
        return {"licences": licences.json()["read_id"], "black": blacklist.json()["read_id"]}

    async def test_the_bureau_sees_every_read_with_filters(
        self, gateway: Any, issuer: DevIssuer
    ) -> None:
        async with gateway() as client:
            ids = await self.reads(client, issuer)
            for role in (Role.officer, Role.leader, Role.admin):
                who = bearer(issuer, role)
                listed = (await client.get("/api/gateway/data-reads", headers=who)).json()
                assert [x["id"] for x in listed["items"]] == [ids["black"], ids["licences"]]
            first = listed["items"][1]
            assert first["query"] == {}
            assert first["record_count"] == 4
            assert first["outcome"] == "served"
            for query, expected in (
                ("dataset=credit-lists", [ids["black"]]),
                ("department=QD-CBIRC", [ids["licences"]]),
                (f"uscc={A}", [ids["licences"]]),
                (f"uscc={C}", [ids["black"]]),
                ("from=2000-01-01&to=2000-12-31", []),
            ):
                r = await client.get(f"/api/gateway/data-reads?{query}", headers=admin(issuer))
                assert [x["id"] for x in r.json()["items"]] == expected, query
            first_page = (
                await client.get("/api/gateway/data-reads?limit=1", headers=admin(issuer))
            ).json()
            rest = (
                await client.get(
                    f"/api/gateway/data-reads?limit=1&cursor={first_page['next_cursor']}",
                    headers=admin(issuer),
                )
            ).json()
            assert [x["id"] for x in first_page["items"] + rest["items"]] == [
                ids["black"],
                ids["licences"],
            ]
            reversed_period = await client.get(
                "/api/gateway/data-reads?from=2026-02-01&to=2026-01-01", headers=admin(issuer)
            )
            assert assert_problem(reversed_period, 422, "period_reversed")["field"] == "to"

    async def test_a_department_sees_its_own_reads_only(
        self, gateway: Any, issuer: DevIssuer
    ) -> None:
        async with gateway() as client:
            ids = await self.reads(client, issuer)
            own = await client.get("/api/gateway/data-reads", headers=department(issuer))
            assert [x["id"] for x in own.json()["items"]] == [ids["licences"]]
            r = await client.get(
                "/api/gateway/data-reads?department=QD-MARKET", headers=department(issuer)
            )
            assert_problem(r, 403, "reads_not_yours")

    async def test_an_enterprise_sees_the_reads_of_its_own_records_only(
        self, gateway: Any, issuer: DevIssuer
    ) -> None:
        async with gateway() as client:
            ids = await self.reads(client, issuer)
            mine = await client.get(
                "/api/gateway/data-reads", headers=bearer(issuer, Role.enterprise, B)
            )
            (notice,) = mine.json()["items"]
            assert notice["id"] == ids["licences"]
            assert notice["department"] == CBIRC
            assert notice["dataset"] == "licences"
            assert notice["purpose"] == grant_body()["purpose"]
            assert notice["at"]
            # Nothing about the other enterprises in that read, nor what was asked.
            assert not {"query", "record_count", "request_id"} & set(notice)
            assert A not in mine.text
            c = await client.get(
                "/api/gateway/data-reads", headers=bearer(issuer, Role.enterprise, C)
            )
            assert [x["id"] for x in c.json()["items"]] == [ids["black"]]
            other = make_uscc(4199)
            none = await client.get(
                "/api/gateway/data-reads", headers=bearer(issuer, Role.enterprise, other)
            )
            assert none.json()["items"] == []
            r = await client.get(
                f"/api/gateway/data-reads?uscc={A}", headers=bearer(issuer, Role.enterprise, B)
            )
            assert_problem(r, 403, "reads_not_yours")

    async def test_others_may_not_read_the_log(self, gateway: Any, issuer: DevIssuer) -> None:
        async with gateway() as client:
            assert_problem(await client.get("/api/gateway/data-reads"), 401, "unauthorized")
            r = await client.get(
                "/api/gateway/data-reads", headers=bearer(issuer, Role.insurer, "PICC")
            )
            assert_problem(r, 403, "forbidden")
            r = await client.get("/api/gateway/data-reads", headers=bearer(issuer, Role.public))
            assert r.status_code in (401, 403)


class TestRules:
    """gateway/sharing.py: pure rules, no gateway running."""

    def test_the_catalogue_names_its_owners_among_the_upstreams(self) -> None:
        assert {ds.owner for ds in CATALOGUE.values()} <= set(UPSTREAM_NAMES)

    def test_grant_status(self) -> None:
        now = datetime(2026, 3, 1, tzinfo=UTC)
        later = now + timedelta(days=1)

        @dataclass
        class G:
            id: str
            expires_at: datetime
            revoked_at: datetime | None = None

        assert grant_status(G("g", later), now) is GrantStatus.active
        assert grant_status(G("g", now), now) is GrantStatus.expired
        assert grant_status(G("g", later, revoked_at=now), now) is GrantStatus.revoked
        assert grant_status(G("g", now - timedelta(days=9), revoked_at=now), now) is (
            GrantStatus.revoked
        )

    def test_a_grant_runs_at_most_two_years(self) -> None:
        leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
        assert latest_expiry(leap) == datetime(2030, 2, 28, 12, tzinfo=UTC)
        check_expiry(latest_expiry(leap), leap)
        with pytest.raises(ExpiryInvalid):
            check_expiry(latest_expiry(leap) + timedelta(microseconds=1), leap)
        with pytest.raises(ExpiryInvalid):
            check_expiry(leap, leap)

    def test_enterprises_named_in_the_answer(self) -> None:
        nested = DataSet(
            code="t",
            title="t",
            description="t",
            owner="permits",
            endpoints={"": Endpoint("/t", ())},
            subject_fields=("uscc", "parties.uscc"),
        )
        items = [
            {"uscc": A.lower(), "parties": [{"uscc": B}, {"uscc": "nope"}]},
            {"uscc": A, "parties": {"uscc": C}},
            {"uscc": 42},
            "not an object",
        ]
        assert subjects_of(nested, items) == {A, B, C}

    def test_the_query_names_every_bad_parameter(self) -> None:
        credit = CATALOGUE["credit-lists"]
        assert credit.query([("list", "red"), ("q", " 海晏 ")]) == UpstreamQuery(
            "/redlist", {"q": "海晏"}, {"list": "red", "q": "海晏"}
        )
        with pytest.raises(QueryInvalid) as caught:
            credit.query([("list", "penalties"), ("q", "x"), ("limit", "0"), ("name", "a\x00")])
        assert {e["field"]: e["rule"] for e in caught.value.extra["errors"]} == {
            "q": "not_allowed",
            "limit": "invalid",
            "name": "invalid",
        }
