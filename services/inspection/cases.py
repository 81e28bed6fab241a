"""Inspection case use cases: the four steps, lenient decisions, penalty decisions to credit.

Every step locks the case row, checks If-Match and the step order, and changes nothing unless
all of its content passes; penalty events go to the outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.contracts.inspection import PenaltyDecidedV1
from kernel.db import utcnow
from kernel.errors import Conflict, NotFound, RuleViolated
from kernel.outbox import Outbox
from kernel.tables import next_counter_value
from kernel.versioning import check_version
from kernel.vocab import Sector
from services.inspection.cases_schemas import (
    ApprovalCreate,
    DeliberationCreate,
    FeedbackCreate,
    FindingCreate,
    InspectionCreate,
    InspectionSource,
)
from services.inspection.enforcement import (
    QINGDAO_LENIENT_2024,
    AddsWorkingDays,
    Decision,
    DecisionKind,
    EnterpriseFacts,
    FeedbackFacts,
    FindingFacts,
    Harm,
    HazardGrade,
    InspectionState,
    LenientEnforcementPack,
    ListingCriterion,
    PenaltyMeasure,
    ProcedureRuleViolated,
    Proposal,
    StartFacts,
    Step,
    StepOutOfOrder,
    check_deliberation,
    check_feedback,
    check_finding,
    check_source_reference,
    check_start,
    check_step_order,
    decide,
    decision_number,
    follow_up_due_on,
    is_overdue,
    lenient_outcome,
    measures_zh,
    penalty_severity,
)
from services.inspection.models import TABLES, Enterprise
from services.inspection.models_cases import (
    CaseDecision,
    Deliberation,
    Finding,
    Hazard,
    Inspection,
)
from services.inspection.models_guidance import ViolationItem

PACK: LenientEnforcementPack = QINGDAO_LENIENT_2024

# Decision states.
PROPOSED = "proposed"  # a non-major penalty, decided when the results are delivered
AWAITING_APPROVAL = "awaiting_approval"
APPROVED = "approved"  # a major penalty approved, decided with the last approval
DECIDED = "decided"
RETURNED = "returned"
NOT_PENALISED = "not_penalised"


def rule_error(exc: ProcedureRuleViolated, field_prefix: str = "") -> RuleViolated:
    """The domain refusal as problem+json naming the rule and the field."""
    return RuleViolated(str(exc), code=exc.rule, field=field_prefix + exc.field, rule=exc.rule)


def order_error(exc: StepOutOfOrder) -> Conflict:
    return Conflict(str(exc), code=exc.rule, rule=exc.rule)


@dataclass
class CaseView:
    """A case with everything recorded in its steps."""

    inspection: Inspection
    findings: Sequence[Finding]
    hazards: Sequence[Hazard]
    deliberation: Deliberation | None
    decisions: Sequence[CaseDecision]


# --- reading -------------------------------------------------------------------------------


def may_read(principal: Principal, uscc: str) -> bool:
    """The bureau reads every case; an enterprise only its own."""
    if principal.role in BUREAU_ROLES:
        return True
    return principal.role is Role.enterprise and principal.subject == uscc


async def readable_case(session: AsyncSession, principal: Principal, case_id: str) -> Inspection:
    """The case if this caller may read it; 404 otherwise (another's case does not exist)."""
    case = await session.get(Inspection, case_id)
    if case is None or not may_read(principal, case.uscc):
        raise NotFound(f"inspection {case_id} not found", code="inspection_not_found")
    return case


async def case_view(session: AsyncSession, case: Inspection) -> CaseView:
    """Load the findings, hazards and current deliberation of a case."""
    findings = (
        await session.scalars(
            sa.select(Finding).where(Finding.inspection_id == case.id).order_by(Finding.n)
        )
    ).all()
    hazards = (
        await session.scalars(
            sa.select(Hazard)
            .where(Hazard.inspection_id == case.id)
            .order_by(Hazard.created_at, Hazard.id)
        )
    ).all()
    deliberation = await _latest_deliberation(session, case.id)
    decisions: Sequence[CaseDecision] = []
    if deliberation is not None:
        decisions = (
            await session.scalars(
                sa.select(CaseDecision)
                .where(CaseDecision.deliberation_id == deliberation.id)
                .order_by(CaseDecision.finding_n)
            )
        ).all()
    return CaseView(case, findings, hazards, deliberation, decisions)


async def list_cases(
    session: AsyncSession,
    principal: Principal,
    *,
    uscc: str | None,
    state: InspectionState | None,
    after: tuple[str, str] | None,
    limit: int,
) -> Sequence[Inspection]:
    """Cases newest first (by start day, then id); an enterprise sees only its own, anyone
    else (an insurer, a department, the public) none."""
    query = sa.select(Inspection)
    if principal.role not in BUREAU_ROLES:
        # Only an enterprise's subject is a USCC it owns: an insurer id or department code
        # spelt like one (ids are free text) must not read that enterprise's cases.
        if principal.role is not Role.enterprise:
            return []
        if uscc is not None and uscc != principal.subject:
            return []
        uscc = principal.subject
    if uscc is not None:
        query = query.where(Inspection.uscc == uscc)
    if state is not None:
        query = query.where(Inspection.state == state.value)
    if after is not None:
        started, last_id = date.fromisoformat(after[0]), after[1]
        query = query.where(
            sa.or_(
                Inspection.started_on < started,
                sa.and_(Inspection.started_on == started, Inspection.id < last_id),
            )
        )
    query = query.order_by(Inspection.started_on.desc(), Inspection.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


# --- step 1: start -------------------------------------------------------------------------


async def start_inspection(
    session: AsyncSession, officer: Principal, data: InspectionCreate, today: date
) -> Inspection:
    """Start an inspection (启动): team, notice served, law-education plan."""
    try:
        check_source_reference(data.source.value, data.reference)
        state = check_start(
            StartFacts(
                team=data.team,
                notice_served_on=data.notice.served_on,
                notice_text=data.notice.text,
                education_topics=data.education_plan.topics,
                today=today,
            )
        )
    except ProcedureRuleViolated as exc:
        raise rule_error(exc) from exc
    enterprise = await session.get(Enterprise, data.uscc)
    if enterprise is None:
        raise RuleViolated(
            f"enterprise {data.uscc} is not in the supervision registry",
            code="enterprise_not_registered",
            field="uscc",
        )
    now = utcnow()
    case = Inspection(
        id=str(uuid.uuid4()),
        uscc=data.uscc,
        enterprise_name=enterprise.name,
        source=data.source.value,
        reference=(data.reference or "").strip() or None,
        state=state.value,
        team=[m.strip() for m in data.team],
        notice_served_on=data.notice.served_on,
        notice_text=data.notice.text.strip(),
        education_topics=[t.strip() for t in data.education_plan.topics if t.strip()],
        education_audience=[a.strip() for a in data.education_plan.audience if a.strip()],
        started_on=today,
        started_by=officer.key,
        no_findings=False,
        questions=[],
        rule_pack_id=PACK.id,
        rule_pack_version=PACK.version,
        created_at=now,
        updated_at=now,
        version=1,
    )
    if data.source is InspectionSource.follow_up:
        await _link_follow_up(session, case)
    session.add(case)
    await session.flush()
    return case


async def _link_follow_up(session: AsyncSession, case: Inspection) -> None:
    # The follow-up visit answers to a major penalty of this enterprise not yet visited.
    decision = await session.scalar(
        sa.select(CaseDecision)
        .join(Inspection, Inspection.id == CaseDecision.inspection_id)
        .where(
            CaseDecision.decision_number == case.reference,
            CaseDecision.is_major.is_(True),
            CaseDecision.state == DECIDED,
            Inspection.uscc == case.uscc,
        )
        .with_for_update()
    )
    if decision is None:
        raise RuleViolated(
            f"no major penalty decision {case.reference} of enterprise {case.uscc} to follow up",
            code="follow_up_reference",
            field="reference",
        )
    if decision.follow_up_inspection_id is not None:
        raise Conflict(
            f"decision {case.reference} was already followed up "
            f"(inspection {decision.follow_up_inspection_id})",
            code="follow_up_exists",
            field="reference",
        )
    decision.follow_up_inspection_id = case.id


async def lock_case(
    session: AsyncSession, case_id: str, expected_version: int | None, step: Step
) -> Inspection:
    """The case row locked for a step, at the expected version and the right state."""
    case = await session.scalar(
        sa.select(Inspection)
        .where(Inspection.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if case is None:
        raise NotFound(f"inspection {case_id} not found", code="inspection_not_found")
    check_version(case.version, expected_version)
    try:
        check_step_order(InspectionState(case.state), step)
    except StepOutOfOrder as exc:
        raise order_error(exc) from exc
    return case


def touch(case: Inspection) -> None:
    """Every change of a case moves its version, so a stale If-Match is refused."""
    case.version += 1
    case.updated_at = utcnow()


# --- step 2: inspect -----------------------------------------------------------------------


async def record_finding(
    session: AsyncSession,
    officer: Principal,
    case_id: str,
    data: FindingCreate,
    expected_version: int | None,
) -> Finding:
    """Record a violation found in the inspect step, against the common-violations list."""
    case = await lock_case(session, case_id, expected_version, Step.inspect)
    try:
        check_finding(data.description, len(data.evidence))
    except ProcedureRuleViolated as exc:
        raise rule_error(exc) from exc
    item = await session.get(ViolationItem, data.violation_code)
    if item is None:
        raise RuleViolated(
            f"{data.violation_code} is not in the common-violations list",
            code="violation_code_unknown",
            field="violation_code",
        )
    enterprise = await session.get(Enterprise, case.uscc)
    if item.sectors and enterprise is not None and enterprise.sector not in item.sectors:
        raise RuleViolated(
            f"{item.code} applies to {', '.join(item.sectors)}, not to {enterprise.sector}",
            code="violation_not_for_sector",
            field="violation_code",
        )
    if data.hazard_id is not None:
        hazard = await session.get(Hazard, data.hazard_id)
        if hazard is None or hazard.inspection_id != case.id:
            raise RuleViolated(
                f"hazard {data.hazard_id} is not a hazard of this inspection",
                code="hazard_not_in_case",
                field="hazard_id",
            )
    count = await session.scalar(
        sa.select(sa.func.count()).select_from(Finding).where(Finding.inspection_id == case.id)
    )
    finding = Finding(
        inspection_id=case.id,
        n=int(count or 0) + 1,
        uscc=case.uscc,
        violation_code=item.code,
        description=data.description.strip(),
        evidence=[e.model_dump(mode="json", exclude_none=True) for e in data.evidence],
        is_minor=data.is_minor,
        corrected_on_spot=data.corrected_on_spot,
        harm=data.harm.value,
        hazard_id=data.hazard_id,
        recorded_by=officer.key,
        recorded_at=utcnow(),
    )
    session.add(finding)
    touch(case)
    await session.flush()
    return finding


# --- step 3: deliberate --------------------------------------------------------------------


async def _latest_deliberation(session: AsyncSession, case_id: str) -> Deliberation | None:
    return await session.scalar(
        sa.select(Deliberation)
        .where(Deliberation.inspection_id == case_id)
        .order_by(Deliberation.round.desc())
        .limit(1)
    )


async def _first_found(session: AsyncSession, finding: Finding) -> bool:
    # "首次发现": no finding of the same catalogue item at this enterprise in any earlier case.
    earlier = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Finding)
        .where(
            Finding.uscc == finding.uscc,
            Finding.violation_code == finding.violation_code,
            Finding.inspection_id != finding.inspection_id,
            Finding.recorded_at < finding.recorded_at,
        )
    )
    return not earlier


def enterprise_facts(enterprise: Enterprise) -> EnterpriseFacts:
    """The registry's facts the lenient rules look at."""
    sector = Sector(enterprise.sector) if enterprise.sector in Sector.__members__ else Sector.other
    return EnterpriseFacts(
        credit_standing=enterprise.credit_standing,
        is_pre_ipo=enterprise.is_pre_ipo,
        is_specialised=enterprise.is_specialised,
        is_high_risk_sector=sector.is_high_risk,
    )


async def finding_facts(
    session: AsyncSession, finding: Finding, item: ViolationItem, enterprise: EnterpriseFacts
) -> FindingFacts:
    """The facts of one finding as the lenient rules see them."""
    hazard = await session.get(Hazard, finding.hazard_id) if finding.hazard_id else None
    return FindingFacts(
        is_minor=finding.is_minor,
        corrected=finding.corrected_on_spot,
        harm=Harm(finding.harm),
        is_management=item.is_management,
        first_found=await _first_found(session, finding),
        hazard_grade=HazardGrade(hazard.grade) if hazard else None,
        hazard_self_found=bool(hazard and hazard.is_self_found),
        hazard_under_rectification=bool(hazard and hazard.under_rectification),
        hazard_within_period=bool(
            hazard and hazard.rectify_by is not None and hazard.found_on <= hazard.rectify_by
        ),
        enterprise=enterprise,
    )


def _initial_state(decision: Decision) -> str:
    if decision.kind is not DecisionKind.penalty:
        return NOT_PENALISED
    return AWAITING_APPROVAL if decision.is_major else PROPOSED


async def deliberate(
    session: AsyncSession,
    officer: Principal,
    case_id: str,
    data: DeliberationCreate,
    today: date,
    expected_version: int | None,
) -> Inspection:
    """Hold the deliberation (合议): a decision per finding, settled by the lenient rules."""
    case = await lock_case(session, case_id, expected_version, Step.deliberate)
    findings = (
        await session.scalars(
            sa.select(Finding).where(Finding.inspection_id == case.id).order_by(Finding.n)
        )
    ).all()
    hazard_count = await session.scalar(
        sa.select(sa.func.count()).select_from(Hazard).where(Hazard.inspection_id == case.id)
    )
    try:
        check_deliberation(
            data.minutes,
            data.participants,
            [f.n for f in findings],
            [d.finding for d in data.decisions],
            int(hazard_count or 0),
            data.no_findings,
        )
    except ProcedureRuleViolated as exc:
        raise rule_error(exc) from exc
    enterprise = await session.get(Enterprise, case.uscc)
    if enterprise is None:
        raise Conflict(
            f"enterprise {case.uscc} left the registry", code="enterprise_not_registered"
        )
    facts_of_enterprise = enterprise_facts(enterprise)
    by_n = {f.n: f for f in findings}
    previous = await _latest_deliberation(session, case.id)
    deliberation = Deliberation(
        id=str(uuid.uuid4()),
        inspection_id=case.id,
        round=(previous.round + 1) if previous else 1,
        minutes=data.minutes.strip(),
        participants=[p.strip() for p in data.participants],
        held_on=today,
        state="current",
        recorded_by=officer.key,
        recorded_at=utcnow(),
    )
    rows: list[CaseDecision] = []
    for i, proposal in enumerate(data.decisions):
        finding = by_n[proposal.finding]
        item = await session.get(ViolationItem, finding.violation_code)
        if item is None:
            raise Conflict(
                f"{finding.violation_code} left the common-violations list",
                code="violation_code_unknown",
            )
        result = lenient_outcome(
            await finding_facts(session, finding, item, facts_of_enterprise), PACK
        )
        try:
            decision = decide(
                result,
                Proposal(
                    fine=proposal.fine,
                    measures=tuple(proposal.measures),
                    blacklist_criterion=proposal.blacklist_criterion,
                ),
                PACK,
            )
        except ProcedureRuleViolated as exc:
            raise RuleViolated(
                str(exc),
                code=exc.rule,
                field=f"decisions.{i}.{exc.field}",
                rule=exc.rule,
                lenient_rule=result.rule,
                reason=result.reason,
            ) from exc
        penalised = decision.kind is DecisionKind.penalty
        rows.append(
            CaseDecision(
                id=str(uuid.uuid4()),
                inspection_id=case.id,
                deliberation_id=deliberation.id,
                finding_n=finding.n,
                kind=decision.kind.value,
                rule=decision.rule,
                outcome=result.outcome.value,
                reason=decision.reason,
                fine_amount=proposal.fine if penalised else None,
                measures=[m.value for m in proposal.measures] if penalised else [],
                legal_basis=item.penalty_basis if penalised else None,
                violation_summary=f"{item.title}：{finding.description}"[:2000],
                blacklist_criterion=(
                    proposal.blacklist_criterion.value if proposal.blacklist_criterion else None
                ),
                note=proposal.note,
                is_major=decision.is_major,
                state=_initial_state(decision),
                follow_up_deadline_unknown=False,
            )
        )
    if previous is not None:
        previous.state = RETURNED
    session.add(deliberation)
    session.add_all(rows)
    case.no_findings = data.no_findings
    case.deliberated_on = today
    case.state = (
        InspectionState.deliberating
        if any(r.state == AWAITING_APPROVAL for r in rows)
        else InspectionState.feedback
    ).value
    touch(case)
    await session.flush()
    return case


# --- the leader's approval of major penalties ----------------------------------------------


async def approve_decision(
    session: AsyncSession,
    outbox: Outbox,
    calendar: AddsWorkingDays,
    leader: Principal,
    case_id: str,
    n: int,
    data: ApprovalCreate,
    today: date,
    expected_version: int | None,
) -> Inspection:
    """A leader approves a major penalty, or returns the deliberation to be held again.

    The deliberation's major penalties are decided together with the last approval: a leader
    who returns one of them returns the deliberation, so no decision of a returned
    deliberation was ever served.
    """
    case = await lock_case(session, case_id, expected_version, Step.approve)
    deliberation = await _latest_deliberation(session, case.id)
    assert deliberation is not None  # deliberating implies a deliberation
    decisions = (
        await session.scalars(
            sa.select(CaseDecision)
            .where(CaseDecision.deliberation_id == deliberation.id)
            .order_by(CaseDecision.finding_n)
        )
    ).all()
    target = next((d for d in decisions if d.finding_n == n), None)
    if target is None:
        raise NotFound(f"no decision for finding {n} in this case", code="decision_not_found")
    if target.state != AWAITING_APPROVAL:
        raise Conflict(
            f"the decision for finding {n} is {target.state}, not awaiting approval",
            code="decision_not_awaiting_approval",
        )
    if data.outcome == "returned":
        if not (data.note or "").strip():
            raise RuleViolated(
                "say why the deliberation is returned", code="return_needs_reason", field="note"
            )
        for d in decisions:
            d.state = RETURNED
        target.approval_note = data.note
        target.approved_by = leader.key
        target.approved_on = today
        deliberation.state = RETURNED
        case.state = InspectionState.inspecting.value
        case.deliberated_on = None
        touch(case)
        await session.flush()
        return case
    target.state = APPROVED
    target.approved_by = leader.key
    target.approved_on = today
    target.approval_note = data.note
    if not any(d.state == AWAITING_APPROVAL for d in decisions):
        for d in decisions:
            if d.state == APPROVED:
                await serve_penalty(session, outbox, case, d, today)
                d.follow_up_due_on = follow_up_due_on(calendar, today, PACK)
                d.follow_up_deadline_unknown = d.follow_up_due_on is None
        case.state = InspectionState.feedback.value
    touch(case)
    await session.flush()
    return case


async def serve_penalty(
    session: AsyncSession, outbox: Outbox, case: Inspection, decision: CaseDecision, on: date
) -> None:
    """Number the penalty decision and tell credit (PenaltyDecidedV1) in this transaction."""
    n = await next_counter_value(session, TABLES.counters, f"penalty_decision:{on.year}")
    decision.decision_number = decision_number(on.year, n)
    decision.decided_on = on
    decision.state = DECIDED
    decision.severity = penalty_severity(decision.is_major)
    assert decision.legal_basis is not None  # set on every penalty at deliberation
    await outbox.emit(
        session,
        case.uscc,
        PenaltyDecidedV1(
            case_id=case.id,
            decision_number=decision.decision_number,
            uscc=case.uscc,
            enterprise_name=case.enterprise_name,
            decided_on=on,
            legal_basis=decision.legal_basis,
            violation_summary=decision.violation_summary,
            fine_amount=decision.fine_amount,
            other_measures=measures_zh([PenaltyMeasure(m) for m in decision.measures]),
            severity=penalty_severity(decision.is_major),
            blacklist_criterion=(
                ListingCriterion(decision.blacklist_criterion).value
                if decision.blacklist_criterion
                else None
            ),
        ),
    )


# --- step 4: feedback ----------------------------------------------------------------------


async def give_feedback(
    session: AsyncSession,
    outbox: Outbox,
    officer: Principal,
    case_id: str,
    data: FeedbackCreate,
    today: date,
    expected_version: int | None,
) -> Inspection:
    """Deliver the results (反馈): the lesson, the questions answered; penalties are decided."""
    case = await lock_case(session, case_id, expected_version, Step.feedback)
    assert case.deliberated_on is not None  # feedback follows a deliberation
    try:
        state = check_feedback(
            FeedbackFacts(
                delivered_on=data.delivered_on,
                deliberated_on=case.deliberated_on,
                today=today,
                lesson=data.lesson,
                questions_answered=data.questions_answered,
                questions_listed=len(data.questions),
            )
        )
    except ProcedureRuleViolated as exc:
        raise rule_error(exc) from exc
    deliberation = await _latest_deliberation(session, case.id)
    if deliberation is not None:
        approved_on = await session.scalar(
            sa.select(sa.func.max(CaseDecision.approved_on)).where(
                CaseDecision.deliberation_id == deliberation.id
            )
        )
        if approved_on is not None and data.delivered_on < approved_on:
            # The results carry the major penalties decided at the leader's approval: they
            # cannot have been delivered before that approval.
            raise RuleViolated(
                f"the results cannot be delivered before the leader's approval on "
                f"{approved_on.isoformat()}",
                code="delivered_before_approval",
                field="delivered_on",
                rule="delivered_before_approval",
            )
        proposed = (
            await session.scalars(
                sa.select(CaseDecision)
                .where(
                    CaseDecision.deliberation_id == deliberation.id,
                    CaseDecision.state == PROPOSED,
                )
                .order_by(CaseDecision.finding_n)
            )
        ).all()
        for decision in proposed:
            await serve_penalty(session, outbox, case, decision, data.delivered_on)
    case.delivered_on = data.delivered_on
    case.lesson = data.lesson.strip()
    case.questions_answered = data.questions_answered
    case.questions = [q.model_dump() for q in data.questions]
    case.state = state.value
    case.closed_on = today
    touch(case)
    await session.flush()
    return case


# --- follow-up visits after major penalties ------------------------------------------------


@dataclass(frozen=True)
class FollowUp:
    """A major penalty and its follow-up visit (重大案件回访)."""

    decision: CaseDecision
    inspection: Inspection
    is_overdue: bool


async def list_follow_ups(
    session: AsyncSession, today: date, *, pending_only: bool, overdue_only: bool
) -> list[FollowUp]:
    """Major penalties with their follow-up visit, earliest due first."""
    query = (
        sa.select(CaseDecision, Inspection)
        .join(Inspection, Inspection.id == CaseDecision.inspection_id)
        .where(CaseDecision.is_major.is_(True), CaseDecision.state == DECIDED)
        .order_by(CaseDecision.follow_up_due_on, CaseDecision.decision_number)
    )
    if pending_only or overdue_only:
        query = query.where(CaseDecision.follow_up_inspection_id.is_(None))
    out = []
    for decision, case in (await session.execute(query)).all():
        overdue = is_overdue(
            decision.follow_up_due_on, decision.follow_up_inspection_id is not None, today
        )
        if overdue_only and not overdue:
            continue
        out.append(FollowUp(decision, case, overdue))
    return out
