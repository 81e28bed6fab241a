"""Fuzz the gateway's own routes (schemathesis; see tests/fuzz/harness.py): identity and its
management, data sharing, the enterprise profile, health. The services behind it are the
gateway tests' stand-ins (tests/gateway/support.py), served over HTTP; what it forwards to
them is the services' own surface, fuzzed by the other modules here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from schemathesis.generation.case import Case

from gateway.config import UPSTREAM_NAMES
from gateway.main import create_app
from kernel.auth.dev import DevIssuer
from kernel.settings import AuthSettings
from tests.fuzz.harness import FUZZ_SETTINGS, STATEFUL, Target, served_in_thread, service_database
from tests.gateway.support import gateway_settings, upstream_app
from tests.support.databases import DatabaseMaker

GATEWAY = Target("gateway", create_app())


@pytest.fixture(scope="module")
async def target(
    tmp_path_factory: pytest.TempPathFactory,
    database_maker: DatabaseMaker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
) -> AsyncIterator[Target]:
    directory = tmp_path_factory.mktemp("fuzz-gateway")
    stand_ins = {name: upstream_app(name) for name in UPSTREAM_NAMES}
    with served_in_thread(stand_ins) as urls:
        async with service_database(database_maker, directory, "gateway") as database_url:
            settings = gateway_settings(
                urls,
                auth=auth_settings,
                database_url=database_url,
                # Rate limits have their own tests; here they would only turn cases into 429s.
                rate_limits_enabled=False,
            )
            yield GATEWAY.start(create_app(settings), issuer)
            GATEWAY.stop()


@GATEWAY.schema.parametrize()
@FUZZ_SETTINGS
def test_gateway(case: Case, target: Target) -> None:
    target.check(case)


if STATEFUL:  # the long profile (make fuzz)

    def test_gateway_stateful(target: Target) -> None:
        target.run_stateful()
