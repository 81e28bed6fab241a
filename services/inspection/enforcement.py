"""The four-step inspection procedure and the lenient-enforcement rules (measures 7 and 9). No I/O.

Four steps (四步检查法, measure 7): start (启动: team, notice served, law-education plan),
inspect (检查: findings against the common-violations catalogue, hazards with evidence),
deliberate (合议: minutes, participants, a decision per finding) and feedback (反馈: results
delivered, the lesson given, questions answered). The case's state names the step it is at;
each step is taken only from the state before it and only with its content, so no step can be
skipped or recorded empty.

Lenient enforcement (包容审慎柔性执法, measure 9) is a versioned pack of named rules. Each rule is
a pure function of the facts of one finding that either applies (with its outcome and reason)
or does not; the first rule that applies, in the pack's order, decides what an officer may
propose. Sources:
- 《中华人民共和国行政处罚法》第三十三条第一款: 违法行为轻微并及时改正，没有造成危害后果的，
  不予行政处罚。初次违法且危害后果轻微并及时改正的，可以不予行政处罚。
- 青岛市应急管理局 “实施包容审慎柔性执法” (十项措施之九): 对纳入“红名单”管理、拟上市和“专精特新”
  企业，以及一般行业企业，执法检查首次发现的制度管理类违法行为和一般事故隐患，立即改正、没有
  造成危害后果或危害后果轻微的，以批评教育、责令整改为主，一般不给予罚款的行政处罚；对企业
  自查发现并在整改期内且正在整改的事故隐患，不给予罚款的行政处罚。
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Final, Literal, Protocol

from kernel.workdays import CalendarYearUnknown


class ProcedureRuleViolated(ValueError):
    """A step refused for missing or wrong content; `rule` names the rule, `field` the input."""

    def __init__(self, rule: str, field: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field


class StepOutOfOrder(ValueError):
    """A step taken from the wrong state: the procedure cannot skip or repeat a step."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


# --- the four steps ------------------------------------------------------------------------


class InspectionState(StrEnum):
    """The step a case is at; `start` is the state before the case exists."""

    start = "start"
    inspecting = "inspecting"  # started: findings and hazards are being recorded
    deliberating = "deliberating"  # 合议 held; a major penalty awaits the leader's approval
    feedback = "feedback"  # decisions settled; results to be delivered to the enterprise
    closed = "closed"


class Step(StrEnum):
    """What an officer (or the leader) does to a case."""

    start = "start"
    inspect = "inspect"
    deliberate = "deliberate"
    approve = "approve"
    feedback = "feedback"


# The state each step may be taken from.
_STEP_FROM: Final[dict[Step, InspectionState]] = {
    Step.start: InspectionState.start,
    Step.inspect: InspectionState.inspecting,
    Step.deliberate: InspectionState.inspecting,
    Step.approve: InspectionState.deliberating,
    Step.feedback: InspectionState.feedback,
}

_STEP_ZH: Final[dict[Step, str]] = {
    Step.start: "启动",
    Step.inspect: "检查",
    Step.deliberate: "合议",
    Step.approve: "领导审批",
    Step.feedback: "反馈",
}


def check_step_order(state: InspectionState, step: Step) -> None:
    """Rule `four_step_order`: a step is taken only from the state the procedure puts before it."""
    expected = _STEP_FROM[step]
    if state is not expected:
        raise StepOutOfOrder(
            "four_step_order",
            f"step {step.value} ({_STEP_ZH[step]}) needs the case at {expected.value}; "
            f"it is at {state.value}",
        )


MIN_TEAM: Final = 2  # 执法人员不得少于两人 (《行政处罚法》第四十二条)


def _distinct_people(people: Sequence[str], rule: str, field_name: str, what: str) -> None:
    cleaned = [p.strip() for p in people]
    if any(not p for p in cleaned):
        raise ProcedureRuleViolated(rule, field_name, f"{what}: an entry is blank")
    if len(set(cleaned)) < MIN_TEAM:
        raise ProcedureRuleViolated(
            rule, field_name, f"{what}: at least {MIN_TEAM} different people are required"
        )


@dataclass(frozen=True)
class StartFacts:
    """What the start step (启动) records."""

    team: Sequence[str]
    notice_served_on: date
    notice_text: str
    education_topics: Sequence[str]
    today: date


