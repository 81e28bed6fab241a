"""Government supervision of what insurers deliver: scorecards, overdue obligations, the
bureau's summary, an enterprise's service history and coverage gaps. Reads only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.errors import Forbidden, NotFound, RuleViolated
from kernel.vocab import Sector
from services.insurance.coverage import (
    PolicyCover,
    end_reason,
    last_covered_on,
    next_cover,
    previous_cover,
    uncovered_since,
)
from services.insurance.domain import (
    ObligationKind,
    ObligationStatus,
    PolicyStatus,
    is_overdue,
)
from services.insurance.models import (
    Enterprise,
    HazardAssistanceReport,
    Insurer,
    Obligation,
    Policy,
    RiskAssessment,
    ServiceRecord,
    Whistle,
)
from services.insurance.scorecard import (
    InsurerFacts,
    ObligationFacts,
    Period,
    PeriodInvalid,
    Scorecard,
    WhistleFacts,
    check_period,
    instant_bounds,
    is_ack_breached,
    is_delivery_breached,
    month_of,
    monthly_series,
    score_obligations,
    scorecard,
)
from services.insurance.supervision_schemas import (
    CoverageGapRead,
    EndedPolicyRead,
    HistoryAssistanceReportRead,
    HistoryObligationRead,
    HistoryPolicyRead,
    HistoryRiskAssessmentRead,
    HistoryServiceRecordRead,
    HistoryWhistleRead,
    InsurerScorecardRead,
    MonthObligationsRead,
    MonthScoreRead,
    ObligationCountsRead,
    ObligationScoreRead,
    OpenWhistlesRead,
    OverdueObligationRead,
    OverdueTotalsRead,
    PeriodRead,
    PolicyTotalsRead,
    RegistryEntryRead,
    ScorecardRead,
    ScorecardsRead,
    ServiceHistoryRead,
    SupervisionSummaryRead,
    UpcomingPolicyRead,
    WhistleCountsRead,
)
from services.insurance.whistle_rules import WhistleStatus

HIGH_RISK_SECTORS = tuple(s.value for s in Sector if s.is_high_risk)
# Still waiting on the insurer; a delivered whistle awaits only the enterprise's feedback.
OPEN_WHISTLE_STATES = (WhistleStatus.raised.value, WhistleStatus.acknowledged.value)


def period_of(first: date, last: date) -> Period:
    """The scorecard period, or 422 naming the query parameter and the rule."""
    try:
        return check_period(first, last)
    except PeriodInvalid as exc:
        raise RuleViolated(str(exc), code=exc.code, field=exc.field) from exc


# --- Facts ----------------------------------------------------------------------------------


async def _obligation_facts(
    session: AsyncSession, period: Period, insurer_id: str | None
) -> dict[str, list[ObligationFacts]]:
    """Obligations due in the period, grouped by what a scorecard distinguishes, per insurer."""
    n = sa.func.count().label("n")
    columns = (
        Obligation.insurer_id,
        Obligation.kind,
        Obligation.status,
        Obligation.due_on,
        Obligation.delivered_on,
        Obligation.rejections,
    )
    query = (
        sa.select(*columns, n)
        .where(
            Obligation.due_on >= period.first,
            Obligation.due_on <= period.last,
            Obligation.status != ObligationStatus.withdrawn.value,
        )
        .group_by(*columns)
    )
    if insurer_id is not None:
        query = query.where(Obligation.insurer_id == insurer_id)
    out: dict[str, list[ObligationFacts]] = defaultdict(list)
    for row in await session.execute(query):
        out[row.insurer_id].append(
            ObligationFacts(
                kind=ObligationKind(row.kind),
                status=ObligationStatus(row.status),
                due_on=row.due_on,
                delivered_on=row.delivered_on,
                rejections=row.rejections,
                count=row.n,
            )
        )
    return out


def _whistle_facts(w: Any) -> WhistleFacts:
    return WhistleFacts(
        raised_at=w.raised_at,
        ack_due_at=w.ack_due_at,
        delivery_due_at=w.delivery_due_at,
        acknowledged_at=w.acknowledged_at,
        delivered_at=w.delivered_at,
        closed_at=w.closed_at,
        ack_breached_at=w.ack_breached_at,
        delivery_breached_at=w.delivery_breached_at,
    )


_WHISTLE_CLOCKS = (
    Whistle.insurer_id,
    Whistle.raised_at,
    Whistle.ack_due_at,
    Whistle.delivery_due_at,
    Whistle.acknowledged_at,
    Whistle.delivered_at,
    Whistle.closed_at,
    Whistle.ack_breached_at,
    Whistle.delivery_breached_at,
)


async def _whistles_raised(
    session: AsyncSession, period: Period, insurer_id: str | None
) -> dict[str, list[WhistleFacts]]:
    """Whistles raised on the period's Asia/Shanghai days, per insurer."""
    start, end = instant_bounds(period)
    query = sa.select(*_WHISTLE_CLOCKS).where(Whistle.raised_at >= start, Whistle.raised_at < end)
    if insurer_id is not None:
        query = query.where(Whistle.insurer_id == insurer_id)
    out: dict[str, list[WhistleFacts]] = defaultdict(list)
    for row in await session.execute(query):
        out[row.insurer_id].append(_whistle_facts(row))
    return out


