"""Events produced by the permits service (topic `permits.events`)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from kernel.events import EventContract, contract


@contract
class ItemVersionPublishedV1(EventContract):
    """A permit item (事项) version was published in the catalogue."""

    TYPE: ClassVar[str] = "permits.item.published.v1"

    code: str = Field(max_length=32)
    version: int = Field(ge=1)
    name: str = Field(max_length=200)
    approval_mode: str = Field(max_length=16)
    effective_on: date