def check_start(facts: StartFacts) -> InspectionState:
    """Rules `team_of_two`, `notice_served`, `education_plan`: the start step's content."""
    _distinct_people(facts.team, "team_of_two", "team", "inspection team")
    if not facts.notice_text.strip():
        raise ProcedureRuleViolated("notice_served", "notice.text", "the notice (告知) is empty")
    if facts.notice_served_on > facts.today:
        raise ProcedureRuleViolated(
            "notice_served", "notice.served_on", "the notice cannot be served in the future"
        )
    if not [t for t in facts.education_topics if t.strip()]:
        raise ProcedureRuleViolated(
            "education_plan",
            "education_plan.topics",
            "the law-education plan (普法计划) needs at least one topic: 一次执法一堂课",
        )
    return InspectionState.inspecting


# A complaint, an assignment, a pledge check and a follow-up visit each answer to something
# on record; it is what lets an inspection override the joint-inspection and frequency limits.
SOURCES_NEEDING_REFERENCE: Final = frozenset({"complaint", "assignment", "pledge", "follow_up"})


def check_source_reference(source: str, reference: str | None) -> None:
    """Rule `source_reference_required`: some sources must name what they answer to."""
    if source in SOURCES_NEEDING_REFERENCE and not (reference or "").strip():
        raise ProcedureRuleViolated(
            "source_reference_required",
            "reference",
            f"an inspection from a {source} names its reference (complaint number, assignment, "
            "licence number or penalty decision number)",
        )


class Harm(StrEnum):
    """The harm a violation caused (危害后果)."""

    none = "none"
    slight = "slight"  # 危害后果轻微
    harmful = "harmful"


class HazardGrade(StrEnum):
    general = "general"  # 一般事故隐患
    major = "major"  # 重大事故隐患


@dataclass(frozen=True)
class HazardFacts:
    """What the inspect step records about a hazard."""

    description: str
    grade: HazardGrade
    evidence_count: int
    is_self_found: bool
    under_rectification: bool
    enterprise_rectify_by: date | None


def check_hazard(facts: HazardFacts) -> None:
    """Rules `hazard_evidence`, `self_found_needs_period`: a hazard's content."""
    if not facts.description.strip():
        raise ProcedureRuleViolated("hazard_described", "description", "describe the hazard")
    if facts.evidence_count < 1:
        raise ProcedureRuleViolated(
            "hazard_evidence", "evidence", "a hazard needs at least one piece of evidence"
        )
    if facts.is_self_found and facts.enterprise_rectify_by is None:
        # 整改期内: the self-found rule asks whether the enterprise is within its own period.
        raise ProcedureRuleViolated(
            "self_found_needs_period",
            "enterprise_rectify_by",
            "a hazard the enterprise found itself needs the end of its own rectification period",
        )
    if not facts.is_self_found and (
        facts.under_rectification or facts.enterprise_rectify_by is not None
    ):
        raise ProcedureRuleViolated(
            "self_found_needs_period",
            "is_self_found",
            "under_rectification and enterprise_rectify_by describe a self-found hazard only",
        )


def check_finding(description: str, evidence_count: int) -> None:
    """Rules `finding_described`, `finding_evidence`: a finding's content."""
    if not description.strip():
        raise ProcedureRuleViolated("finding_described", "description", "describe the finding")
    if evidence_count < 1:
        raise ProcedureRuleViolated(
            "finding_evidence", "evidence", "a finding needs at least one piece of evidence"
        )


def check_deliberation(
    minutes: str,
    participants: Sequence[str],
    finding_numbers: Sequence[int],
    decided_numbers: Sequence[int],
    hazard_count: int,
    no_findings: bool,
) -> None:
    """Rules `minutes_recorded`, `deliberation_of_two`, `inspect_step_recorded`,
    `decision_per_finding`: the deliberation step's content."""
    if not minutes.strip():
        raise ProcedureRuleViolated(
            "minutes_recorded", "minutes", "the minutes (合议记录) are empty"
        )
    _distinct_people(participants, "deliberation_of_two", "participants", "deliberation")
    if not finding_numbers and not hazard_count and not no_findings:
        raise ProcedureRuleViolated(
            "inspect_step_recorded",
            "no_findings",
            "nothing was recorded in the inspect step; record findings or hazards, or state "
            "no_findings for a clean inspection",
        )
    if no_findings and finding_numbers:
        raise ProcedureRuleViolated(
            "inspect_step_recorded", "no_findings", "no_findings contradicts the recorded findings"
        )
    duplicates = sorted({n for n in decided_numbers if list(decided_numbers).count(n) > 1})
    if duplicates:
        raise ProcedureRuleViolated(
            "decision_per_finding",
            "decisions",
            f"more than one decision for finding(s) {duplicates}",
        )
    missing = sorted(set(finding_numbers) - set(decided_numbers))
    unknown = sorted(set(decided_numbers) - set(finding_numbers))
    if missing or unknown:
        raise ProcedureRuleViolated(
            "decision_per_finding",
            "decisions",
            f"every finding needs exactly one decision (missing {missing}, unknown {unknown})",
        )


