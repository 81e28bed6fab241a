"""`safety migrate`: bring each app's database to its latest schema (or say what is pending)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

import typer
from alembic.script import ScriptDirectory
from rich.table import Table

from kernel.migrate import alembic_config, current_heads, script_heads, upgrade
from ops.common import (
    APPS,
    JSON,
    NO_PROGRESS,
    OpsError,
    app_settings,
    console,
    display_url,
    fails_cleanly,
    one_line,
    parse_apps,
    print_json,
    progress,
    sqlite_file_missing,
)


@dataclass
class MigrationState:
    """Where one app's database stands against its migration scripts."""

    app: str
    database: str
    current: str | None
    head: str
    pending: list[str]
    migrated: bool = False


def inspect_database(app: str, url: str) -> MigrationState:
    """Current and head revisions and the revisions in between, oldest first."""
    heads = script_heads(app)
    if len(heads) != 1:
        raise OpsError(f"{app}: migration scripts have {len(heads)} heads; merge them first")
    # Asking a missing SQLite file for its version would create it: --check must change nothing.
    try:
        current = () if sqlite_file_missing(url) else current_heads(url)
    except Exception as exc:
        raise OpsError(f"{app}: cannot read {display_url(url)}: {one_line(exc)}") from None
    if len(current) > 1:
        raise OpsError(f"{app}: database has several revisions {list(current)}; fix it by hand")
    script = ScriptDirectory.from_config(alembic_config(app, url))
    lower = current[0] if current else "base"
    try:
        revisions = list(script.iterate_revisions(heads[0], lower))
    except Exception as exc:
        # A database at a revision these scripts do not know (a newer release ran on it).
        raise OpsError(f"{app}: database is at {lower}, unknown here: {one_line(exc)}") from None
    return MigrationState(
        app=app,
        database=display_url(url),
        current=current[0] if current else None,
        head=heads[0],
        pending=[r.revision for r in reversed(revisions)],
    )


def migrate(
    apps: Annotated[
        list[str] | None,
        typer.Argument(
            help=f"Apps to migrate: {', '.join(APPS)} (default: all).",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Database to migrate instead of the app's configured one (one app only).",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Change nothing: list pending migrations and exit 1 if there are any (for CI).",
        ),
    ] = False,
    as_json: Annotated[bool, JSON] = False,
    no_progress: Annotated[bool, NO_PROGRESS] = False,
) -> None:
    """Upgrade each app's database to the latest schema (数据库迁移).

    Every app (permits, credit, inspection, insurance, gateway) owns its database; its URL comes
    from the app's own settings, e.g. PERMITS_DATABASE_URL, as `make migrate` reads it. Shows
    current -> head per app and stops at the first failure.
    """
    chosen = parse_apps(apps, APPS, "APPS")
    if database_url is not None and len(chosen) != 1:
        raise typer.BadParameter("name exactly one app with --database-url", param_hint="APPS")
    _run(chosen, database_url, check=check, as_json=as_json, show_progress=not no_progress)


@fails_cleanly
def _run(
    apps: list[str], database_url: str | None, *, check: bool, as_json: bool, show_progress: bool
) -> None:
    states: list[MigrationState] = []
    failure: OpsError | None = None
    with progress(show_progress) as step:
        bar = step("migrations", len(apps))
        for done, app in enumerate(apps, start=1):
            url = database_url or str(app_settings(app).database_url)
            try:
                state = inspect_database(app, url)
                if state.pending and not check:
                    try:
                        upgrade(app, url)
                    except Exception as exc:
                        raise OpsError(f"{app}: migration failed: {one_line(exc)}") from None
                    state.migrated = True
            except OpsError as exc:
                failure = exc
                break
            states.append(state)
            bar.update(done)
    _report(states, check=check, as_json=as_json)
    if failure is not None:
        raise failure
    if check and any(s.pending for s in states):
        raise OpsError(
            "pending migrations: "
            + ", ".join(f"{s.app} ({len(s.pending)})" for s in states if s.pending)
        )


def _report(states: list[MigrationState], *, check: bool, as_json: bool) -> None:
    if as_json:
        print_json([asdict(s) for s in states])
        return
    table = Table("app", "database", "current", "head", "pending" if check else "result")
    for s in states:
        if check:
            outcome = ", ".join(s.pending) if s.pending else "up to date"
        else:
            outcome = f"migrated ({len(s.pending)} applied)" if s.migrated else "up to date"
        table.add_row(s.app, s.database, s.current or "(empty)", s.head, outcome)
    console().print(table)
