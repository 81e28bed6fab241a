"""Credit API schemas."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from kernel.uscc import USCC
from services.credit.domain import (
    PenaltySource,
    RecordClass,
    Severity,
    is_decision_number,
    is_in_publicity,
    is_published_late,
    normalise_decision_number,
)
from services.credit.models import (
    BlacklistEntry,
    CreditRecord,
    DailyExport,
    HistoryEntry,
    RedlistEntry,
)


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
    state: Literal["published", "ended"]
    ended_on: date | None = Field(description="First day it was no longer shown")
    end_reason: Literal["expired", "repaired", "reversed"] | None
    is_repaired: bool = Field(description="A credit repair ended its publicity early")

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
            state=penalty.state,
            ended_on=penalty.ended_on,
            end_reason=penalty.end_reason,
            is_repaired=penalty.end_reason == "repaired",
        )


def is_shown(record: CreditRecord, today: date) -> bool:
    """Whether the public sees the record on this business date (rule `in_publicity`)."""
    return record.state == "published" and is_in_publicity(
        record.publicity_starts_on, record.publicity_ends_on, today
    )


class RecordRead(BaseModel):
    """A credit record of any class, as a reader may see it on a business date."""

    id: str
    record_class: RecordClass
    document_number: str = Field(description="处罚决定书文号, licence number, or document number")
    uscc: str
    enterprise_name: str
    decided_on: date
    legal_basis: str
    summary: str
    fine_amount: Decimal | None
    other_measures: str | None
    severity: str = Field(description="general | serious | commendation")
    source: str = Field(description="inspection | permits | manual")
    source_reference: str | None = Field(description="Where it came from; bureau and owner only")
    publicity_starts_on: date
    publicity_ends_on: date = Field(description="Last day of publicity (inclusive)")
    repair_eligible_on: date | None = Field(description="Null for incentives (nothing to repair)")
    publish_by: date | None
    state: Literal["published", "ended"]
    ended_on: date | None
    end_reason: Literal["expired", "repaired", "reversed"] | None
    is_in_publicity: bool
    has_repair_notice: bool
    rule_pack_id: str
    rule_pack_version: str
    version: int
    recorded_at: datetime

    @classmethod
    def of(cls, record: CreditRecord, today: date, *, internal: bool) -> RecordRead:
        """The record as read on a business date; `internal` readers see where it came from."""
        return cls(
            id=record.id,
            record_class=RecordClass(record.record_class),
            document_number=record.document_number,
            uscc=record.uscc,
            enterprise_name=record.enterprise_name,
            decided_on=record.decided_on,
            legal_basis=record.legal_basis,
            summary=record.summary,
            fine_amount=record.fine_amount,
            other_measures=record.other_measures,
            severity=record.severity,
            source=record.source,
            source_reference=record.source_reference if internal else None,
            publicity_starts_on=record.publicity_starts_on,
            publicity_ends_on=record.publicity_ends_on,
            repair_eligible_on=record.repair_eligible_on,
            publish_by=record.publish_by,
            state=record.state,
            ended_on=record.ended_on,
            end_reason=record.end_reason,
            is_in_publicity=is_shown(record, today),
            has_repair_notice=record.repair_notice is not None,
            rule_pack_id=record.rule_pack_id,
            rule_pack_version=record.rule_pack_version,
            version=record.version,
            recorded_at=record.recorded_at,
        )


class HistoryRead(BaseModel):
    """One dated step in a record's life."""

    occurred_on: date
    kind: str
    note: str
    is_public: bool
    actor: str | None = Field(description="Who did it; bureau and owner only")
    detail: dict[str, Any] | None = Field(description="Bureau and owner only")
    recorded_at: datetime

    @classmethod
    def of(cls, entry: HistoryEntry, *, internal: bool) -> HistoryRead:
        return cls(
            occurred_on=entry.occurred_on,
            kind=entry.kind,
            note=entry.note,
            is_public=entry.public,
            actor=entry.actor if internal else None,
            detail=entry.detail if internal else None,
            recorded_at=entry.recorded_at,
        )


class RecordDetail(RecordRead):
    """A record with its history (only the public steps for the public)."""

    history: list[HistoryRead]


class IncentiveCreate(BaseModel):
    """An incentive (守信激励, e.g. a commendation) the bureau publishes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    uscc: USCC
    enterprise_name: str = Field(min_length=2, max_length=200)
    document_number: DecisionNumber
    decided_on: date = Field(description="Date of the commendation; not in the future")
    legal_basis: str = Field(min_length=2, max_length=1000)
    summary: str = Field(min_length=2, max_length=4000)


def _document_number(value: str) -> str:
    # Court judgments are numbered （2026）鲁0202行初12号: only width and spaces are normalised.
    return "".join(unicodedata.normalize("NFKC", value).split())


class ReversalCreate(BaseModel):
    """A record's decision was revoked by reconsideration (行政复议) or a court (行政诉讼)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=2000)
    document_number: Annotated[
        str,
        Field(min_length=2, max_length=64, description="The revoking decision or judgment"),
        AfterValidator(_document_number),
    ]


class BlacklistSummary(BaseModel):
    """The black-list entry an enterprise is listed under."""

    id: str
    criterion: str
    decided_on: date | None
    listed_until: date | None

    @classmethod
    def of(cls, entry: BlacklistEntry) -> BlacklistSummary:
        return cls(
            id=entry.id,
            criterion=entry.criterion,
            decided_on=entry.decided_on,
            listed_until=entry.listed_until,
        )


class RedlistSummary(BaseModel):
    """The red-list entry an enterprise is listed under."""

    id: str
    decided_on: date | None
    listed_until: date | None
    joint_incentive: bool

    @classmethod
    def of(cls, entry: RedlistEntry) -> RedlistSummary:
        return cls(
            id=entry.id,
            decided_on=entry.decided_on,
            listed_until=entry.listed_until,
            joint_incentive=entry.joint_incentive,
        )


class StandingRead(BaseModel):
    """Whether an enterprise is listed now, and what it has in publicity."""

    uscc: str
    standing: Literal["normal", "redlisted", "blacklisted"]
    blacklist: BlacklistSummary | None
    redlist: RedlistSummary | None
    penalties_in_publicity: int
    dishonesty_in_publicity: int
    as_of: date


class ChangeItem(BaseModel):
    """One public change, from the credit service's own event stream."""

    sequence: int
    type: str
    time: datetime
    uscc: str
    data: dict[str, Any]


class ChangesPage(BaseModel):
    """Public changes after a sequence; pass `next_after` to continue."""

    items: list[ChangeItem]
    next_after: int = Field(description="The last sequence scanned, returned or filtered out")
    head: int = Field(description="The latest sequence the service has given")


class ExportRead(BaseModel):
    """One day's frozen export of the public lists."""

    on: date
    generated_at: datetime
    rows: int
    json_sha256: str
    csv_sha256: str

    @classmethod
    def of(cls, export: DailyExport) -> ExportRead:
        return cls(
            on=export.on,
            generated_at=export.generated_at,
            rows=export.rows,
            json_sha256=export.json_sha256,
            csv_sha256=export.csv_sha256,
        )
