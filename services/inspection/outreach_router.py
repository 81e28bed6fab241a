"""Outreach endpoints: the bureau manages groups, themes and sessions; the public reads themes,
sessions and figures; an enterprise sees the sessions it attended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from kernel.app import SessionDep
from kernel.auth import Principal, Role, require_roles
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.versioning import ExpectedVersion, check_version, etag
from kernel.vocab import Sector
from services.inspection import outreach
from services.inspection.dependencies import OfficerDep, business_today
from services.inspection.models_guidance import OutreachGroup, OutreachSession
from services.inspection.outreach_domain import (
    MemberKind,
    OrganiserKind,
    ProjectStage,
    SessionMode,
)
from services.inspection.outreach_schemas import (
    AttendanceLineRead,
    AttendanceRead,
    AttendanceWrite,
    AttendedSessionRead,
    Figures,
    FiguresRow,
    GroupCreate,
    GroupDetail,
    GroupRead,
    MemberCreate,
    MemberRead,
    SessionCreate,
    SessionRead,
    ThemeCreate,
    ThemeRead,
)

router = APIRouter(prefix="/outreach", tags=["outreach"])

EnterpriseDep = Annotated[Principal, Depends(require_roles(Role.enterprise))]


TodayDep = Annotated[date, Depends(business_today)]


def _group_read(group: OutreachGroup, counts: dict[MemberKind, int]) -> GroupRead:
    return GroupRead(
        id=group.id,
        name=group.name,
        organiser_kind=OrganiserKind(group.organiser_kind),
        organiser=group.organiser,
        sectors=[Sector(s) for s in group.sectors],
        member_counts={kind: counts.get(kind, 0) for kind in MemberKind},
    )


async def _group_detail(session: SessionDep, group: OutreachGroup) -> GroupDetail:
    members = await outreach.members_of(session, group.id)
    counts: dict[MemberKind, int] = {}
    for m in members:
        counts[MemberKind(m.kind)] = counts.get(MemberKind(m.kind), 0) + 1
    summary = _group_read(group, counts)
    return GroupDetail(
        **summary.model_dump(), members=[MemberRead.model_validate(m) for m in members]
    )


async def _session_views(session: SessionDep, rows: Sequence[OutreachSession]) -> list[SessionRead]:
    groups, themes = await outreach.names(session, rows)
    enterprises = await outreach.enterprise_counts(session, [r.id for r in rows])
    return [
        SessionRead(
            id=r.id,
            group_id=r.group_id,
            group_name=groups[r.group_id],
            theme=themes[r.theme_id],
            held_on=r.held_on,
            topic=r.topic,
            sector=Sector(r.sector),
            mode=SessionMode(r.mode),
            location=r.location,
            link=r.link,
            key_project=r.key_project,
            project_stage=ProjectStage(r.project_stage) if r.project_stage else None,
            enterprises_attended=(
                enterprises.get(r.id, 0) if r.attendance_recorded_at is not None else None
            ),
            total_attendees=r.total_attendees,
            questions_answered=r.questions_answered,
            version=r.version,
        )
        for r in rows
    ]


def _with_etag(view: SessionRead, status: int = 200) -> Response:
    return Response(
        view.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers={"ETag": etag(view.version)},
    )


@router.post("/groups", status_code=201, response_model=GroupDetail, summary="Form a group")
async def create_group(body: GroupCreate, session: SessionDep, officer: OfficerDep) -> GroupDetail:
    group = await outreach.create_group(session, body, officer.key)
    return await _group_detail(session, group)


@router.get("/groups", response_model=list[GroupRead], summary="Groups and their make-up")
async def list_groups(session: SessionDep) -> list[GroupRead]:
    counts = await outreach.member_counts(session)
    return [_group_read(g, counts.get(g.id, {})) for g in await outreach.list_groups(session)]


@router.get(
    "/groups/{group_id}", response_model=GroupDetail, summary="A group with its members (bureau)"
)
async def get_group(group_id: str, session: SessionDep, _officer: OfficerDep) -> GroupDetail:
    return await _group_detail(session, await outreach.get_group(session, group_id))


@router.post(
    "/groups/{group_id}/members",
    status_code=201,
    response_model=MemberRead,
    summary="Add a member to a group",
)
async def add_member(
    group_id: str, body: MemberCreate, session: SessionDep, _officer: OfficerDep
) -> MemberRead:
    group = await outreach.get_group(session, group_id)
    return MemberRead.model_validate(await outreach.add_member(session, group, body))


@router.post("/themes", status_code=201, response_model=ThemeRead, summary="Set a month's theme")
async def set_theme(body: ThemeCreate, session: SessionDep, officer: OfficerDep) -> ThemeRead:
    return ThemeRead.model_validate(await outreach.set_theme(session, body, officer.key))


@router.get("/themes", response_model=list[ThemeRead], summary="The monthly themes of a year")
async def list_themes(
    session: SessionDep, year: Annotated[int, Query(ge=2000, le=2100)]
) -> list[ThemeRead]:
    return [ThemeRead.model_validate(t) for t in await outreach.list_themes(session, year)]


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionRead,
    summary="Schedule",
    responses={404: {"description": "group_not_found: no outreach group has that group_id"}},
)
async def schedule_session(
    body: SessionCreate, session: SessionDep, officer: OfficerDep
) -> Response:
    row = await outreach.schedule_session(session, body, officer.key)
    (view,) = await _session_views(session, [row])
    return _with_etag(view, 201)


@router.get("/sessions", response_model=Page[SessionRead], summary="Sessions, latest first")
async def list_sessions(
    session: SessionDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    month: Annotated[int | None, Query(ge=1, le=12, description="With year")] = None,
    sector: Sector | None = None,
    mode: SessionMode | None = None,
    group_id: Annotated[str | None, Query(max_length=36)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[SessionRead]:
    after = None
    if cursor:
        after = date_cursor(cursor)
    where = outreach.SessionFilter(
        year=year,
        month=month if year is not None else None,
        sector=sector.value if sector else None,
        mode=mode.value if mode else None,
        group_id=group_id,
    )
    rows = await outreach.list_sessions(session, where, after, limit + 1)
    items = await _session_views(session, rows[:limit])
    next_cursor = (
        encode_cursor(items[-1].held_on.isoformat(), items[-1].id) if len(rows) > limit else None
    )
    return Page[SessionRead](items=items, next_cursor=next_cursor)


@router.get(
    "/sessions/attended",
    response_model=list[AttendedSessionRead],
    summary="The sessions the calling enterprise attended",
)
async def sessions_attended(
    session: SessionDep, enterprise: EnterpriseDep
) -> list[AttendedSessionRead]:
    attended = await outreach.sessions_attended(session, enterprise.subject)
    views = await _session_views(session, [row for row, _ in attended])
    return [
        AttendedSessionRead(**view.model_dump(), my_attendees=n)
        for view, (_, n) in zip(views, attended, strict=True)
    ]


@router.get("/sessions/{session_id}", response_model=SessionRead, summary="One session")
async def get_session(session_id: str, session: SessionDep) -> Response:
    (view,) = await _session_views(session, [await outreach.get_session(session, session_id)])
    return _with_etag(view)


@router.put(
    "/sessions/{session_id}/attendance",
    response_model=SessionRead,
    summary="Record (or correct) a held session's attendance and questions answered",
)
async def record_attendance(
    session_id: str,
    body: AttendanceWrite,
    session: SessionDep,
    _officer: OfficerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    row = await outreach.get_session(session, session_id)
    check_version(row.version, expected)
    row = await outreach.record_attendance(session, row, body, today)
    (view,) = await _session_views(session, [row])
    return _with_etag(view)


@router.get(
    "/sessions/{session_id}/attendance",
    response_model=AttendanceRead,
    summary="Who attended (bureau only: contacts are personal data)",
)
async def get_attendance(
    session_id: str, session: SessionDep, _officer: OfficerDep
) -> AttendanceRead:
    row = await outreach.get_session(session, session_id)
    lines = await outreach.attendance_of(session, row.id)
    return AttendanceRead(
        session_id=row.id,
        total_attendees=row.total_attendees,
        questions_answered=row.questions_answered,
        enterprises=[AttendanceLineRead.model_validate(line) for line in lines],
    )


@router.get("/figures", response_model=Figures, summary="Sessions, attendees, questions by month")
async def figures(
    session: SessionDep, today: TodayDep, year: Annotated[int, Query(ge=2000, le=2100)]
) -> Figures:
    data = await outreach.figures(session, year, today)
    rows = [
        FiguresRow(month=month, sector=Sector(sector), **vars(cell))
        for (month, sector), cell in sorted(data.cells.items())
    ]
    return Figures(
        year=year,
        rows=rows,
        sessions=sum(r.sessions for r in rows),
        attendees=sum(r.attendees for r in rows),
        questions_answered=sum(r.questions_answered for r in rows),
        groups=data.groups,
        professional_committees=data.professional_committees,
        experts=data.experts,
    )
