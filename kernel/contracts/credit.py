"""Events produced by the credit service (topic `credit.events`)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

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
