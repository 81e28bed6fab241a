"""Credit API schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from kernel.uscc import USCC
from services.credit.domain import (
    PenaltySource,
    Severity,
    is_decision_number,
    is_in_publicity,
    is_published_late,
    normalise_decision_number,
)
from services.credit.models import CreditRecord


def _decision_number(value: str) -> str:
    canonical = normalise_decision_number(value)
    # NFKC can lengthen rare compatibility characters; the column holds 64.
    if len(canonical) > 64 or not is_decision_number(canonical):
        raise PydanticCustomError(
            "decision_number_invalid",
            "a decision number reads like 青应急罚〔2026〕12号: authority code, year in "
            "brackets, serial number, 号",
        )
    return canonical


DecisionNumber = Annotated[
    str,
    Field(
        min_length=6,
        max_length=64,
        description="行政处罚决定书文号; bracket and full-width variants are normalised to 〔〕",
        examples=["青应急罚〔2026〕12号"],
    ),
    AfterValidator(_decision_number),
]


class PenaltyCreate(BaseModel):
    """A penalty decision a credit officer records for publicity."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    uscc: USCC
    enterprise_name: str = Field(min_length=2, max_length=200)
    decision_number: DecisionNumber
    decided_on: date = Field(description="Date of the decision; not in the future")
    legal_basis: str = Field(min_length=2, max_length=1000, description="处罚依据")
    violation_summary: str = Field(min_length=2, max_length=2000, description="违法事实摘要")
    fine_amount: Decimal | None = Field(
        default=None, ge=0, max_digits=14, decimal_places=2, description="罚款金额 (yuan)"
    )
    other_measures: str | None = Field(
        default=None, max_length=1000, description="其他处罚内容, e.g. 警告, 责令停产停业整顿"
    )
    severity: Severity
    source: PenaltySource


class PenaltyRead(BaseModel):
    """A published penalty with its computed publicity window and repair notice."""

    id: str
    decision_number: str
    uscc: str
    enterprise_name: str
    decided_on: date
    legal_basis: str
    violation_summary: str
    fine_amount: Decimal | None
    other_measures: str | None
    severity: Severity
    source: PenaltySource
    publicity_starts_on: date
    publicity_ends_on: date = Field(description="Last day of publicity (inclusive)")
    repair_eligible_on: date = Field(description="First day a credit repair may be applied for")
    publish_by: date | None = Field(
        description="Latest lawful start of publicity (7 working days after the decision); "
        "null when the official calendar does not cover that date yet"
    )
    is_published_late: bool | None
    is_in_publicity: bool
    rule_pack_id: str
    rule_pack_version: str
    repair_notice: str = Field(description="信用修复告知书 (zh-CN)")
    recorded_at: datetime

    @classmethod
    def of(cls, penalty: CreditRecord, today: date) -> PenaltyRead:
        """The record as read on a business date."""
        return cls(
            id=penalty.id,
            decision_number=penalty.document_number,
            uscc=penalty.uscc,
            enterprise_name=penalty.enterprise_name,
            decided_on=penalty.decided_on,
            legal_basis=penalty.legal_basis,
            violation_summary=penalty.summary,
            fine_amount=penalty.fine_amount,
            other_measures=penalty.other_measures,
            severity=Severity(penalty.severity),
            source=PenaltySource(penalty.source),
            publicity_starts_on=penalty.publicity_starts_on,
            publicity_ends_on=penalty.publicity_ends_on,
            repair_eligible_on=penalty.repair_eligible_on or penalty.decided_on,
            publish_by=penalty.publish_by,
            is_published_late=is_published_late(penalty.publicity_starts_on, penalty.publish_by),
            is_in_publicity=penalty.state == "published"
            and is_in_publicity(penalty.publicity_starts_on, penalty.publicity_ends_on, today),
            rule_pack_id=penalty.rule_pack_id,
            rule_pack_version=penalty.rule_pack_version,
            repair_notice=penalty.repair_notice or "",
            recorded_at=penalty.recorded_at,
        )
