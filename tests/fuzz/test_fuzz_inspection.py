"""Fuzz the inspection service's API (schemathesis; see tests/fuzz/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app
from tests.fuzz.harness import FUZZ_SETTINGS, STATEFUL, Target, quiet_settings, service_database
from tests.support.databases import DatabaseMaker

INSPECTION = Target(
    "inspection", create_app(InspectionSettings(database_url="sqlite+aiosqlite://"))
)


@pytest.fixture(scope="module")
async def target(
    tmp_path_factory: pytest.TempPathFactory,
    database_maker: DatabaseMaker,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
) -> AsyncIterator[Target]:
    directory = tmp_path_factory.mktemp("fuzz-inspection")
    async with service_database(database_maker, directory, "inspection") as database_url:
        settings = quiet_settings(
            InspectionSettings,
            database_url,
            kafka_bootstrap_servers=broker.bootstrap,
            auth=auth_settings,
        )
        yield INSPECTION.start(create_app(settings), issuer)
        INSPECTION.stop()


@INSPECTION.schema.parametrize()
@FUZZ_SETTINGS
def test_inspection(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_inspection_stateful(target: Target) -> None:
        target.run_stateful()
