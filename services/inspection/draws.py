"""Use cases: inspectors, the monthly double-random draw, guidance before inspection."""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.db import utcnow
from kernel.errors import Conflict, Forbidden, NotFound, RuleViolated, ServiceUnavailable
from services.inspection import draw as rules
from services.inspection.draws_schemas import (
    DrawCommit,
    DrawPublic,
    DrawRecomputed,
    GuidanceRequestCreate,
    InspectorCreate,
    InspectorUpdate,
    ListedEnterprise,
)
from services.inspection.models import Enterprise, Plan, PlanEntry
from services.inspection.models_draw import Draw, GuidanceRequest, Inspector


def _rule(exc: rules.DrawRuleViolated) -> RuleViolated:
    return RuleViolated(str(exc), code=exc.code, field=exc.field)


# --- inspectors ------------------------------------------------------------------------------


async def create_inspector(session: AsyncSession, data: InspectorCreate, actor: str) -> Inspector:
    """Enter an enforcement officer into the registry of inspectors."""
    taken = await session.scalar(sa.select(Inspector.id).where(Inspector.subject == data.subject))
    if taken is not None:
        raise Conflict(
            f"subject {data.subject!r} already belongs to inspector {taken}",
            code="inspector_exists",
            field="subject",
        )
    now = utcnow()
    inspector = Inspector(
        id=str(uuid.uuid4()),
        name=data.name,
        subject=data.subject,
        district=data.district,
        sectors=sorted({s.value for s in data.sectors}),
        conflicts=sorted(set(data.conflicts)),
        monthly_cap=data.monthly_cap,
        is_active=data.is_active,
        created_by=actor,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(inspector)
    await session.flush()
    return inspector


async def get_inspector(session: AsyncSession, inspector_id: str) -> Inspector:
    """The inspector, or 404."""
    inspector = await session.get(Inspector, inspector_id)
    if inspector is None:
        raise NotFound(f"inspector {inspector_id} not found", code="inspector_not_found")
    return inspector


async def list_inspectors(session: AsyncSession, *, active_only: bool) -> Sequence[Inspector]:
    """Inspectors by name."""
    query = sa.select(Inspector).order_by(Inspector.name, Inspector.id)
    if active_only:
        query = query.where(Inspector.is_active.is_(True))
    return (await session.scalars(query)).all()


async def update_inspector(
    session: AsyncSession, inspector_id: str, data: InspectorUpdate
) -> Inspector:
    """Change an inspector's qualifications, conflicts, cap or activity."""
    inspector = await get_inspector(session, inspector_id)
    if data.sectors is not None:
        inspector.sectors = sorted({s.value for s in data.sectors})
    if data.conflicts is not None:
        inspector.conflicts = sorted(set(data.conflicts))
    if data.monthly_cap is not None:
        inspector.monthly_cap = data.monthly_cap
    if data.is_active is not None:
        inspector.is_active = data.is_active
    inspector.updated_at = utcnow()
    inspector.version += 1
    await session.flush()
    return inspector


# --- the draw --------------------------------------------------------------------------------


async def get_draw(session: AsyncSession, year: int, month: int, *, lock: bool = False) -> Draw:
    """The month's draw, or 404."""
    query = sa.select(Draw).where(Draw.year == year, Draw.month == month)
    if lock:
        query = query.with_for_update()
    found = await session.scalar(query)
    if found is None:
        raise NotFound(f"no draw for {year}-{month:02d}", code="draw_not_found")
    return found


async def _approved_plan(session: AsyncSession, year: int) -> Plan:
    plan = await session.scalar(
        sa.select(Plan)
        .where(Plan.year == year, Plan.state == "approved")
        .order_by(Plan.generated_at.desc())
        .limit(1)
    )
    if plan is None:
        raise RuleViolated(
            f"there is no approved plan for {year}: the draw takes its pool from it",
            code="plan_not_approved",
            field="year",
        )
    return plan


async def _drawn_this_year(session: AsyncSession, year: int, month: int) -> Counter[str]:
    """How often each enterprise was drawn in the year's other months (a later month may be
    published first); refuses while one is unrevealed, since its selection could already use
    up an enterprise's yearly maximum."""
    earlier = (
        await session.scalars(
            sa.select(Draw).where(Draw.year == year, Draw.month != month).order_by(Draw.month)
        )
    ).all()
    counts: Counter[str] = Counter()
    for d in earlier:
        if d.state != rules.DrawState.revealed or d.result is None:
            raise Conflict(
                f"the draw for {year}-{d.month:02d} is not revealed yet; its selection counts "
                f"toward the yearly maxima, so another month waits for it",
                code="earlier_draw_unrevealed",
            )
        counts.update(d.result["selected"])
    return counts


def _roster(inspectors: Sequence[Inspector]) -> tuple[rules.RosterEntry, ...]:
    return tuple(
        rules.RosterEntry(i.id, i.name, tuple(sorted(i.sectors)), i.monthly_cap)
        for i in sorted(inspectors, key=lambda i: i.id)
    )


def _check_staffing(
    pool: Sequence[rules.PoolEntry],
    planned: Sequence[rules.PlannedEntry],
    count: int,
    team_size: int,
    roster: Sequence[rules.RosterEntry],
    conflicts: rules.Conflicts,
) -> None:
    """Refuse to publish a month that cannot be staffed whatever the draw picks."""
    everyone = [rules.TeamDemand(e.uscc, e.sector) for e in planned] + [
        rules.TeamDemand(e.uscc, e.sector) for e in pool
    ]
    problems = [
        p
        for p in rules.team_problems(everyone, roster, conflicts, team_size)
        if p.rule == "qualified_inspectors_insufficient"
    ]
    planned_demands = [rules.TeamDemand(e.uscc, e.sector) for e in planned]
    problems += [
        p
        for p in rules.team_problems(planned_demands, roster, conflicts, team_size)
        if p.rule != "qualified_inspectors_insufficient"
    ]
    visits = team_size * (len(planned) + count)
    capacity = sum(r.monthly_cap for r in roster)
    if visits > capacity and not any(p.rule == "workload_cap" for p in problems):
        problems.append(
            rules.TeamProblem(
                "workload_cap",
                f"the month needs {visits} inspector-visits; the roster's caps allow {capacity}",
            )
        )
    if problems:
        raise RuleViolated(
            "the month cannot be staffed: " + "; ".join(p.detail for p in problems[:5]),
            code="team_unavailable",
            field="team_size",
            problems=[p.document() for p in problems],
        )


async def commit_draw(
    session: AsyncSession, year: int, month: int, data: DrawCommit, actor: str, today: date
) -> Draw:
    """Freeze the month's inputs, seal a fresh secret and publish its commitment."""
    try:
        rules.check_publication_date(today, year, month)
        source = rules.RandomnessSource(
            data.source.name, data.source.round, data.source.expected_on
        )
        rules.check_source(source, today, year, month)
    except rules.DrawRuleViolated as exc:
        raise _rule(exc) from exc
    existing = await session.scalar(
        sa.select(Draw.id).where(Draw.year == year, Draw.month == month)
    )
    if existing is not None:
        raise Conflict(f"the draw for {year}-{month:02d} is already published", code="draw_exists")
    plan = await _approved_plan(session, year)
    drawn = await _drawn_this_year(session, year, month)
    lines = (await session.scalars(sa.select(PlanEntry).where(PlanEntry.plan_id == plan.id))).all()
    named = await session.execute(
        sa.select(Enterprise.uscc, Enterprise.name).where(
            Enterprise.uscc.in_(sa.select(PlanEntry.uscc).where(PlanEntry.plan_id == plan.id))
        )
    )
    names = {uscc: name for uscc, name in named.all()}
    pool, planned = rules.monthly_list(lines, month, drawn, names)
    try:
        count = rules.count_to_draw(len(pool), data.count, data.percentage)
    except rules.DrawRuleViolated as exc:
        raise _rule(exc) from exc
    inspectors = (
        await session.scalars(sa.select(Inspector).where(Inspector.is_active.is_(True)))
    ).all()
    roster = _roster(inspectors)
    conflicts = rules.relevant_conflicts(
        {i.id: frozenset(i.conflicts) for i in inspectors},
        [e.uscc for e in pool] + [e.uscc for e in planned],
        roster,
    )
    _check_staffing(pool, planned, count, data.team_size, roster, conflicts)
    salt = secrets.token_bytes(rules.SECRET_BYTES)
    inputs = rules.DrawInputs(
        year=year,
        month=month,
        pool=pool,
        planned=planned,
        draw_count=count,
        team_size=data.team_size,
        roster=roster,
        conflicts_digest=rules.conflicts_digest(salt, conflicts),
        source=source,
    )
    secret = secrets.token_bytes(rules.SECRET_BYTES)
    row = Draw(
        id=str(uuid.uuid4()),
        year=year,
        month=month,
        state=rules.DrawState.committed.value,
        plan_id=plan.id,
        inputs=inputs.document(),
        inputs_digest=inputs.digest().hex(),
        commitment=rules.commitment_of(secret),
        secret=secret.hex(),
        conflicts_salt=salt.hex(),
        conflicts=rules.conflicts_document(conflicts),
        committed_on=today,
        committed_by=actor,
        committed_at=utcnow(),
        version=1,
    )
    session.add(row)
    await session.flush()
    return row


def _published(row: Draw) -> rules.PublishedDraw:
    return rules.PublishedDraw(
        inputs=rules.DrawInputs.from_document(row.inputs),
        commitment=row.commitment,
        secret=bytes.fromhex(row.secret),
        public_value=row.public_value or "",
        conflicts={i: frozenset(us) for i, us in row.conflicts.items()},
    )


async def reveal_draw(
    session: AsyncSession, year: int, month: int, public_value: str, actor: str, today: date
) -> Draw:
    """Record the public value, reveal the secret, draw and assign the teams."""
    row = await get_draw(session, year, month, lock=True)
    if row.state != rules.DrawState.committed:
        raise Conflict(f"the draw for {year}-{month:02d} is already revealed", code="draw_revealed")
    published = _published(row)
    try:
        rules.check_reveal_date(published.inputs.source, today, year, month)
        result = rules.recompute(
            rules.PublishedDraw(
                published.inputs,
                row.commitment,
                published.secret,
                public_value,
                published.conflicts,
            )
        )
    except rules.DrawRuleViolated as exc:
        raise _rule(exc) from exc
    except rules.TeamsInfeasible as exc:
        raise RuleViolated(
            f"the draw cannot be staffed: {exc}",
            code=exc.code,
            field="roster",
            problems=[p.document() for p in exc.problems],
        ) from exc
    except rules.TeamsNotProven as exc:
        raise ServiceUnavailable(
            f"the team assignment was not proven optimal, so it would not be reproducible: {exc}",
            code="team_assignment_unproven",
        ) from exc
    row.state = rules.DrawState.revealed.value
    row.public_value = public_value
    row.seed = result.seed
    row.result = result.document()
    row.revealed_on = today
    row.revealed_by = actor
    row.revealed_at = utcnow()
    row.version += 1
    await session.flush()
    return row


def public_view(row: Draw) -> DrawPublic:
    """The publication: pool and commitment before reveal; secret, seed and teams after."""
    inputs = row.inputs
    revealed = row.state == rules.DrawState.revealed and row.result is not None
    names = {r["id"]: r["name"] for r in inputs["roster"]}
    teams: dict[str, list[str]] = row.result["teams"] if revealed and row.result else {}

    def team_of(uscc: str) -> list[str] | None:
        return [names[i] for i in teams[uscc]] if uscc in teams else None

    listed = [
        ListedEnterprise(
            uscc=p["uscc"],
            name=p["name"],
            district=p["district"],
            sector=p["sector"],
            kind="planned",
            team=team_of(p["uscc"]),
        )
        for p in inputs["planned"]
    ]
    if revealed and row.result is not None:
        pool = {p["uscc"]: p for p in inputs["pool"]}
        listed += [
            ListedEnterprise(
                uscc=u,
                name=pool[u]["name"],
                district=pool[u]["district"],
                sector=pool[u]["sector"],
                kind="drawn",
                rank=rank,
                team=team_of(u),
            )
            for rank, u in enumerate(row.result["selected"], start=1)
        ]
    return DrawPublic(
        year=row.year,
        month=row.month,
        state=row.state,
        published_on=row.committed_on,
        commitment=row.commitment,
        inputs_digest=row.inputs_digest,
        source=inputs["source"],
        draw_count=inputs["draw_count"],
        pool_size=len(inputs["pool"]),
        listed=listed,
        inputs=inputs,
        revealed_on=row.revealed_on,
        secret=row.secret if revealed else None,
        public_value=row.public_value if revealed else None,
        seed=row.seed if revealed else None,
    )


async def recompute_draw(session: AsyncSession, year: int, month: int) -> DrawRecomputed:
    """Replay a revealed draw from its published inputs and compare with what was published."""
    row = await get_draw(session, year, month)
    if row.state != rules.DrawState.revealed or row.result is None:
        raise Conflict(
            f"the draw for {year}-{month:02d} is not revealed yet", code="draw_not_revealed"
        )
    published = _published(row)
    try:
        again = rules.recompute(published)
    except rules.TeamsNotProven as exc:
        raise ServiceUnavailable(str(exc), code="team_assignment_unproven") from exc
    stored = rules.DrawResult.from_document(row.result)
    digest_ok = (
        rules.conflicts_digest(bytes.fromhex(row.conflicts_salt), published.conflicts)
        == published.inputs.conflicts_digest
    )
    selection_ok = again.selected == stored.selected and again.seed == stored.seed
    teams_ok = dict(again.teams) == dict(stored.teams)
    names = {r.id: r.name for r in published.inputs.roster}
    return DrawRecomputed(
        matches=selection_ok and teams_ok and digest_ok,
        selection_matches=selection_ok,
        teams_match=teams_ok,
        conflicts_digest_matches=digest_ok,
        seed=again.seed,
        selected=list(again.selected),
        teams={u: [names[i] for i in t] for u, t in sorted(again.teams.items())},
    )


# --- guidance before inspection --------------------------------------------------------------


def listed_usccs(row: Draw) -> frozenset[str]:
    """Planned enterprises from publication; drawn ones once revealed."""
    planned = {p["uscc"] for p in row.inputs["planned"]}
    drawn = set(row.result["selected"]) if row.result else set()
    return frozenset(planned | drawn)


async def request_guidance(
    session: AsyncSession,
    year: int,
    month: int,
    data: GuidanceRequestCreate,
    enterprise: Principal,
    today: date,
) -> GuidanceRequest:
    """A listed enterprise asks for guidance before its inspection."""
    row = await get_draw(session, year, month)
    if enterprise.subject not in listed_usccs(row):
        raise RuleViolated(
            f"{enterprise.subject} is not on the published list for {year}-{month:02d}"
            + ("" if row.result else " (drawn enterprises are known once the draw is revealed)"),
            code="enterprise_not_listed",
            field="uscc",
        )
    if today > rules.last_day(year, month):
        raise RuleViolated(
            f"the inspections of {year}-{month:02d} are over; guidance is asked before them",
            code="inspection_month_over",
            field="month",
        )
    request = GuidanceRequest(
        id=str(uuid.uuid4()),
        draw_id=row.id,
        uscc=enterprise.subject,
        question=data.question,
        contact=data.contact,
        state="open",
        created_at=utcnow(),
        version=1,
    )
    session.add(request)
    await session.flush()
    return request


async def list_guidance(
    session: AsyncSession, year: int, month: int, reader: Principal
) -> Sequence[GuidanceRequest]:
    """The month's requests: the bureau sees all, an enterprise its own."""
    row = await get_draw(session, year, month)
    query = (
        sa.select(GuidanceRequest)
        .where(GuidanceRequest.draw_id == row.id)
        .order_by(GuidanceRequest.created_at, GuidanceRequest.id)
    )
    if reader.role is Role.enterprise:
        query = query.where(GuidanceRequest.uscc == reader.subject)
    return (await session.scalars(query)).all()


async def _guidance(
    session: AsyncSession, year: int, month: int, request_id: str
) -> tuple[Draw, GuidanceRequest]:
    row = await get_draw(session, year, month)
    request = await session.get(GuidanceRequest, request_id, with_for_update=True)
    if request is None or request.draw_id != row.id:
        raise NotFound(
            f"guidance request {request_id} not found", code="guidance_request_not_found"
        )
    return row, request


async def assign_guidance(
    session: AsyncSession, year: int, month: int, request_id: str, inspector_id: str, actor: str
) -> GuidanceRequest:
    """Assign an active inspector with no conflict for the enterprise to give the guidance."""
    _row, request = await _guidance(session, year, month, request_id)
    if request.state == "answered":
        raise Conflict("the request is already answered", code="guidance_answered")
    inspector = await session.get(Inspector, inspector_id)
    if inspector is None or not inspector.is_active:
        raise RuleViolated(
            f"inspector {inspector_id} is not an active inspector",
            code="inspector_unavailable",
            field="inspector_id",
        )
    if request.uscc in inspector.conflicts:
        raise RuleViolated(
            f"{inspector.name} has a declared conflict of interest with {request.uscc}",
            code="conflict_of_interest",
            field="inspector_id",
        )
    request.inspector_id = inspector.id
    request.assigned_by = actor
    request.assigned_at = utcnow()
    request.state = "assigned"
    request.version += 1
    await session.flush()
    return request


async def answer_guidance(
    session: AsyncSession, year: int, month: int, request_id: str, answer: str, actor: Principal
) -> GuidanceRequest:
    """The assigned inspector (or a leader) records the guidance given."""
    _row, request = await _guidance(session, year, month, request_id)
    if request.state != "assigned" or request.inspector_id is None:
        raise Conflict(
            f"the request is {request.state}; an assigned request is answered",
            code="guidance_not_assigned",
        )
    inspector = await get_inspector(session, request.inspector_id)
    if actor.role is not Role.leader and inspector.subject != actor.subject:
        raise Forbidden(
            "only the assigned inspector or a leader may answer", code="guidance_not_yours"
        )
    request.answer = answer
    request.answered_by = actor.key
    request.answered_at = utcnow()
    request.state = "answered"
    request.version += 1
    await session.flush()
    return request
