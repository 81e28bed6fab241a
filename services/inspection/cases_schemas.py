"""Request and response bodies of inspection cases, hazards and pledge visits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kernel.uscc import USCC
from services.inspection.enforcement import (
    Harm,
    HazardGrade,
    HazardState,
    InspectionState,
    ListingCriterion,
    PenaltyMeasure,
    PledgeVisitState,
)


class InspectionSource(StrEnum):
    """Why the inspection takes place."""

    draw = "draw"  # 双随机 monthly draw
    planned = "planned"  # the yearly plan (key or black-listed enterprises)
    complaint = "complaint"  # 投诉举报
    assignment = "assignment"  # 上级交办
    pledge = "pledge"  # verification of a pledge-based licence
    follow_up = "follow_up"  # 重大案件回访 after a major penalty


# Request bodies name only what the caller may set: an unknown field (a server-owned one such
# as state or decided_by, or a misspelt one) is refused with 422, never silently dropped.


class EvidenceRef(BaseModel):
    """A piece of evidence: the file's SHA-256 and/or where it is kept."""

    model_config = ConfigDict(extra="forbid")

    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    url: str | None = Field(default=None, max_length=1000, pattern=r"^https?://")
    label: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_reference(self) -> EvidenceRef:
        if self.sha256 is None and self.url is None:
            raise ValueError("evidence needs a sha256 or a url")
        return self


class NoticeIn(BaseModel):
    """The notice (告知) served on the enterprise at the start."""

    model_config = ConfigDict(extra="forbid")

    served_on: date
    text: str = Field(max_length=4000)


class EducationPlanIn(BaseModel):
    """The law-education plan (普法计划) of the inspection."""

    model_config = ConfigDict(extra="forbid")

    topics: list[str] = Field(max_length=20)
    # 企业主要负责人、安全管理人员、一线岗位人员 are the seed's focus groups.
    audience: list[str] = Field(default_factory=list, max_length=10)


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: USCC
    source: InspectionSource
    reference: str | None = Field(default=None, max_length=100)
    team: list[str] = Field(max_length=10, description="Officers' token subjects, at least 2")
    notice: NoticeIn
    education_plan: EducationPlanIn


class FindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    violation_code: str = Field(max_length=16, description="Code in the common-violations list")
    description: str = Field(max_length=2000)
    evidence: list[EvidenceRef] = Field(max_length=20)
    corrected_on_spot: bool
    is_minor: bool = Field(default=False, description="违法行为轻微, the officer's assessment")
    harm: Harm
    hazard_id: str | None = Field(
        default=None, max_length=36, description="The hazard of this case the violation is"
    )


class HazardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grade: HazardGrade
    description: str = Field(max_length=2000)
    evidence: list[EvidenceRef] = Field(max_length=20)
    is_self_found: bool = False
    under_rectification: bool = False
    enterprise_rectify_by: date | None = None


class DecisionProposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    finding: int = Field(ge=1, description="The finding's number in the case")
    fine: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    measures: list[PenaltyMeasure] = Field(default_factory=list, max_length=6)
    blacklist_criterion: ListingCriterion | None = None
    note: str | None = Field(default=None, max_length=2000)


class DeliberationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: str = Field(max_length=8000)
    participants: list[str] = Field(max_length=20)
    no_findings: bool = False
    decisions: list[DecisionProposal] = Field(default_factory=list, max_length=200)


class ApprovalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approved", "returned"]
    note: str | None = Field(default=None, max_length=2000)


class QuestionAnswered(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000)
    answer: str = Field(min_length=1, max_length=2000)


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivered_on: date
    lesson: str = Field(max_length=4000)
    questions_answered: int = Field(ge=0, le=10000)
    questions: list[QuestionAnswered] = Field(default_factory=list, max_length=200)


class FindingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    n: int
    violation_code: str
    description: str
    evidence: list[EvidenceRef]
    corrected_on_spot: bool
    is_minor: bool
    harm: Harm
    hazard_id: str | None
    recorded_by: str


class HazardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    inspection_id: str
    uscc: str
    enterprise_name: str
    grade: HazardGrade
    description: str
    evidence: list[EvidenceRef]
    is_self_found: bool
    under_rectification: bool
    found_on: date
    rectify_by: date | None
    deadline_unknown: bool = Field(description="The calendar of that year is not loaded")
    state: HazardState
    is_overdue: bool = False
    report_description: str | None
    report_evidence: list[EvidenceRef]
    reported_on: date | None
    verified_on: date | None
    verifications: list[dict[str, object]]
    version: int


class DecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    finding_n: int
    kind: str
    rule: str
    outcome: str
    reason: str
    fine_amount: Decimal | None
    measures: list[str]
    legal_basis: str | None
    blacklist_criterion: str | None
    note: str | None
    is_major: bool
    state: str
    approved_by: str | None
    approved_on: date | None
    decision_number: str | None
    decided_on: date | None
    severity: str | None
    follow_up_due_on: date | None
    follow_up_deadline_unknown: bool
    follow_up_inspection_id: str | None


class DeliberationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    round: int
    minutes: str
    participants: list[str]
    held_on: date
    state: str
    decisions: list[DecisionRead] = Field(default_factory=list)


class InspectionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    uscc: str
    enterprise_name: str
    source: InspectionSource
    reference: str | None
    state: InspectionState
    started_on: date
    closed_on: date | None
    version: int


class InspectionRead(InspectionSummary):
    team: list[str]
    notice_served_on: date
    notice_text: str
    education_topics: list[str]
    education_audience: list[str]
    started_by: str
    no_findings: bool
    deliberated_on: date | None
    delivered_on: date | None
    lesson: str | None
    questions_answered: int | None
    questions: list[QuestionAnswered]
    rule_pack_id: str
    rule_pack_version: str
    findings: list[FindingRead] = Field(default_factory=list)
    hazards: list[HazardRead] = Field(default_factory=list)
    deliberation: DeliberationRead | None = None


class RectificationReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(max_length=4000)
    evidence: list[EvidenceRef] = Field(max_length=20)


class VerificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passed: bool
    note: str | None = Field(default=None, max_length=2000)


class FollowUpRead(BaseModel):
    inspection_id: str
    uscc: str
    enterprise_name: str
    decision_number: str
    decided_on: date
    follow_up_due_on: date | None
    follow_up_deadline_unknown: bool
    follow_up_inspection_id: str | None
    is_overdue: bool


class PledgeVisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    licence_number: str
    uscc: str
    enterprise_name: str
    item_code: str
    item_name: str
    verify_by: date | None
    deadline_unknown: bool = False
    is_overdue: bool = False
    state: PledgeVisitState
    findings: str | None
    inspectors: list[str]
    verified_on: date | None
    recorded_by: str | None
    version: int


class PledgeResultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passed: bool
    findings: str = Field(max_length=4000)
    inspectors: list[str] = Field(max_length=10)
    verified_on: date | None = Field(default=None, description="Defaults to today")
