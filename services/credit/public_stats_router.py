"""`GET /public/stats`: credit's figures for the public scoreboard (measures 5 and 10), no
token needed. Counts only: who is listed is on the public lists, who applied for repair is the
enterprise's business."""

from __future__ import annotations

from datetime import date
from typing import Final

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from kernel.app import SessionDep
from kernel.inputs import StatsYear
from services.credit import public_stats
from services.credit.dependencies import TodayDep
from services.credit.domain import NoRulePackInForce, rule_pack_in_force

router = APIRouter(tags=["public"])

# Figures move with every decision; a minute's staleness is what a scoreboard can bear and it
# spares the database a burst of portal readers.
CACHE_CONTROL: Final = "public, max-age=60"


class CreditListedNow(BaseModel):
    """What stands on the business date `as_of`, whatever the year asked for."""

    redlist: int = Field(description="Enterprises on the red list (守信红名单)")
    joint_incentive: int = Field(
        description="Of those, enterprises in the joint-incentive directory (联合激励对象名录)"
    )
    blacklist: int = Field(description="Enterprises on the black list (严重失信主体名单)")
    penalties_in_publicity: int = Field(description="Administrative penalties in publicity")
    dishonesty_in_publicity: int = Field(description="Dishonesty records in publicity")


class CreditYearFlows(BaseModel):
    """What took effect in the year, by its business date."""

    penalties_decided: int = Field(description="Penalty decisions dated in the year")
    redlist_listed: int = Field(description="Red-list listings decided in the year")
    blacklist_listed: int = Field(description="Black-list listings decided in the year")
    blacklist_removed: int = Field(
        description="Black-list entries removed in the year (term ended, repaired or reversed)"
    )


class CreditRepairFigures(BaseModel):
    """Credit repair (信用修复) in the year: verified within 3 working days of the application."""

    time_limit_working_days: int | None = Field(
        description="The time limit for verifying an application in the rules in force, in "
        "working days (null: no rules in force on `as_of`)"
    )
    applied: int = Field(description="Applications received in the year")
    decided: int = Field(description="Applications decided in the year (approved or rejected)")
    decided_within_limit: int = Field(
        description="Of those, decided on or before their deadline (received + 3 working days)"
    )
    approved: int = Field(description="Decided in the year and approved (a revoked one is not)")
    rejected: int = Field(description="Decided in the year and rejected")
    enterprises_repaired: int = Field(
        description="Distinct enterprises with an approved repair decided in the year"
    )
    pending_now: int = Field(description="Applications awaiting a decision on `as_of`")


class CreditStats(BaseModel):
    """Credit's public figures: red and black lists, publicity, credit repair."""

    year: int
    as_of: date = Field(description="The business date of the standing figures")
    listed_now: CreditListedNow
    in_year: CreditYearFlows
    repairs: CreditRepairFigures


def _time_limit(today: date) -> int | None:
    try:
        return rule_pack_in_force(today).repair_verification_working_days
    except NoRulePackInForce:
        return None


@router.get(
    "/public/stats",
    response_model=CreditStats,
    summary="Public figures: lists and publicity today, listings and credit repair in a year",
    description="Aggregates only, for the public scoreboard of the ten measures (5: red and black "
    "lists; 10: credit repair within 3 working days). `year` selects the flow figures; "
    "`listed_now` is always as of today.",
)
async def public_stats_endpoint(
    session: SessionDep, today: TodayDep, response: Response, year: StatsYear = None
) -> CreditStats:
    chosen = year or today.year
    listed = await public_stats.listed_now(session, today)
    flows = await public_stats.year_flows(session, chosen)
    repairs = await public_stats.repairs(session, chosen)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return CreditStats(
        year=chosen,
        as_of=today,
        listed_now=CreditListedNow(**vars(listed)),
        in_year=CreditYearFlows(**vars(flows)),
        repairs=CreditRepairFigures(time_limit_working_days=_time_limit(today), **vars(repairs)),
    )
