"""API schemas: inspectors, the monthly draw and its publication, guidance requests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from kernel.vocab import QINGDAO_DISTRICTS, Sector
from services.inspection.draw import MIN_TEAM_SIZE


class InspectorCreate(BaseModel):
    """The bureau enters an enforcement officer into the registry of inspectors."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=100)
    subject: str = Field(
        min_length=1, max_length=128, description="The officer's token subject (user id)"
    )
    district: str = Field(min_length=2, max_length=64, examples=list(QINGDAO_DISTRICTS[:2]))
    sectors: list[Sector] = Field(min_length=1, description="Sectors the officer is qualified for")
    conflicts: list[USCC] = Field(
        default_factory=list, description="Enterprises the officer must not inspect (sealed)"
    )
    monthly_cap: int = Field(ge=1, le=60, description="Most inspections in one month")
    is_active: bool = True


class InspectorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sectors: list[Sector] | None = Field(default=None, min_length=1)
    conflicts: list[USCC] | None = None
    monthly_cap: int | None = Field(default=None, ge=1, le=60)
    is_active: bool | None = None


class InspectorRead(BaseModel):
    """An inspector as the bureau sees it (conflicts included: never public)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    subject: str
    district: str
    sectors: list[str]
    conflicts: list[str]
    monthly_cap: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=100, examples=["中国福利彩票双色球"])
    round: str = Field(min_length=1, max_length=50, examples=["2027-018"])
    expected_on: date = Field(description="When the source publishes the value")


class DrawCommit(BaseModel):
    """Fix and publish a month's draw: how many to draw, team size, the public source."""

    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=1, description="How many to draw")
    percentage: Decimal | None = Field(
        default=None, gt=0, le=100, max_digits=5, decimal_places=2, description="Or a share"
    )
    team_size: int = Field(default=MIN_TEAM_SIZE, ge=MIN_TEAM_SIZE, le=5)
    source: SourceSpec


class DrawReveal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_value: str = Field(min_length=1, max_length=200, examples=["03 07 12 19 25 31 + 09"])


class ListedEnterprise(BaseModel):
    """An enterprise on the month's public list, with its team once revealed."""

    uscc: str
    name: str
    district: str
    sector: str
    kind: str = Field(description="planned | drawn")
    rank: int | None = Field(default=None, description="Position in the draw (drawn only)")
    team: list[str] | None = Field(default=None, description="Inspectors' names")


class DrawPublic(BaseModel):
    """The month's publication: open to everyone, no token needed."""

    year: int
    month: int
    state: str
    published_on: date
    commitment: str
    inputs_digest: str
    source: dict[str, Any]
    draw_count: int
    pool_size: int
    listed: list[ListedEnterprise]
    inputs: dict[str, Any] = Field(description="The published inputs document, as hashed")
    revealed_on: date | None = None
    secret: str | None = None
    public_value: str | None = None
    seed: str | None = None


class DrawRecomputed(BaseModel):
    matches: bool
    selection_matches: bool
    teams_match: bool
    conflicts_digest_matches: bool
    seed: str
    selected: list[str]
    teams: dict[str, list[str]] = Field(description="USCC -> inspectors' names")


class GuidanceRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=2, max_length=2000)
    contact: str = Field(min_length=2, max_length=200, description="Person and phone")


class GuidanceAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inspector_id: str = Field(min_length=1, max_length=36)


class GuidanceAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=2, max_length=4000)


class GuidanceRequestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    uscc: str
    question: str
    contact: str
    state: str
    inspector_id: str | None
    inspector_name: str | None = None
    answer: str | None
    answered_at: datetime | None
    created_at: datetime
    version: int