@dataclass(frozen=True)
class FeedbackFacts:
    """What the feedback step (反馈) records."""

    delivered_on: date
    deliberated_on: date
    today: date
    lesson: str
    questions_answered: int
    questions_listed: int


def check_feedback(facts: FeedbackFacts) -> InspectionState:
    """Rules `results_delivered`, `lesson_given`, `questions_counted`: the feedback content."""
    if facts.delivered_on > facts.today or facts.delivered_on < facts.deliberated_on:
        raise ProcedureRuleViolated(
            "results_delivered",
            "delivered_on",
            f"results are delivered after the deliberation ({facts.deliberated_on.isoformat()}) "
            "and not in the future",
        )
    if not facts.lesson.strip():
        raise ProcedureRuleViolated(
            "lesson_given", "lesson", "record the lesson given (一次执法一堂课)"
        )
    if facts.questions_answered < facts.questions_listed:
        raise ProcedureRuleViolated(
            "questions_counted",
            "questions_answered",
            f"{facts.questions_listed} questions are listed but only "
            f"{facts.questions_answered} counted as answered",
        )
    return InspectionState.closed


# --- lenient enforcement -------------------------------------------------------------------


class Outcome(StrEnum):
    """What the rules allow for one finding."""

    no_penalty = "no_penalty"  # 不予行政处罚
    education_and_rectification_order = "education_and_rectification_order"  # 批评教育、责令整改
    no_fine = "no_fine"  # 不给予罚款; other measures and the rectification order stand
    penalty_waivable = "penalty_waivable"  # 可以不予行政处罚: the officer decides
    penalty = "penalty"


class PenaltyMeasure(StrEnum):
    """Penalties other than a fine (《安全生产法》, 《行政处罚法》第九条)."""

    warning = "warning"  # 警告
    confiscation = "confiscation"  # 没收违法所得
    suspend_licence = "suspend_licence"  # 暂扣许可证
    suspend_production = "suspend_production"  # 责令停产停业（整顿）
    revoke_licence = "revoke_licence"  # 吊销许可证
    close = "close"  # 予以关闭

    @property
    def zh(self) -> str:
        return _MEASURE_ZH[self]


_MEASURE_ZH: Final[dict[PenaltyMeasure, str]] = {
    PenaltyMeasure.warning: "警告",
    PenaltyMeasure.confiscation: "没收违法所得",
    PenaltyMeasure.suspend_licence: "暂扣许可证",
    PenaltyMeasure.suspend_production: "责令停产停业",
    PenaltyMeasure.revoke_licence: "吊销许可证",
    PenaltyMeasure.close: "予以关闭",
}


class ListingCriterion(StrEnum):
    """Black-list cases of credit's rule pack (应急管理部令第11号) an officer may mark."""

    major_accident = "major_accident"
    repeated_larger_accidents = "repeated_larger_accidents"
    aggravated_accident_fine = "aggravated_accident_fine"
    accident_concealed = "accident_concealed"
    absconded_after_accident = "absconded_after_accident"
    unlicensed_operation = "unlicensed_operation"
    false_certification = "false_certification"
    penalty_evaded = "penalty_evaded"
    other_serious = "other_serious"


class LeniencyEligibility(StrEnum):
    """Why an enterprise falls under the first-offence rule of measure 9."""

    redlisted = "redlisted"  # 纳入“红名单”管理
    pre_ipo = "pre_ipo"  # 拟上市
    specialised = "specialised"  # 专精特新
    general_industry = "general_industry"  # 一般行业企业 (not a high-risk sector)


@dataclass(frozen=True)
class EnterpriseFacts:
    """What the rules need to know about the enterprise at deliberation."""

    credit_standing: str  # normal | redlisted | blacklisted
    is_pre_ipo: bool
    is_specialised: bool
    is_high_risk_sector: bool


