"""Fuzz the inspection service's API (schemathesis; see tests/fuzz/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from services.inspection.config import InspectionSettings
from services.inspection.main import create_app
from tests.fuzz.harness import FUZZ_SETTINGS, STATEFUL, FuzzEnv, Target, fuzzed_service

INSPECTION = Target(
    "inspection", create_app(InspectionSettings(database_url="sqlite+aiosqlite://"))
)


@pytest.fixture(scope="module")
async def target(fuzz_env: FuzzEnv) -> AsyncIterator[Target]:
    async with fuzzed_service(INSPECTION, fuzz_env, InspectionSettings, create_app) as fuzzing:
        yield fuzzing


@INSPECTION.schema.parametrize()
@FUZZ_SETTINGS
def test_inspection(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_inspection_stateful(target: Target) -> None:
        target.run_stateful()
