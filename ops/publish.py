"""`safety publish-list`: publish the month's double-random inspection list (双随机抽查名单) and
the draw's commitment through the gateway, 15 days before the month at the latest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from kernel.auth.dev import DevIssuer
from kernel.settings import AuthSettings
from kernel.workdays import shanghai_today
from ops.common import JSON, OpsError, console, fails_cleanly, is_production, print_json
from services.inspection.draw import MIN_TEAM_SIZE, publication_deadline

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
DEFAULT_SOURCE = "中国福利彩票双色球"
# Who publishes when no token is given: a development leader (officers may publish too).
DEV_PUBLISHER = ("leader", "leader-001")


def parse_month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in text.split("-"))
        date(year, month, 1)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a month like 2027-03", param_hint="--month"
        ) from None
    return year, month


def next_publishable_month(today: date) -> tuple[int, int]:
    """The first month whose list may still be published today (its deadline not passed)."""
    year, month = today.year, today.month
    while publication_deadline(year, month) < today:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return year, month


def problem_line(response: httpx.Response) -> str:
    """A problem+json answer (or any error answer) as one readable line."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text.strip()[:300]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {str(body)[:300]}"
    text = f"HTTP {response.status_code} {body.get('title', '')}: {body.get('detail', '')}"
    if body.get("code"):
        text += f" [{body['code']}"
        if body.get("field"):
            text += f", field {body['field']}"
        text += "]"
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        text += "; " + "; ".join(
            f"{e.get('field', '?')}: {e.get('message', e.get('msg', ''))}"
            for e in errors
            if isinstance(e, dict)
        )
    return text


@fails_cleanly
def publish_list(
    source_round: Annotated[
        str,
        typer.Option(
            "--source-round",
            help="The public randomness source's round, e.g. 2027-018 (开奖期号).",
            show_default=False,
        ),
    ],
    source_date: Annotated[
        str,
        typer.Option(
            "--source-date",
            help="When the source publishes its value, YYYY-MM-DD: after today and by the "
            "publication deadline (开奖日期).",
            show_default=False,
        ),
    ],
    month: Annotated[
        str | None,
        typer.Option(
            "--month",
            help="The month to publish, YYYY-MM (default: the next month whose list is still "
            "due, i.e. at least 15 days ahead).",
            show_default=False,
        ),
    ] = None,
    source_name: Annotated[
        str, typer.Option("--source-name", help="The public randomness source (随机源).")
    ] = DEFAULT_SOURCE,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="How many enterprises to draw.")
    ] = None,
    percentage: Annotated[
        float | None,
        typer.Option("--percentage", min=0.01, max=100, help="Or a share of the pool, percent."),
    ] = None,
    team_size: Annotated[
        int,
        typer.Option("--team-size", min=MIN_TEAM_SIZE, max=5, help="Inspectors per team."),
    ] = MIN_TEAM_SIZE,
    gateway: Annotated[
        str,
        typer.Option("--gateway", envvar="SAFETY_GATEWAY_URL", help="The gateway's base URL."),
    ] = DEFAULT_GATEWAY,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="SAFETY_TOKEN",
            help="A leader's or officer's bearer token (default outside production: a "
            "development leader token).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, JSON] = False,
) -> None:
    """Publish the month's double-random inspection list and its draw commitment (双随机).

    Fixes the month's inputs (the plan's listed enterprises, the eligible pool, the inspectors)
    and publishes the commitment to a sealed secret, 15 days before the month at the latest;
    the drawn list follows once the named public source's value is known (reveal). Prints the
    commitment hash, the counts and the public URL where anyone can read the list.
    """
    if (count is None) == (percentage is None):
        raise typer.BadParameter(
            "give exactly one of --count and --percentage", param_hint="--count"
        )
    try:
        expected_on = date.fromisoformat(source_date)
    except ValueError:
        raise typer.BadParameter(
            f"{source_date!r} is not a date like 2027-02-13", param_hint="--source-date"
        ) from None
    year, mon = parse_month(month) if month else next_publishable_month(shanghai_today())
    body: dict[str, Any] = {
        "team_size": team_size,
        "source": {"name": source_name, "round": source_round, "expected_on": str(expected_on)},
    }
    if count is not None:
        body["count"] = count
    else:
        body["percentage"] = str(Decimal(str(percentage)).quantize(Decimal("0.01")))
    base = gateway.rstrip("/")
    bearer = token or _dev_token()
    path = f"/api/inspection/draws/{year}/{mon}"
    try:
        response = httpx.post(
            base + path,
            json=body,
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
        )
    except httpx.HTTPError as exc:
        raise OpsError(f"cannot reach the gateway at {base}: {exc}") from None
    if response.status_code != 201:
        raise OpsError(f"{year}-{mon:02d} not published: {problem_line(response)}")
    draw = response.json()
    summary = {
        "month": f"{year}-{mon:02d}",
        "state": draw["state"],
        "published_on": draw["published_on"],
        "commitment": draw["commitment"],
        "inputs_digest": draw["inputs_digest"],
        "draw_count": draw["draw_count"],
        "pool_size": draw["pool_size"],
        "listed": len(draw["listed"]),
        "source": draw["source"],
        "public_url": base + path,
    }
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=False, title=f"{year}-{mon:02d} list published (名单已公示)")
    for key, value in summary.items():
        if key == "source":
            value = f"{value['name']} {value['round']}, due {value['expected_on']}"
        table.add_row(key, str(value))
    console().print(table)


def _dev_token() -> str:
    if is_production():
        raise OpsError(
            "give --token (or SAFETY_TOKEN): development tokens are refused in production"
        )
    try:
        issuer = DevIssuer(AuthSettings())
    except RuntimeError as exc:
        raise OpsError(f"give --token (or SAFETY_TOKEN): {exc}") from None
    role, subject = DEV_PUBLISHER
    return issuer.mint(role, subject, ttl_seconds=600)
