"""Events produced by the permits service (topic `permits.events`)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from kernel.events import EventContract, contract
from kernel.uscc import USCC


@contract
class ItemVersionPublishedV1(EventContract):
    """A permit item (事项) version was published in the catalogue."""

    TYPE: ClassVar[str] = "permits.item.published.v1"

    code: str = Field(max_length=32)
    version: int = Field(ge=1)
    name: str = Field(max_length=200)
    approval_mode: str = Field(max_length=16)
    effective_on: date


@contract
class LicenceIssuedV1(EventContract):
    """An electronic licence was issued (instant, pledge or after review)."""

    TYPE: ClassVar[str] = "permits.licence.issued.v1"

    licence_number: str = Field(max_length=32)
    application_id: str = Field(max_length=36)
    uscc: USCC
    holder_name: str = Field(max_length=200)
    item_code: str = Field(max_length=32)
    item_name: str = Field(max_length=200)
    approval_path: Literal["instant", "pledge", "standard"]
    valid_from: date
    valid_until: date


@contract
class LicenceStatusChangedV1(EventContract):
    """A licence was suspended, reinstated or revoked (revocation is final)."""

    TYPE: ClassVar[str] = "permits.licence.status_changed.v1"

    licence_number: str = Field(max_length=32)
    uscc: USCC
    status: Literal["active", "suspended", "revoked"]
    reason: str = Field(max_length=2000)


@contract
class PledgeVerificationRequestedV1(EventContract):
    """A licence was granted on a pledge: inspection is asked to verify it on site in time."""

    TYPE: ClassVar[str] = "permits.pledge.verification_requested.v1"

    licence_number: str = Field(max_length=32)
    application_id: str = Field(max_length=36)
    uscc: USCC
    enterprise_name: str = Field(max_length=200)
    item_code: str = Field(max_length=32)
    item_name: str = Field(max_length=200)
    verify_by: date | None = Field(
        description="Null while the official schedule of that year is not loaded"
    )


@contract
class PledgeBreachedV1(EventContract):
    """Verification found the pledge untrue: the licence is revoked; credit records dishonesty."""

    TYPE: ClassVar[str] = "permits.pledge.breached.v1"

    licence_number: str = Field(max_length=32)
    uscc: USCC
    enterprise_name: str = Field(max_length=200)
    item_code: str = Field(max_length=32)
    item_name: str = Field(max_length=200)
    pledge_sha256: str = Field(max_length=64)
    findings: str = Field(max_length=4000)
    verified_on: date
