"""Fuzz the permits service's API (schemathesis; see tests/fuzz/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from services.permits.config import PermitsSettings
from services.permits.main import create_app
from tests.fuzz.harness import FUZZ_SETTINGS, STATEFUL, FuzzEnv, Target, fuzzed_service

PERMITS = Target("permits", create_app(PermitsSettings(database_url="sqlite+aiosqlite://")))


@pytest.fixture(scope="module")
async def target(fuzz_env: FuzzEnv) -> AsyncIterator[Target]:
    async with fuzzed_service(
        PERMITS,
        fuzz_env,
        PermitsSettings,
        create_app,
        extra=lambda directory: {"licence_key_dir": directory / "keys"},
    ) as fuzzing:
        yield fuzzing


@PERMITS.schema.parametrize()
@FUZZ_SETTINGS
def test_permits(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_permits_stateful(target: Target) -> None:
        target.run_stateful()
