"""Key-project endpoints (重点项目 嵌入式服务): thin — parse, authorise, call the use case, return.

The bureau registers a project and assigns officers; an assigned officer records guidance
before each stage; an assigned officer or a leader marks a stage reached, in order and only
once it was prepared for. The owner enterprise reads its projects' record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role, require_roles
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page
from kernel.versioning import ExpectedVersion, etag
from kernel.workdays import shanghai_today
from services.permits import projects
from services.permits.dependencies import BureauDep
from services.permits.domain import GuidanceMode, ProjectStage, is_behind_plan, next_stage
from services.permits.models import GuidanceRecord, Project
from services.permits.project_schemas import (
    District,
    GuidanceCreate,
    GuidanceRead,
    OfficerId,
    OfficerRead,
    OfficersAssign,
    ProjectCreate,
    ProjectRead,
    ProjectSummary,
    QuestionAnswered,
    StageAdvance,
    StageRead,
    TimelineEntry,
    TimelineKind,
)

projects_router = APIRouter(prefix="/projects", tags=["key projects"])

AssignerDep = Annotated[Principal, Depends(require_roles(Role.leader, Role.admin))]
OfficerDep = Annotated[Principal, Depends(require_roles(Role.officer))]
StageActorDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader))]
# No length or pattern: an id that cannot exist is simply not found (404), never a 422.
ProjectId = Annotated[str, Path(description="The project's id")]

# Facts recorded in the same request share an instant; this is the order they happened in.
_KIND_ORDER = {kind: rank for rank, kind in enumerate(TimelineKind)}


def _summary(project: Project) -> ProjectSummary:
    current = ProjectStage(project.current_stage) if project.current_stage else None
    upcoming = next_stage(current)
    return ProjectSummary.model_validate(
        {
            **{
                name: getattr(project, name)
                for name in ProjectSummary.model_fields
                if hasattr(Project, name)
            },
            "current_stage_label": current.label if current else None,
            "next_stage": upcoming,
            "next_stage_label": upcoming.label if upcoming else None,
            "is_completed": current is not None and upcoming is None,
        }
    )


def _guidance(record: GuidanceRecord) -> GuidanceRead:
    stage, mode = ProjectStage(record.stage), GuidanceMode(record.mode)
    return GuidanceRead(
        id=record.id,
        project_id=record.project_id,
        stage=stage,
        stage_label=stage.label,
        officer_id=record.officer_id,
        given_at=record.given_at,
        mode=mode,
        mode_label=mode.label,
        advice=record.advice,
        questions=[QuestionAnswered.model_validate(q) for q in record.questions],
        follow_up_on=record.follow_up_on,
    )


def _timeline(record: projects.ProjectRecord) -> list[TimelineEntry]:
    project = record.project
    entries = [
        TimelineEntry(
            at=project.registered_at, kind=TimelineKind.registered, actor=project.registered_by
        )
    ]
    for a in record.assignments:
        entries.append(
            TimelineEntry(
                at=a.assigned_at,
                kind=TimelineKind.officer_assigned,
                actor=a.assigned_by,
                officer_id=a.officer_id,
            )
        )
        if a.released_at is not None and a.released_by is not None:
            entries.append(
                TimelineEntry(
                    at=a.released_at,
                    kind=TimelineKind.officer_released,
                    actor=a.released_by,
                    officer_id=a.officer_id,
                )
            )
    for g in record.guidance:
        view = _guidance(g)
        entries.append(
            TimelineEntry(
                at=g.given_at,
                kind=TimelineKind.guidance,
                actor=f"{Role.officer.value}:{g.officer_id}",
                stage=view.stage,
                stage_label=view.stage_label,
                officer_id=g.officer_id,
                guidance=view,
            )
        )
    for m in record.milestones:
        if m.reached_at is not None and m.reached_by is not None:
            stage = ProjectStage(m.stage)
            entries.append(
                TimelineEntry(
                    at=m.reached_at,
                    kind=TimelineKind.stage_reached,
                    actor=m.reached_by,
                    stage=stage,
                    stage_label=stage.label,
                    note=m.note,
                )
            )
    # Stable sort: within one kind, the record's own order (ids, stage positions) is kept.
    return sorted(entries, key=lambda e: (e.at, _KIND_ORDER[e.kind]))


def _read(record: projects.ProjectRecord) -> ProjectRead:
    today = shanghai_today()
    guided = [g.stage for g in record.guidance]
    stages = []
    for m in record.milestones:
        stage = ProjectStage(m.stage)
        stages.append(
            StageRead(
                stage=stage,
                label=stage.label,
                position=m.position,
                planned_on=m.planned_on,
                reached_at=m.reached_at,
                reached_by=m.reached_by,
                note=m.note,
                guidance_count=guided.count(m.stage),
                is_behind_plan=is_behind_plan(m.planned_on, m.reached_at is not None, today),
            )
        )
    project = record.project
    return ProjectRead(
        **_summary(project).model_dump(),
        description=project.description,
        registered_by=project.registered_by,
        stages=stages,
        officers=[
            OfficerRead(
                officer_id=a.officer_id, assigned_at=a.assigned_at, assigned_by=a.assigned_by
            )
            for a in record.officers
        ],
        timeline=_timeline(record),
    )


def _etag(project: Project) -> dict[str, str]:
    return {"ETag": etag(project.version)}


@projects_router.post(
    "",
    status_code=201,
    response_model=ProjectRead,
    summary="Register a key project with its stage plan and assigned officers (bureau)",
    responses={
        409: {"description": "project_exists"},
        422: {"description": "stage_plan_incomplete, stage_plan_out_of_order"},
    },
)
async def register_project(
    body: ProjectCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    registrar: BureauDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> ProjectRead:
        project = await projects.register_project(session, registrar, body)
        return _read(await projects.load_record(session, project))

    return await run_idempotent(
        session, runtime.tables, registrar, idempotency_key, "POST /projects", body, act
    )


@projects_router.get(
    "",
    response_model=Page[ProjectSummary],
    summary="Key projects: all of them for the bureau, its own for an enterprise",
)
async def list_projects(
    session: SessionDep,
    principal: CurrentPrincipal,
    district: Annotated[District | None, Query()] = None,
    stage: Annotated[
        ProjectStage | None, Query(description="Projects whose last reached stage is this")
    ] = None,
    officer_id: Annotated[
        OfficerId | None, Query(description="Projects this officer is assigned to")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ProjectSummary]:
    rows, next_cursor = await projects.list_projects(
        session,
        principal,
        projects.ProjectFilter(district=district, stage=stage, officer_id=officer_id),
        cursor,
        limit,
    )
    return Page[ProjectSummary](items=[_summary(p) for p in rows], next_cursor=next_cursor)


@projects_router.get(
    "/{project_id}",
    response_model=ProjectRead,
    summary="A key project: stages, assigned officers and the full record, oldest first",
)
async def get_project(
    project_id: ProjectId, session: SessionDep, principal: CurrentPrincipal, response: Response
) -> ProjectRead:
    project = await projects.readable_project(session, principal, project_id)
    response.headers.update(_etag(project))
    return _read(await projects.load_record(session, project))


@projects_router.post(
    "/{project_id}/officers",
    response_model=ProjectRead,
    summary="Assign officers to a key project (leader, admin)",
    responses={409: {"description": "officer_already_assigned"}},
)
async def assign_officers(
    project_id: ProjectId,
    body: OfficersAssign,
    session: SessionDep,
    actor: AssignerDep,
    response: Response,
) -> ProjectRead:
    project = await projects.get_project(session, project_id, for_update=True)
    await projects.assign_officers(session, actor, project, body.officer_ids)
    response.headers.update(_etag(project))
    return _read(await projects.load_record(session, project))


@projects_router.delete(
    "/{project_id}/officers/{officer_id}",
    response_model=ProjectRead,
    summary="Release an officer from a key project (leader, admin); one must remain",
    responses={
        404: {"description": "project_not_found, officer_not_assigned"},
        422: {"description": "project_needs_an_officer"},
    },
)
async def release_officer(
    project_id: ProjectId,
    officer_id: Annotated[str, Path(description="The officer's token subject")],
    session: SessionDep,
    actor: AssignerDep,
    response: Response,
) -> ProjectRead:
    project = await projects.get_project(session, project_id, for_update=True)
    await projects.release_officer(session, actor, project, officer_id)
    response.headers.update(_etag(project))
    return _read(await projects.load_record(session, project))


@projects_router.post(
    "/{project_id}/guidance",
    status_code=201,
    response_model=GuidanceRead,
    summary="Record guidance given before a stage (an officer assigned to the project)",
    responses={
        403: {"description": "officer_not_assigned"},
        409: {"description": "project_completed"},
        422: {"description": "stage_already_reached, follow_up_in_past"},
    },
)
async def record_guidance(
    project_id: ProjectId,
    body: GuidanceCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: OfficerDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> GuidanceRead:
        # Locked so that a stage cannot be marked reached while guidance for it is written.
        project = await projects.get_project(session, project_id, for_update=True)
        record = await projects.record_guidance(session, officer, project, body, shanghai_today())
        return _guidance(record)

    route = f"POST /projects/{project_id}/guidance"
    return await run_idempotent(session, runtime.tables, officer, idempotency_key, route, body, act)


@projects_router.post(
    "/{project_id}/stage",
    response_model=ProjectRead,
    summary="Mark the next stage reached (an assigned officer, or a leader); send If-Match",
    responses={
        403: {"description": "officer_not_assigned, stage_not_yours"},
        409: {"description": "project_completed, project_changed"},
        412: {"description": "version_mismatch, if_match_invalid"},
        422: {
            "description": "stage_skipped, stage_already_reached, guidance_required_before_stage"
        },
    },
)
async def advance_stage(
    project_id: ProjectId,
    body: StageAdvance,
    session: SessionDep,
    actor: StageActorDep,
    response: Response,
    expected: ExpectedVersion,
) -> ProjectRead:
    project = await projects.get_project(session, project_id, for_update=True)
    project = await projects.advance_stage(session, actor, project, body, expected)
    response.headers.update(_etag(project))
    return _read(await projects.load_record(session, project))
