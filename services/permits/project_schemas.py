"""Key-project (重点项目) API schemas: registration, officers, guidance, stages, the record."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from kernel.vocab import QINGDAO_DISTRICTS, Sector
from services.permits.domain import PROJECT_STAGES, GuidanceMode, ProjectStage


def _known_district(value: str) -> str:
    if value not in QINGDAO_DISTRICTS:
        raise ValueError(f"not a district of Qingdao; one of: {'、'.join(QINGDAO_DISTRICTS)}")
    return value


District = Annotated[
    str,
    AfterValidator(_known_district),
    Field(description="The Qingdao district the project is built in", examples=["黄岛区"]),
]

# Officers are named by the subject of their bearer token (role officer).
OfficerId = Annotated[
    str, Field(min_length=1, max_length=120, pattern=r"^\S+$", examples=["officer-001"])
]


def _unique(officer_ids: list[str]) -> list[str]:
    twice = sorted({o for o in officer_ids if officer_ids.count(o) > 1})
    if twice:
        raise ValueError(f"officer listed twice: {', '.join(twice)}")
    return officer_ids


OfficerIds = Annotated[
    list[OfficerId],
    AfterValidator(_unique),
    Field(min_length=1, max_length=20, description="Officers assigned to guide the project"),
]


class StagePlan(BaseModel):
    """When one stage is planned to be reached."""

    model_config = ConfigDict(extra="forbid")

    stage: ProjectStage
    planned_on: date


class ProjectCreate(BaseModel):
    """A key project registered for embedded service, with every stage planned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200, examples=["年产20万吨高端新材料一体化项目"])
    uscc: USCC = Field(description="The owner enterprise's USCC")
    enterprise_name: str = Field(min_length=2, max_length=200)
    district: District
    sector: Sector
    investment_yuan: int = Field(gt=0, le=10**13, description="Total investment (总投资), yuan")
    description: str = Field(min_length=2, max_length=4000)
    stages: list[StagePlan] = Field(
        min_length=1,
        max_length=len(PROJECT_STAGES),
        description="A planned date for every stage, "
        + " → ".join(f"{s.value} ({s.label})" for s in PROJECT_STAGES),
    )
    officer_ids: OfficerIds


class OfficersAssign(BaseModel):
    """More officers assigned to a project (leader, admin)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    officer_ids: OfficerIds


class QuestionAnswered(BaseModel):
    """One of the enterprise's questions and the answer the officer gave."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=2000)
    answer: str = Field(min_length=1, max_length=4000)


class GuidanceCreate(BaseModel):
    """Guidance an assigned officer gives before a stage; the time is the server's."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    stage: ProjectStage | None = Field(
        default=None, description="The stage prepared for (default: the next one)"
    )
    mode: GuidanceMode
    advice: str = Field(min_length=2, max_length=20000, description="What was advised")
    questions: list[QuestionAnswered] = Field(default_factory=list, max_length=100)
    follow_up_on: date | None = Field(default=None, description="When a follow-up is due")


class StageAdvance(BaseModel):
    """Mark the project's next stage reached."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    stage: ProjectStage = Field(description="Must be the project's next stage")
    note: str | None = Field(default=None, min_length=2, max_length=4000)


class StageRead(BaseModel):
    stage: ProjectStage
    label: str
    position: int
    planned_on: date
    reached_at: datetime | None
    reached_by: str | None
    note: str | None
    guidance_count: int
    is_behind_plan: bool = Field(description="Planned date passed, stage not reached")


class OfficerRead(BaseModel):
    officer_id: str
    assigned_at: datetime
    assigned_by: str


class GuidanceRead(BaseModel):
    id: int
    project_id: str
    stage: ProjectStage
    stage_label: str
    officer_id: str
    given_at: datetime
    mode: GuidanceMode
    mode_label: str
    advice: str
    questions: list[QuestionAnswered]
    follow_up_on: date | None


class TimelineKind(StrEnum):
    registered = "registered"
    officer_assigned = "officer_assigned"
    officer_released = "officer_released"
    guidance = "guidance"
    stage_reached = "stage_reached"


class TimelineEntry(BaseModel):
    """One dated fact in a project's record, oldest first."""

    at: datetime
    kind: TimelineKind
    actor: str
    stage: ProjectStage | None = None
    stage_label: str | None = None
    officer_id: str | None = None
    note: str | None = None
    guidance: GuidanceRead | None = None


class ProjectSummary(BaseModel):
    id: str
    name: str
    uscc: str
    enterprise_name: str
    district: str
    sector: Sector
    investment_yuan: int
    current_stage: ProjectStage | None = Field(description="The last stage reached")
    current_stage_label: str | None
    next_stage: ProjectStage | None = Field(description="The stage being prepared for")
    next_stage_label: str | None
    is_completed: bool
    registered_at: datetime
    version: int = Field(description="Send as If-Match when marking a stage")


class ProjectRead(ProjectSummary):
    """A key project with its stages, its officers and the full record, oldest first."""

    description: str
    registered_by: str
    stages: list[StageRead]
    officers: list[OfficerRead]
    timeline: list[TimelineEntry]
