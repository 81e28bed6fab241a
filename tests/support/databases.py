"""Real test databases, made quickly: a migrated template per service, copied for each test.

Each service's migrations run once per session into a template (a SQLite file, a PostgreSQL
database); a test gets a copy of it, and the service's own start-up migration then finds the
database at head and does nothing. An empty database is still there for tests that build their
own schema, and tests/test_migrations.py migrates empty databases for real.

PostgreSQL's CREATE DATABASE and DROP DATABASE run on a thread of their own, off the tests'
event loop: the next copy of a template is made while the current test runs, and finished
databases are dropped a few at a time (every DROP DATABASE forces a checkpoint, and the ones
right after it find little left to write).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from kernel.migrate import SERVICES, migrations_dir, upgrade

T = TypeVar("T")

# Finished databases wait until this many are pending, then are dropped one after another.
DROP_BATCH = 8


def migrated_services() -> tuple[str, ...]:
    """The services that have migrations."""
    return tuple(s for s in SERVICES if (migrations_dir(s) / "env.py").exists())


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def pg_url(admin_dsn: str, name: str) -> str:
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


class SQLiteTemplates:
    """One migrated SQLite file per service, copied for each test that asks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._templates: dict[str, Path] = {}

    def _build(self, service: str) -> Path:
        template = self.directory / f"{service}.db"
        upgrade(service, sqlite_url(template))
        # The file alone must be the database: fold any write-ahead log back into it.
        conn = sqlite3.connect(template)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        wal = Path(f"{template}-wal")
        if wal.exists() and wal.stat().st_size:
            raise RuntimeError(f"{wal} still holds pages after a checkpoint")
        return template

    async def copy_to(self, service: str, target: Path) -> None:
        template = self._templates.get(service)
        if template is None:
            template = await asyncio.to_thread(self._build, service)
            self._templates[service] = template
        await asyncio.to_thread(shutil.copyfile, template, target)


# t_<pid>_<hex>: a test's database; tt_<pid>_<service>: a template. The pid tells whether the
# session that made it is still running.
_OURS = re.compile(r"^tt?_(\d+)_[a-z0-9]+$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresDatabases:
    """Creates and drops this session's PostgreSQL databases on a thread of its own.

    Copies are made one at a time on one connection; drops go out several at once on a small
    pool, so that the checkpoints they force are shared.
    """

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self._pid = os.getpid()
        self._templates: dict[str, str] = {}
        self._spare: dict[str | None, concurrent.futures.Future[str]] = {}
        self._pending: list[str] = []
        self._drop_errors: list[BaseException] = []
        self._dropping: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="test-postgres-admin", daemon=True
        )
        self._thread.start()
        self._closed = False
        self._run(self._start())

    # --- on the admin thread -------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._submit(coro).result()

    async def _start(self) -> None:
        self._lock = asyncio.Lock()
        self._conn = await asyncpg.connect(self.admin_dsn)
        self._drop_pool = await asyncpg.create_pool(self.admin_dsn, min_size=1, max_size=4)
        # What sessions that were killed rather than torn down left behind.
        rows = await self._conn.fetch("SELECT datname FROM pg_database")
        stale = [
            row["datname"]
            for row in rows
            if (match := _OURS.match(row["datname"])) and not _pid_alive(int(match[1]))
        ]
        await self._drop_now(stale)

    async def _execute(self, statement: str) -> None:
        async with self._lock:
            await self._conn.execute(statement)

    async def _create(self, template: str | None) -> str:
        name = f"t_{self._pid}_{uuid.uuid4().hex[:12]}"
        source = f' TEMPLATE "{template}"' if template else ""
        await self._execute(f'CREATE DATABASE "{name}"{source}')
        return name

    async def _make_template(self, service: str) -> str:
        name = f"tt_{self._pid}_{service}"
        await self._execute(f'CREATE DATABASE "{name}"')
        await asyncio.to_thread(upgrade, service, pg_url(self.admin_dsn, name))
        # Nobody connects to a template by mistake (CREATE DATABASE would refuse to copy it).
        await self._execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        return name

    async def _drop_now(self, names: list[str]) -> None:
        results = await asyncio.gather(
            *(
                self._drop_pool.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                for name in names
            ),
            return_exceptions=True,
        )
        self._drop_errors += [r for r in results if isinstance(r, BaseException)]

    def _queue_drop(self, name: str) -> None:
        self._pending.append(name)
        if len(self._pending) >= DROP_BATCH:
            names, self._pending = self._pending, []
            task = self._loop.create_task(self._drop_now(names))
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)

    async def _finish(self) -> None:
        names = self._pending
        for spare in self._spare.values():
            names.append(await asyncio.wrap_future(spare))
        await self._drop_now(names)
        await asyncio.gather(*self._dropping)
        await self._drop_now(list(self._templates.values()))
        await self._drop_pool.close()
        await self._conn.close()

    # --- from the tests' event loop ------------------------------------------------------

    async def create(self, service: str | None) -> str:
        """A new database: a copy of `service`'s migrated template, or empty for None."""
        template: str | None = None
        if service is not None:
            template = self._templates.get(service)
            if template is None:
                template = await asyncio.wrap_future(self._submit(self._make_template(service)))
                self._templates[service] = template
        ready = self._spare.pop(service, None)
        name = await asyncio.wrap_future(ready or self._submit(self._create(template)))
        # The next test most likely wants the same: copy it now, while this one runs.
        self._spare[service] = self._submit(self._create(template))
        return name

    def drop(self, name: str) -> None:
        """Drop `name` (ending its connections) soon, with a few others."""
        self._loop.call_soon_threadsafe(self._queue_drop, name)

    def close(self) -> None:
        """Drop every database this session made, templates included; stop the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._finish())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self._drop_errors:
            raise RuntimeError(f"test databases not dropped: {self._drop_errors!r}")


class DatabaseMaker:
    """Every test's database: SQLite files in the test's folder, PostgreSQL databases made
    and dropped by a `PostgresDatabases` started on first use."""

    def __init__(self, template_dir: Path, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self._sqlite = SQLiteTemplates(template_dir)
        self._postgres: PostgresDatabases | None = None

    async def sqlite(self, path: Path, service: str | None) -> str:
        """`path` as a database: a copy of `service`'s template, or nothing yet for None."""
        if service is not None:
            await self._sqlite.copy_to(service, path)
        return sqlite_url(path)

    async def postgresql(self, service: str | None) -> str:
        """A new PostgreSQL database: a copy of `service`'s template, or empty for None."""
        if self._postgres is None:
            self._postgres = await asyncio.to_thread(PostgresDatabases, self.admin_dsn)
        return pg_url(self.admin_dsn, await self._postgres.create(service))

    def release(self, url: str) -> None:
        """The test is done with the PostgreSQL database at `url`: drop it."""
        assert self._postgres is not None
        self._postgres.drop(url.rsplit("/", 1)[-1])

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()
