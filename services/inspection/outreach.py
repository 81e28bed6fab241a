"""Outreach use cases ("1+21+N" groups, monthly themes, sessions, attendance, figures)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import utcnow
from kernel.errors import Conflict, NotFound
from services.inspection.models_guidance import (
    OutreachAttendance,
    OutreachGroup,
    OutreachMember,
    OutreachSession,
    OutreachTheme,
)
from services.inspection.outreach_domain import (
    AttendanceLine,
    MemberDraft,
    MemberKind,
    OrganiserKind,
    SessionMode,
    check_attendance,
    check_committee_capacity,
    check_key_project,
    check_lead_kept,
    check_members,
    check_theme_set,
    check_venue,
)
from services.inspection.outreach_schemas import (
    AttendanceWrite,
    GroupCreate,
    MemberCreate,
    SessionCreate,
    ThemeCreate,
)


def _draft(member: MemberCreate | OutreachMember) -> MemberDraft:
    return MemberDraft(kind=MemberKind(member.kind), is_lead=member.is_lead, uscc=member.uscc)


async def create_group(session: AsyncSession, data: GroupCreate, actor: str) -> OutreachGroup:
    """Form an outreach group (宣讲团) under the city committee or a professional committee."""
    check_members([_draft(m) for m in data.members])
    organisers = await session.scalars(
        sa.select(OutreachGroup.organiser)
        .where(OutreachGroup.organiser_kind == OrganiserKind.professional_committee.value)
        .distinct()
    )
    check_committee_capacity(data.organiser_kind, data.organiser, organisers)
    if await session.scalar(sa.select(OutreachGroup.id).where(OutreachGroup.name == data.name)):
        raise Conflict(f"a group named {data.name!r} exists", code="group_exists", field="name")
    group = OutreachGroup(
        id=str(uuid.uuid4()),
        name=data.name,
        organiser_kind=data.organiser_kind.value,
        organiser=data.organiser,
        sectors=[s.value for s in data.sectors],
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(group)
    await session.flush()
    for member in data.members:
        session.add(_member(group.id, member))
    await session.flush()
    return group


def _member(group_id: str, data: MemberCreate) -> OutreachMember:
    return OutreachMember(
        group_id=group_id,
        kind=data.kind.value,
        name=data.name,
        organisation=data.organisation,
        uscc=data.uscc,
        phone=data.phone,
        is_lead=data.is_lead,
    )


async def add_member(
    session: AsyncSession, group: OutreachGroup, data: MemberCreate
) -> OutreachMember:
    """A person joins a group (the "N" grows as experts join)."""
    existing = await members_of(session, group.id)
    check_lead_kept([_draft(m) for m in existing], data.is_lead)
    # The single-member checks (USCC only for safety managers) hold for the newcomer too.
    check_members([MemberDraft(MemberKind(data.kind), True, data.uscc)], field="member")
    member = _member(group.id, data)
    session.add(member)
    await session.flush()
    return member


async def get_group(session: AsyncSession, group_id: str) -> OutreachGroup:
    group = await session.get(OutreachGroup, group_id)
    if group is None:
        raise NotFound(f"group {group_id} not found", code="group_not_found")
    return group


async def list_groups(session: AsyncSession) -> Sequence[OutreachGroup]:
    return (await session.scalars(sa.select(OutreachGroup).order_by(OutreachGroup.name))).all()


async def members_of(session: AsyncSession, group_id: str) -> Sequence[OutreachMember]:
    query = sa.select(OutreachMember).where(OutreachMember.group_id == group_id)
    return (await session.scalars(query.order_by(OutreachMember.id))).all()


async def member_counts(session: AsyncSession) -> dict[str, dict[MemberKind, int]]:
    """Per group, how many members of each kind."""
    rows = await session.execute(
        sa.select(OutreachMember.group_id, OutreachMember.kind, sa.func.count()).group_by(
            OutreachMember.group_id, OutreachMember.kind
        )
    )
    counts: dict[str, dict[MemberKind, int]] = defaultdict(dict)
    for group_id, kind, n in rows:
        counts[group_id][MemberKind(kind)] = int(n)
    return counts


async def set_theme(session: AsyncSession, data: ThemeCreate, actor: str) -> OutreachTheme:
    """Set the theme of a month (每月确定一个主题); a month has one theme."""
    held = await session.scalar(
        sa.select(OutreachTheme).where(
            OutreachTheme.year == data.year, OutreachTheme.month == data.month
        )
    )
    if held is not None:
        raise Conflict(
            f"{data.year}-{data.month:02d} already has the theme {held.theme!r}",
            code="theme_exists",
            field="month",
        )
    theme = OutreachTheme(
        id=str(uuid.uuid4()),
        year=data.year,
        month=data.month,
        theme=data.theme,
        content=data.content,
        set_by=actor,
        set_at=utcnow(),
    )
    session.add(theme)
    await session.flush()
    return theme


async def list_themes(session: AsyncSession, year: int) -> Sequence[OutreachTheme]:
    query = sa.select(OutreachTheme).where(OutreachTheme.year == year)
    return (await session.scalars(query.order_by(OutreachTheme.month))).all()


async def schedule_session(
    session: AsyncSession, data: SessionCreate, actor: str
) -> OutreachSession:
    """Schedule a session of a group under its month's theme."""
    group = await session.get(OutreachGroup, data.group_id)
    if group is None:
        raise NotFound(f"group {data.group_id} not found", code="group_not_found", field="group_id")
    check_venue(data.mode, data.location, data.link)
    check_key_project(data.key_project, data.project_stage)
    theme = await session.scalar(
        sa.select(OutreachTheme).where(
            OutreachTheme.year == data.held_on.year, OutreachTheme.month == data.held_on.month
        )
    )
    check_theme_set(theme is not None, data.held_on)
    assert theme is not None
    row = OutreachSession(
        id=str(uuid.uuid4()),
        group_id=group.id,
        theme_id=theme.id,
        held_on=data.held_on,
        topic=data.topic,
        sector=data.sector.value,
        mode=data.mode.value,
        location=data.location if data.mode is SessionMode.offline else None,
        link=data.link if data.mode is SessionMode.online else None,
        key_project=data.key_project,
        project_stage=data.project_stage.value if data.project_stage else None,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def get_session(session: AsyncSession, session_id: str) -> OutreachSession:
    row = await session.get(OutreachSession, session_id)
    if row is None:
        raise NotFound(f"session {session_id} not found", code="session_not_found")
    return row


async def record_attendance(
    session: AsyncSession, row: OutreachSession, data: AttendanceWrite, today: date
) -> OutreachSession:
    """Record who came and how many questions were answered; a correction replaces the lines."""
    check_attendance(
        row.held_on,
        today,
        [AttendanceLine(line.uscc, line.attendees) for line in data.enterprises],
        data.total_attendees,
    )
    await session.execute(
        sa.delete(OutreachAttendance).where(OutreachAttendance.session_id == row.id)
    )
    for line in data.enterprises:
        session.add(
            OutreachAttendance(
                session_id=row.id,
                uscc=line.uscc,
                enterprise_name=line.enterprise_name,
                attendees=line.attendees,
                contact_name=line.contact_name,
            )
        )
    row.total_attendees = data.total_attendees
    row.questions_answered = data.questions_answered
    row.attendance_recorded_at = utcnow()
    await session.flush()
    return row


async def attendance_of(session: AsyncSession, session_id: str) -> Sequence[OutreachAttendance]:
    query = sa.select(OutreachAttendance).where(OutreachAttendance.session_id == session_id)
    return (await session.scalars(query.order_by(OutreachAttendance.uscc))).all()


@dataclass(frozen=True)
class SessionFilter:
    year: int | None = None
    month: int | None = None
    sector: str | None = None
    mode: str | None = None
    group_id: str | None = None


async def list_sessions(
    session: AsyncSession, where: SessionFilter, after: tuple[date, str] | None, limit: int
) -> Sequence[OutreachSession]:
    """Sessions, latest first, after a (held_on, id) cursor."""
    query = sa.select(OutreachSession).order_by(
        OutreachSession.held_on.desc(), OutreachSession.id.desc()
    )
    if where.year is not None:
        first = date(where.year, where.month or 1, 1)
        last_month = where.month or 12
        end = (
            date(where.year + 1, 1, 1) if last_month == 12 else date(where.year, last_month + 1, 1)
        )
        query = query.where(OutreachSession.held_on >= first, OutreachSession.held_on < end)
    for column, value in (
        (OutreachSession.sector, where.sector),
        (OutreachSession.mode, where.mode),
        (OutreachSession.group_id, where.group_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        held_on, session_id = after
        query = query.where(
            sa.or_(
                OutreachSession.held_on < held_on,
                sa.and_(OutreachSession.held_on == held_on, OutreachSession.id < session_id),
            )
        )
    return (await session.scalars(query.limit(limit))).all()


async def enterprise_counts(session: AsyncSession, session_ids: Sequence[str]) -> dict[str, int]:
    """Per session, how many enterprises attended."""
    if not session_ids:
        return {}
    rows = await session.execute(
        sa.select(OutreachAttendance.session_id, sa.func.count())
        .where(OutreachAttendance.session_id.in_(session_ids))
        .group_by(OutreachAttendance.session_id)
    )
    return {sid: int(n) for sid, n in rows}


async def sessions_attended(session: AsyncSession, uscc: str) -> list[tuple[OutreachSession, int]]:
    """The sessions an enterprise attended, latest first, with how many of its people came."""
    rows = await session.execute(
        sa.select(OutreachSession, OutreachAttendance.attendees)
        .join(OutreachAttendance, OutreachAttendance.session_id == OutreachSession.id)
        .where(OutreachAttendance.uscc == uscc)
        .order_by(OutreachSession.held_on.desc(), OutreachSession.id.desc())
    )
    return [(row, int(n)) for row, n in rows]


async def names(
    session: AsyncSession, rows: Sequence[OutreachSession]
) -> tuple[dict[str, str], dict[str, str]]:
    """Group names and theme titles of these sessions, for their public view."""
    group_ids = {r.group_id for r in rows}
    theme_ids = {r.theme_id for r in rows}
    group_rows = await session.execute(
        sa.select(OutreachGroup.id, OutreachGroup.name).where(OutreachGroup.id.in_(group_ids))
    )
    theme_rows = await session.execute(
        sa.select(OutreachTheme.id, OutreachTheme.theme).where(OutreachTheme.id.in_(theme_ids))
    )
    groups = {gid: name for gid, name in group_rows}
    themes = {tid: theme for tid, theme in theme_rows}
    return groups, themes


@dataclass
class _Cell:
    sessions: int = 0
    online: int = 0
    offline: int = 0
    enterprises: int = 0
    attendees: int = 0
    questions_answered: int = 0


@dataclass(frozen=True)
class YearFigures:
    year: int
    cells: dict[tuple[int, str], _Cell]
    groups: int
    professional_committees: int
    experts: int


async def figures(session: AsyncSession, year: int, today: date) -> YearFigures:
    """Sessions held (not merely scheduled) in a year by month and sector, and the system's size.

    A session counts once held (on or before today); its attendees and questions count once
    recorded.
    """
    rows = (
        await session.scalars(
            sa.select(OutreachSession).where(
                OutreachSession.held_on >= date(year, 1, 1),
                OutreachSession.held_on < date(year + 1, 1, 1),
                OutreachSession.held_on <= today,
            )
        )
    ).all()
    enterprises = await enterprise_counts(session, [r.id for r in rows])
    cells: dict[tuple[int, str], _Cell] = defaultdict(_Cell)
    for row in rows:
        cell = cells[(row.held_on.month, row.sector)]
        cell.sessions += 1
        if row.mode == SessionMode.online.value:
            cell.online += 1
        else:
            cell.offline += 1
        cell.enterprises += enterprises.get(row.id, 0)
        cell.attendees += row.total_attendees or 0
        cell.questions_answered += row.questions_answered or 0
    groups = int(await session.scalar(sa.select(sa.func.count()).select_from(OutreachGroup)) or 0)
    committees = int(
        await session.scalar(
            sa.select(sa.func.count(sa.distinct(OutreachGroup.organiser))).where(
                OutreachGroup.organiser_kind == OrganiserKind.professional_committee.value
            )
        )
        or 0
    )
    # The same expert may serve in several groups: count people by name and organisation.
    experts = int(
        await session.scalar(
            sa.select(sa.func.count()).select_from(
                sa.select(OutreachMember.name, OutreachMember.organisation)
                .where(OutreachMember.kind == MemberKind.expert.value)
                .distinct()
                .subquery()
            )
        )
        or 0
    )
    return YearFigures(year, dict(cells), groups, committees, experts)
