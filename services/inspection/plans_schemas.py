"""Yearly plan and joint inspection API schemas (measure 6)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from services.inspection.models import JointInspection, Plan, PlanEntry
from services.inspection.planning import InspectionType, JointOverride, PlanMode, PlanState

Year = Field(ge=2000, le=2100, examples=[2027])


class PlanCreate(BaseModel):
    """Generate a draft plan of a year from the supervision registry as it stands."""

    model_config = ConfigDict(extra="forbid")

    year: int = Year


class PlanSummaryRead(BaseModel):
    enterprises: int
    modes: dict[str, int] = Field(description="Entries per mode: planned, random, exempt")
    rules: dict[str, int] = Field(description="Entries each named rule applied to")
    minimum_inspections: int = Field(description="Inspections the plan requires at least")
    planned_by_month: dict[str, int] = Field(description="Planned inspections per month 1-12")


class PlanRead(BaseModel):
    id: str
    year: int
    state: PlanState
    rule_pack_id: str
    rule_pack_version: str
    summary: PlanSummaryRead
    generated_at: datetime
    generated_by: str
    approved_on: date | None
    approved_by: str | None
    version: int

    @classmethod
    def of(cls, plan: Plan) -> PlanRead:
        return cls(
            id=plan.id,
            year=plan.year,
            state=PlanState(plan.state),
            rule_pack_id=plan.rule_pack_id,
            rule_pack_version=plan.rule_pack_version,
            summary=PlanSummaryRead.model_validate(plan.summary),
            generated_at=plan.generated_at,
            generated_by=plan.generated_by,
            approved_on=plan.approved_on,
            approved_by=plan.approved_by,
            version=plan.version,
        )


class RuleAppliedRead(BaseModel):
    rule: str = Field(description="The named rule, e.g. blacklisted_at_least_two")
    effect: str = Field(description="What it did, e.g. planned_min_2, max_1, exempt")
    detail: str = Field(description="The explanation in Chinese")


class PlanEntryRead(BaseModel):
    plan_id: str
    uscc: str
    sector: str
    district: str
    mode: PlanMode
    min_inspections: int
    max_inspections: int | None = Field(description="null: no yearly cap")
    priority: int = Field(description="Higher is drawn or scheduled first")
    planned_months: list[int]
    rules: list[RuleAppliedRead] = Field(description="The rules that produced this entry, in order")

    @classmethod
    def of(cls, entry: PlanEntry) -> PlanEntryRead:
        rules: list[dict[str, Any]] = entry.rules
        return cls(
            plan_id=entry.plan_id,
            uscc=entry.uscc,
            sector=entry.sector,
            district=entry.district,
            mode=PlanMode(entry.mode),
            min_inspections=entry.min_inspections,
            max_inspections=entry.max_inspections,
            priority=entry.priority,
            planned_months=list(entry.planned_months),
            rules=[RuleAppliedRead.model_validate(r) for r in rules],
        )


class JointInspectionCreate(BaseModel):
    """A joint inspection (联合检查) the enterprise received, led by a department."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    uscc: USCC
    year: int = Year
    inspection_type: InspectionType = Field(description="Only the plan's own type exempts")
    led_by: str = Field(min_length=2, max_length=100, examples=["青岛市应急管理局"])
    inspected_on: date
    override: JointOverride | None = Field(
        default=None,
        description="complaint (投诉举报) or assignment (上级交办): a separate same-type "
        "inspection is still required this year",
    )
    override_reason: str | None = Field(
        default=None, max_length=1000, description="Required with an override"
    )


class JointInspectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    year: int
    uscc: str
    inspection_type: InspectionType
    led_by: str
    inspected_on: date
    override: JointOverride | None
    override_reason: str | None
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def of(cls, row: JointInspection) -> JointInspectionRead:
        return cls.model_validate(row)
