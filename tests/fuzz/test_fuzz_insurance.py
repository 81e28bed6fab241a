"""Fuzz the insurance service's API (schemathesis; see tests/fuzz/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app
from services.insurance.models import Base
from tests.fuzz.harness import (
    FUZZ_SETTINGS,
    STATEFUL,
    SUBJECTS,
    Target,
    quiet_settings,
    service_database,
)
from tests.support.databases import DatabaseMaker
from tests.support.seed import seed_insurer

INSURANCE = Target("insurance", create_app(InsuranceSettings(database_url="sqlite+aiosqlite://")))


@pytest.fixture(scope="module")
async def target(
    tmp_path_factory: pytest.TempPathFactory,
    database_maker: DatabaseMaker,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
) -> AsyncIterator[Target]:
    directory = tmp_path_factory.mktemp("fuzz-insurance")
    async with service_database(database_maker, directory, "insurance") as database_url:
        settings = quiet_settings(
            InsuranceSettings,
            database_url,
            kafka_bootstrap_servers=broker.bootstrap,
            auth=auth_settings,
        )
        # The insurer whose token fuzzes the insurer routes is registered, as an admin would.
        seeding = ServiceRuntime(settings, Base.metadata)
        try:
            await seed_insurer(seeding, SUBJECTS["insurer"])
        finally:
            await seeding.verifier.aclose()
            await seeding.engine.dispose()
        yield INSURANCE.start(create_app(settings), issuer)
        INSURANCE.stop()


@INSURANCE.schema.parametrize()
@FUZZ_SETTINGS
def test_insurance(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_insurance_stateful(target: Target) -> None:
        target.run_stateful()