# --- Scorecards -----------------------------------------------------------------------------


def _score_read(card: Scorecard) -> tuple[ObligationScoreRead, WhistleCountsRead]:
    total = ObligationCountsRead.of(card.obligations.total)
    obligations = ObligationScoreRead(
        **total.model_dump(),
        by_kind={k: ObligationCountsRead.of(c) for k, c in card.obligations.by_kind.items()},
    )
    return obligations, WhistleCountsRead.of(card.whistles)


async def scorecards(
    session: AsyncSession,
    period: Period,
    today: date,
    now: datetime,
    insurer_id: str | None = None,
) -> ScorecardsRead:
    """Every registered insurer's scorecard for the period (or one insurer's), by insurer id."""
    query = sa.select(Insurer).order_by(Insurer.id)
    if insurer_id is not None:
        query = query.where(Insurer.id == insurer_id)
    insurers = (await session.scalars(query)).all()
    obligations = await _obligation_facts(session, period, insurer_id)
    whistles = await _whistles_raised(session, period, insurer_id)
    items = []
    for insurer in insurers:
        facts = InsurerFacts(obligations[insurer.id], whistles[insurer.id])
        card_obligations, card_whistles = _score_read(scorecard(facts, period, today, now))
        items.append(
            ScorecardRead(
                insurer_id=insurer.id,
                insurer_name=insurer.name,
                insurer_status=insurer.status,
                obligations=card_obligations,
                whistles=card_whistles,
            )
        )
    return ScorecardsRead(period=PeriodRead.of(period), as_of=today, as_of_instant=now, items=items)


async def insurer_scorecard(
    session: AsyncSession, insurer_id: str, period: Period, today: date, now: datetime
) -> InsurerScorecardRead:
    """One insurer's scorecard for the period with its month-by-month series; 404 if unknown."""
    insurer = await session.get(Insurer, insurer_id)
    if insurer is None:
        raise NotFound(f"insurer {insurer_id!r} is not registered", code="insurer_not_found")
    obligations = await _obligation_facts(session, period, insurer_id)
    whistles = await _whistles_raised(session, period, insurer_id)
    facts = InsurerFacts(obligations[insurer_id], whistles[insurer_id])
    card_obligations, card_whistles = _score_read(scorecard(facts, period, today, now))
    months = []
    for month in monthly_series(facts, period, today, now):
        month_obligations, month_whistles = _score_read(month)
        months.append(
            MonthScoreRead(
                month=month.period.first.strftime("%Y-%m"),
                period=PeriodRead.of(month.period),
                obligations=month_obligations,
                whistles=month_whistles,
            )
        )
    return InsurerScorecardRead(
        insurer_id=insurer.id,
        insurer_name=insurer.name,
        insurer_status=insurer.status,
        obligations=card_obligations,
        whistles=card_whistles,
        period=PeriodRead.of(period),
        as_of=today,
        as_of_instant=now,
        months=months,
    )


# --- Overdue obligations --------------------------------------------------------------------


