"""Key-project use cases (重点项目 嵌入式服务): register, assign, guide, advance. Domain rules +
queries; flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from kernel.auth import Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.db import utcnow
from kernel.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    RuleViolated,
)
from kernel.pagination import encode_cursor, instant_cursor
from kernel.versioning import check_version
from services.permits.domain import (
    ProjectRuleViolated,
    ProjectStage,
    check_follow_up,
    check_guidance,
    check_officer_release,
    check_officers_assigned,
    check_stage_actor,
    check_stage_advance,
    check_stage_plan,
)
from services.permits.models import GuidanceRecord, Project, ProjectMilestone, ProjectOfficer
from services.permits.project_schemas import GuidanceCreate, ProjectCreate, StageAdvance


def _violation(exc: ProjectRuleViolated) -> ProblemError:
    extra: dict[str, Any] = {"field": exc.field} if exc.field else {}
    if exc.forbidden:
        return Forbidden(str(exc), code=exc.code)
    if exc.missing:
        return NotFound(str(exc), code=exc.code)
    if exc.conflict:
        return Conflict(str(exc), code=exc.code, **extra)
    return RuleViolated(str(exc), code=exc.code, **extra)


@dataclass(frozen=True)
class ProjectRecord:
    """A project with everything its record shows: stages, assignments (past ones too),
    guidance."""

    project: Project
    milestones: Sequence[ProjectMilestone]
    assignments: Sequence[ProjectOfficer]
    guidance: Sequence[GuidanceRecord]

    @property
    def officers(self) -> list[ProjectOfficer]:
        """The officers assigned now."""
        return [a for a in self.assignments if a.released_at is None]


async def register_project(
    session: AsyncSession, registrar: Principal, data: ProjectCreate
) -> Project:
    """Register a key project with its stage plan and its first assigned officers."""
    try:
        plan = check_stage_plan((s.stage, s.planned_on) for s in data.stages)
    except ProjectRuleViolated as exc:
        raise _violation(exc) from exc
    taken = await session.scalar(
        sa.select(Project.id).where(Project.uscc == data.uscc, Project.name == data.name)
    )
    if taken is not None:
        raise Conflict(
            f"this enterprise already registered a project named {data.name!r} ({taken})",
            code="project_exists",
            field="name",
        )
    now = utcnow()
    project = Project(
        id=str(uuid.uuid4()),
        name=data.name,
        uscc=data.uscc,
        enterprise_name=data.enterprise_name,
        district=data.district,
        sector=data.sector.value,
        investment_yuan=data.investment_yuan,
        description=data.description,
        current_stage=None,
        registered_at=now,
        registered_by=registrar.key,
    )
    session.add(project)
    session.add_all(
        ProjectMilestone(
            project_id=project.id, stage=stage.value, position=stage.position, planned_on=on
        )
        for stage, on in plan.items()
    )
    session.add_all(
        ProjectOfficer(
            project_id=project.id, officer_id=officer, assigned_at=now, assigned_by=registrar.key
        )
        for officer in data.officer_ids
    )
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a project named {data.name!r} was registered concurrently for this enterprise",
            code="project_exists",
            field="name",
        ) from exc
    return project


async def get_project(
    session: AsyncSession, project_id: str, *, for_update: bool = False
) -> Project:
    """The project, or 404. `for_update` serialises changes to one project's record."""
    project = await session.get(Project, project_id, with_for_update=for_update or None)
    if project is None:
        raise NotFound(f"project {project_id} not found", code="project_not_found")
    return project


async def readable_project(session: AsyncSession, principal: Principal, project_id: str) -> Project:
    """The project if the caller may see it: the bureau, or the enterprise that owns it."""
    project = await get_project(session, project_id)
    if principal.role not in BUREAU_ROLES and not (
        principal.role is Role.enterprise and principal.subject == project.uscc
    ):
        raise Forbidden(
            "only the owner enterprise or the bureau may see this project",
            code="project_not_yours",
        )
    return project


async def _assigned(session: AsyncSession, project_id: str) -> list[str]:
    return list(
        (
            await session.scalars(
                sa.select(ProjectOfficer.officer_id).where(
                    ProjectOfficer.project_id == project_id, ProjectOfficer.released_at.is_(None)
                )
            )
        ).all()
    )


async def load_record(session: AsyncSession, project: Project) -> ProjectRecord:
    """Everything the project's record shows, each part oldest first."""
    milestones = await session.scalars(
        sa.select(ProjectMilestone)
        .where(ProjectMilestone.project_id == project.id)
        .order_by(ProjectMilestone.position)
    )
    assignments = await session.scalars(
        sa.select(ProjectOfficer)
        .where(ProjectOfficer.project_id == project.id)
        .order_by(ProjectOfficer.assigned_at, ProjectOfficer.id)
    )
    guidance = await session.scalars(
        sa.select(GuidanceRecord)
        .where(GuidanceRecord.project_id == project.id)
        .order_by(GuidanceRecord.given_at, GuidanceRecord.id)
    )
    return ProjectRecord(project, milestones.all(), assignments.all(), guidance.all())


