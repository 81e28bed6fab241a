"""Registry endpoints beyond entry and reads: completing an entry events created."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.versioning import ExpectedVersion, check_version, etag
from services.inspection import service
from services.inspection.dependencies import OfficerDep, ReadableEnterprise
from services.inspection.router import enterprise_view
from services.inspection.schemas import EnterpriseCreate

router = APIRouter(prefix="/enterprises", tags=["registry"])


@router.put(
    "/{uscc}/registration",
    summary="Complete an entry that events created (district, name, classification)",
)
async def complete_registration(
    body: EnterpriseCreate,
    # The role guard before the lookup: an enterprise is refused (403) before it is told
    # whether its entry exists (FastAPI resolves dependencies in parameter order).
    officer: OfficerDep,
    enterprise: ReadableEnterprise,
    session: SessionDep,
    runtime: RuntimeDep,
    expected: ExpectedVersion,
) -> Response:
    check_version(enterprise.version, expected)
    done = await service.complete_registration(
        session, runtime.outbox, enterprise, body, officer.key
    )
    view = enterprise_view(done)
    return Response(
        view.model_dump_json(),
        media_type="application/json",
        headers={"ETag": etag(done.version)},
    )
