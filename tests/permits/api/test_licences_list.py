"""The licence listing (GET /licences) on SQLite and PostgreSQL: newest first, keyset pages,
filters, and who may list what (the bureau all, an enterprise its own, the gateway's data:share
service token what the bureau sees; nobody else)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role
from kernel.auth.service_token import DATA_SHARE_SCOPE, REPLAY_SCOPE
from kernel.pagination import encode_cursor
from kernel.uscc import make_uscc
from services.permits.models import Licence
from tests.support import bearer

API = tuple[httpx.AsyncClient, ServiceRuntime]
A, B = make_uscc(5101), make_uscc(5102)
NAME_CHANGE, MANAGER_CHANGE = "QD-AJ-003", "QD-AJ-004"  # both decided at once (秒批)


def officer(issuer: DevIssuer) -> dict[str, str]:
    return bearer(issuer, Role.officer, "officer-001")


def gateway_token(issuer: DevIssuer, *scopes: str) -> dict[str, str]:
    token = issuer.mint(Role.service, "svc:gateway", scopes=scopes, ttl_seconds=300)
    return {"Authorization": f"Bearer {token}"}


async def issue(client: httpx.AsyncClient, issuer: DevIssuer, uscc: str, code: str) -> str:
    body = {"item_code": code, "enterprise_name": f"青岛测试企业{uscc[-4:]}"}
    r = await client.post("/applications", json=body, headers=bearer(issuer, "enterprise", uscc))
    assert r.status_code == 201, r.text
    number: str = r.json()["licence"]["number"]
    return number


async def set_issued(runtime: ServiceRuntime, number: str, at: datetime) -> None:
    async with runtime.session_factory() as session, session.begin():
        await session.execute(
            sa.update(Licence).where(Licence.number == number).values(issued_at=at)
        )


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    r = await client.get("/licences", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [item["number"] for item in r.json()["items"]]


@pytest.fixture
async def three(api: API, issuer: DevIssuer) -> list[str]:
    """Licences issued on 1 March (A), 2 March (B) and 3 March 2026 (A), Shanghai time."""
    client, runtime = api
    numbers = [
        await issue(client, issuer, A, NAME_CHANGE),
        await issue(client, issuer, B, NAME_CHANGE),
        await issue(client, issuer, A, MANAGER_CHANGE),
    ]
    # 00:30 in Shanghai is the evening before in UTC: the filters' days are Shanghai's.
    instants = [
        datetime(2026, 2, 28, 16, 30, tzinfo=UTC),
        datetime(2026, 3, 1, 16, 30, tzinfo=UTC),
        datetime(2026, 3, 2, 16, 30, tzinfo=UTC),
    ]
    for number, at in zip(numbers, instants, strict=True):
        await set_issued(runtime, number, at)
    return numbers


class TestListing:
    async def test_newest_first_in_pages(
        self, api: API, issuer: DevIssuer, three: list[str]
    ) -> None:
        client, _ = api
        assert await listed(client, officer(issuer)) == three[::-1]
        first = (await client.get("/licences?limit=2", headers=officer(issuer))).json()
        assert len(first["items"]) == 2
        assert first["items"][0]["token"]
        second = (
            await client.get(
                f"/licences?limit=2&cursor={first['next_cursor']}", headers=officer(issuer)
            )
        ).json()
        assert second["next_cursor"] is None
        numbers = [x["number"] for x in first["items"] + second["items"]]
        assert numbers == three[::-1]

    async def test_filters(self, api: API, issuer: DevIssuer, three: list[str]) -> None:
        client, _ = api
        leader = bearer(issuer, Role.leader, "leader-001")
        r = await client.post(
            f"/licences/{three[0]}/status",
            json={"status": "suspended", "reason": "现场检查发现重大隐患，暂停使用"},
            headers=leader,
        )
        assert r.status_code == 200, r.text
        assert await listed(client, leader, uscc=A) == [three[2], three[0]]
        assert await listed(client, leader, uscc=A.lower()) == [three[2], three[0]]
        assert await listed(client, leader, status="suspended") == [three[0]]
        assert await listed(client, leader, status="active", uscc=A) == [three[2]]
        assert await listed(client, leader, item_code=MANAGER_CHANGE) == [three[2]]
        assert await listed(client, leader, issued_from="2026-03-02") == [three[2], three[1]]
        assert await listed(client, leader, issued_to="2026-03-01") == [three[0]]
        assert await listed(client, leader, issued_from="2026-03-02", issued_to="2026-03-02") == [
            three[1]
        ]
        assert await listed(client, leader, issued_from="2026-03-04") == []

    async def test_an_enterprise_lists_its_own(
        self, api: API, issuer: DevIssuer, three: list[str]
    ) -> None:
        client, _ = api
        mine = bearer(issuer, Role.enterprise, B)
        assert await listed(client, mine) == [three[1]]
        assert await listed(client, mine, uscc=B) == [three[1]]
        r = await client.get(f"/licences?uscc={A}", headers=mine)
        assert r.status_code == 403
        assert r.json()["code"] == "licences_not_yours"

    async def test_the_gateway_reads_for_departments_with_its_data_share_token(
        self, api: API, issuer: DevIssuer, three: list[str]
    ) -> None:
        client, _ = api
        assert await listed(client, gateway_token(issuer, DATA_SHARE_SCOPE)) == three[::-1]
        r = await client.get("/licences", headers=gateway_token(issuer, REPLAY_SCOPE))
        assert r.status_code == 403
        assert r.json()["code"] == "scope_required"

    @pytest.mark.parametrize("role", [Role.public, Role.insurer, Role.department])
    async def test_nobody_else_lists(self, api: API, issuer: DevIssuer, role: Role) -> None:
        client, _ = api
        r = await client.get("/licences", headers=bearer(issuer, role, "QD-CBIRC"))
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"

    async def test_without_a_token_it_is_401_but_one_licence_stays_public(
        self, api: API, issuer: DevIssuer, three: list[str]
    ) -> None:
        client, _ = api
        r = await client.get("/licences")
        assert r.status_code == 401
        assert r.json()["code"] == "unauthorized"
        assert (await client.get(f"/licences/{three[0]}")).status_code == 200

    @pytest.mark.parametrize(
        ("query", "code", "field"),
        [
            ("limit=0", "validation_failed", "limit"),
            ("limit=201", "validation_failed", "limit"),
            ("uscc=91370200XXXXXXXXXX", "validation_failed", "uscc"),
            ("status=lost", "validation_failed", "status"),
            ("item_code=QD-AJ-003%00", "validation_failed", "item_code"),
            ("issued_from=0001-01-01", "validation_failed", "issued_from"),
            ("issued_to=9999-12-31", "validation_failed", "issued_to"),
            ("issued_from=2026-03-02&issued_to=2026-03-01", "period_reversed", "issued_to"),
            ("cursor=not-a-cursor", "invalid_cursor", "cursor"),
            (
                f"cursor={encode_cursor('0001-01-01T00:00:00+14:00', 'x')}",
                "invalid_cursor",
                "cursor",
            ),
            (f"cursor={encode_cursor('2026-03-01T00:00:00', 'x')}", "invalid_cursor", "cursor"),
        ],
    )
    async def test_bad_queries_are_422_naming_the_field(
        self, api: API, issuer: DevIssuer, query: str, code: str, field: str
    ) -> None:
        client, _ = api
        r = await client.get(f"/licences?{query}", headers=officer(issuer))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == code
        fields = [e["field"] for e in body.get("errors", [])] or [body["field"]]
        assert field in fields
