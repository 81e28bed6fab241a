"""`safety token`: a development bearer token, as `make token` prints it."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from kernel.auth import devtoken
from kernel.auth.principal import USER_ROLES
from ops.common import OpsError, fails_cleanly, is_production

# The roles a person or a partner system holds; service tokens come from the services' own
# provider, with their scopes, never from the command line.
ROLES = [r.value for r in USER_ROLES]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd]?)")
MIN_TTL = 60
MAX_TTL = 30 * 86400


def parse_role(value: str) -> str:
    if value not in ROLES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(ROLES)}", param_hint="ROLE")
    return value


def parse_ttl(text: str) -> int:
    """`3600`, `90m`, `8h` or `2d` as seconds, between a minute and 30 days."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise typer.BadParameter(
            f"{text!r} is not a duration like 3600, 90m, 8h or 2d", param_hint="--ttl"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not MIN_TTL <= seconds <= MAX_TTL:
        raise typer.BadParameter(
            f"{text!r} must be between 1 minute and 30 days", param_hint="--ttl"
        )
    return seconds


@fails_cleanly
def token(
    role: Annotated[
        str,
        typer.Argument(
            parser=lambda value: parse_role(value),
            metavar="ROLE",
            help="public, enterprise (企业), officer (执法人员), leader (领导), "
            "insurer (保险机构), department (部门) or admin.",
            show_default=False,
        ),
    ],
    sub: Annotated[
        str,
        typer.Option(
            "--sub",
            help="Subject: the enterprise's USCC (统一社会信用代码), the insurer id, the "
            "department code or the user id (default: a sample subject for the role).",
        ),
    ] = "",
    ttl: Annotated[
        str,
        typer.Option("--ttl", help="Lifetime: seconds or 90m, 8h, 2d (1 minute to 30 days)."),
    ] = "8h",
) -> None:
    """Print a development bearer token (开发令牌), signed by the local development key.

    Refused in production (APP_ENV=production or AUTH_DEV_ISSUER_ENABLED=false): tokens there
    come from the identity provider.
    """
    seconds = parse_ttl(ttl)
    if is_production():
        raise OpsError("development tokens are refused in production (APP_ENV=production)")
    try:
        code = devtoken.main(["--role", role, "--sub", sub, "--ttl", str(seconds)])
    except RuntimeError as exc:  # the issuer is disabled by settings
        raise OpsError(str(exc)) from None
    if code != 0:
        # devtoken printed why (a malformed USCC); that is the caller's input, as in `make token`.
        raise typer.Exit(2)