def leniency_eligibility(enterprise: EnterpriseFacts) -> tuple[LeniencyEligibility, ...]:
    """Which of measure 9's enterprise groups the enterprise belongs to (possibly none)."""
    groups: list[LeniencyEligibility] = []
    if enterprise.credit_standing == "redlisted":
        groups.append(LeniencyEligibility.redlisted)
    if enterprise.is_pre_ipo:
        groups.append(LeniencyEligibility.pre_ipo)
    if enterprise.is_specialised:
        groups.append(LeniencyEligibility.specialised)
    if not enterprise.is_high_risk_sector:
        groups.append(LeniencyEligibility.general_industry)
    return tuple(groups)


@dataclass(frozen=True)
class FindingFacts:
    """One finding as the rules see it."""

    is_minor: bool  # 违法行为轻微, the officer's assessment
    corrected: bool  # 及时改正 / 立即改正 on the spot
    harm: Harm
    is_management: bool  # 制度管理类, from the catalogue
    first_found: bool  # no earlier finding of this code at this enterprise
    hazard_grade: HazardGrade | None  # the hazard the violation consists in, if any
    hazard_self_found: bool = False
    hazard_under_rectification: bool = False
    hazard_within_period: bool = False  # found on or before the enterprise's own deadline
    enterprise: EnterpriseFacts = field(
        default_factory=lambda: EnterpriseFacts("normal", False, False, True)
    )


@dataclass(frozen=True)
class RuleResult:
    """A rule that applied: what it allows and why, citing its source."""

    rule: str
    outcome: Outcome
    reason: str


Rule = Callable[[FindingFacts], RuleResult | None]


def minor_corrected_harmless(f: FindingFacts) -> RuleResult | None:
    """《行政处罚法》第三十三条第一款前段: minor, promptly corrected, no harm → no penalty."""
    if f.is_minor and f.corrected and f.harm is Harm.none:
        return RuleResult(
            "minor_corrected_harmless",
            Outcome.no_penalty,
            "违法行为轻微并及时改正，没有造成危害后果，依据《行政处罚法》第三十三条第一款不予行政处罚",
        )
    return None


def self_found_hazard_under_rectification(f: FindingFacts) -> RuleResult | None:
    """Measure 9: a hazard the enterprise found, within its period and being rectified → no fine."""
    if (
        f.hazard_grade is not None
        and f.hazard_self_found
        and f.hazard_under_rectification
        and f.hazard_within_period
    ):
        return RuleResult(
            "self_found_hazard_under_rectification",
            Outcome.no_fine,
            "企业自查发现并在整改期内且正在整改的事故隐患，不给予罚款的行政处罚（包容审慎柔性执法）",
        )
    return None


def first_offence_management_leniency(f: FindingFacts) -> RuleResult | None:
    """Measure 9: eligible enterprise, first-found management violation or general hazard,
    corrected at once, no or slight harm → criticism, education and an order to rectify."""
    groups = leniency_eligibility(f.enterprise)
    kind_fits = f.is_management or f.hazard_grade is HazardGrade.general
    if (
        groups
        and kind_fits
        and f.first_found
        and f.corrected
        and f.harm in (Harm.none, Harm.slight)
    ):
        named = "、".join(_ELIGIBILITY_ZH[g] for g in groups)
        return RuleResult(
            "first_offence_management_leniency",
            Outcome.education_and_rectification_order,
            f"{named}企业首次发现的制度管理类违法行为或一般事故隐患，立即改正且没有造成危害后果"
            "或危害后果轻微，以批评教育、责令整改为主，不给予罚款（包容审慎柔性执法）",
        )
    return None


def first_offence_slight_harm(f: FindingFacts) -> RuleResult | None:
    """《行政处罚法》第三十三条第一款后段: first offence, slight harm, corrected → may waive."""
    if f.first_found and f.corrected and f.harm is Harm.slight:
        return RuleResult(
            "first_offence_slight_harm",
            Outcome.penalty_waivable,
            "初次违法且危害后果轻微并及时改正，依据《行政处罚法》第三十三条第一款可以不予行政处罚",
        )
    return None


def penalty_due(_f: FindingFacts) -> RuleResult:
    """No lenient rule applies: a penalty on the catalogue's penalty provision."""
    return RuleResult(
        "penalty_due", Outcome.penalty, "不符合不予处罚或不予罚款的情形，依法给予行政处罚"
    )


_ELIGIBILITY_ZH: Final[dict[LeniencyEligibility, str]] = {
    LeniencyEligibility.redlisted: "纳入红名单管理",
    LeniencyEligibility.pre_ipo: "拟上市",
    LeniencyEligibility.specialised: "专精特新",
    LeniencyEligibility.general_industry: "一般行业",
}


