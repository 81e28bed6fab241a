"""Insurer registration API schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from services.insurance.schemas import Phone

# The insurer's machine client subject: what its tokens carry as `sub`.
INSURER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$"


class InsurerStatus(StrEnum):
    active = "active"
    suspended = "suspended"  # may not push nor register policies until reinstated


class InsurerCreate(BaseModel):
    """An insurance company the bureau admits as a machine client (保险机构)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(
        pattern=INSURER_ID_PATTERN,
        description="The insurer's machine-client subject (the `sub` of its tokens)",
        examples=["PICC-QD"],
    )
    name: str = Field(min_length=2, max_length=200)
    uscc: USCC = Field(description="The insurer company's own USCC")
    contact_name: str = Field(min_length=1, max_length=64)
    contact_phone: Phone = Field(examples=["0532-80000000"])


class InsurerSuspensionCreate(BaseModel):
    """Why the bureau stops an insurer's pushes and registrations."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=2000)


class InsurerSummary(BaseModel):
    """What anyone signed in may know of an insurer."""

    # forbid: in the listing's response union a bureau view must never pass for a summary.
    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: str
    name: str
    status: InsurerStatus


class InsurerRead(BaseModel):
    """The bureau's view of an insurer, contacts included."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    status: InsurerStatus
    uscc: str
    contact_name: str
    contact_phone: str
    status_reason: str | None
    registered_at: datetime
    registered_by: str
    updated_at: datetime
