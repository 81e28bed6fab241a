"""Inspection request dependencies."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Path

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import USER_ROLES, CurrentPrincipal, Principal, Role, require_roles
from kernel.auth.principal import BUREAU_ROLES
from kernel.auth.service_token import DATA_SHARE_SCOPE
from kernel.errors import Forbidden, NotFound
from kernel.pagination import InvalidCursor, decode_cursor
from kernel.uscc import USCC
from kernel.workdays import shanghai_today
from services.inspection.models import Enterprise
from services.inspection.repository import EnterpriseRepository


def business_today(runtime: RuntimeDep) -> date:
    """Today's business date in Asia/Shanghai: one clock for every route, so tests move it once."""
    settings = runtime.settings
    offset = settings.clock_offset_days
    return shanghai_today() + timedelta(days=offset)


TodayDep = Annotated[date, Depends(business_today)]

OfficerDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader, Role.admin))]


# Listing inspections: every signed-in caller (each sees what its role allows), and the
# gateway reading the shared data set for a department under a grant it checked and logged.
InspectionReaderDep = Annotated[
    Principal, Depends(require_roles(*USER_ROLES, shared_scope=DATA_SHARE_SCOPE))
]

# Whom a data-share read is shown as: the bureau, read only (the routes using it do not write).
_BUREAU_VIEW = Principal(role=Role.officer, subject="svc:data-share")


def shared_view(principal: Principal) -> Principal:
    """The caller to filter a listing for: a data-share service token sees the bureau's view."""
    if principal.role is Role.service and principal.has_scope(DATA_SHARE_SCOPE):
        return _BUREAU_VIEW
    return principal


async def readable_enterprise(
    uscc: Annotated[USCC, Path(description="The enterprise's USCC")],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Enterprise:
    """The registry entry, for the bureau or the enterprise itself."""
    if principal.role not in BUREAU_ROLES and not (
        principal.role is Role.enterprise and principal.subject == uscc
    ):
        raise Forbidden(
            "only the bureau or the enterprise itself may read this entry",
            code="enterprise_not_yours",
        )
    enterprise = await EnterpriseRepository(session).get(uscc)
    if enterprise is None:
        raise NotFound(
            f"enterprise {uscc} is not in the supervision registry", code="enterprise_not_found"
        )
    return enterprise


ReadableEnterprise = Annotated[Enterprise, Depends(readable_enterprise)]


def int_cursor(cursor: str) -> int:
    """A single-integer cursor within a 32-bit column's range; 422 invalid_cursor otherwise."""
    (value,) = decode_cursor(cursor, 1)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
        raise InvalidCursor("cursor is malformed", field="cursor")
    return value
