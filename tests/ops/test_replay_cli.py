"""`safety replay` against a real source app over HTTP and a real consumer database.

The insurance service (the source) registers policies; its relay numbers their events but no
broker listens, so the inspection service (the consumer) never received any: the whole range
is its lag. The command must show it, apply it through inspection's own handlers exactly once
and leave the registry holding what the events say.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from kernel.auth.dev import DevIssuer
from kernel.settings import AuthSettings
from ops.cli import app
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app
from tests.support import bearer, eventually, free_port, serving
from tests.support.builders import policy_body
from tests.support.seed import seed_insurer

pytestmark = pytest.mark.database("insurance")

N_POLICIES = 4


async def invoke(args: list[str]) -> Result:
    # The served source answers on this event loop: the command runs on a thread beside it.
    return await asyncio.to_thread(CliRunner().invoke, app, args)


async def test_status_then_catch_up_then_nothing_left(
    database_url: str,
    make_database_url: Callable[..., Awaitable[str]],
    auth_settings: AuthSettings,
    issuer: DevIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_DEV_KEY_DIR", str(auth_settings.dev_key_dir))
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    consumer_url = await make_database_url(kind, "inspection")
    source = create_app(
        InsuranceSettings(
            database_url=database_url,
            kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",  # nobody listens
            auth=auth_settings,
            relay_poll_seconds=0.05,
            kafka_timeout_seconds=1,
            consumers_enabled=False,
            background_enabled=False,
        )
    )
    async with serving(source) as base:
        runtime = source.state.runtime
        await seed_insurer(runtime, "PICC-QD")
        async with httpx.AsyncClient(base_url=base) as http:
            for n in range(1, N_POLICIES + 1):
                r = await http.post(
                    "/policies",
                    json=policy_body(700 + n),
                    headers=bearer(issuer, "insurer", "PICC-QD"),
                )
                assert r.status_code == 201, r.text

        async def sequenced() -> bool:
            outbox = runtime.tables.outbox
            async with runtime.session_factory() as session:
                numbered = await session.scalar(
                    sa.select(sa.func.count()).where(outbox.c.sequence.is_not(None))
                )
            return bool(numbered == N_POLICIES)

        await eventually(sequenced)
        common = [
            "inspection",
            "--source",
            "insurance",
            "--database-url",
            consumer_url,
            "--source-url",
            f"insurance={base}",
            "--json",
        ]

        status = await invoke(["replay", *common, "--status"])
        assert status.exit_code == 0, status.output
        (position,) = json.loads(status.stdout)["sources"]
        assert position == {
            "source": "insurance",
            "cursor": 0,
            "head": N_POLICIES,
            "lag": N_POLICIES,
            "dead_letters": 0,
            "applied": 0,
            "dead_lettered": 0,
            "error": None,
        }

        done = await invoke(["replay", *common, "--no-progress"])
        assert done.exit_code == 0, done.output
        (position,) = json.loads(done.stdout)["sources"]
        assert (position["cursor"], position["lag"], position["applied"]) == (
            N_POLICIES,
            0,
            N_POLICIES,
        )
        assert f"inspection <- insurance: {N_POLICIES}/{N_POLICIES}" in done.stderr

        again = await invoke(["replay", *common])
        assert again.exit_code == 0, again.output
        (position,) = json.loads(again.stdout)["sources"]
        assert (position["cursor"], position["applied"]) == (N_POLICIES, 0)

        # Retention purged the events this consumer would still need: exit 1, one line, why.
        fresh = await make_database_url(kind, "inspection")
        async with runtime.session_factory() as session, session.begin():
            outbox = runtime.tables.outbox
            await session.execute(sa.delete(outbox).where(outbox.c.sequence <= 1))
        purged = await invoke(["replay", *common[:3], "--database-url", fresh, *common[5:]])
        assert purged.exit_code == 1
        (error,) = [line for line in purged.stderr.splitlines() if line.startswith("error:")]
        assert error.startswith("error: insurance: insurance replay answered 410")

    # The effects are inspection's own: the insured enterprises are in its registry, once each.
    from kernel.db import make_engine
    from services.inspection.models import Enterprise

    engine = make_engine(consumer_url)
    try:
        async with engine.connect() as conn:
            insured = await conn.scalar(sa.select(sa.func.count()).select_from(Enterprise))
            inbox = await conn.scalar(sa.text("select count(*) from inbox_events"))
    finally:
        await engine.dispose()
    assert insured == N_POLICIES
    assert inbox == N_POLICIES


async def test_an_unreachable_source_is_exit_1(
    make_database_url: Callable[..., Awaitable[str]],
    auth_settings: AuthSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_DEV_KEY_DIR", str(auth_settings.dev_key_dir))
    consumer_url = await make_database_url("sqlite", "inspection")
    result = await invoke(
        [
            "replay",
            "inspection",
            "--source",
            "credit",
            "--database-url",
            consumer_url,
            "--source-url",
            f"credit=http://127.0.0.1:{free_port()}",
        ]
    )
    assert result.exit_code == 1
    assert "credit replay unreachable" in result.stdout  # in the table
    assert result.stderr.startswith("error: credit: credit replay unreachable")
