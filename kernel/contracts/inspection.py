"""Events produced by the inspection service (topic `inspection.events`)."""

from __future__ import annotations

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
