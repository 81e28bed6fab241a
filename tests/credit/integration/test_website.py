"""Credit website adapter: queued repair results reach a real HTTP receiver, with retries, a
delivery log and operator requeue — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app
from services.credit.models import WebsiteDelivery, WebsiteDeliveryAttempt
from services.credit.website import deliver_due
from tests.support import bearer, free_port, running, serving

USCC = make_uscc(601)
TOKEN = "website-token-for-tests"


@dataclass
class Receiver:
    """A stand-in credit website: answers from a script of status codes, then 200."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/credit-repairs")
        async def receive(request: Request) -> JSONResponse:
            self.requests.append((dict(request.headers), await request.json()))
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.script.pop(0) if self.script else 200
            return JSONResponse({"accepted": status < 300}, status_code=status)

        return app


@dataclass
class World:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer
    settings: CreditSettings
    receiver: Receiver

    @property
    def operator(self) -> dict[str, str]:
        return bearer(self.issuer, "officer", "officer-001")

    def website(self, **changes: Any) -> CreditSettings:
        """Settings pointing at the receiver, with a test token and small backoff."""
        values: dict[str, Any] = {
            "website_url": self.receiver.url,
            "website_token": TOKEN,
            "website_timeout_seconds": 2.0,
            "website_backoff_seconds": 30.0,
            "website_backoff_max_seconds": 3600.0,
            "website_max_attempts": 5,
        }
        values.update(changes)
        return self.settings.model_copy(update=values)

    async def deliver(self, at: datetime, **changes: Any) -> int:
        return await deliver_due(self.runtime.session_factory, self.website(**changes), now=at)

    async def queue(self, n: int = 1) -> list[str]:
        """Deliveries as the repair use cases queue them."""
        ids = [str(uuid.uuid4()) for _ in range(n)]
        async with unit_of_work(self.runtime.session_factory) as session:
            for delivery_id in ids:
                session.add(
                    WebsiteDelivery(
                        id=delivery_id,
                        uscc=USCC,
                        kind="repair_approved",
                        subject_id=str(uuid.uuid4()),
                        payload={"kind": "repair_approved", "uscc": USCC, "outcome": "approved"},
                        state="pending",
                        attempts=0,
                        next_attempt_at=utcnow(),
                        created_at=utcnow(),
                    )
                )
        return ids

    async def delivery(self, delivery_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/website-deliveries/{delivery_id}", headers=self.operator)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
async def world(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[World]:
    settings = CreditSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    receiver = Receiver()
    app = create_app(settings)
    async with serving(receiver.app()) as base, running(app) as (client, runtime):
        receiver.url = f"{base}/api/credit-repairs"
        yield World(client, runtime, app, issuer, settings, receiver)


def later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


async def approved_repair(world: World) -> str:
    """Record a penalty, apply for its repair and approve it; the queued delivery's id."""
    world.app.dependency_overrides[business_today] = lambda: date(2026, 3, 12)
    penalty = await world.client.post(
        "/penalties",
        json={
            "uscc": USCC,
            "enterprise_name": "青岛港湾危化品储运有限公司",
            "decision_number": "青应急罚〔2026〕77号",
            "decided_on": "2026-03-10",
            "legal_basis": "《中华人民共和国安全生产法》第一百零一条",
            "violation_summary": "未对重大危险源进行定期检测",
            "fine_amount": "30000.00",
            "severity": "general",
            "source": "inspection",
        },
        headers=world.operator,
    )
    assert penalty.status_code == 201, penalty.text
    world.app.dependency_overrides[business_today] = lambda: date(2026, 6, 11)
    applied = await world.client.post(
        "/repairs",
        json={
            "target_kind": "record",
            "target_id": penalty.json()["id"],
            "contact_name": "李工",
            "contact_phone": "13912345678",
            "statement": "隐患已整改，罚款已缴纳",
            "evidence": [{"kind": "fine_paid", "title": "缴款书", "document_sha256": "b" * 64}],
            "commitment_signed": True,
        },
        headers=bearer(world.issuer, "enterprise", USCC),
    )
    assert applied.status_code == 201, applied.text
    decided = await world.client.post(
        f"/repairs/{applied.json()['id']}/decision",
        json={"outcome": "approved"},
        headers=world.operator,
    )
    assert decided.status_code == 200, decided.text
    listed = await world.client.get("/website-deliveries?state=pending", headers=world.operator)
    (item,) = listed.json()["items"]
    return str(item["id"])


class TestDelivery:
    async def test_retries_after_503_then_delivers_with_a_stable_key(self, world: World) -> None:
        delivery_id = await approved_repair(world)
        world.receiver.script = [503, 503]
        t0 = later(1)
        assert await world.deliver(t0) == 1
        first = await world.delivery(delivery_id)
        assert (first["state"], first["attempts"]) == ("pending", 1)
        assert datetime.fromisoformat(first["next_attempt_at"]) == t0 + timedelta(seconds=30)
        assert await world.deliver(t0 + timedelta(seconds=29)) == 0  # backing off
        t1 = t0 + timedelta(seconds=31)
        assert await world.deliver(t1) == 1
        second = await world.delivery(delivery_id)
        assert second["attempts"] == 2
        # Doubled: 60 s after the second failure.
        assert datetime.fromisoformat(second["next_attempt_at"]) == t1 + timedelta(seconds=60)
        assert await world.deliver(t1 + timedelta(seconds=61)) == 1
        done = await world.delivery(delivery_id)
        assert done["state"] == "delivered"
        assert done["delivered_at"] is not None
        assert [a["status_code"] for a in done["attempt_log"]] == [503, 503, 200]
        assert all(a["duration_ms"] >= 0 for a in done["attempt_log"])
        assert done["attempt_log"][0]["error"].startswith("HTTP 503")
        keys = {headers["idempotency-key"] for headers, _ in world.receiver.requests}
        assert keys == {delivery_id}
        headers, body = world.receiver.requests[-1]
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert body == done["payload"]
        assert body["document_number"] == "青应急罚〔2026〕77号"
        assert body["enterprise_name"] == "青岛港湾危化品储运有限公司"
        assert await world.deliver(t1 + timedelta(hours=2)) == 0  # nothing left to send

    async def test_bad_request_fails_at_once_and_operator_requeues(self, world: World) -> None:
        (delivery_id,) = await world.queue()
        world.receiver.script = [400]
        assert await world.deliver(later(1)) == 1
        failed = await world.delivery(delivery_id)
        assert (failed["state"], failed["attempts"]) == ("failed", 1)
        assert failed["last_error"].startswith("HTTP 400")
        listed = await world.client.get("/website-deliveries?state=failed", headers=world.operator)
        assert [d["id"] for d in listed.json()["items"]] == [delivery_id]
        assert await world.deliver(later(3600)) == 0  # a failed delivery is not retried alone
        retry = await world.client.post(
            f"/website-deliveries/{delivery_id}/retry", headers=world.operator
        )
        assert retry.status_code == 200, retry.text
        assert (retry.json()["state"], retry.json()["attempts"]) == ("pending", 0)
        again = await world.client.post(
            f"/website-deliveries/{delivery_id}/retry", headers=world.operator
        )
        assert again.status_code == 409
        assert await world.deliver(later(1)) == 1
        done = await world.delivery(delivery_id)
        assert done["state"] == "delivered"
        assert [a["status_code"] for a in done["attempt_log"]] == [400, 200]

    async def test_a_revocation_waits_for_the_approval_it_undoes(self, world: World) -> None:
        approval_id = await approved_repair(world)
        world.receiver.script = [503]  # the approval goes into backoff
        t0 = later(1)
        assert await world.deliver(t0) == 1
        (repair,) = (
            await world.client.get("/repairs", headers=bearer(world.issuer, "leader", "l-1"))
        ).json()["items"]
        revoked = await world.client.post(
            f"/repairs/{repair['id']}/revocation",
            json={"reason": "整改证明系伪造"},
            headers=bearer(world.issuer, "leader", "l-1"),
        )
        assert revoked.status_code == 200, revoked.text
        # The revocation is due now, the approval only in 30 s: nothing may overtake it.
        assert await world.deliver(t0 + timedelta(seconds=5)) == 0
        assert await world.deliver(t0 + timedelta(seconds=31)) == 1
        assert await world.deliver(t0 + timedelta(seconds=32)) == 1
        kinds = [body["kind"] for _, body in world.receiver.requests]
        assert kinds == ["repair_approved", "repair_approved", "repair_revoked"]
        assert (await world.delivery(approval_id))["state"] == "delivered"

    async def test_unset_url_leaves_deliveries_pending(self, world: World) -> None:
        (delivery_id,) = await world.queue()
        assert await world.deliver(later(1), website_url=None) == 0
        untouched = await world.delivery(delivery_id)
        assert (untouched["state"], untouched["attempts"], untouched["attempt_log"]) == (
            "pending",
            0,
            [],
        )
        assert world.receiver.requests == []

    async def test_unreachable_website_is_retried_until_the_budget_is_spent(
        self, world: World
    ) -> None:
        (delivery_id,) = await world.queue()
        closed = f"http://127.0.0.1:{free_port()}/api/credit-repairs"
        assert await world.deliver(later(1), website_url=closed, website_max_attempts=2) == 1
        first = await world.delivery(delivery_id)
        assert (first["state"], first["attempt_log"][0]["status_code"]) == ("pending", None)
        assert "ConnectError" in first["attempt_log"][0]["error"]
        assert await world.deliver(later(3600), website_url=closed, website_max_attempts=2) == 1
        assert (await world.delivery(delivery_id))["state"] == "failed"

    async def test_timeout_is_retried(self, world: World) -> None:
        (delivery_id,) = await world.queue()
        world.receiver.delay = 1.0
        assert await world.deliver(later(1), website_timeout_seconds=0.2) == 1
        after = await world.delivery(delivery_id)
        assert after["state"] == "pending"
        assert "Timeout" in after["attempt_log"][0]["error"]

    async def test_bureau_only(self, world: World) -> None:
        (delivery_id,) = await world.queue()
        enterprise = bearer(world.issuer, "enterprise", USCC)
        for path in ("/website-deliveries", f"/website-deliveries/{delivery_id}"):
            assert (await world.client.get(path, headers=enterprise)).status_code == 403
        missing = await world.client.get(
            f"/website-deliveries/{uuid.uuid4()}", headers=world.operator
        )
        assert missing.status_code == 404


class TestTwoReplicas:
    async def test_concurrent_passes_send_each_delivery_once(
        self, world: World, database_url: str
    ) -> None:
        if database_url.startswith("sqlite"):
            pytest.skip("SQLite runs a single writer process; replicas need PostgreSQL")
        ids = await world.queue(6)
        world.receiver.delay = 0.05
        at = later(1)
        counts = await asyncio.gather(world.deliver(at), world.deliver(at), world.deliver(at))
        assert sum(counts) == 6
        sent = sorted(headers["idempotency-key"] for headers, _ in world.receiver.requests)
        assert sent == sorted(ids)
        async with world.runtime.session_factory() as session:
            attempts = await session.scalar(
                sa.select(sa.func.count()).select_from(WebsiteDeliveryAttempt)
            )
        assert attempts == 6
