"""The demo-data command against the real suite (processes, broker, gateway): a small city is
loaded only through the gateway, its effects are visible through the APIs, every service's
/metrics moved, and a second run with the same seed makes nothing twice."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from ops.demo.city import build_city
from ops.demo.cli import demo_data
from tests.e2e.conftest import SERVICES, Suite, wait_healthy

pytestmark = pytest.mark.e2e

SEED, ENTERPRISES, INSURERS = 7, 12, 2


def load(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the command as an operator would; the summary it prints with --json."""
    # Tokens are signed with the suite's development key, as `make token` does for `make run`.
    monkeypatch.setenv("AUTH_DEV_KEY_DIR", suite.env["AUTH_DEV_KEY_DIR"])
    app = typer.Typer()
    app.command()(demo_data)
    args = ["--gateway", suite.gateway, "--enterprises", str(ENTERPRISES)]
    args += ["--insurers", str(INSURERS), "--seed", str(SEED), "--concurrency", "8", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def counters(suite: Suite, service: str) -> dict[str, float]:
    """Sums of the counters that must move, read from the service's own /metrics."""
    text = httpx.get(f"http://127.0.0.1:{suite.ports[service]}/metrics", timeout=10).text
    sums = {
        "http_requests_total": 0.0,
        "outbox_events_published_total": 0.0,
        "consumer_events_total": 0.0,
    }
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+]+)$", line)
        if match and match.group(1) in sums:
            sums[match.group(1)] += float(match.group(2))
    return sums


def officer(suite: Suite) -> dict[str, str]:
    return suite.token("officer", "officer-e2e-demo")


def get(suite: Suite, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    r = httpx.get(f"{suite.gateway}/api/{path}", params=params, headers=headers or {}, timeout=15)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
    return r.json()


def test_a_small_city_fills_every_service_and_a_rerun_makes_nothing_twice(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_healthy(suite)
    before = {s: counters(suite, s) for s in SERVICES}
    summary = load(suite, monkeypatch)
    kinds = summary["kinds"]
    city = build_city(SEED, ENTERPRISES, INSURERS)

    assert kinds["insurer"]["created"] + kinds["insurer"]["existing"] == INSURERS
    assert kinds["registry entry"]["created"] == ENTERPRISES
    assert kinds["licence application"]["created"] == ENTERPRISES
    assert kinds["policy"]["created"] >= 1
    assert kinds["inspection"]["created"] >= 1
    assert kinds["penalty (entered)"]["created"] >= 1
    unexpected = {k: v["failures"] for k, v in kinds.items() if v["failed"]}
    assert not unexpected, (unexpected, summary["failure_examples"])

    # Every enterprise is in the registry as the officer sees it, with its own district.
    for e in city.enterprises:
        entry = get(suite, f"inspection/enterprises/{e.uscc}", officer(suite))
        assert (entry["name"], entry["district"], entry["sector"]) == (
            e.name,
            e.district,
            e.sector.value,
        )
    # Licences: each enterprise sees the one it was given (instant and pledge at once).
    licensed = [
        e
        for e in city.enterprises
        if get(suite, "permits/licences", suite.token("enterprise", e.uscc))["items"]
    ]
    issued = sum(v["created"] for k, v in kinds.items() if k.startswith("licence ("))
    assert len(licensed) == issued >= ENTERPRISES // 2
    # Policies of both insurers, and their activation reached inspection's registry.
    policies = [
        p
        for i in city.insurers
        for p in get(suite, "insurance/policies", suite.token("insurer", i.id), limit=200)["items"]
    ]
    assert len(policies) == kinds["policy"]["created"]

    def insured_in_registry() -> bool:
        return all(
            get(suite, f"inspection/enterprises/{p['uscc']}", officer(suite))["is_insured"]
            for p in policies
        )

    poll(insured_in_registry, "every policy's activation in inspection's registry")
    # Credit's public penalty list holds the entered penalties (and inspection's, by event).
    penalties = get(suite, "credit/penalties", limit=200)["items"]
    ours = {e.uscc for e in city.enterprises}
    assert len([p for p in penalties if p["uscc"] in ours]) >= kinds["penalty (entered)"][
        "created"
    ] - kinds.get("credit repair approved", {}).get("created", 0)

    # Every service handled requests, published events and consumed its sources' events.
    def moved() -> dict[str, dict[str, float]] | None:
        after = {s: counters(suite, s) for s in SERVICES}
        grew = all(after[s][m] > before[s][m] for s in SERVICES for m in before[s])
        return None if not grew else after

    poll(moved, "every service's request, outbox and consumer counters growing")

    # The same seed again: everything is found, nothing is made twice.
    again = load(suite, monkeypatch)["kinds"]
    # Only help with hazards whose tasks reached insurance (by event) after the first run's
    # insurers had looked may be new: help that was owed, given once.
    assert {k for k, v in again.items() if v["created"]} <= {"hazard assistance"}
    assert {k: v["failures"] for k, v in again.items() if v["failed"]} == {}
    assert again["registry entry"]["existing"] == ENTERPRISES
    assert again["licence application"]["existing"] == ENTERPRISES
    assert again["policy"]["existing"] == kinds["policy"]["created"]
    again_policies = [
        p
        for i in city.insurers
        for p in get(suite, "insurance/policies", suite.token("insurer", i.id), limit=200)["items"]
    ]
    assert len(again_policies) == len(policies)


def poll(probe: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"{what} not seen within {timeout}s (last: {last!r})")
