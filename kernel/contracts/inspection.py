"""Events produced by the inspection service (topic `inspection.events`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from kernel.events import EventContract, contract
from kernel.uscc import USCC


@contract
class EnterpriseRegisteredV1(EventContract):
    """An enterprise entered the supervision registry, or an officer completed its entry.

    A completed entry is announced again with the real district and classification (an entry
    created from another service's event starts with placeholders): consumers upsert by USCC.
    """

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


@contract
class PenaltyDecidedV1(EventContract):
    """An administrative penalty decision was served in an inspection case (行政处罚决定).

    `blacklist_criterion` names the case of the serious-dishonesty rules (严重失信主体名单管理办法)
    the inspectors found met, if any; credit then opens a black-list case for it.
    """

    TYPE: ClassVar[str] = "inspection.penalty.decided.v1"

    case_id: str = Field(max_length=36)
    decision_number: str = Field(max_length=64)
    uscc: USCC
    enterprise_name: str = Field(max_length=200)
    decided_on: date
    legal_basis: str = Field(max_length=1000)
    violation_summary: str = Field(max_length=2000)
    fine_amount: Decimal | None = Field(ge=0, max_digits=14, decimal_places=2)
    other_measures: str | None = Field(max_length=1000)
    severity: Literal["general", "serious"]
    blacklist_criterion: str | None = Field(max_length=64)


@contract
class HazardFoundV1(EventContract):
    """Inspectors found a hazard (事故隐患) at an enterprise; its insurer is to help rectify it."""

    TYPE: ClassVar[str] = "inspection.hazard.found.v1"

    hazard_id: str = Field(max_length=36)
    inspection_id: str = Field(max_length=36)
    uscc: USCC
    enterprise_name: str = Field(max_length=200)
    grade: Literal["general", "major"]
    description: str = Field(max_length=2000)
    found_on: date
    rectify_by: date | None = Field(
        description="Null while the official schedule of that year is not loaded"
    )


@contract
class HazardRectifiedV1(EventContract):
    """A hazard's rectification was verified on site (整改验收)."""

    TYPE: ClassVar[str] = "inspection.hazard.rectified.v1"

    hazard_id: str = Field(max_length=36)
    uscc: USCC
    verified_on: date
