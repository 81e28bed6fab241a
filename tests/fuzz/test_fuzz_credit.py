"""Fuzz the credit service's API (schemathesis; see tests/fuzz/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from services.credit.config import CreditSettings
from services.credit.main import create_app
from tests.fuzz.harness import FUZZ_SETTINGS, STATEFUL, FuzzEnv, Target, fuzzed_service

CREDIT = Target("credit", create_app(CreditSettings(database_url="sqlite+aiosqlite://")))


@pytest.fixture(scope="module")
async def target(fuzz_env: FuzzEnv) -> AsyncIterator[Target]:
    async with fuzzed_service(CREDIT, fuzz_env, CreditSettings, create_app) as fuzzing:
        yield fuzzing


@CREDIT.schema.parametrize()
@FUZZ_SETTINGS
def test_credit(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_credit_stateful(target: Target) -> None:
        target.run_stateful()
