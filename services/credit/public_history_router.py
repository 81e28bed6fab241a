"""`GET /public/enterprises/{uscc}/history`: an enterprise's public credit history, no token
needed: each record's and list entry's public steps in date order, including those whose
publicity has ended, and each one's repair status (see services.credit.public_history for
what is public and why)."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Path, Response

from kernel.app import SessionDep
from kernel.uscc import USCC
from services.credit.dependencies import TodayDep
from services.credit.public_history import EnterpriseCreditHistory, enterprise_history

router = APIRouter(tags=["public"])

# Steps change with decisions, not by the second: a minute's staleness spares the database a
# burst of portal readers and is what the lists' readers already accept.
CACHE_CONTROL: Final = "public, max-age=60"


@router.get(
    "/public/enterprises/{uscc}/history",
    response_model=EnterpriseCreditHistory,
    summary="An enterprise's public credit history and repair status (public)",
    description="Every public step of the enterprise's penalty and dishonesty records, "
    "incentives, black- and red-list entries, oldest first, including entries no longer "
    "shown: a record's particulars only while it is in publicity. Repair status is public "
    "from the approval on (applications and rejections are the enterprise's). A USCC with "
    "nothing public answers 200 with no entries: credit keeps no enterprise register.",
)
async def get_enterprise_history(
    uscc: Annotated[USCC, Path(description="统一社会信用代码")],
    session: SessionDep,
    today: TodayDep,
    response: Response,
) -> EnterpriseCreditHistory:
    response.headers["Cache-Control"] = CACHE_CONTROL
    return await enterprise_history(session, uscc, today)
