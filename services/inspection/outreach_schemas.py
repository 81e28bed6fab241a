"""Outreach ("1+21+N") schemas. Public views carry no personal data of attendees or members."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from kernel.vocab import Sector
from services.inspection.outreach_domain import MemberKind, OrganiserKind, ProjectStage, SessionMode


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: MemberKind
    name: str = Field(min_length=2, max_length=100)
    organisation: str = Field(min_length=2, max_length=200)
    uscc: USCC | None = Field(default=None, description="Only for enterprise safety managers")
    phone: str | None = Field(default=None, max_length=32)
    is_lead: bool = Field(default=False, description="团长: exactly one per group")


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: MemberKind
    name: str
    organisation: str
    uscc: str | None
    phone: str | None
    is_lead: bool


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=200, examples=["危险化学品安全宣讲团"])
    organiser_kind: OrganiserKind
    organiser: str = Field(min_length=2, max_length=200, examples=["青岛市安全生产委员会"])
    sectors: list[Sector] = Field(default_factory=list, description="Empty: every sector")
    members: list[MemberCreate] = Field(min_length=1, max_length=200)


class GroupRead(BaseModel):
    """A group as the public sees it: who organises it and how many of each kind it holds."""

    id: str
    name: str
    organiser_kind: OrganiserKind
    organiser: str
    sectors: list[Sector]
    member_counts: dict[MemberKind, int]


class GroupDetail(GroupRead):
    members: list[MemberRead]


class ThemeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    theme: str = Field(min_length=2, max_length=200, examples=["有限空间作业安全"])
    content: str = Field(min_length=2, max_length=4000)


class ThemeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    year: int
    month: int
    theme: str
    content: str


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: str = Field(max_length=36)
    held_on: date
    topic: str = Field(min_length=2, max_length=200)
    sector: Sector
    mode: SessionMode
    location: str | None = Field(default=None, max_length=300)
    link: str | None = Field(default=None, max_length=500, description="云上直播 link")
    key_project: str | None = Field(default=None, max_length=200)
    project_stage: ProjectStage | None = None


class SessionRead(BaseModel):
    """A session as the public sees it: counts only, no attendee's identity."""

    id: str
    group_id: str
    group_name: str
    theme: str
    held_on: date
    topic: str
    sector: Sector
    mode: SessionMode
    location: str | None
    link: str | None
    key_project: str | None
    project_stage: ProjectStage | None
    enterprises_attended: int | None = Field(description="Null until attendance is recorded")
    total_attendees: int | None
    questions_answered: int | None
    version: int


class AttendanceLineWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: USCC
    enterprise_name: str = Field(min_length=2, max_length=200)
    attendees: int = Field(ge=1, le=10_000)
    contact_name: str | None = Field(default=None, max_length=100)


class AttendanceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enterprises: list[AttendanceLineWrite] = Field(default_factory=list, max_length=1000)
    total_attendees: int = Field(ge=0, le=1_000_000, description="Everyone who attended")
    questions_answered: int = Field(ge=0, le=100_000)


class AttendanceLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uscc: str
    enterprise_name: str
    attendees: int
    contact_name: str | None


class AttendanceRead(BaseModel):
    session_id: str
    total_attendees: int | None
    questions_answered: int | None
    enterprises: list[AttendanceLineRead]


class AttendedSessionRead(SessionRead):
    """A session the calling enterprise attended, with its own line."""

    my_attendees: int


class FiguresRow(BaseModel):
    month: int
    sector: Sector
    sessions: int
    online: int
    offline: int
    enterprises: int
    attendees: int
    questions_answered: int


class Figures(BaseModel):
    year: int
    rows: list[FiguresRow] = Field(description="By month and sector, sessions held that year")
    sessions: int
    attendees: int
    questions_answered: int
    groups: int
    professional_committees: int = Field(description="The '21': committees organising groups")
    experts: int = Field(description="The 'N': safety experts in groups")
