"""A permits write as the audit log keeps it: who (the token's caller), through which route."""

from __future__ import annotations

import asyncio
import time

import httpx
import sqlalchemy as sa

from kernel import audit
from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.uscc import make_uscc
from services.permits.models import TABLES
from tests.support import bearer

API = tuple[httpx.AsyncClient, ServiceRuntime]
USCC = make_uscc(3201)


async def test_an_instant_licence_is_audited_under_the_enterprise_and_sealed(
    api: API, issuer: DevIssuer
) -> None:
    client, runtime = api
    r = await client.post(
        "/applications",
        json={"item_code": "QD-AJ-003", "enterprise_name": "青岛海晏化工有限公司"},
        headers=bearer(issuer, "enterprise", USCC),
    )
    assert r.status_code == 201, r.text
    number = r.json()["licence"]["number"]
    async with runtime.engine.connect() as conn:
        rows = [dict(x._mapping) for x in await conn.execute(sa.select(TABLES.audit))]
    by_entity = {(row["entity"], row["action"]) for row in rows}
    assert ("applications", "insert") in by_entity
    assert ("licences", "insert") in by_entity
    assert {row["actor"] for row in rows} == {f"enterprise:{USCC}"}
    assert {row["via"] for row in rows} == {"POST /applications"}
    licence = next(row for row in rows if row["entity"] == "licences")
    assert licence["after"]["number"] == number

    # The service's own sealer links them into the chain within moments.
    deadline = time.monotonic() + 15
    report = await audit.verify(runtime.engine, TABLES.audit)
    while report.unsealed and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        report = await audit.verify(runtime.engine, TABLES.audit)
    assert report.ok
    assert report.unsealed == 0
    assert report.checked == len(rows)


async def test_leaders_read_the_trail_and_check_the_chain_others_may_not(
    api: API, issuer: DevIssuer
) -> None:
    client, _runtime = api
    for n in range(3):
        r = await client.post(
            "/applications",
            json={"item_code": "QD-AJ-003", "enterprise_name": f"青岛第{n}化工有限公司"},
            headers=bearer(issuer, "enterprise", make_uscc(3300 + n)),
        )
        assert r.status_code == 201, r.text
    leader = bearer(issuer, "leader", "leader-1")

    r = await client.get("/audit", params={"entity": "licences", "limit": 2}, headers=leader)
    assert r.status_code == 200, r.text
    first = r.json()
    assert [item["action"] for item in first["items"]] == ["insert", "insert"]
    assert first["items"][0]["id"] > first["items"][1]["id"]  # newest first
    rest = await client.get(
        "/audit",
        params={"entity": "licences", "limit": 2, "cursor": first["next_cursor"]},
        headers=leader,
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    holders = {i["after"]["uscc"] for i in first["items"] + rest.json()["items"]}
    assert holders == {make_uscc(3300 + n) for n in range(3)}

    mine = await client.get(
        "/audit", params={"actor": f"enterprise:{make_uscc(3301)}"}, headers=leader
    )
    assert {i["actor"] for i in mine.json()["items"]} == {f"enterprise:{make_uscc(3301)}"}

    check = await client.get("/audit/verify", headers=bearer(issuer, "admin", "admin-1"))
    assert check.status_code == 200, check.text
    assert check.json()["ok"] is True
    assert check.json()["checked"] + check.json()["unsealed"] >= 6

    for role in ("officer", "enterprise", "insurer", "department"):
        for path in ("/audit", "/audit/verify"):
            denied = await client.get(path, headers=bearer(issuer, role, "someone"))
            assert denied.status_code == 403, (role, path, denied.text)
            assert denied.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/audit")).status_code == 401
    bad = await client.get("/audit", params={"cursor": "not-a-cursor"}, headers=leader)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"
