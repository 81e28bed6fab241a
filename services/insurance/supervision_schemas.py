"""Supervision API schemas: scorecards, overdue obligations, the bureau's summary, an
enterprise's service history, coverage gaps."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from kernel.vocab import Sector
from services.insurance.coverage import EndReason
from services.insurance.domain import (
    ObligationKind,
    ObligationStatus,
    PolicyStatus,
    RiskLevel,
)
from services.insurance.scorecard import ObligationCounts, Period, WhistleCounts

# --- Scorecards ---------------------------------------------------------------------------


class PeriodRead(BaseModel):
    """An inclusive range of business days (Asia/Shanghai)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    days: int

    @classmethod
    def of(cls, period: Period) -> Self:
        return cls(from_=period.first, to=period.last, days=period.days)


class ObligationCountsRead(BaseModel):
    """Obligations due in the period. due = delivered + overdue + open_not_yet_due."""

    due: int = Field(description="Obligations whose due date is in the period; withdrawn excluded")
    delivered: int = Field(description="Delivered or verified (verification implies delivery)")
    delivered_on_time: int = Field(description="Delivered on or before the due date")
    verified: int = Field(description="Records the bureau checked and accepted")
    rejected_at_least_once: int = Field(description="Records the bureau rejected at least once")
    overdue: int = Field(description="Still open after the due date, as of `as_of`")
    open_not_yet_due: int = Field(description="Open, due on `as_of` or later")
    assessable: int = Field(description="delivered + overdue: those whose outcome is known")
    on_time_rate: float | None = Field(
        description="delivered_on_time / assessable, 4 decimals; null when assessable is 0"
    )
    verified_rate: float | None = Field(
        description="verified / assessable, 4 decimals; null when assessable is 0"
    )

    @classmethod
    def of(cls, c: ObligationCounts) -> Self:
        return cls(
            due=c.due,
            delivered=c.delivered,
            delivered_on_time=c.delivered_on_time,
            verified=c.verified,
            rejected_at_least_once=c.rejected_at_least_once,
            overdue=c.overdue,
            open_not_yet_due=c.open_not_yet_due,
            assessable=c.assessable,
            on_time_rate=c.on_time_rate,
            verified_rate=c.verified_rate,
        )


class ObligationScoreRead(ObligationCountsRead):
    by_kind: dict[ObligationKind, ObligationCountsRead] = Field(
        description="The same counts per kind of service; every kind is present"
    )


class WhistleCountsRead(BaseModel):
    """Whistles (企业吹哨) raised on the period's days and how the insurer answered them.

    A breach is one the SLA check recorded, an answer after its due instant, or no answer
    while the due instant has passed; a late answer never clears a breach.
    """

    raised: int
    acknowledged_in_time: int
    ack_breaches: int
    awaiting_acknowledgement: int = Field(description="Not acknowledged, not yet due")
    delivered_in_time: int
    delivery_breaches: int
    awaiting_delivery: int = Field(description="Not delivered, not yet due")

    @classmethod
    def of(cls, c: WhistleCounts) -> Self:
        return cls(
            raised=c.raised,
            acknowledged_in_time=c.acknowledged_in_time,
            ack_breaches=c.ack_breaches,
            awaiting_acknowledgement=c.awaiting_acknowledgement,
            delivered_in_time=c.delivered_in_time,
            delivery_breaches=c.delivery_breaches,
            awaiting_delivery=c.awaiting_delivery,
        )


class ScorecardRead(BaseModel):
    """One insurer's scorecard: aggregates only, never an enterprise's name or USCC."""

    insurer_id: str
    insurer_name: str
    insurer_status: str
    obligations: ObligationScoreRead
    whistles: WhistleCountsRead


class ScorecardsRead(BaseModel):
    period: PeriodRead
    as_of: date = Field(description="The business date overdue counts are taken on")
    as_of_instant: datetime = Field(description="The instant whistle SLAs are judged at")
    items: list[ScorecardRead] = Field(description="One per registered insurer, by insurer id")


class MonthScoreRead(BaseModel):
    month: str = Field(description="YYYY-MM", examples=["2026-03"])
    period: PeriodRead = Field(description="The month clipped to the requested period")
    obligations: ObligationScoreRead
    whistles: WhistleCountsRead


class InsurerScorecardRead(ScorecardRead):
    """One insurer's scorecard for the period and the same month by month, for charts."""

    period: PeriodRead
    as_of: date
    as_of_instant: datetime
    months: list[MonthScoreRead]


# --- Overdue obligations and the bureau's summary -------------------------------------------


class OverdueObligationRead(BaseModel):
    obligation_id: str
    kind: ObligationKind
    seq: int
    window_start: date
    due_on: date
    days_overdue: int = Field(description="Days since the due date (1 the day after it)")
    rejections: int
    hazard_id: str | None
    policy_id: str
    policy_number: str
    insurer_id: str
    insurer_name: str | None
    uscc: str
    enterprise_name: str
    district: str | None = Field(description="From the registry copy; null if not in it")


