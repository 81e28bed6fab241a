"""`demo-data`: fill a running suite with a city's year of activity, through the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kernel.auth.dev import DevIssuer
from kernel.settings import AuthSettings
from kernel.workdays import shanghai_today
from ops.common import JSON, NO_PROGRESS, OpsError, fails_cleanly, print_json, progress
from ops.demo import activity
from ops.demo.city import MAX_INSURERS, build_city
from ops.demo.client import ApiFailure, Gateway, Tally

stdout = Console(highlight=False, soft_wrap=True)

DATES_NOTE = (
    "Business dates the API takes (policy periods, services delivered, risk assessments, "
    "notices served, penalties entered in credit, outreach sessions) are spread over the last "
    "12 months; dates the servers stamp (applications, decisions, inspection steps, hazards "
    "found) are today."
)


@fails_cleanly
def demo_data(
    gateway: Annotated[
        str, typer.Option("--gateway", help="The running suite's gateway.")
    ] = "http://127.0.0.1:8000",
    enterprises: Annotated[
        int, typer.Option("--enterprises", min=1, max=999_999, help="How many enterprises.")
    ] = 2000,
    insurers: Annotated[
        int, typer.Option("--insurers", min=1, max=MAX_INSURERS, help="How many insurers.")
    ] = 10,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=99_999, help="Same seed, same city.")
    ] = 1,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=128, help="Requests in flight at most.")
    ] = 16,
    as_json: Annotated[bool, JSON] = False,
    no_progress: Annotated[bool, NO_PROGRESS] = False,
) -> None:
    """Load demo data that looks like a real city into a RUNNING suite, through the gateway.

    Registry, licences (instant, pledge, reviewed, escalated "no"s), 安责险 policies and 6+3
    services, four-step inspections with hazards and penalties, credit repairs, red list,
    outreach. Only public API calls with development tokens, so events flow and metrics move.

    Dates the API takes (policy periods, services, assessments, notices, penalties entered in
    credit, outreach sessions) are spread over the last 12 months; dates servers stamp
    (applications, decisions, inspection steps) are today.

    A re-run with the same seed creates nothing twice (Idempotency-Keys, natural keys).
    """
    city = build_city(seed, enterprises, insurers)
    try:
        issuer = DevIssuer(AuthSettings())
    except RuntimeError as exc:
        raise OpsError(str(exc)) from None
    tally = Tally()
    started = time.monotonic()
    with progress(not no_progress) as step:
        requests = asyncio.run(_load(city, gateway, issuer, concurrency, tally, step))
    seconds = round(time.monotonic() - started, 1)
    summary: dict[str, Any] = {
        "seed": seed,
        "enterprises": enterprises,
        "insurers": insurers,
        "requests": requests,
        "seconds": seconds,
        "kinds": tally.as_dict(),
        "failure_examples": tally.examples,
        "dates": DATES_NOTE,
    }
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"demo city (seed {seed}): {requests} requests in {seconds} s")
    for column in ("kind", "created", "existing", "failed", "failure codes"):
        table.add_column(column, justify="left" if column in ("kind", "failure codes") else "right")
    for kind, row in summary["kinds"].items():
        codes = ", ".join(f"{c} ×{n}" for c, n in row.get("failures", {}).items())
        table.add_row(kind, str(row["created"]), str(row["existing"]), str(row["failed"]), codes)
    stdout.print(table)
    stdout.print(DATES_NOTE)


Step = Callable[[str, int | None], Any]


async def _load(
    city: Any, base_url: str, issuer: DevIssuer, concurrency: int, tally: Tally, step: Step
) -> int:
    gateway = Gateway(base_url, issuer, concurrency, tally)
    run = activity.Run(city=city, gateway=gateway, today=shanghai_today())
    try:
        try:
            await gateway.get("permits/items", params={"limit": 1})
            await activity.load_catalogue(run)
        except (ApiFailure, OSError) as exc:
            raise OpsError(f"the suite at {base_url} does not answer as expected: {exc}") from None
        people = city.enterprises
        phases: list[tuple[str, list[Any], Callable[[Any], Awaitable[None]]]] = [
            ("insurers", list(city.insurers), lambda i: activity.register_insurer(run, i)),
            ("registry", list(people), lambda e: activity.register_enterprise(run, e)),
            ("licences", list(people), lambda e: activity.apply_for_licence(run, e)),
            ("policies and 6+3 services", list(people), lambda e: activity.insure(run, e)),
            ("inspections", list(people), lambda e: activity.inspect(run, e)),
            (
                "insurers' hazard help",
                list(city.insurers),
                lambda i: activity.help_with_hazards(run, i),
            ),
            ("credit", list(people), lambda e: activity.credit_history(run, e)),
        ]
        for name, things, act in phases:
            await activity.each(
                things, _guarded(act, tally, name), _throttled(step(name, len(things)), len(things))
            )
        await activity.outreach(run, _throttled(step("outreach", 3), 3))
    finally:
        await gateway.aclose()
    return gateway.requests


def _guarded(
    act: Callable[[Any], Awaitable[None]], tally: Tally, phase: str
) -> Callable[[Any], Awaitable[None]]:
    """A refused read inside a flow ends that one flow, counted; the others go on."""

    async def run(thing: Any) -> None:
        try:
            await act(thing)
        except ApiFailure as exc:
            tally.fail(phase, exc.code, exc.detail)

    return run


def _throttled(line: Any, total: int) -> Callable[[int], None]:
    """Progress about every 2%: a bar does not need more, plain lines should not flood."""
    every = max(1, total // 50)

    def report(done: int) -> None:
        if done % every == 0 or done == total:
            line.update(done)

    return report
