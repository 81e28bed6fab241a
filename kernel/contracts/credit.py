"""Events produced by the credit service (topic `credit.events`)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from kernel.events import EventContract, contract
from kernel.uscc import USCC


@contract
class PenaltyPublishedV1(EventContract):
    """An administrative penalty entered publicity, with its computed window."""

    TYPE: ClassVar[str] = "credit.penalty.published.v1"

    record_id: str = Field(max_length=36)
    uscc: USCC
    decision_number: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    publicity_starts_on: date
    publicity_ends_on: date
    repair_eligible_on: date


@contract
class CreditStandingChangedV1(EventContract):
    """An enterprise entered or left the red or black list (incentives and sanctions follow)."""

    TYPE: ClassVar[str] = "credit.standing.changed.v1"

    uscc: USCC
    standing: Literal["normal", "redlisted", "blacklisted"]
    previous: Literal["normal", "redlisted", "blacklisted"]
    reason: str = Field(max_length=2000)
    effective_on: date