class PolicyTotalsRead(BaseModel):
    active: int = Field(description="Policies covering their enterprise today")
    pending: int = Field(description="Registered, not yet in force")


class MonthObligationsRead(BaseModel):
    period: PeriodRead
    obligations: ObligationCountsRead


class OverdueTotalsRead(BaseModel):
    total: int
    by_kind: dict[ObligationKind, int] = Field(description="Every kind is present")
    oldest_due_on: date | None


class OpenWhistlesRead(BaseModel):
    open: int = Field(description="Raised or acknowledged, not yet delivered or closed")
    ack_breached: int
    delivery_breached: int
    with_breaches: int = Field(description="Open whistles with at least one breach")


class SupervisionSummaryRead(BaseModel):
    """Totals across insurers, for the bureau's dashboard."""

    as_of: date
    as_of_instant: datetime
    policies: PolicyTotalsRead
    due_this_month: MonthObligationsRead
    overdue: OverdueTotalsRead
    whistles: OpenWhistlesRead
    coverage_gaps: int = Field(description="High-risk registry enterprises without cover today")


# --- Service history ------------------------------------------------------------------------


class RegistryEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    district: str
    sector: str
    tier: str


class HistoryPolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    policy_number: str
    insurer_id: str
    insurer_name: str | None
    starts_on: date
    ends_on: date
    status: PolicyStatus
    risk_level: RiskLevel | None
    custom_services: list[str]
    cancelled_on: date | None
    cancel_reason: str | None


class HistoryObligationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    policy_id: str
    kind: ObligationKind
    seq: int
    window_start: date
    due_on: date
    status: ObligationStatus
    is_overdue: bool
    hazard_id: str | None
    delivered_on: date | None
    record_id: str | None
    verified_at: datetime | None
    rejections: int
    withdrawn_reason: str | None


class _Receipt(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    received_at: datetime
    request_sha256: str
    receipt_sha256: str


class HistoryServiceRecordRead(_Receipt):
    id: str
    obligation_id: str
    policy_id: str
    kind: ObligationKind
    delivered_on: date
    performed_by: list[str]
    summary: str
    participants: int | None
    hazards_found: int | None
    evidence: list[dict[str, Any]]


class HistoryRiskAssessmentRead(_Receipt):
    id: str
    policy_id: str
    obligation_id: str | None
    risk_level: RiskLevel
    assessed_on: date
    assessors: list[str]
    findings: str
    hazards_found: int
    evidence: list[dict[str, Any]]


class HistoryAssistanceReportRead(_Receipt):
    id: str
    obligation_id: str
    policy_id: str
    hazard_id: str
    assisted_on: date
    performed_by: list[str]
    measures: str
    outcome: str
    evidence: list[dict[str, Any]]


class HistoryWhistleRead(BaseModel):
    id: str
    policy_id: str
    insurer_id: str
    category: str
    description: str
    status: str
    raised_at: datetime
    ack_due_at: datetime
    acknowledged_at: datetime | None
    delivery_due_at: datetime
    delivered_at: datetime | None
    delivery_summary: str | None
    closed_at: datetime | None
    feedback: str | None
    ack_breached: bool
    delivery_breached: bool


class ServiceHistoryRead(BaseModel):
    """What an enterprise's insurers owed it and did, each list in date order.

    A well-formed USCC no policy names gives empty lists (and `enterprise` null when the
    registry copy does not know it either): "never insured here" is an answer, not an error.
    """

    uscc: str
    scope: Literal["all", "insurer"] = Field(
        description="`insurer`: only what is under the calling insurer's own policies"
    )
    enterprise: RegistryEntryRead | None = Field(description="The registry copy, if known")
    policies: list[HistoryPolicyRead] = Field(description="By start date")
    obligations: list[HistoryObligationRead] = Field(description="By due date")
    service_records: list[HistoryServiceRecordRead] = Field(description="By delivery date")
    risk_assessments: list[HistoryRiskAssessmentRead] = Field(description="By assessment date")
    hazard_assistance_reports: list[HistoryAssistanceReportRead] = Field(
        description="By assistance date"
    )
    whistles: list[HistoryWhistleRead] = Field(description="By the instant raised")


# --- Coverage gaps --------------------------------------------------------------------------


class EndedPolicyRead(BaseModel):
    policy_id: str
    policy_number: str
    insurer_id: str
    insurer_name: str | None
    starts_on: date
    ended_on: date = Field(description="Its last day of cover")
    reason: EndReason
    cancel_reason: str | None


class UpcomingPolicyRead(BaseModel):
    policy_id: str
    policy_number: str
    insurer_id: str
    insurer_name: str | None
    starts_on: date = Field(description="When cover resumes")
    ends_on: date


class CoverageGapRead(BaseModel):
    """A high-risk-sector enterprise of the registry that no policy covers today."""

    uscc: str
    name: str
    district: str
    sector: Sector
    tier: str
    uncovered_since: date | None = Field(description="Null if it was never covered")
    last_policy: EndedPolicyRead | None
    next_policy: UpcomingPolicyRead | None
