"""Fuzz the permits service's API (schemathesis; see tests/fuzz/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.permits.config import PermitsSettings
from services.permits.main import create_app
from tests.fuzz.harness import FUZZ_SETTINGS, STATEFUL, Target, quiet_settings, service_database
from tests.support.databases import DatabaseMaker

PERMITS = Target("permits", create_app(PermitsSettings(database_url="sqlite+aiosqlite://")))


@pytest.fixture(scope="module")
async def target(
    tmp_path_factory: pytest.TempPathFactory,
    database_maker: DatabaseMaker,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
) -> AsyncIterator[Target]:
    directory = tmp_path_factory.mktemp("fuzz-permits")
    async with service_database(database_maker, directory, "permits") as database_url:
        settings = quiet_settings(
            PermitsSettings,
            database_url,
            kafka_bootstrap_servers=broker.bootstrap,
            auth=auth_settings,
            licence_key_dir=directory / "keys",
        )
        yield PERMITS.start(create_app(settings), issuer)
        PERMITS.stop()


@PERMITS.schema.parametrize()
@FUZZ_SETTINGS
def test_permits(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_permits_stateful(target: Target) -> None:
        target.run_stateful()
