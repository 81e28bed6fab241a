"""Optimistic concurrency for records others may change: ETag out, If-Match in, 412 on a
stale version, so two officers cannot silently overwrite each other's decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from kernel.errors import PreconditionFailed


def etag(version: int) -> str:
    """The strong ETag of a record's version."""
    return f'"{version}"'


async def _expected_version(
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", description="The ETag of the version the change is based on"),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise PreconditionFailed(
            "If-Match must be the ETag returned when the record was read",
            code="if_match_invalid",
        ) from exc


def check_version(current: int, expected: int | None) -> None:
    """412 unless `expected` (from If-Match) is absent or equals the current version."""
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"the record changed (version {current}, you had {expected}); reload it first",
            code="version_mismatch",
        )


ExpectedVersion = Annotated[int | None, Depends(_expected_version)]
