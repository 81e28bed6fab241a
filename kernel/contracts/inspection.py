"""Events produced by the inspection service (topic `inspection.events`)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from kernel.events import EventContract, contract
from kernel.uscc import USCC


@contract
class EnterpriseRegisteredV1(EventContract):
    """An enterprise entered the supervision registry."""

    TYPE: ClassVar[str] = "inspection.enterprise.registered.v1"

    uscc: USCC
    name: str = Field(max_length=200)
    district: str = Field(max_length=64)
    sector: str = Field(max_length=64)
    tier: str = Field(max_length=16)


@contract
class PledgeVerifiedV1(EventContract):
    """Inspectors checked a pledge-based licence on site: kept (passed) or breached."""

    TYPE: ClassVar[str] = "inspection.pledge.verified.v1"

    licence_number: str = Field(max_length=32)
    uscc: USCC
    passed: bool
    findings: str = Field(max_length=4000)
    verified_on: date
    inspectors: list[str] = Field(min_length=2, max_length=10)
