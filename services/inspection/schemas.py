"""Inspection API schemas."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from kernel.vocab import QINGDAO_DISTRICTS, Sector
from services.inspection.domain import StandardisationLevel, Tier

District = Field(min_length=2, max_length=64, examples=list(QINGDAO_DISTRICTS[:3]))


class EnterpriseCreate(BaseModel):
    """An officer enters an enterprise into the supervision registry."""

    model_config = ConfigDict(extra="forbid")

    uscc: USCC
    name: str = Field(min_length=2, max_length=200)
    district: str = District
    sector: Sector
    tier: Tier | None = Field(default=None, description="Defaults from the sector's risk")
    standardisation_level: StandardisationLevel = StandardisationLevel.none
    is_pre_ipo: bool = False
    is_specialised: bool = Field(default=False, description="专精特新 enterprise")


class EnterpriseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uscc: str
    name: str
    district: str
    sector: Sector
    tier: Tier
    standardisation_level: StandardisationLevel
    is_pre_ipo: bool
    is_specialised: bool
    insurer_id: str | None
    insured_until: date | None
    is_insured: bool = False
    created_at: datetime
    updated_at: datetime
    version: int
