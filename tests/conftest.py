"""Session-wide test resources: a real broker process, real databases, signing keys."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from tests.support.databases import DatabaseMaker, migrated_services

PG_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_reachable() -> bool:
    host_port = PG_ADMIN_DSN.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _postgres_reachable()


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n N --dist loadfile` (as `make test` runs): whole files to workers, e2e on one.

    Each e2e module starts a broker, four services and the gateway as processes; two such
    stacks starting at once on a two-core machine would race their start-up timeouts. Files
    that mostly wait (e2e, broker round trips in */integration/) go out first, so that the
    run does not end on one worker waiting for them while the other has nothing left.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        _slow_moved_first = False

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/e2e/"):
                return "tests/e2e"
            return super()._split_scope(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if not self._slow_moved_first:
                self._slow_moved_first = True
                slow = [s for s in self.workqueue if s == "tests/e2e" or "/integration/" in s]
                for scope in reversed(slow):
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return Scheduling(config, log)


@pytest.fixture(scope="session")
def broker() -> Iterator[DevBroker]:
    """A real Kafka-compatible broker process (Tansu) on a free port."""
    with DevBroker() as dev_broker:
        yield dev_broker


@pytest.fixture(scope="session")
def auth_settings(tmp_path_factory: pytest.TempPathFactory) -> AuthSettings:
    """Token settings with a development key made for this test session."""
    key_dir: Path = tmp_path_factory.mktemp("dev-keys")
    settings = AuthSettings(dev_key_dir=key_dir, jwks_path=None, jwks_url=None)
    DevIssuer(settings)  # creates the key and JWKS file once
    return settings


@pytest.fixture(scope="session")
def issuer(auth_settings: AuthSettings) -> DevIssuer:
    return DevIssuer(auth_settings)


@pytest.fixture(scope="session")
def database_maker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseMaker]:
    """Where every test's database comes from; drops this session's PostgreSQL ones at the end."""
    maker = DatabaseMaker(tmp_path_factory.mktemp("sqlite-templates"), PG_ADMIN_DSN)
    try:
        yield maker
    finally:
        maker.close()


TESTS_DIR = Path(__file__).parent


def database_service(request: pytest.FixtureRequest) -> str | None:
    """Whose migrated schema a test's `database_url` holds (None: an empty database).

    `@pytest.mark.database("<service>")` or `@pytest.mark.database(None)` says so outright.
    Otherwise a test under tests/<service>/ gets that service's schema, unless it also asks
    for `make_database_url`: several services are then at work and where the test lives does
    not tell which one gets `database_url`, so it gets an empty database, which the service
    migrates at start as it would anyway. Every other test gets an empty database.
    """
    marker = request.node.get_closest_marker("database")
    if marker is not None:
        (service,) = marker.args
        if service is not None and service not in migrated_services():
            pytest.fail(f"@pytest.mark.database({service!r}): that service has no migrations")
        return service
    if "make_database_url" in request.fixturenames:
        return None
    parts = Path(request.node.path).relative_to(TESTS_DIR).parts
    if len(parts) > 1 and parts[0] in migrated_services():
        return parts[0]
    return None


def _require_postgres() -> None:
    if not POSTGRES_AVAILABLE:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI but is not reachable")
        pytest.skip("PostgreSQL not reachable on this machine")


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, database_maker: DatabaseMaker
) -> AsyncIterator[str]:
    """A new database of each kind this platform runs on (SQLite file, PostgreSQL).

    It is the test's alone, and holds either nothing or the schema of the service the test
    is for, migrated to head (see `database_service`).
    """
    service = database_service(request)
    if request.param == "sqlite":
        yield await database_maker.sqlite(tmp_path / "test.db", service)
        return
    _require_postgres()
    url = await database_maker.postgresql(service)
    try:
        yield url
    finally:
        database_maker.release(url)


@pytest.fixture
async def make_database_url(
    tmp_path: Path, database_maker: DatabaseMaker
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """A factory of extra databases of the same kind, for multi-service tests.

    `await make(kind)` gives an empty database, `await make(kind, service)` one that holds
    `service`'s schema, migrated to head.
    """
    created: list[str] = []

    async def make(kind: str, service: str | None = None) -> str:
        if kind == "sqlite":
            return await database_maker.sqlite(tmp_path / f"{uuid.uuid4().hex}.db", service)
        _require_postgres()
        url = await database_maker.postgresql(service)
        created.append(url)
        return url

    yield make
    for url in created:
        database_maker.release(url)