@dataclass(frozen=True)
class LenientEnforcementPack:
    """One version of the lenient-enforcement rules and the bureau's procedure values."""

    id: str
    version: str
    sources: tuple[str, ...]
    effective_from: date
    # In order of precedence: the most lenient mandatory outcome first.
    rules: tuple[Rule, ...]
    # 较大数额罚款 for an enterprise: 《安全生产违法行为行政处罚办法》第三十三条 (5万元以上) where
    # the province set no other amount; such a fine makes the case major (leader's approval).
    major_fine_threshold: Decimal
    major_measures: frozenset[PenaltyMeasure]
    # Bureau values (the seed gives none): working days to the follow-up visit (重大案件回访)
    # after a major penalty, and to rectify a government-found hazard by grade.
    follow_up_working_days: int
    rectify_working_days: dict[HazardGrade, int]

    def rectify_days(self, grade: HazardGrade) -> int:
        """Working days a government-found hazard of this grade has to be rectified."""
        return self.rectify_working_days[grade]


QINGDAO_LENIENT_2024: Final = LenientEnforcementPack(
    id="qd-yjj-lenient",
    version="1",
    sources=(
        "《中华人民共和国行政处罚法》第三十三条第一款",
        "青岛市应急管理局优化营商环境十项措施之九：实施包容审慎柔性执法",
        "《安全生产违法行为行政处罚办法》第三十三条（较大数额罚款）",
    ),
    effective_from=date(2024, 1, 1),
    rules=(
        minor_corrected_harmless,
        self_found_hazard_under_rectification,
        first_offence_management_leniency,
        first_offence_slight_harm,
    ),
    major_fine_threshold=Decimal("50000"),
    major_measures=frozenset(
        {PenaltyMeasure.suspend_production, PenaltyMeasure.revoke_licence, PenaltyMeasure.close}
    ),
    follow_up_working_days=20,
    rectify_working_days={HazardGrade.general: 10, HazardGrade.major: 30},
)


def lenient_outcome(f: FindingFacts, pack: LenientEnforcementPack) -> RuleResult:
    """The first rule of the pack that applies to the finding, else `penalty_due`."""
    for rule in pack.rules:
        result = rule(f)
        if result is not None:
            return result
    return penalty_due(f)


@dataclass(frozen=True)
class Proposal:
    """What the officer proposes for one finding at deliberation."""

    fine: Decimal | None
    measures: tuple[PenaltyMeasure, ...]
    blacklist_criterion: ListingCriterion | None


class DecisionKind(StrEnum):
    """What the deliberation decided for one finding."""

    no_penalty = "no_penalty"  # not punished (rules or waiver): education, no event
    rectification_order = "rectification_order"  # 责令整改 without a penalty
    penalty = "penalty"


@dataclass(frozen=True)
class Decision:
    """The settled decision for one finding: what it is, why, and whether it is major."""

    kind: DecisionKind
    rule: str
    reason: str
    is_major: bool


def is_major_penalty(proposal: Proposal, pack: LenientEnforcementPack) -> bool:
    """Rule `major_penalty`: a large fine or a measure that stops the business is major."""
    large_fine = proposal.fine is not None and proposal.fine >= pack.major_fine_threshold
    return large_fine or bool(set(proposal.measures) & pack.major_measures)


def decide(result: RuleResult, proposal: Proposal, pack: LenientEnforcementPack) -> Decision:
    """Rules `fine_not_allowed`, `penalty_not_allowed`, `penalty_content_required`,
    `listing_needs_penalty`: settle the officer's proposal against the lenient outcome."""
    has_fine = proposal.fine is not None and proposal.fine > 0
    has_penalty = has_fine or bool(proposal.measures)
    if proposal.fine is not None and proposal.fine <= 0:
        raise ProcedureRuleViolated("fine_positive", "fine", "a fine must be more than zero")
    if result.outcome in (Outcome.no_penalty, Outcome.education_and_rectification_order):
        if has_penalty:
            raise ProcedureRuleViolated(
                "fine_not_allowed" if has_fine else "penalty_not_allowed",
                "fine" if has_fine else "measures",
                f"{result.rule}: {result.reason}",
            )
        kind = (
            DecisionKind.no_penalty
            if result.outcome is Outcome.no_penalty
            else DecisionKind.rectification_order
        )
        decision = Decision(kind, result.rule, result.reason, is_major=False)
    elif result.outcome is Outcome.no_fine:
        if has_fine:
            raise ProcedureRuleViolated(
                "fine_not_allowed", "fine", f"{result.rule}: {result.reason}"
            )
        kind = DecisionKind.penalty if proposal.measures else DecisionKind.rectification_order
        decision = Decision(kind, result.rule, result.reason, is_major_penalty(proposal, pack))
    elif result.outcome is Outcome.penalty_waivable:
        if has_penalty:
            decision = Decision(
                DecisionKind.penalty, result.rule, result.reason, is_major_penalty(proposal, pack)
            )
        else:
            decision = Decision(DecisionKind.no_penalty, result.rule, result.reason, False)
    else:
        if not has_penalty:
            raise ProcedureRuleViolated(
                "penalty_content_required",
                "fine",
                f"{result.rule}: propose a fine or a measure ({result.reason})",
            )
        decision = Decision(
            DecisionKind.penalty, result.rule, result.reason, is_major_penalty(proposal, pack)
        )
    if proposal.blacklist_criterion is not None and decision.kind is not DecisionKind.penalty:
        raise ProcedureRuleViolated(
            "listing_needs_penalty",
            "blacklist_criterion",
            "a black-list case can be marked only on a penalty decision",
        )
    return decision


