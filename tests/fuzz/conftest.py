"""The fuzzing run's figures: gathered from every process, printed, written for `make fuzz`.

Each process (a pytest-xdist worker, or pytest alone) keeps its apps' figures in
tests.fuzz.harness.FIGURES; a worker hands them to the controller when it finishes. When
FUZZ_RESULTS names a file, the run's totals are written there in the bench result format.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from tests.fuzz.harness import FIGURES, PROFILE, FuzzEnv
from tests.support.databases import DatabaseMaker

_WORKER_KEY = "fuzz_figures"
_STARTED = time.monotonic()
# Figures handed over by workers (controller side); keyed by app name.
_GATHERED: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(scope="module")
def fuzz_env(
    tmp_path_factory: pytest.TempPathFactory,
    database_maker: DatabaseMaker,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
) -> FuzzEnv:
    return FuzzEnv(tmp_path_factory, database_maker, broker, auth_settings, issuer)


@pytest.hookimpl(tryfirst=True)
def pytest_itemcollected(item: pytest.Item) -> None:
    # pytest 9 builds an item's id from its original name and callspec; schemathesis (4.32)
    # makes one item per operation with neither, so all of a module's items share one id,
    # and pytest-xdist, which schedules by id, would run one of them. The operation is the
    # parameter that tells them apart.
    label = getattr(item, "operation_label", None)
    if label and item.id.params is None:
        item._id = item.id.with_params(label)


def _local_figures() -> dict[str, dict[str, Any]]:
    return {name: figures.as_dict() for name, figures in FIGURES.items()}


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_KEY] = json.dumps(_local_figures())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    raw = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    for name, figures in json.loads(raw or "{}").items():
        _GATHERED.setdefault(name, []).append(figures)


def _merged() -> dict[str, dict[str, Any]]:
    parts: dict[str, list[dict[str, Any]]] = {k: list(v) for k, v in _GATHERED.items()}
    for name, figures in _local_figures().items():
        parts.setdefault(name, []).append(figures)
    merged: dict[str, dict[str, Any]] = {}
    for name, items in sorted(parts.items()):
        statuses: dict[str, int] = {}
        for item in items:
            for status, n in item["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        merged[name] = {
            "operations": sum(i["operations"] for i in items),
            "cases": sum(i["cases"] for i in items),
            "server_errors": sum(i["server_errors"] for i in items),
            "statuses": dict(sorted(statuses.items())),
            "failed_operations": sorted({o for i in items for o in i["failed_operations"]}),
            "seconds": round(sum(i["seconds"] for i in items), 1),
        }
    return merged


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if getattr(terminalreporter.config, "workerinput", None) is not None:
        return
    apps = _merged()
    if not apps:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"fuzzing ({PROFILE} profile)")
    if os.environ.get("FUZZ_SEED"):
        write(f"seed {os.environ['FUZZ_SEED']} (FUZZ_SEED={os.environ['FUZZ_SEED']} replays it)")
    write(f"{'app':<12}{'operations':>11}{'cases':>9}{'5xx':>6}{'failed ops':>12}  statuses")
    for name, f in apps.items():
        statuses = " ".join(f"{s}:{n}" for s, n in f["statuses"].items())
        write(
            f"{name:<12}{f['operations']:>11}{f['cases']:>9}{f['server_errors']:>6}"
            f"{len(f['failed_operations']):>12}  {statuses}"
        )
    totals = {
        key: sum(f[key] for f in apps.values()) for key in ("operations", "cases", "server_errors")
    }
    failed = sum(len(f["failed_operations"]) for f in apps.values())
    write(
        f"{'total':<12}{totals['operations']:>11}{totals['cases']:>9}"
        f"{totals['server_errors']:>6}{failed:>12}"
    )
    for name, f in apps.items():
        for operation in f["failed_operations"]:
            write(f"  failed: {name} {operation}")
    results = os.environ.get("FUZZ_RESULTS")
    if results:
        _write_result(Path(results), apps, totals, failed)
        write(f"wrote {results}")


def _write_result(
    path: Path, apps: dict[str, dict[str, Any]], totals: dict[str, int], failed: int
) -> None:
    """The bench result format (bench/results/*.json): value = 5xx responses seen."""
    result = {
        "name": "fuzz",
        "metric": "server errors",
        "value": totals["server_errors"],
        "unit": "responses",
        "baseline": 0,
        "ratio": None,
        "params": {
            "profile": PROFILE,
            "operations": totals["operations"],
            "cases": totals["cases"],
            "failed_operations": failed,
            "seconds": round(time.monotonic() - _STARTED, 1),
            "seed": os.environ.get("FUZZ_SEED") or None,
            "apps": apps,
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
