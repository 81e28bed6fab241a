"""The four-step procedure and the lenient-enforcement rules, exhaustively. Pure."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import ClassVar

import pytest

from kernel.workdays import CalendarYearUnknown, WorkingDayCalendar
from services.inspection.enforcement import (
    QINGDAO_LENIENT_2024,
    DecisionKind,
    EnterpriseFacts,
    FeedbackFacts,
    FindingFacts,
    Harm,
    HazardFacts,
    HazardGrade,
    HazardState,
    InspectionState,
    LeniencyEligibility,
    ListingCriterion,
    Outcome,
    PenaltyMeasure,
    PledgeVisitState,
    ProcedureRuleViolated,
    Proposal,
    RuleResult,
    StartFacts,
    Step,
    StepOutOfOrder,
    check_deliberation,
    check_feedback,
    check_finding,
    check_hazard,
    check_pledge_result,
    check_rectification_report,
    check_source_reference,
    check_start,
    check_step_order,
    check_verification,
    decide,
    decision_number,
    first_offence_management_leniency,
    first_offence_slight_harm,
    follow_up_due_on,
    hazard_rectify_by,
    is_major_penalty,
    is_overdue,
    leniency_eligibility,
    lenient_outcome,
    measures_zh,
    minor_corrected_harmless,
    penalty_severity,
    self_found_hazard_under_rectification,
)

PACK = QINGDAO_LENIENT_2024
TODAY = date(2026, 3, 10)
HIGH_RISK_NORMAL = EnterpriseFacts("normal", False, False, True)
REDLISTED = EnterpriseFacts("redlisted", False, False, True)


def finding(**over: object) -> FindingFacts:
    base = FindingFacts(
        is_minor=False,
        corrected=False,
        harm=Harm.harmful,
        is_management=False,
        first_found=False,
        hazard_grade=None,
        enterprise=HIGH_RISK_NORMAL,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def proposal(
    fine: str | None = None,
    measures: tuple[PenaltyMeasure, ...] = (),
    criterion: ListingCriterion | None = None,
) -> Proposal:
    return Proposal(Decimal(fine) if fine else None, measures, criterion)


def rule_name(exc: pytest.ExceptionInfo[ProcedureRuleViolated]) -> tuple[str, str]:
    return exc.value.rule, exc.value.field


# --- the four steps ------------------------------------------------------------------------


class TestStepOrder:
    ORDER: ClassVar[dict[Step, InspectionState]] = {
        Step.start: InspectionState.start,
        Step.inspect: InspectionState.inspecting,
        Step.deliberate: InspectionState.inspecting,
        Step.approve: InspectionState.deliberating,
        Step.feedback: InspectionState.feedback,
    }

    @pytest.mark.parametrize(("state", "step"), list(itertools.product(InspectionState, Step)))
    def test_each_step_only_from_its_state(self, state: InspectionState, step: Step) -> None:
        if self.ORDER[step] is state:
            check_step_order(state, step)
            return
        with pytest.raises(StepOutOfOrder) as exc:
            check_step_order(state, step)
        assert exc.value.rule == "four_step_order"
        assert step.value in str(exc.value)

    def test_closed_case_takes_no_step(self) -> None:
        for step in Step:
            with pytest.raises(StepOutOfOrder):
                check_step_order(InspectionState.closed, step)


def start(**over: object) -> StartFacts:
    base = StartFacts(
        team=["officer-1", "officer-2"],
        notice_served_on=TODAY,
        notice_text="检查告知书",
        education_topics=["安全生产法"],
        today=TODAY,
    )
    return replace(base, **over)  # type: ignore[arg-type]


class TestStart:
    def test_complete_start_moves_to_inspecting(self) -> None:
        assert check_start(start()) is InspectionState.inspecting

    @pytest.mark.parametrize(
        ("over", "rule", "field"),
        [
            ({"team": ["officer-1"]}, "team_of_two", "team"),
            ({"team": ["officer-1", " officer-1 "]}, "team_of_two", "team"),
            ({"team": ["officer-1", " "]}, "team_of_two", "team"),
            ({"team": []}, "team_of_two", "team"),
            ({"notice_text": "  "}, "notice_served", "notice.text"),
            ({"notice_served_on": date(2026, 3, 11)}, "notice_served", "notice.served_on"),
            ({"education_topics": []}, "education_plan", "education_plan.topics"),
            ({"education_topics": [" "]}, "education_plan", "education_plan.topics"),
        ],
    )
    def test_missing_content_is_refused_by_name(
        self, over: dict[str, object], rule: str, field: str
    ) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_start(start(**over))
        assert rule_name(exc) == (rule, field)

    def test_notice_served_earlier_is_fine(self) -> None:
        assert check_start(start(notice_served_on=date(2026, 3, 1))) is InspectionState.inspecting

    @pytest.mark.parametrize("source", ["complaint", "assignment", "pledge", "follow_up"])
    def test_answering_sources_need_a_reference(self, source: str) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_source_reference(source, " ")
        assert rule_name(exc) == ("source_reference_required", "reference")
        check_source_reference(source, "投诉2026-001")

    @pytest.mark.parametrize("source", ["draw", "planned"])
    def test_plan_and_draw_need_none(self, source: str) -> None:
        check_source_reference(source, None)


class TestInspectContent:
    def test_finding_needs_description_and_evidence(self) -> None:
        check_finding("未建立隐患排查制度", 1)
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_finding(" ", 1)
        assert rule_name(exc) == ("finding_described", "description")
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_finding("x", 0)
        assert rule_name(exc) == ("finding_evidence", "evidence")

    def hazard(self, **over: object) -> HazardFacts:
        base = HazardFacts("消防通道堵塞", HazardGrade.general, 1, False, False, None)
        return replace(base, **over)  # type: ignore[arg-type]

    def test_government_found_hazard(self) -> None:
        check_hazard(self.hazard())

    def test_self_found_hazard_needs_its_period(self) -> None:
        check_hazard(
            self.hazard(is_self_found=True, under_rectification=True, enterprise_rectify_by=TODAY)
        )
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_hazard(self.hazard(is_self_found=True, under_rectification=True))
        assert rule_name(exc) == ("self_found_needs_period", "enterprise_rectify_by")

    @pytest.mark.parametrize(
        "over", [{"under_rectification": True}, {"enterprise_rectify_by": TODAY}]
    )
    def test_self_found_fields_only_on_self_found(self, over: dict[str, object]) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_hazard(self.hazard(**over))
        assert rule_name(exc) == ("self_found_needs_period", "is_self_found")

    @pytest.mark.parametrize(
        ("over", "rule"),
        [({"description": ""}, "hazard_described"), ({"evidence_count": 0}, "hazard_evidence")],
    )
    def test_hazard_content(self, over: dict[str, object], rule: str) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_hazard(self.hazard(**over))
        assert exc.value.rule == rule


class TestDeliberationContent:
    def test_complete(self) -> None:
        check_deliberation("合议记录", ["a", "b"], [1, 2], [2, 1], 0, False)

    def test_clean_inspection_is_stated(self) -> None:
        check_deliberation("合议记录", ["a", "b"], [], [], 0, True)
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_deliberation("合议记录", ["a", "b"], [], [], 0, False)
        assert rule_name(exc) == ("inspect_step_recorded", "no_findings")

    def test_hazards_only_count_as_the_inspect_step(self) -> None:
        check_deliberation("合议记录", ["a", "b"], [], [], 2, False)

    def test_no_findings_contradicting_findings(self) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_deliberation("m", ["a", "b"], [1], [1], 0, True)
        assert exc.value.rule == "inspect_step_recorded"

    @pytest.mark.parametrize(
        ("minutes", "people", "decided", "rule"),
        [
            (" ", ["a", "b"], [1], "minutes_recorded"),
            ("m", ["a"], [1], "deliberation_of_two"),
            ("m", ["a", "a"], [1], "deliberation_of_two"),
            ("m", ["a", "b"], [], "decision_per_finding"),
            ("m", ["a", "b"], [1, 1], "decision_per_finding"),
            ("m", ["a", "b"], [1, 2], "decision_per_finding"),
        ],
    )
    def test_refused(self, minutes: str, people: list[str], decided: list[int], rule: str) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_deliberation(minutes, people, [1], decided, 0, False)
        assert exc.value.rule == rule


class TestFeedbackContent:
    def facts(self, **over: object) -> FeedbackFacts:
        base = FeedbackFacts(TODAY, date(2026, 3, 9), TODAY, "讲解有限空间作业规定", 3, 2)
        return replace(base, **over)  # type: ignore[arg-type]

    def test_complete_closes(self) -> None:
        assert check_feedback(self.facts()) is InspectionState.closed
        assert check_feedback(self.facts(delivered_on=date(2026, 3, 9))) is InspectionState.closed

    @pytest.mark.parametrize(
        ("over", "rule", "field"),
        [
            ({"delivered_on": date(2026, 3, 11)}, "results_delivered", "delivered_on"),
            ({"delivered_on": date(2026, 3, 8)}, "results_delivered", "delivered_on"),
            ({"lesson": " "}, "lesson_given", "lesson"),
            ({"questions_answered": 1}, "questions_counted", "questions_answered"),
        ],
    )
    def test_refused(self, over: dict[str, object], rule: str, field: str) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_feedback(self.facts(**over))
        assert rule_name(exc) == (rule, field)


# --- lenient rules, one by one -------------------------------------------------------------


class TestEligibility:
    @pytest.mark.parametrize(
        ("facts", "groups"),
        [
            (HIGH_RISK_NORMAL, ()),
            (EnterpriseFacts("blacklisted", False, False, True), ()),
            (REDLISTED, (LeniencyEligibility.redlisted,)),
            (EnterpriseFacts("normal", True, False, True), (LeniencyEligibility.pre_ipo,)),
            (EnterpriseFacts("normal", False, True, True), (LeniencyEligibility.specialised,)),
            (
                EnterpriseFacts("normal", False, False, False),
                (LeniencyEligibility.general_industry,),
            ),
            (
                EnterpriseFacts("redlisted", True, True, False),
                tuple(LeniencyEligibility),
            ),
        ],
    )
    def test_groups(self, facts: EnterpriseFacts, groups: tuple[LeniencyEligibility, ...]) -> None:
        assert leniency_eligibility(facts) == groups


class TestMinorCorrectedHarmless:
    def test_applies(self) -> None:
        r = minor_corrected_harmless(finding(is_minor=True, corrected=True, harm=Harm.none))
        assert r is not None
        assert (r.rule, r.outcome) == ("minor_corrected_harmless", Outcome.no_penalty)
        assert "第三十三条" in r.reason

    @pytest.mark.parametrize(
        "over",
        [
            {"is_minor": False, "corrected": True, "harm": Harm.none},
            {"is_minor": True, "corrected": False, "harm": Harm.none},
            {"is_minor": True, "corrected": True, "harm": Harm.slight},
            {"is_minor": True, "corrected": True, "harm": Harm.harmful},
        ],
    )
    def test_each_condition_is_needed(self, over: dict[str, object]) -> None:
        assert minor_corrected_harmless(finding(**over)) is None


class TestSelfFoundHazard:
    BASE: ClassVar[dict[str, object]] = {
        "hazard_grade": HazardGrade.major,
        "hazard_self_found": True,
        "hazard_under_rectification": True,
        "hazard_within_period": True,
    }

    def test_applies_to_any_grade_and_harm(self) -> None:
        for grade in HazardGrade:
            r = self_found_hazard_under_rectification(
                finding(**{**self.BASE, "hazard_grade": grade})
            )
            assert r is not None
            assert (r.rule, r.outcome) == ("self_found_hazard_under_rectification", Outcome.no_fine)

    @pytest.mark.parametrize(
        "missing",
        ["hazard_grade", "hazard_self_found", "hazard_under_rectification", "hazard_within_period"],
    )
    def test_each_condition_is_needed(self, missing: str) -> None:
        facts = {**self.BASE, missing: None if missing == "hazard_grade" else False}
        assert self_found_hazard_under_rectification(finding(**facts)) is None


class TestFirstOffenceManagementLeniency:
    BASE: ClassVar[dict[str, object]] = {
        "is_management": True,
        "first_found": True,
        "corrected": True,
        "harm": Harm.slight,
        "enterprise": REDLISTED,
    }

    @pytest.mark.parametrize(
        "enterprise",
        [
            REDLISTED,
            EnterpriseFacts("normal", True, False, True),
            EnterpriseFacts("normal", False, True, True),
            EnterpriseFacts("normal", False, False, False),
        ],
    )
    def test_applies_to_each_group(self, enterprise: EnterpriseFacts) -> None:
        r = first_offence_management_leniency(finding(**{**self.BASE, "enterprise": enterprise}))
        assert r is not None
        assert r.outcome is Outcome.education_and_rectification_order

    def test_general_hazard_counts_like_a_management_violation(self) -> None:
        facts = {**self.BASE, "is_management": False, "hazard_grade": HazardGrade.general}
        assert first_offence_management_leniency(finding(**facts)) is not None

    def test_major_hazard_does_not(self) -> None:
        facts = {**self.BASE, "is_management": False, "hazard_grade": HazardGrade.major}
        assert first_offence_management_leniency(finding(**facts)) is None

    @pytest.mark.parametrize(
        "over",
        [
            {"enterprise": HIGH_RISK_NORMAL},
            {"enterprise": EnterpriseFacts("blacklisted", False, False, True)},
            {"is_management": False},
            {"first_found": False},
            {"corrected": False},
            {"harm": Harm.harmful},
        ],
    )
    def test_each_condition_is_needed(self, over: dict[str, object]) -> None:
        assert first_offence_management_leniency(finding(**{**self.BASE, **over})) is None

    def test_no_harm_also_qualifies(self) -> None:
        assert first_offence_management_leniency(finding(**{**self.BASE, "harm": Harm.none}))


class TestFirstOffenceSlightHarm:
    def test_applies(self) -> None:
        r = first_offence_slight_harm(finding(first_found=True, corrected=True, harm=Harm.slight))
        assert r is not None
        assert r.outcome is Outcome.penalty_waivable

    @pytest.mark.parametrize(
        "over",
        [
            {"first_found": False, "corrected": True, "harm": Harm.slight},
            {"first_found": True, "corrected": False, "harm": Harm.slight},
            {"first_found": True, "corrected": True, "harm": Harm.harmful},
            {"first_found": True, "corrected": True, "harm": Harm.none},
        ],
    )
    def test_each_condition_is_needed(self, over: dict[str, object]) -> None:
        assert first_offence_slight_harm(finding(**over)) is None


class TestPrecedence:
    def test_nothing_applies_means_penalty(self) -> None:
        r = lenient_outcome(finding(), PACK)
        assert (r.rule, r.outcome) == ("penalty_due", Outcome.penalty)

    def test_minor_beats_everything(self) -> None:
        everything = finding(
            is_minor=True,
            corrected=True,
            harm=Harm.none,
            is_management=True,
            first_found=True,
            hazard_grade=HazardGrade.general,
            hazard_self_found=True,
            hazard_under_rectification=True,
            hazard_within_period=True,
            enterprise=REDLISTED,
        )
        assert lenient_outcome(everything, PACK).rule == "minor_corrected_harmless"

    def test_self_found_beats_management_leniency(self) -> None:
        both = finding(
            corrected=True,
            harm=Harm.slight,
            is_management=True,
            first_found=True,
            hazard_grade=HazardGrade.general,
            hazard_self_found=True,
            hazard_under_rectification=True,
            hazard_within_period=True,
            enterprise=REDLISTED,
        )
        assert lenient_outcome(both, PACK).rule == "self_found_hazard_under_rectification"

    def test_management_leniency_beats_the_waiver(self) -> None:
        both = finding(
            corrected=True,
            harm=Harm.slight,
            is_management=True,
            first_found=True,
            enterprise=REDLISTED,
        )
        assert lenient_outcome(both, PACK).rule == "first_offence_management_leniency"
        not_eligible = replace(both, enterprise=HIGH_RISK_NORMAL)
        assert lenient_outcome(not_eligible, PACK).rule == "first_offence_slight_harm"

    def test_pack_order_is_the_documented_one(self) -> None:
        assert [r.__name__ for r in PACK.rules] == [
            "minor_corrected_harmless",
            "self_found_hazard_under_rectification",
            "first_offence_management_leniency",
            "first_offence_slight_harm",
        ]

    def test_every_combination_yields_one_named_outcome(self) -> None:
        enterprises = [HIGH_RISK_NORMAL, REDLISTED]
        for values in itertools.product(
            [False, True],
            [False, True],
            list(Harm),
            [False, True],
            [False, True],
            [None, *HazardGrade],
            [False, True],
            enterprises,
        ):
            minor, corrected, harm, mgmt, first, grade, self_found, ent = values
            f = finding(
                is_minor=minor,
                corrected=corrected,
                harm=harm,
                is_management=mgmt,
                first_found=first,
                hazard_grade=grade,
                hazard_self_found=self_found,
                hazard_under_rectification=self_found,
                hazard_within_period=self_found,
                enterprise=ent,
            )
            r = lenient_outcome(f, PACK)
            # No lenient outcome is ever given to a harmful, uncorrected violation.
            if harm is Harm.harmful and not corrected and not (grade and self_found):
                assert r.outcome is Outcome.penalty
            if r.outcome is Outcome.no_penalty:
                assert minor
                assert corrected
                assert harm is Harm.none


# --- settling the officer's proposal -------------------------------------------------------


def result(outcome: Outcome) -> RuleResult:
    return RuleResult(f"rule_{outcome.value}", outcome, "理由")


class TestDecide:
    @pytest.mark.parametrize(
        "outcome", [Outcome.no_penalty, Outcome.education_and_rectification_order]
    )
    def test_no_fine_and_no_measure_where_no_penalty(self, outcome: Outcome) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            decide(result(outcome), proposal("2000"), PACK)
        assert rule_name(exc) == ("fine_not_allowed", "fine")
        assert "理由" in str(exc.value)
        with pytest.raises(ProcedureRuleViolated) as exc:
            decide(result(outcome), proposal(measures=(PenaltyMeasure.warning,)), PACK)
        assert rule_name(exc) == ("penalty_not_allowed", "measures")

    def test_no_penalty_and_education_kinds(self) -> None:
        assert decide(result(Outcome.no_penalty), proposal(), PACK).kind is DecisionKind.no_penalty
        d = decide(result(Outcome.education_and_rectification_order), proposal(), PACK)
        assert (d.kind, d.is_major) == (DecisionKind.rectification_order, False)

    def test_no_fine_allows_measures(self) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            decide(result(Outcome.no_fine), proposal("100"), PACK)
        assert exc.value.rule == "fine_not_allowed"
        assert decide(result(Outcome.no_fine), proposal(), PACK).kind is (
            DecisionKind.rectification_order
        )
        d = decide(result(Outcome.no_fine), proposal(measures=(PenaltyMeasure.warning,)), PACK)
        assert (d.kind, d.is_major) == (DecisionKind.penalty, False)
        d = decide(
            result(Outcome.no_fine), proposal(measures=(PenaltyMeasure.suspend_production,)), PACK
        )
        assert d.is_major

    def test_waivable_is_the_officers_choice(self) -> None:
        waived = decide(result(Outcome.penalty_waivable), proposal(), PACK)
        assert waived.kind is DecisionKind.no_penalty
        fined = decide(result(Outcome.penalty_waivable), proposal("3000"), PACK)
        assert (fined.kind, fined.is_major) == (DecisionKind.penalty, False)

    def test_penalty_needs_content(self) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            decide(result(Outcome.penalty), proposal(), PACK)
        assert exc.value.rule == "penalty_content_required"
        assert decide(result(Outcome.penalty), proposal("1"), PACK).kind is DecisionKind.penalty

    @pytest.mark.parametrize("fine", ["0", "-5"])
    def test_fine_is_positive(self, fine: str) -> None:
        with pytest.raises(ProcedureRuleViolated) as exc:
            decide(result(Outcome.penalty), proposal(fine), PACK)
        assert exc.value.rule == "fine_positive"

    def test_listing_only_on_a_penalty(self) -> None:
        listed = proposal("60000", criterion=ListingCriterion.other_serious)
        assert decide(result(Outcome.penalty), listed, PACK).kind is DecisionKind.penalty
        with pytest.raises(ProcedureRuleViolated) as exc:
            decide(
                result(Outcome.penalty_waivable),
                proposal(criterion=ListingCriterion.other_serious),
                PACK,
            )
        assert rule_name(exc) == ("listing_needs_penalty", "blacklist_criterion")


class TestMajorPenalty:
    @pytest.mark.parametrize(
        ("fine", "measures", "major"),
        [
            ("49999.99", (), False),
            ("50000", (), True),
            (None, (PenaltyMeasure.warning,), False),
            (None, (PenaltyMeasure.suspend_licence,), False),
            (None, (PenaltyMeasure.confiscation,), False),
            (None, (PenaltyMeasure.suspend_production,), True),
            (None, (PenaltyMeasure.revoke_licence,), True),
            (None, (PenaltyMeasure.close,), True),
            ("1000", (PenaltyMeasure.revoke_licence,), True),
        ],
    )
    def test_threshold_and_measures(
        self, fine: str | None, measures: tuple[PenaltyMeasure, ...], major: bool
    ) -> None:
        assert is_major_penalty(proposal(fine, measures), PACK) is major
        assert penalty_severity(major) == ("serious" if major else "general")

    def test_wording(self) -> None:
        assert decision_number(2026, 7) == "青应急罚〔2026〕7号"
        assert measures_zh([PenaltyMeasure.warning, PenaltyMeasure.revoke_licence]) == (
            "警告；吊销许可证"
        )
        assert measures_zh([]) is None


# --- deadlines -----------------------------------------------------------------------------


class FakeCalendar:
    """Knows only 2026; adds calendar days so the arithmetic is visible."""

    def add_working_days(self, start: date, n: int) -> date:
        if start.year != 2026:
            raise CalendarYearUnknown(start.year, {2026})
        return date.fromordinal(start.toordinal() + n)


class TestDeadlines:
    def test_rectify_by_per_grade(self) -> None:
        cal = FakeCalendar()
        assert hazard_rectify_by(cal, TODAY, HazardGrade.general, PACK) == date(2026, 3, 20)
        assert hazard_rectify_by(cal, TODAY, HazardGrade.major, PACK) == date(2026, 4, 9)

    def test_unknown_year_is_never_guessed(self) -> None:
        cal = FakeCalendar()
        assert hazard_rectify_by(cal, date(2031, 1, 5), HazardGrade.general, PACK) is None
        assert follow_up_due_on(cal, date(2031, 1, 5), PACK) is None

    def test_on_the_official_calendar(self) -> None:
        # 2026 National Day: 1-7 October off; Saturday 10 October is a make-up working day, so
        # ten working days from 30 September are 8-10 and 12-16 October, 19 and 20 October.
        cal = WorkingDayCalendar()
        assert hazard_rectify_by(cal, date(2026, 9, 30), HazardGrade.general, PACK) == date(
            2026, 10, 20
        )
        assert follow_up_due_on(cal, date(2026, 9, 30), PACK) == date(2026, 11, 3)

    @pytest.mark.parametrize(
        ("due", "settled", "overdue"),
        [
            (date(2026, 3, 9), False, True),
            (date(2026, 3, 10), False, False),
            (date(2026, 3, 9), True, False),
            (None, False, False),
        ],
    )
    def test_overdue(self, due: date | None, settled: bool, overdue: bool) -> None:
        assert is_overdue(due, settled, TODAY) is overdue


class TestHazardAndPledgeStates:
    def test_report_only_when_open(self) -> None:
        check_rectification_report(HazardState.open)
        for state in (HazardState.reported, HazardState.rectified):
            with pytest.raises(StepOutOfOrder) as exc:
                check_rectification_report(state)
            assert exc.value.rule == "report_open_hazard"

    def test_verify_only_when_reported(self) -> None:
        check_verification(HazardState.reported)
        for state in (HazardState.open, HazardState.rectified):
            with pytest.raises(StepOutOfOrder) as exc:
                check_verification(state)
            assert exc.value.rule == "verify_reported_hazard"

    def test_pledge_result_once_by_two_with_findings(self) -> None:
        check_pledge_result(PledgeVisitState.due, ["a", "b"], "现场与承诺一致")
        for state in (PledgeVisitState.passed, PledgeVisitState.breached):
            with pytest.raises(StepOutOfOrder) as order:
                check_pledge_result(state, ["a", "b"], "x")
            assert order.value.rule == "pledge_visit_once"
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_pledge_result(PledgeVisitState.due, ["a"], "x")
        assert rule_name(exc) == ("team_of_two", "inspectors")
        with pytest.raises(ProcedureRuleViolated) as exc:
            check_pledge_result(PledgeVisitState.due, ["a", "b"], " ")
        assert rule_name(exc) == ("findings_recorded", "findings")
