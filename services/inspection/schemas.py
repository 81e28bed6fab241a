"""Inspection API schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from kernel.vocab import QINGDAO_DISTRICTS, Sector
from services.inspection.domain import CreditStanding, StandardisationLevel, Tier

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
    credit_standing: CreditStanding = Field(description="From credit: normal, red or black list")
    standing_since: date | None
    risk_level: Literal["low", "medium", "high", "major"] | None = Field(
        description="The latest insurer risk assessment (null: none received)"
    )
    risk_assessed_on: date | None
    licences_active: int = Field(description="Licences permits reports as active")
    is_complete: bool = Field(
        default=True,
        description="False while the entry holds only what events told (no district or name)",
    )
    created_at: datetime
    updated_at: datetime
    version: int
