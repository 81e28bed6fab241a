"""What every command shares: the suite's apps and their settings, errors, output, progress."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
import pydantic
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from kernel.migrate import SERVICES as APPS
from kernel.migrate import package
from kernel.settings import AppEnv

__all__ = ["APPS", "CONSUMERS", "OpsError", "fails_cleanly", "package"]

# The four services that consume events (the gateway produces none and consumes none).
CONSUMERS = ("permits", "credit", "inspection", "insurance")

# One class per app; instantiated afresh on each call (the apps' own `get_settings` caches its
# first answer for the process, which would pin one environment for every command and test).
_SETTINGS_CLASSES = {
    "permits": ("services.permits.config", "PermitsSettings"),
    "credit": ("services.credit.config", "CreditSettings"),
    "inspection": ("services.inspection.config", "InspectionSettings"),
    "insurance": ("services.insurance.config", "InsuranceSettings"),
    "gateway": ("gateway.config", "GatewaySettings"),
}

P = ParamSpec("P")
R = TypeVar("R")


def console(*, err: bool = False) -> Console:
    """A console on the current stdout or stderr (made per use: tests swap the streams).

    Off a terminal, tables get a wide fixed width so that long URLs are not folded into
    several lines a script or a log search would have to join again.
    """
    stream = sys.stderr if err else sys.stdout
    width = None if stream.isatty() else 200
    return Console(file=stream, highlight=False, soft_wrap=True, width=width)


class OpsError(Exception):
    """An expected failure: reported as one line on stderr, exit code 1."""


def fails_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """Turn OpsError into `error: ...` on stderr and exit 1, without a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OpsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return run


def app_settings(app: str) -> Any:
    """`app`'s settings as the running app would read them (environment, then defaults)."""
    module_name, class_name = _SETTINGS_CLASSES[app]
    settings_class = getattr(importlib.import_module(module_name), class_name)
    try:
        return settings_class()
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise OpsError(f"{app} settings are invalid: {problems}") from None


def is_production() -> bool:
    """APP_ENV=production (the variable every app's settings read, unprefixed)."""
    return os.environ.get("APP_ENV", "").strip().lower() == AppEnv.production.value


def parse_apps(names: list[str] | None, allowed: tuple[str, ...], param: str) -> list[str]:
    """The apps named on the command line (all of `allowed` if none), in the order given."""
    if not names:
        return list(allowed)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise typer.BadParameter(
            f"unknown {'/'.join(unknown)}; choose from {', '.join(allowed)}", param_hint=param
        )
    return list(dict.fromkeys(names))


def display_url(url: str) -> str:
    """`url` with its password masked: an operator's terminal log must not hold one."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist (connecting would create an empty one)."""
    if not url.startswith("sqlite"):
        return False
    path = url.split("///", 1)[-1]
    return path not in ("", ":memory:") and not Path(path).exists()


def one_line(exc: BaseException) -> str:
    """An exception as one readable line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


class Step:
    """One progress line: a rich bar on a terminal, plain lines on stderr otherwise."""

    def __init__(self, progress: Progress | None, description: str, total: int | None) -> None:
        self._progress = progress
        self._description = description
        self._total = total
        self._completed = 0
        self._task = progress.add_task(description, total=total) if progress else None

    def update(self, completed: int, total: int | None = None) -> None:
        """Record `completed` of `total` (the total may grow while a long operation runs)."""
        if total is not None:
            self._total = total
        self._completed = completed
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, total=self._total)
        else:
            of = f"/{self._total}" if self._total is not None else ""
            typer.echo(f"{self._description}: {completed}{of}", err=True)


@contextmanager
def progress(enabled: bool) -> Iterator[Callable[[str, int | None], Step]]:
    """Give a factory of Steps; bars only when asked and stderr is a terminal."""
    if enabled and sys.stderr.isatty() and sys.stdout.isatty():
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(err=True),
            transient=False,
        )
        with bar:
            yield lambda description, total: Step(bar, description, total)
    else:
        yield lambda description, total: Step(None, description, total)


NO_PROGRESS = typer.Option(
    "--no-progress", help="Plain progress lines instead of a bar (always so without a TTY)."
)
JSON = typer.Option("--json", help="Print the result as JSON on stdout (for scripts).")
