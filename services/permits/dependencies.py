"""Permits request dependencies."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from kernel.auth import Principal, Role, require_roles
from kernel.workdays import shanghai_today

AdminDep = Annotated[Principal, Depends(require_roles(Role.admin))]


def catalogue_date(
    on: Annotated[
        date | None,
        Query(
            description="Show the catalogue as in force on this date (default: today, "
            "Asia/Shanghai)"
        ),
    ] = None,
) -> date:
    """The business date a catalogue read is about."""
    return on if on is not None else shanghai_today()


OnDate = Annotated[date, Depends(catalogue_date)]
