"""Insurance API schemas: policies and their obligations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kernel.uscc import USCC
from kernel.vocab import Sector
from services.insurance.domain import (
    CustomService,
    ObligationKind,
    ObligationStatus,
    PolicyStatus,
    RiskLevel,
)

# A mainland mobile number, or a landline with its area code (an extension after a hyphen):
# the one phone rule of this service (insurer contacts, whistle contacts and responders).
PHONE_PATTERN = r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[1-9][0-9]{6,7}(-[0-9]{1,6})?)$"

Phone = Annotated[
    str,
    Field(min_length=7, max_length=32, pattern=PHONE_PATTERN, examples=["13812345678"]),
]


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
    custom_services: list[CustomService] = Field(
        default_factory=list,
        max_length=len(CustomService),
        description="The custom services (定制3项) contracted: one_plan, remote_guidance, "
        "onsite_staff; each at most once",
    )

    @field_validator("custom_services")
    @classmethod
    def _unique(cls, value: list[CustomService]) -> list[CustomService]:
        if len(set(value)) != len(value):
            raise ValueError("each custom service may be listed once")
        return value


class PolicyCancellation(BaseModel):
    """Cancel a policy (退保) from a day: the last day it covers, today or later."""

    model_config = ConfigDict(extra="forbid")

    cancelled_on: date = Field(description="The last covered day; today or later, not backdated")
    reason: str = Field(min_length=2, max_length=500)


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
    custom_services: list[CustomService]
    risk_level: RiskLevel | None = Field(description="The latest assessed risk level, if any")
    cancelled_on: date | None = Field(description="Last covered day of a cancelled policy")
    cancel_reason: str | None
    created_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None


class ObligationRead(BaseModel):
    """One service owed under a policy, with whether it is overdue on the business date."""

    id: str
    policy_id: str
    insurer_id: str
    uscc: str
    kind: ObligationKind
    mandatory: bool = Field(description="One of the 6 mandatory services (else a custom one)")
    seq: int = Field(description="Its number among the policy's services of this kind")
    window_start: date
    due_on: date
    status: ObligationStatus
    overdue: bool = Field(description="Still open after its due date")
    days_overdue: int = Field(description="Days past the due date while overdue, else 0")
    hazard_id: str | None
    risk_level: RiskLevel | None = Field(description="The level a graded service was planned for")
    delivered_on: date | None
    delivered_at: datetime | None
    record_id: str | None = Field(description="The pushed record that delivered it")
    verified_at: datetime | None
    verified_by: str | None
    rejections: int
    withdrawn_reason: str | None
    created_at: datetime
    updated_at: datetime


class ObligationEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    at: datetime
    actor: str
    note: str | None


class ObligationDetail(ObligationRead):
    """An obligation and everything that happened to it, oldest first."""

    history: list[ObligationEventRead]


class VerificationCreate(BaseModel):
    """The bureau's check of a delivered service: accepted, or rejected with a reason."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["accepted", "rejected"]
    note: str | None = Field(
        default=None, max_length=1000, description="Required (5+ characters) when rejected"
    )
