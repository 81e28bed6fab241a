"""Insurance API schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from kernel.vocab import Sector
from services.insurance.domain import PolicyStatus


class PolicyCreate(BaseModel):
    """A policy an insurer underwrote, registered by the insurer's system."""

    model_config = ConfigDict(extra="forbid")

    policy_number: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-_/]+$")
    uscc: USCC
    enterprise_name: str = Field(min_length=2, max_length=200)
    sector: Sector
    starts_on: date
    ends_on: date
    coverage_amount: Decimal = Field(gt=0, max_digits=16, decimal_places=2)
    premium: Decimal = Field(gt=0, max_digits=14, decimal_places=2)


class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    policy_number: str
    insurer_id: str
    uscc: str
    enterprise_name: str
    sector: Sector
    starts_on: date
    ends_on: date
    coverage_amount: Decimal
    premium: Decimal
    status: PolicyStatus
    created_at: datetime
    activated_at: datetime | None
