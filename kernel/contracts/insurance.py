"""Events produced by the insurance service (topic `insurance.events`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from kernel.events import EventContract, contract
from kernel.uscc import USCC


@contract
class PolicyActivatedV1(EventContract):
    """A work-safety liability policy (安责险) took effect for an enterprise."""

    TYPE: ClassVar[str] = "insurance.policy.activated.v1"

    policy_id: str = Field(max_length=36)
    policy_number: str = Field(max_length=64)
    uscc: USCC
    enterprise_name: str = Field(max_length=200)
    insurer_id: str = Field(max_length=64)
    sector: str = Field(max_length=64)
    starts_on: date
    ends_on: date
    coverage_amount: Decimal
    premium: Decimal


@contract
class RiskAssessedV1(EventContract):
    """An insurer's risk assessment of an enterprise (风险评估), pushed through the insurer API."""

    TYPE: ClassVar[str] = "insurance.risk.assessed.v1"

    assessment_id: str = Field(max_length=36)
    uscc: USCC
    insurer_id: str = Field(max_length=64)
    risk_level: Literal["low", "medium", "high", "major"]
    assessed_on: date
    findings: str = Field(max_length=4000)


@contract
class PolicyEndedV1(EventContract):
    """A policy stopped covering its enterprise: its term ran out or it was cancelled (退保).

    `last_covered_on` is the last day of cover; consumers that track "insured until" move it
    back to this day, and the insurer's services due after it are no longer owed.
    """

    TYPE: ClassVar[str] = "insurance.policy.ended.v1"

    policy_id: str = Field(max_length=36)
    policy_number: str = Field(max_length=64)
    uscc: USCC
    insurer_id: str = Field(max_length=64)
    reason: Literal["expired", "cancelled"]
    last_covered_on: date
