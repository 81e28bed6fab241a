"""Permits request dependencies."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Query, Request

from kernel.app import RuntimeDep
from kernel.auth import Principal, Role, require_roles
from kernel.auth.service_token import DATA_SHARE_SCOPE
from kernel.inputs import IsoDate
from kernel.workdays import shanghai_today
from services.permits.applications import Issuing
from services.permits.config import PermitsSettings
from services.permits.credentials import IssuerKeyRing

AdminDep = Annotated[Principal, Depends(require_roles(Role.admin))]


def catalogue_date(
    on: Annotated[
        IsoDate | None,
        Query(
            description="Show the catalogue as in force on this date (default: today, "
            "Asia/Shanghai)"
        ),
    ] = None,
) -> date:
    """The business date a catalogue read is about."""
    return on if on is not None else shanghai_today()


OnDate = Annotated[date, Depends(catalogue_date)]


def business_today(runtime: RuntimeDep) -> date:
    """The business date applications are handled on (Asia/Shanghai, rehearsal offset applied)."""
    settings = runtime.settings
    offset = settings.clock_offset_days
    return shanghai_today() + timedelta(days=offset)


TodayDep = Annotated[date, Depends(business_today)]


async def issuing(request: Request, runtime: RuntimeDep) -> Issuing:
    """Signing keys (loaded once per process, created on first start) and public address.

    Async on purpose: it runs on the event loop, so concurrent first requests cannot race to
    create the key ring from several threads.
    """
    cached: Issuing | None = getattr(request.app.state, "issuing", None)
    if cached is None:
        settings = runtime.settings
        assert isinstance(settings, PermitsSettings)
        ring = IssuerKeyRing.open_or_create(
            settings.licence_key_dir, settings.licence_issuer, settings.licence_initial_key_id
        )
        cached = Issuing(ring, settings.public_base_url, runtime.calendar)
        request.app.state.issuing = cached
    return cached


IssuingDep = Annotated[Issuing, Depends(issuing)]
EnterpriseDep = Annotated[Principal, Depends(require_roles(Role.enterprise))]
ReviewerDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader))]
BureauDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader, Role.admin))]
LicenceAdminDep = Annotated[Principal, Depends(require_roles(Role.leader, Role.admin))]
# The licence listing: the bureau, an enterprise (its own), and the gateway reading the shared
# data set for a department under a grant (the gateway checks and logs the grant).
LicenceReaderDep = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.officer, Role.leader, Role.admin, Role.enterprise, shared_scope=DATA_SHARE_SCOPE
        )
    ),
]
