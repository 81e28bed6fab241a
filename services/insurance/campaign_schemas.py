"""惠企助安 campaign API schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from kernel.uscc import USCC
from kernel.vocab import Sector
from services.insurance.models import Campaign, CampaignVisit
from services.insurance.sme import SizeClass


def one_year_after(day: date) -> date:
    """The same calendar day a year later (29 February goes to 1 March)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 3, 1)


class FindingCategory(StrEnum):
    """What kind of hazard an expert found."""

    equipment = "equipment"  # 设备设施
    electrical = "electrical"  # 电气
    fire = "fire"  # 消防
    hazardous_materials = "hazardous_materials"  # 危险物品
    management = "management"  # 安全管理
    training = "training"  # 教育培训
    emergency = "emergency"  # 应急管理
    other = "other"


class FindingGrade(StrEnum):
    """Hazard grade (隐患分级): general (一般) or major (重大)."""

    general = "general"
    major = "major"


class CampaignCreate(BaseModel):
    """A 惠企助安 campaign: experts helping small enterprises over a period of at most a year."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200, examples=["2026年惠企助安专家服务行动"])
    organiser: str = Field(min_length=2, max_length=200, examples=["青岛市应急管理局"])
    starts_on: date
    ends_on: date = Field(description="On or after starts_on, at most a year after it")
    target_sectors: list[Sector] = Field(
        default_factory=list, max_length=len(Sector), description="Empty: every sector"
    )
    description: str = Field(min_length=2, max_length=4000)

    @field_validator("ends_on")
    @classmethod
    def _period(cls, ends_on: date, info: ValidationInfo) -> date:
        starts_on = info.data.get("starts_on")
        if starts_on is None:
            return ends_on
        if ends_on < starts_on:
            raise PydanticCustomError(
                "campaign_period_invalid", "ends_on must be on or after starts_on"
            )
        if ends_on > one_year_after(starts_on):
            raise PydanticCustomError(
                "campaign_period_too_long",
                "a campaign lasts at most a year: ends_on must be on or before {limit}",
                {"limit": one_year_after(starts_on).isoformat()},
            )
        return ends_on

    @field_validator("target_sectors")
    @classmethod
    def _distinct(cls, sectors: list[Sector]) -> list[Sector]:
        if len(set(sectors)) != len(sectors):
            raise PydanticCustomError("sectors_repeated", "a sector is listed twice")
        return sectors


class Expert(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=64)
    speciality: str = Field(min_length=2, max_length=100, examples=["电气安全"])
    organisation: str = Field(min_length=2, max_length=200)


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: FindingCategory
    description: str = Field(min_length=4, max_length=2000)
    grade: FindingGrade
    recommendation: str = Field(min_length=4, max_length=2000)


class VisitCreate(BaseModel):
    """One expert visit to an enterprise, with what the experts found."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    uscc: USCC
    enterprise_name: str = Field(min_length=2, max_length=200)
    sector: Sector
    employees: int = Field(ge=1, le=10_000_000, description="从业人员")
    annual_revenue: Decimal = Field(
        ge=0, max_digits=16, decimal_places=2, description="营业收入, yuan (not 万元)"
    )
    visited_on: date
    experts: list[Expert] = Field(min_length=1, max_length=10)
    findings: list[Finding] = Field(default_factory=list, max_length=50)


class SizeCounts(BaseModel):
    micro: int = 0
    small: int = 0
    medium: int = 0


class GradeCounts(BaseModel):
    general: int = 0
    major: int = 0


class CampaignRead(BaseModel):
    """A campaign with its headline figures."""

    id: str
    name: str
    organiser: str
    starts_on: date
    ends_on: date
    target_sectors: list[Sector] = Field(description="Empty: every sector")
    description: str
    created_at: datetime
    visits: int
    enterprises_served: int = Field(description="Distinct enterprises visited")

    @classmethod
    def of(cls, campaign: Campaign, visits: int, enterprises_served: int) -> CampaignRead:
        return cls(
            id=campaign.id,
            name=campaign.name,
            organiser=campaign.organiser,
            starts_on=campaign.starts_on,
            ends_on=campaign.ends_on,
            target_sectors=[Sector(s) for s in campaign.target_sectors],
            description=campaign.description,
            created_at=campaign.created_at,
            visits=visits,
            enterprises_served=enterprises_served,
        )


class CampaignDetail(CampaignRead):
    """A campaign's public summary: figures only, never who was visited or what was found."""

    enterprises_by_size: SizeCounts = Field(
        description="Distinct enterprises by the size class of their latest visit"
    )
    hazards_found: int = Field(description="All findings of all visits")
    major_hazards_found: int
    findings_by_category: dict[FindingCategory, GradeCounts]
    experts_involved: int = Field(description="Distinct experts (name and organisation)")


class VisitRead(BaseModel):
    """A visit as the bureau, the recording insurer or the enterprise itself sees it."""

    id: str
    campaign_id: str
    campaign_name: str
    uscc: str
    enterprise_name: str
    sector: Sector
    employees: int
    annual_revenue: Decimal
    size_class: SizeClass
    visited_on: date
    experts: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    insurer_id: str | None
    recorded_by: str
    created_at: datetime

    @classmethod
    def of(cls, visit: CampaignVisit, campaign_name: str) -> VisitRead:
        return cls(
            id=visit.id,
            campaign_id=visit.campaign_id,
            campaign_name=campaign_name,
            uscc=visit.uscc,
            enterprise_name=visit.enterprise_name,
            sector=Sector(visit.sector),
            employees=visit.employees,
            annual_revenue=visit.annual_revenue,
            size_class=SizeClass(visit.size_class),
            visited_on=visit.visited_on,
            experts=list(visit.experts),
            findings=list(visit.findings),
            insurer_id=visit.insurer_id,
            recorded_by=visit.recorded_by,
            created_at=visit.created_at,
        )
