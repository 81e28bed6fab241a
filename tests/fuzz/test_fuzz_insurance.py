"""Fuzz the insurance service's API (schemathesis; see tests/fuzz/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from kernel.app import ServiceRuntime
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app
from services.insurance.models import Base
from tests.fuzz.harness import FUZZ_SETTINGS, STATEFUL, SUBJECTS, FuzzEnv, Target, fuzzed_service
from tests.support.seed import seed_insurer

INSURANCE = Target("insurance", create_app(InsuranceSettings(database_url="sqlite+aiosqlite://")))


async def register_insurer(settings: InsuranceSettings) -> None:
    """The insurer whose token fuzzes the insurer routes is registered, as an admin would."""
    seeding = ServiceRuntime(settings, Base.metadata)
    try:
        await seed_insurer(seeding, SUBJECTS["insurer"])
    finally:
        await seeding.verifier.aclose()
        await seeding.engine.dispose()


@pytest.fixture(scope="module")
async def target(fuzz_env: FuzzEnv) -> AsyncIterator[Target]:
    async with fuzzed_service(
        INSURANCE, fuzz_env, InsuranceSettings, create_app, prepare=register_insurer
    ) as fuzzing:
        yield fuzzing


@INSURANCE.schema.parametrize()
@FUZZ_SETTINGS
def test_insurance(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_insurance_stateful(target: Target) -> None:
        target.run_stateful()