async def overdue_obligations(
    session: AsyncSession,
    today: date,
    *,
    insurer_id: str | None,
    kind: ObligationKind | None,
    district: str | None,
    min_days: int,
    after: tuple[date, str] | None,
    limit: int,
) -> list[OverdueObligationRead]:
    """Open obligations past their due date, oldest first (by due date, then id)."""
    query = (
        sa.select(
            Obligation,
            Policy.policy_number,
            Policy.enterprise_name,
            Insurer.name.label("insurer_name"),
            Enterprise.district,
        )
        .join(Policy, Policy.id == Obligation.policy_id)
        .outerjoin(Insurer, Insurer.id == Obligation.insurer_id)
        .outerjoin(Enterprise, Enterprise.uscc == Obligation.uscc)
        .where(
            Obligation.status == ObligationStatus.open.value,
            # Overdue from the day after the due date (rule `obligation_overdue`).
            Obligation.due_on <= today - timedelta(days=min_days),
        )
        .order_by(Obligation.due_on, Obligation.id)
        .limit(limit)
    )
    if insurer_id is not None:
        query = query.where(Obligation.insurer_id == insurer_id)
    if kind is not None:
        query = query.where(Obligation.kind == kind.value)
    if district is not None:
        query = query.where(Enterprise.district == district)
    if after is not None:
        day, last_id = after
        query = query.where(
            sa.or_(
                Obligation.due_on > day,
                sa.and_(Obligation.due_on == day, Obligation.id > last_id),
            )
        )
    out = []
    for row in await session.execute(query):
        o: Obligation = row.Obligation
        out.append(
            OverdueObligationRead(
                obligation_id=o.id,
                kind=ObligationKind(o.kind),
                seq=o.seq,
                window_start=o.window_start,
                due_on=o.due_on,
                days_overdue=(today - o.due_on).days,
                rejections=o.rejections,
                hazard_id=o.hazard_id,
                policy_id=o.policy_id,
                policy_number=row.policy_number,
                insurer_id=o.insurer_id,
                insurer_name=row.insurer_name,
                uscc=o.uscc,
                enterprise_name=row.enterprise_name,
                district=row.district,
            )
        )
    return out


# --- Cover ----------------------------------------------------------------------------------


def covering(today: date) -> sa.ColumnElement[bool]:
    """Rule `policy_covers` (services/insurance/coverage.py) as a condition on policies."""
    return sa.and_(
        Policy.status == PolicyStatus.active.value,
        Policy.starts_on <= today,
        Policy.ends_on >= today,
        sa.or_(Policy.cancelled_on.is_(None), Policy.cancelled_on >= today),
    )


def _gap_condition(today: date) -> sa.ColumnElement[bool]:
    covered = sa.exists().where(Policy.uscc == Enterprise.uscc, covering(today))
    return sa.and_(Enterprise.sector.in_(HIGH_RISK_SECTORS), ~covered)


def _cover(p: Policy) -> PolicyCover:
    return PolicyCover(
        policy_id=p.id,
        status=PolicyStatus(p.status),
        starts_on=p.starts_on,
        ends_on=p.ends_on,
        cancelled_on=p.cancelled_on,
    )


