"""Applications and electronic licences over the API: every path, every role, no direct "no"."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.db import utcnow
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.permits.config import PermitsSettings
from services.permits.main import create_app
from services.permits.models import Application, ApplicationStep, EnterpriseStanding, Licence
from tests.support import bearer, running

API = tuple[httpx.AsyncClient, ServiceRuntime]
USCC = make_uscc(3101)
OTHER = make_uscc(3102)
INSTANT, PLEDGE, STANDARD = "QD-AJ-003", "QD-AJ-005", "QD-AJ-001"


def enterprise(issuer: DevIssuer, uscc: str = USCC) -> dict[str, str]:
    return bearer(issuer, "enterprise", uscc)


async def apply(
    client: httpx.AsyncClient, issuer: DevIssuer, code: str, **extra: Any
) -> httpx.Response:
    body = {"item_code": code, "enterprise_name": "青岛海晏化工有限公司", **extra}
    return await client.post("/applications", json=body, headers=enterprise(issuer))


async def signed_pledge(client: httpx.AsyncClient, code: str = PLEDGE) -> dict[str, Any]:
    pledge = (await client.get(f"/items/{code}/pledge")).json()
    assert hashlib.sha256(pledge["text"].encode()).hexdigest() == pledge["sha256"]
    return {"accepted": True, "text_sha256": pledge["sha256"]}


async def rows(runtime: ServiceRuntime, model: type[Any]) -> list[Any]:
    async with runtime.session_factory() as session:
        return list((await session.scalars(sa.select(model))).all())


async def set_standing(runtime: ServiceRuntime, uscc: str, standing: str) -> None:
    async with runtime.session_factory() as session:
        session.add(EnterpriseStanding(uscc=uscc, standing=standing, updated_at=utcnow()))
        await session.commit()


async def verify(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    r = await client.get("/licences/verify", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


class TestInstant:
    async def test_decided_in_the_request_with_a_verifiable_licence(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        r = await apply(client, issuer, INSTANT)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["path"] == "instant"
        assert body["status"] == "approved"
        licence = body["licence"]
        assert licence["status"] == "active"
        assert licence["uscc"] == USCC
        assert licence["number"].startswith("QDAJ-")
        check = await verify(client, token=licence["token"])
        assert check["valid"] is True
        assert check["status"] == "valid"
        assert check["holder_name"] == "青岛海晏化工有限公司"
        assert [s.action for s in await rows(runtime, ApplicationStep)] == ["submit", "approve"]

    async def test_blacklisted_enterprise_gets_ordinary_review(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        await set_standing(runtime, USCC, "blacklisted")
        r = await apply(client, issuer, INSTANT)
        assert r.status_code == 201
        assert r.json()["path"] == "standard"
        assert r.json()["status"] == "under_review"
        assert r.json()["licence"] is None
        assert await rows(runtime, Licence) == []


class TestPledge:
    async def test_signed_pledge_issues_licence_awaiting_verification(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        r = await apply(client, issuer, PLEDGE, pledge=await signed_pledge(client))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["path"] == "pledge"
        assert body["pledge_sha256"]
        assert body["licence"]["pledge_status"] == "awaiting_verification"
        (stored,) = await rows(runtime, Application)
        assert stored.pledge_text is not None
        assert "承诺书" in stored.pledge_text

    async def test_pledge_on_changed_text_is_refused(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        r = await apply(client, issuer, PLEDGE, pledge={"accepted": True, "text_sha256": "0" * 64})
        assert r.status_code == 422
        assert r.json()["code"] == "pledge_text_mismatch"
        assert await rows(runtime, Application) == []

    async def test_pledge_where_not_allowed_or_blacklisted_is_refused(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        pledge = await signed_pledge(client)
        r = await apply(client, issuer, STANDARD, pledge=pledge)
        assert r.status_code == 422
        assert r.json()["code"] == "pledge_not_allowed"
        await set_standing(runtime, USCC, "blacklisted")
        r = await apply(client, issuer, PLEDGE, pledge=pledge)
        assert r.status_code == 422
        assert r.json()["code"] == "pledge_refused_blacklisted"
        assert await rows(runtime, Application) == []

    async def test_pledge_text_only_for_pledge_items(self, api: API) -> None:
        client, _ = api
        assert (await client.get(f"/items/{STANDARD}/pledge")).status_code == 404


class TestStandardReview:
    async def test_queue_puts_red_listed_first_and_approval_issues_licence(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        first = (await apply(client, issuer, STANDARD)).json()
        await set_standing(runtime, OTHER, "redlisted")
        r = await client.post(
            "/applications",
            json={"item_code": STANDARD, "enterprise_name": "青岛红榜企业"},
            headers=enterprise(issuer, OTHER),
        )
        red = r.json()
        assert first["status"] == "under_review"
        assert first["due_on"] is not None
        queue = await client.get(
            "/applications", params={"status": "under_review"}, headers=bearer(issuer, "officer")
        )
        assert [a["id"] for a in queue.json()["items"]] == [red["id"], first["id"]]
        r = await client.post(
            f"/applications/{first['id']}/decisions",
            json={"action": "approve"},
            headers=bearer(issuer, "officer"),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved"
        assert r.json()["licence"]["status"] == "active"

    async def test_no_direct_rejection_and_leader_decides(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        app = (await apply(client, issuer, STANDARD)).json()
        url = f"/applications/{app['id']}/decisions"
        officer, leader = bearer(issuer, "officer"), bearer(issuer, "leader")
        r = await client.post(url, json={"action": "reject", "reason": "材料不全"}, headers=officer)
        assert r.status_code == 409
        assert r.json()["code"] == "direct_rejection_forbidden"
        r = await client.post(
            url, json={"action": "propose_rejection", "reason": "储存场所不符"}, headers=officer
        )
        assert r.status_code == 422
        assert r.json()["code"] == "rejection_unfounded"
        proposal = {
            "action": "propose_rejection",
            "reason": "储存场所与申请不符",
            "legal_basis": "《危险化学品经营许可证管理办法》第六条",
        }
        r = await client.post(url, json=proposal, headers=officer)
        assert r.json()["status"] == "rejection_proposed"
        r = await client.post(
            url,
            json={"action": "confirm_rejection", "reason": "x" * 3, "legal_basis": "第六条"},
            headers=officer,
        )
        assert r.status_code == 403
        assert r.json()["code"] == "review_step_not_yours"
        r = await client.post(
            url, json={"action": "send_back", "reason": "请补充现场核查"}, headers=leader
        )
        assert r.json()["status"] == "under_review"
        await client.post(url, json=proposal, headers=officer)
        r = await client.post(url, json={**proposal, "action": "confirm_rejection"}, headers=leader)
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "rejected"
        assert body["rejection_legal_basis"] == proposal["legal_basis"]
        assert [s["action"] for s in body["steps"]] == [
            "submit",
            "propose_rejection",
            "send_back",
            "propose_rejection",
            "confirm_rejection",
        ]
        assert await rows(runtime, Licence) == []

    async def test_stale_if_match_is_412(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        app = (await apply(client, issuer, STANDARD)).json()
        got = await client.get(f"/applications/{app['id']}", headers=bearer(issuer, "officer"))
        etag = got.headers["etag"]
        url = f"/applications/{app['id']}/decisions"
        proposal = {
            "action": "propose_rejection",
            "reason": "储存场所不符",
            "legal_basis": "第六条",
        }
        r = await client.post(
            url, json=proposal, headers={**bearer(issuer, "officer"), "If-Match": etag}
        )
        assert r.status_code == 200
        r = await client.post(
            url, json={"action": "approve"}, headers={**bearer(issuer, "leader"), "If-Match": etag}
        )
        assert r.status_code == 412
        assert r.json()["code"] == "version_mismatch"


class TestAccess:
    async def test_roles(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        body = {"item_code": INSTANT, "enterprise_name": "青岛海晏化工有限公司"}
        assert (await client.post("/applications", json=body)).status_code == 401
        r = await client.post("/applications", json=body, headers=bearer(issuer, "officer"))
        assert r.status_code == 403
        app = (await apply(client, issuer, STANDARD)).json()
        other = await client.get(f"/applications/{app['id']}", headers=enterprise(issuer, OTHER))
        assert other.status_code == 403
        own = await client.get("/applications", headers=enterprise(issuer, OTHER))
        assert own.json()["items"] == []
        r = await client.post(
            f"/applications/{app['id']}/decisions",
            json={"action": "approve"},
            headers=enterprise(issuer),
        )
        assert r.status_code == 403

    async def test_unknown_item_is_404_and_bad_code_422(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        assert (await apply(client, issuer, "QD-AJ-999")).status_code == 404
        r = await apply(client, issuer, "nonsense")
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "item_code"
        assert await rows(runtime, Application) == []

    async def test_idempotent_submission(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        headers = {**enterprise(issuer), "Idempotency-Key": "phone-retry-0001"}
        body = {"item_code": INSTANT, "enterprise_name": "青岛海晏化工有限公司"}
        first = await client.post("/applications", json=body, headers=headers)
        second = await client.post("/applications", json=body, headers=headers)
        assert first.json() == second.json()
        assert len(await rows(runtime, Licence)) == 1


class TestLicences:
    async def test_revoked_licence_verifies_as_revoked_and_tampering_as_invalid(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, _ = api
        licence = (await apply(client, issuer, INSTANT)).json()["licence"]
        token = licence["token"]
        header, payload, signature = token.split(".")
        tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
        assert (await verify(client, token=tampered))["status"] == "invalid"
        r = await client.post(
            f"/licences/{licence['number']}/status",
            json={"status": "revoked", "reason": "承诺不实"},
            headers=bearer(issuer, "officer"),
        )
        assert r.status_code == 403
        r = await client.post(
            f"/licences/{licence['number']}/status",
            json={"status": "revoked", "reason": "承诺不实"},
            headers=bearer(issuer, "leader"),
        )
        assert r.status_code == 200
        check = await verify(client, token=token)
        assert check["valid"] is False
        assert check["status"] == "revoked"
        assert (await verify(client, licence=licence["number"]))["status"] == "revoked"
        again = await client.post(
            f"/licences/{licence['number']}/status",
            json={"status": "active", "reason": "误撤销"},
            headers=bearer(issuer, "admin"),
        )
        assert again.status_code == 409
        assert again.json()["code"] == "licence_revoked"

    async def test_suspension_can_be_lifted(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        licence = (await apply(client, issuer, INSTANT)).json()["licence"]
        url = f"/licences/{licence['number']}/status"
        await client.post(
            url,
            json={"status": "suspended", "reason": "整改期间"},
            headers=bearer(issuer, "leader"),
        )
        assert (await verify(client, token=licence["token"]))["status"] == "suspended"
        await client.post(
            url, json={"status": "active", "reason": "整改完成"}, headers=bearer(issuer, "leader")
        )
        assert (await verify(client, token=licence["token"]))["status"] == "valid"

    async def test_public_keys_status_lists_and_qr(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        licence = (await apply(client, issuer, INSTANT)).json()["licence"]
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [k["kid"] for k in jwks["keys"]] == [licence["kid"]]
        status = await client.get("/status-lists/revocation")
        assert status.headers["content-type"].startswith("application/vc+jwt")
        assert status.text.count(".") == 2
        png = await client.get(f"/licences/{licence['number']}/qr.png")
        assert png.content.startswith(b"\x89PNG")
        svg = await client.get(f"/licences/{licence['number']}/qr.svg")
        assert svg.text.lstrip().startswith(("<?xml", "<svg"))
        assert (await client.get("/licences/QDAJ-1999-000001")).status_code == 404
        assert (await client.get("/licences/verify")).status_code == 422


class TestFigures:
    async def test_public_figures_per_item(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        await apply(client, issuer, INSTANT)
        await apply(client, issuer, INSTANT)
        app = (await apply(client, issuer, STANDARD)).json()
        url = f"/applications/{app['id']}/decisions"
        proposal = {
            "action": "propose_rejection",
            "reason": "储存场所与申请不符",
            "legal_basis": "《危险化学品经营许可证管理办法》第六条",
        }
        await client.post(url, json=proposal, headers=bearer(issuer, "officer"))
        await client.post(
            url, json={**proposal, "action": "confirm_rejection"}, headers=bearer(issuer, "leader")
        )
        r = await client.get("/figures")  # public: no token
        assert r.status_code == 200
        items = {f["item_code"]: f for f in r.json()["items"]}
        instant = items[INSTANT]
        assert instant["applications"] == 2
        assert instant["instant_share"] == 1.0
        assert instant["median_days_to_decision"] == 0.0
        standard = items[STANDARD]
        assert standard["applications"] == 1
        assert standard["instant_share"] == 0.0
        assert standard["rejections_proposed"] == 1
        assert standard["rejections_confirmed"] == 1
        assert standard["rejections_sent_back"] == 0
        assert standard["decided"] == 1


async def test_concurrent_instant_approvals_get_distinct_numbers_and_positions(
    api: API, issuer: DevIssuer
) -> None:
    client, runtime = api
    body = {"item_code": INSTANT, "enterprise_name": "青岛并发测试企业"}
    responses = await asyncio.gather(
        *(
            client.post("/applications", json=body, headers=enterprise(issuer, make_uscc(5000 + n)))
            for n in range(16)
        )
    )
    assert [r.status_code for r in responses] == [201] * 16, [r.text for r in responses]
    issued = await rows(runtime, Licence)
    assert len({lic.number for lic in issued}) == 16
    assert len({lic.status_index for lic in issued}) == 16


async def test_licences_survive_key_rotation_and_a_retired_key_fails_them(
    database_url: str,
    broker: DevBroker,
    auth_settings: AuthSettings,
    tmp_path: Path,
    issuer: DevIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.permits import keys
    from services.permits.config import get_settings

    key_dir = tmp_path / "licence-keys"
    settings = PermitsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        consumers_enabled=False,
        licence_key_dir=key_dir,
    )
    async with running(create_app(settings)) as (client, _):
        old = (await apply(client, issuer, INSTANT)).json()["licence"]
    monkeypatch.setenv("PERMITS_LICENCE_KEY_DIR", str(key_dir))
    get_settings.cache_clear()
    try:
        assert keys.main(["rotate", "key-2027-1"]) == 0
        async with running(create_app(settings)) as (client, _):
            new = (await apply(client, issuer, INSTANT)).json()["licence"]
            assert new["kid"].endswith("#key-2027-1")
            assert old["kid"] != new["kid"]
            assert (await verify(client, token=old["token"]))["status"] == "valid"
            assert (await verify(client, token=new["token"]))["status"] == "valid"
        assert keys.main(["retire", old["kid"].split("#")[1]]) == 0
        async with running(create_app(settings)) as (client, _):
            check = await verify(client, token=old["token"])
            assert check["status"] == "invalid"
            assert check["reason"] == "retired_key"
            assert (await verify(client, token=new["token"]))["status"] == "valid"
    finally:
        get_settings.cache_clear()


async def test_deadline_in_a_year_without_schedule_is_stored_as_unknown(
    api: API, issuer: DevIssuer, tmp_path: Path
) -> None:
    from datetime import date

    from kernel.auth.principal import Principal, Role
    from kernel.db import unit_of_work
    from services.permits import applications
    from services.permits.credentials import IssuerKeyRing
    from services.permits.schemas import ApplicationCreate, PledgeSignature

    client, runtime = api
    ring = IssuerKeyRing.open_or_create(tmp_path / "k", "did:web:yjj.qingdao.gov.cn", "k1")
    issuing = applications.Issuing(ring, "http://127.0.0.1:8000/api/permits", runtime.calendar)
    applicant = Principal(role=Role.enterprise, subject=USCC)
    late_december = date(2026, 12, 28)  # 5 working days later is in 2027: no schedule yet
    pledge = await signed_pledge(client)
    async with unit_of_work(runtime.session_factory) as session:
        standard, _ = await applications.submit_application(
            session,
            runtime.outbox,
            issuing,
            applicant,
            ApplicationCreate(item_code=STANDARD, enterprise_name="青岛年末企业"),
            late_december,
        )
        _pledged, licence = await applications.submit_application(
            session,
            runtime.outbox,
            issuing,
            applicant,
            ApplicationCreate(
                item_code=PLEDGE, enterprise_name="青岛年末企业", pledge=PledgeSignature(**pledge)
            ),
            late_december,
        )
    assert standard.due_on is None
    assert licence is not None
    assert licence.pledge_verify_by is None
    assert licence.pledge_status == "awaiting_verification"
    shown = await client.get(f"/applications/{standard.id}", headers=bearer(issuer, "officer"))
    assert shown.json()["due_on"] is None
    assert shown.json()["is_overdue"] is False


async def test_published_status_lists_follow_the_licences(api: API, issuer: DevIssuer) -> None:
    from datetime import UTC, datetime

    from services.permits.credentials import verify_licence, verify_status_list
    from services.permits.status_list import StatusPurpose

    client, _ = api
    revoked = (await apply(client, issuer, INSTANT)).json()["licence"]
    suspended = (await apply(client, issuer, INSTANT)).json()["licence"]
    active = (await apply(client, issuer, INSTANT)).json()["licence"]
    for licence, status in ((revoked, "revoked"), (suspended, "suspended")):
        r = await client.post(
            f"/licences/{licence['number']}/status",
            json={"status": status, "reason": "测试"},
            headers=bearer(issuer, "leader"),
        )
        assert r.status_code == 200
    now = datetime.now(UTC)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    published = {}
    for purpose in StatusPurpose:
        token = (await client.get(f"/status-lists/{purpose.value}")).text
        checked = verify_status_list(token, jwks, now, purpose=purpose)
        assert checked.valid, checked
        assert checked.status_list is not None
        published[purpose] = set(checked.status_list.set_indices())

    def position(licence: dict[str, Any]) -> int:
        result = verify_licence(licence["token"], jwks, now)
        return next(e.index for e in result.status_entries)

    # An offline verifier holding only the keys and the lists reaches the same verdicts.
    assert published[StatusPurpose.revocation] == {position(revoked)}
    assert published[StatusPurpose.suspension] == {position(suspended)}
    assert (
        position(active)
        not in published[StatusPurpose.revocation] | published[StatusPurpose.suspension]
    )
