"""`safety audit verify`: recompute each app's audit hash chain (审计日志), as make audit-verify."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.table import Table

from kernel.audit import AUDIT_TABLE, ChainReport, verify
from kernel.db import make_engine
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
    package,
    parse_apps,
    print_json,
    progress,
    sqlite_file_missing,
)

audit_app = typer.Typer(
    help="The audit logs (审计日志): every change with who, when and how, in a hash chain.",
    no_args_is_help=True,
)


@dataclass
class ChainResult:
    """One app's chain: how many records, how many sealed links verified, where it broke."""

    app: str
    database: str
    records: int
    report: ChainReport

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "database": self.database, "records": self.records} | (
            self.report.as_dict()
        )


def audit_log_table(app: str) -> sa.Table:
    """The app's `audit_log` as its models declare it (the columns `verify` hashes)."""
    models = importlib.import_module(f"{package(app)}.models")
    table: sa.Table = models.Base.metadata.tables[AUDIT_TABLE]
    return table


async def verify_chain(app: str, url: str) -> ChainResult:
    """Walk `app`'s chain in the database at `url`; OpsError if there is no audit log there."""
    shown = display_url(url)
    if sqlite_file_missing(url):
        raise OpsError(f"{app}: no database at {shown}: start the app or run `safety migrate`")
    table = audit_log_table(app)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            present = await conn.run_sync(lambda c: sa.inspect(c).has_table(AUDIT_TABLE))
            if not present:
                raise OpsError(f"{app}: no audit log at {shown}: run `safety migrate {app}` first")
            records = int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
        report = await verify(engine, table)
    except OpsError:
        raise
    except Exception as exc:
        raise OpsError(f"{app}: cannot read {shown}: {one_line(exc)}") from None
    finally:
        await engine.dispose()
    return ChainResult(app, shown, records, report)


@audit_app.command("verify")
def verify_command(
    apps: Annotated[
        list[str] | None,
        typer.Argument(
            help=f"Apps to verify: {', '.join(APPS)} (default: all).", show_default=False
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="Database to read instead of the app's (one app)."),
    ] = None,
    as_json: Annotated[bool, JSON] = False,
    no_progress: Annotated[bool, NO_PROGRESS] = False,
) -> None:
    """Recompute each audit hash chain; exit 1 naming the first broken link (审计链校验).

    Records awaiting their seal (the running app seals each about a second after it commits)
    are counted, not verified.
    """
    chosen = parse_apps(apps, APPS, "APPS")
    if database_url is not None and len(chosen) != 1:
        raise typer.BadParameter("name exactly one app with --database-url", param_hint="APPS")
    _run(chosen, database_url, as_json=as_json, show_progress=not no_progress)


@fails_cleanly
def _run(apps: list[str], database_url: str | None, *, as_json: bool, show_progress: bool) -> None:
    results: list[ChainResult] = []
    # One app's missing database must not hide another app's broken chain: go on, fail at the end.
    unreadable: dict[str, str] = {}
    with progress(show_progress) as step:
        bar = step("audit chains", len(apps))
        for done, app in enumerate(apps, start=1):
            try:
                url = database_url or str(app_settings(app).database_url)
                results.append(asyncio.run(verify_chain(app, url)))
            except OpsError as exc:
                unreadable[app] = str(exc)
            bar.update(done)
    if as_json:
        print_json(
            [r.as_dict() for r in results]
            + [{"app": app, "ok": False, "error": error} for app, error in unreadable.items()]
        )
    else:
        table = Table("app", "records", "sealed, verified", "awaiting seal", "first broken link")
        for r in results:
            broken = (
                "-"
                if r.report.ok
                else f"link {r.report.broken_at} (row id {r.report.row_id}): {r.report.reason}"
            )
            report = r.report
            table.add_row(r.app, str(r.records), str(report.checked), str(report.unsealed), broken)
        for app in unreadable:
            table.add_row(app, "-", "-", "-", "not verified (see below)")
        console().print(table)
    problems = [
        f"{r.app}: audit chain BROKEN at link {r.report.broken_at} (row id {r.report.row_id}): "
        f"{r.report.reason}"
        for r in results
        if not r.report.ok
    ] + list(unreadable.values())
    if problems:
        raise OpsError("; ".join(problems))