async def _insurer_names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(Insurer.id, Insurer.name).where(Insurer.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def coverage_gaps(
    session: AsyncSession,
    today: date,
    *,
    district: str | None,
    sector: Sector | None,
    after: str | None,
    limit: int,
) -> list[CoverageGapRead]:
    """High-risk-sector registry enterprises no policy covers today, by USCC."""
    if sector is not None and not sector.is_high_risk:
        raise RuleViolated(
            f"{sector.value} is not a high-risk sector: its enterprises are not obliged to insure",
            code="sector_not_high_risk",
            field="sector",
        )
    query = (
        sa.select(Enterprise).where(_gap_condition(today)).order_by(Enterprise.uscc).limit(limit)
    )
    if district is not None:
        query = query.where(Enterprise.district == district)
    if sector is not None:
        query = query.where(Enterprise.sector == sector.value)
    if after is not None:
        query = query.where(Enterprise.uscc > after)
    enterprises = (await session.scalars(query)).all()
    policies: dict[str, list[Policy]] = defaultdict(list)
    if enterprises:
        rows = await session.scalars(
            sa.select(Policy).where(Policy.uscc.in_([e.uscc for e in enterprises]))
        )
        for p in rows:
            policies[p.uscc].append(p)
    names = await _insurer_names(session, {p.insurer_id for ps in policies.values() for p in ps})
    out = []
    for e in enterprises:
        by_id = {p.id: p for p in policies[e.uscc]}
        covers = [_cover(p) for p in by_id.values()]
        previous = previous_cover(covers, today)
        following = next_cover(covers, today)
        out.append(
            CoverageGapRead(
                uscc=e.uscc,
                name=e.name,
                district=e.district,
                sector=Sector(e.sector),
                tier=e.tier,
                uncovered_since=uncovered_since(previous),
                last_policy=None
                if previous is None
                else _ended(by_id[previous.policy_id], previous, names),
                next_policy=None
                if following is None
                else _upcoming(by_id[following.policy_id], names),
            )
        )
    return out


def _ended(p: Policy, cover: PolicyCover, names: dict[str, str]) -> EndedPolicyRead:
    return EndedPolicyRead(
        policy_id=p.id,
        policy_number=p.policy_number,
        insurer_id=p.insurer_id,
        insurer_name=names.get(p.insurer_id),
        starts_on=p.starts_on,
        ended_on=last_covered_on(cover),
        reason=end_reason(cover),
        cancel_reason=p.cancel_reason,
    )


def _upcoming(p: Policy, names: dict[str, str]) -> UpcomingPolicyRead:
    return UpcomingPolicyRead(
        policy_id=p.id,
        policy_number=p.policy_number,
        insurer_id=p.insurer_id,
        insurer_name=names.get(p.insurer_id),
        starts_on=p.starts_on,
        ends_on=p.ends_on,
    )


# --- The bureau's summary -------------------------------------------------------------------


async def _count(session: AsyncSession, query: sa.Select[Any]) -> int:
    return int(await session.scalar(query) or 0)


async def summary(session: AsyncSession, today: date, now: datetime) -> SupervisionSummaryRead:
    """Totals across insurers: cover, this month's obligations, overdue, whistles, gaps."""
    count = sa.select(sa.func.count())
    active = await _count(session, count.select_from(Policy).where(covering(today)))
    pending = await _count(
        session,
        count.select_from(Policy).where(Policy.status == PolicyStatus.pending.value),
    )
    month = month_of(today)
    month_facts = await _obligation_facts(session, month, None)
    month_counts = score_obligations(
        [f for facts in month_facts.values() for f in facts], month, today
    ).total
    overdue_rows = (
        await session.execute(
            sa.select(Obligation.kind, sa.func.count(), sa.func.min(Obligation.due_on))
            .where(
                Obligation.status == ObligationStatus.open.value,
                Obligation.due_on < today,
            )
            .group_by(Obligation.kind)
        )
    ).all()
    by_kind = dict.fromkeys(ObligationKind, 0)
    for kind, n, _oldest in overdue_rows:
        by_kind[ObligationKind(kind)] = int(n)
    oldest = min((row[2] for row in overdue_rows), default=None)
    open_whistles = [
        _whistle_facts(row)
        for row in await session.execute(
            sa.select(*_WHISTLE_CLOCKS).where(Whistle.status.in_(OPEN_WHISTLE_STATES))
        )
    ]
    ack = [is_ack_breached(w, now) for w in open_whistles]
    delivery = [is_delivery_breached(w, now) for w in open_whistles]
    gaps = await _count(session, count.select_from(Enterprise).where(_gap_condition(today)))
    return SupervisionSummaryRead(
        as_of=today,
        as_of_instant=now,
        policies=PolicyTotalsRead(active=active, pending=pending),
        due_this_month=MonthObligationsRead(
            period=PeriodRead.of(month), obligations=ObligationCountsRead.of(month_counts)
        ),
        overdue=OverdueTotalsRead(
            total=sum(by_kind.values()), by_kind=by_kind, oldest_due_on=oldest
        ),
        whistles=OpenWhistlesRead(
            open=len(open_whistles),
            ack_breached=sum(ack),
            delivery_breached=sum(delivery),
            with_breaches=sum(a or d for a, d in zip(ack, delivery, strict=True)),
        ),
        coverage_gaps=gaps,
    )


# --- An enterprise's service history --------------------------------------------------------


async def _history_scope(session: AsyncSession, principal: Principal, uscc: str) -> str | None:
    """The insurer whose parts the caller may see (None: everything); 403 for anyone else."""
    if principal.role in BUREAU_ROLES:
        return None
    if principal.role is Role.enterprise:
        if principal.subject != uscc:
            raise Forbidden(
                "an enterprise may read only its own service history", code="history_not_yours"
            )
        return None
    if principal.role is Role.insurer:
        insured = await session.scalar(
            sa.select(Policy.id)
            .where(Policy.uscc == uscc, Policy.insurer_id == principal.subject)
            .limit(1)
        )
        if insured is None:
            raise Forbidden(
                "this insurer never insured the enterprise", code="enterprise_not_insured_by_you"
            )
        return principal.subject
    raise Forbidden(f"role {principal.role.value!r} may not read service histories")


async def service_history(
    session: AsyncSession, principal: Principal, uscc: str, today: date, now: datetime
) -> ServiceHistoryRead:
    """Everything an enterprise's insurers owed and did, or only the calling insurer's part."""
    insurer_id = await _history_scope(session, principal, uscc)

    def own(model: Any) -> Sequence[sa.ColumnElement[bool]]:
        where = [model.uscc == uscc]
        if insurer_id is not None:
            where.append(model.insurer_id == insurer_id)
        return where

    async def rows(model: Any, *order: Any) -> Sequence[Any]:
        return (await session.scalars(sa.select(model).where(*own(model)).order_by(*order))).all()

    policies = await rows(Policy, Policy.starts_on, Policy.id)
    obligations = await rows(Obligation, Obligation.due_on, Obligation.kind, Obligation.seq)
    records = await rows(ServiceRecord, ServiceRecord.delivered_on, ServiceRecord.received_at)
    assessments = await rows(RiskAssessment, RiskAssessment.assessed_on, RiskAssessment.received_at)
    reports = await rows(
        HazardAssistanceReport,
        HazardAssistanceReport.assisted_on,
        HazardAssistanceReport.received_at,
    )
    whistles = await rows(Whistle, Whistle.raised_at, Whistle.id)
    names = await _insurer_names(session, {p.insurer_id for p in policies})
    entry = await session.get(Enterprise, uscc)
    return ServiceHistoryRead(
        uscc=uscc,
        scope="all" if insurer_id is None else "insurer",
        enterprise=None if entry is None else RegistryEntryRead.model_validate(entry),
        policies=[
            HistoryPolicyRead(
                id=p.id,
                policy_number=p.policy_number,
                insurer_id=p.insurer_id,
                insurer_name=names.get(p.insurer_id),
                starts_on=p.starts_on,
                ends_on=p.ends_on,
                status=PolicyStatus(p.status),
                risk_level=p.risk_level,
                custom_services=list(p.custom_services or []),
                cancelled_on=p.cancelled_on,
                cancel_reason=p.cancel_reason,
            )
            for p in policies
        ],
        obligations=[
            HistoryObligationRead(
                id=o.id,
                policy_id=o.policy_id,
                kind=ObligationKind(o.kind),
                seq=o.seq,
                window_start=o.window_start,
                due_on=o.due_on,
                status=ObligationStatus(o.status),
                is_overdue=is_overdue(ObligationStatus(o.status), o.due_on, today),
                hazard_id=o.hazard_id,
                delivered_on=o.delivered_on,
                record_id=o.record_id,
                verified_at=o.verified_at,
                rejections=o.rejections,
                withdrawn_reason=o.withdrawn_reason,
            )
            for o in obligations
        ],
        service_records=[HistoryServiceRecordRead.model_validate(r) for r in records],
        risk_assessments=[HistoryRiskAssessmentRead.model_validate(a) for a in assessments],
        hazard_assistance_reports=[HistoryAssistanceReportRead.model_validate(r) for r in reports],
        whistles=[
            HistoryWhistleRead(
                id=w.id,
                policy_id=w.policy_id,
                insurer_id=w.insurer_id,
                category=w.category,
                description=w.description,
                status=w.status,
                raised_at=w.raised_at,
                ack_due_at=w.ack_due_at,
                acknowledged_at=w.acknowledged_at,
                delivery_due_at=w.delivery_due_at,
                delivered_at=w.delivered_at,
                delivery_summary=w.delivery_summary,
                closed_at=w.closed_at,
                feedback=w.feedback,
                ack_breached=is_ack_breached(_whistle_facts(w), now),
                delivery_breached=is_delivery_breached(_whistle_facts(w), now),
            )
            for w in whistles
        ],
    )