async def assign_officers(
    session: AsyncSession, actor: Principal, project: Project, officer_ids: Sequence[str]
) -> None:
    """Assign more officers to the project (a leader's or an administrator's call)."""
    try:
        adding = check_officers_assigned(await _assigned(session, project.id), officer_ids)
    except ProjectRuleViolated as exc:
        raise _violation(exc) from exc
    now = utcnow()
    session.add_all(
        ProjectOfficer(
            project_id=project.id, officer_id=officer, assigned_at=now, assigned_by=actor.key
        )
        for officer in adding
    )
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "one of these officers was assigned concurrently; reload the project",
            code="officer_already_assigned",
            field="officer_ids",
        ) from exc


async def release_officer(
    session: AsyncSession, actor: Principal, project: Project, officer_id: str
) -> None:
    """End an officer's assignment; the guidance they gave stays on the record."""
    try:
        check_officer_release(await _assigned(session, project.id), officer_id)
    except ProjectRuleViolated as exc:
        raise _violation(exc) from exc
    assignment = await session.scalar(
        sa.select(ProjectOfficer).where(
            ProjectOfficer.project_id == project.id,
            ProjectOfficer.officer_id == officer_id,
            ProjectOfficer.released_at.is_(None),
        )
    )
    assert assignment is not None  # the rule above found it assigned
    assignment.released_at = utcnow()
    assignment.released_by = actor.key
    await session.flush()


async def record_guidance(
    session: AsyncSession, officer: Principal, project: Project, data: GuidanceCreate, today: date
) -> GuidanceRecord:
    """Append the guidance an assigned officer gave before a stage, at the server's time."""
    reached = ProjectStage(project.current_stage) if project.current_stage else None
    try:
        stage = check_guidance(
            reached,
            data.stage,
            officer_id=officer.subject,
            assigned=await _assigned(session, project.id),
        )
        check_follow_up(data.follow_up_on, today)
    except ProjectRuleViolated as exc:
        raise _violation(exc) from exc
    record = GuidanceRecord(
        project_id=project.id,
        stage=stage.value,
        officer_id=officer.subject,
        given_at=utcnow(),
        mode=data.mode.value,
        advice=data.advice,
        questions=[q.model_dump() for q in data.questions],
        follow_up_on=data.follow_up_on,
    )
    session.add(record)
    await session.flush()
    return record


async def advance_stage(
    session: AsyncSession,
    actor: Principal,
    project: Project,
    data: StageAdvance,
    expected_version: int | None,
) -> Project:
    """Mark the project's next stage reached, once guidance for it is on the record."""
    check_version(project.version, expected_version)
    guided = await session.scalars(
        sa.select(GuidanceRecord.stage).where(GuidanceRecord.project_id == project.id).distinct()
    )
    reached = ProjectStage(project.current_stage) if project.current_stage else None
    try:
        check_stage_actor(actor.role.value, actor.subject, await _assigned(session, project.id))
        stage = check_stage_advance(reached, data.stage, [ProjectStage(s) for s in guided])
    except ProjectRuleViolated as exc:
        raise _violation(exc) from exc
    milestone = await session.get(ProjectMilestone, (project.id, stage.value))
    assert milestone is not None  # every stage is planned at registration
    milestone.reached_at = utcnow()
    milestone.reached_by = actor.key
    milestone.note = data.note
    project.current_stage = stage.value
    try:
        await session.flush()
    except StaleDataError as exc:
        raise Conflict(
            "the project's stage was changed concurrently; reload it",
            code="project_changed",
        ) from exc
    return project


@dataclass(frozen=True)
class ProjectFilter:
    district: str | None = None
    stage: ProjectStage | None = None
    officer_id: str | None = None


async def list_projects(
    session: AsyncSession,
    principal: Principal,
    where: ProjectFilter,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Project], str | None]:
    """A page of projects, oldest registration first: all for the bureau, an enterprise's own."""
    if principal.role not in BUREAU_ROLES and principal.role is not Role.enterprise:
        raise Forbidden(f"role {principal.role.value!r} may not list key projects")
    query = sa.select(Project).order_by(Project.registered_at, Project.id)
    if principal.role is Role.enterprise:
        query = query.where(Project.uscc == principal.subject)
    if where.district is not None:
        query = query.where(Project.district == where.district)
    if where.stage is not None:
        query = query.where(Project.current_stage == where.stage.value)
    if where.officer_id is not None:
        query = query.where(
            Project.id.in_(
                sa.select(ProjectOfficer.project_id).where(
                    ProjectOfficer.officer_id == where.officer_id,
                    ProjectOfficer.released_at.is_(None),
                )
            )
        )
    if cursor:
        at, last_id = instant_cursor(cursor)
        query = query.where(
            sa.or_(
                Project.registered_at > at,
                sa.and_(Project.registered_at == at, Project.id > str(last_id)),
            )
        )
    rows = (await session.scalars(query.limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.registered_at.isoformat(), last.id)
    return rows[:limit], next_cursor