def penalty_severity(is_major: bool) -> Literal["general", "serious"]:
    """Credit's publicity class: a major penalty is serious (严重), others general."""
    return "serious" if is_major else "general"


def decision_number(year: int, n: int) -> str:
    """The bureau's penalty decision number (行政处罚决定书文号)."""
    return f"青应急罚〔{year}〕{n}号"


def measures_zh(measures: Sequence[PenaltyMeasure]) -> str | None:
    """The measures as written in the decision, or None when there are none."""
    return "；".join(m.zh for m in measures) or None


# --- hazards and pledge visits -------------------------------------------------------------


class HazardState(StrEnum):
    """Where a hazard's rectification stands."""

    open = "open"  # to be rectified by rectify_by
    reported = "reported"  # the enterprise reported it rectified; awaits on-site verification
    rectified = "rectified"  # verified on site (整改验收)


class AddsWorkingDays(Protocol):
    def add_working_days(self, start: date, n: int) -> date: ...


def hazard_rectify_by(
    calendar: AddsWorkingDays, found_on: date, grade: HazardGrade, pack: LenientEnforcementPack
) -> date | None:
    """Rule `rectify_within_working_days`: the deadline of a government-found hazard, or None
    when the calendar of that year is unknown (never guessed; the hazard is flagged)."""
    try:
        return calendar.add_working_days(found_on, pack.rectify_days(grade))
    except CalendarYearUnknown:
        return None


def follow_up_due_on(
    calendar: AddsWorkingDays, decided_on: date, pack: LenientEnforcementPack
) -> date | None:
    """Rule `major_case_follow_up`: the follow-up visit (回访) after a major penalty, or None
    when the calendar of that year is unknown."""
    try:
        return calendar.add_working_days(decided_on, pack.follow_up_working_days)
    except CalendarYearUnknown:
        return None


def check_rectification_report(state: HazardState) -> None:
    """Rule `report_open_hazard`: only an open hazard can be reported rectified."""
    if state is not HazardState.open:
        raise StepOutOfOrder(
            "report_open_hazard", f"the hazard is {state.value}; only an open hazard is reported"
        )


def check_verification(state: HazardState) -> None:
    """Rule `verify_reported_hazard`: verification follows the enterprise's report."""
    if state is not HazardState.reported:
        raise StepOutOfOrder(
            "verify_reported_hazard",
            f"the hazard is {state.value}; verification follows a rectification report",
        )


def is_overdue(due_on: date | None, settled: bool, today: date) -> bool:
    """Rule `overdue`: not settled and past its due day (an unknown due day is never overdue,
    it is flagged instead)."""
    return not settled and due_on is not None and today > due_on


class PledgeVisitState(StrEnum):
    due = "due"
    passed = "passed"
    breached = "breached"


def check_pledge_result(state: PledgeVisitState, inspectors: Sequence[str], findings: str) -> None:
    """Rules `pledge_visit_once`, `team_of_two`, `findings_recorded`: one result per visit."""
    if state is not PledgeVisitState.due:
        raise StepOutOfOrder(
            "pledge_visit_once", f"the visit already has its result ({state.value})"
        )
    _distinct_people(inspectors, "team_of_two", "inspectors", "verification team")
    if not findings.strip():
        raise ProcedureRuleViolated(
            "findings_recorded", "findings", "record what the inspectors found on site"
        )
