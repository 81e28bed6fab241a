"""Events produced by the insurance service (topic `insurance.events`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar

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
