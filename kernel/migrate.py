"""Alembic, one folder per service, run the same way on SQLite and PostgreSQL.

`python -m kernel.migrate <service> [revision]` upgrades a service's database (production's
explicit step); in development each service upgrades itself at start.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from kernel.db import make_engine
from kernel.settings import REPO_ROOT

SERVICES = ("permits", "credit", "inspection", "insurance", "gateway")


def package(service: str) -> str:
    """The Python package holding `service`'s config, models and migrations."""
    return "gateway" if service == "gateway" else f"services.{service}"


def migrations_dir(service: str) -> Path:
    return REPO_ROOT.joinpath(*package(service).split("."), "migrations")


def alembic_config(service: str, database_url: str) -> Config:
    """An Alembic config for `service` pointed at `database_url` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(service)))
    cfg.set_main_option(
        "file_template",
        "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s",
    )
    cfg.set_main_option("timezone", "UTC")
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    """Apply `service`'s migrations up to `revision` (blocking: call from a thread).

    A database already at the single head is left alone without loading Alembic's
    environment and every revision file: each service checks this at every start.
    """
    if revision == "head" and _at_head(service, database_url):
        return
    command.upgrade(alembic_config(service, database_url), revision)


Fingerprint = tuple[tuple[str, int, int], ...]

# service -> (its revision files when last read, its head revisions then)
_heads_seen: dict[str, tuple[Fingerprint, tuple[str, ...]]] = {}


def _fingerprint(folder: Path) -> Fingerprint:
    files = []
    for path in sorted(folder.glob("*.py")):
        stat = path.stat()
        files.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(files)


def script_heads(service: str) -> tuple[str, ...]:
    """`service`'s head revisions, read again whenever a revision file changes."""
    fingerprint = _fingerprint(migrations_dir(service) / "versions")
    seen = _heads_seen.get(service)
    if seen is None or seen[0] != fingerprint:
        script = ScriptDirectory.from_config(alembic_config(service, ""))
        seen = (fingerprint, tuple(sorted(script.get_heads())))
        _heads_seen[service] = seen
    return seen[1]


def current_heads(database_url: str) -> tuple[str, ...]:
    """The revisions recorded in the database's version table (empty if none)."""

    def read(connection: Connection) -> tuple[str, ...]:
        return MigrationContext.configure(connection).get_current_heads()

    async def main() -> tuple[str, ...]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _at_head(service: str, database_url: str) -> bool:
    try:
        heads = script_heads(service)
        return len(heads) == 1 and current_heads(database_url) == heads
    except Exception:
        return False  # let Alembic itself report whatever is wrong


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's migrations/env.py."""
    url: str = context.config.attributes.get("database_url") or context.config.get_main_option(
        "sqlalchemy.url", ""
    )
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            literal_binds=True,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply a service's database migrations")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args(argv)
    config_module = importlib.import_module(f"{package(args.service)}.config")
    settings = config_module.get_settings()
    upgrade(args.service, settings.database_url, args.revision)
    print(f"{args.service}: migrated to {args.revision}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
