"""Key-project rules: the stage sequence, stages in order, guidance before each stage,
officer assignment, plans and follow-ups. Exhaustive where the state space is finite."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from kernel.auth.principal import USER_ROLES
from services.permits.domain import (
    PROJECT_STAGES,
    GuidanceMode,
    ProjectRuleViolated,
    ProjectStage,
    check_follow_up,
    check_guidance,
    check_officer_release,
    check_officers_assigned,
    check_stage_actor,
    check_stage_advance,
    check_stage_plan,
    is_behind_plan,
    next_stage,
)

P = ProjectStage
# Every state a project can be in: nothing reached yet, or the last stage reached.
STATES: list[ProjectStage | None] = [None, *PROJECT_STAGES]
ALL_GUIDED: list[frozenset[ProjectStage]] = [
    frozenset(combo)
    for size in range(len(PROJECT_STAGES) + 1)
    for combo in itertools.combinations(PROJECT_STAGES, size)
]


def pos(stage: ProjectStage | None) -> int:
    return 0 if stage is None else stage.position


def refusal(exc: pytest.ExceptionInfo[ProjectRuleViolated]) -> tuple[str, str]:
    kind = (
        "conflict"
        if exc.value.conflict
        else "forbidden"
        if exc.value.forbidden
        else "missing"
        if exc.value.missing
        else "rule"
    )
    return exc.value.code, kind


class TestStageSequence:
    def test_the_statutory_sequence_with_chinese_labels(self) -> None:
        assert [(s.value, s.label) for s in PROJECT_STAGES] == [
            ("project_filing", "立项/项目备案"),
            ("safety_conditions_review", "安全条件审查"),
            ("safety_facilities_design_review", "安全设施设计审查"),
            ("trial_production_plan", "试生产（使用）方案"),
            ("completion_acceptance", "竣工验收"),
            ("production", "投产"),
        ]
        assert [s.position for s in PROJECT_STAGES] == [1, 2, 3, 4, 5, 6]

    @pytest.mark.parametrize("reached", STATES, ids=str)
    def test_next_stage_from_every_state(self, reached: ProjectStage | None) -> None:
        expected = PROJECT_STAGES[pos(reached)] if pos(reached) < len(PROJECT_STAGES) else None
        assert next_stage(reached) is expected

    def test_guidance_modes_have_labels(self) -> None:
        assert {m.value: m.label for m in GuidanceMode} == {
            "on_site": "现场指导",
            "online": "线上指导",
            "phone": "电话指导",
            "meeting": "会议指导",
        }


def expected_advance(
    reached: ProjectStage | None, target: ProjectStage, guided: frozenset[ProjectStage]
) -> tuple[str, str] | None:
    """An independent statement of `stages_in_order` + `guidance_before_stage`."""
    if reached is P.production:
        return ("project_completed", "conflict")
    if target.position <= pos(reached):
        return ("stage_already_reached", "rule")
    if target.position > pos(reached) + 1:
        return ("stage_skipped", "rule")
    if target not in guided:
        return ("guidance_required_before_stage", "rule")
    return None


class TestStageAdvance:
    @pytest.mark.parametrize(
        ("reached", "target"), list(itertools.product(STATES, PROJECT_STAGES)), ids=str
    )
    def test_every_state_target_and_guidance_on_record(
        self, reached: ProjectStage | None, target: ProjectStage
    ) -> None:
        for guided in ALL_GUIDED:
            expected = expected_advance(reached, target, guided)
            if expected is None:
                assert check_stage_advance(reached, target, guided) is target
                continue
            with pytest.raises(ProjectRuleViolated) as exc:
                check_stage_advance(reached, target, guided)
            assert refusal(exc) == expected, (reached, target, sorted(guided))
            if expected[1] == "rule":
                assert exc.value.field == "stage"

    def test_a_whole_project_walks_the_stages_in_order(self) -> None:
        reached: ProjectStage | None = None
        guided: set[ProjectStage] = set()
        for stage in PROJECT_STAGES:
            assert next_stage(reached) is stage
            with pytest.raises(ProjectRuleViolated, match="no guidance"):
                check_stage_advance(reached, stage, guided)
            guided.add(check_guidance(reached, None, officer_id="o1", assigned=["o1"]))
            reached = check_stage_advance(reached, stage, guided)
        assert reached is P.production
        assert next_stage(reached) is None

    def test_guidance_for_a_later_stage_does_not_open_an_earlier_one(self) -> None:
        with pytest.raises(ProjectRuleViolated) as exc:
            check_stage_advance(P.project_filing, P.safety_conditions_review, {P.production})
        assert exc.value.code == "guidance_required_before_stage"


class TestGuidance:
    @pytest.mark.parametrize(
        ("reached", "stage"), list(itertools.product(STATES, [None, *PROJECT_STAGES])), ids=str
    )
    def test_every_state_and_stage(
        self, reached: ProjectStage | None, stage: ProjectStage | None
    ) -> None:
        upcoming = next_stage(reached)
        if upcoming is None:
            with pytest.raises(ProjectRuleViolated) as exc:
                check_guidance(reached, stage, officer_id="o1", assigned=["o1"])
            assert refusal(exc) == ("project_completed", "conflict")
        elif stage is not None and stage.position <= pos(reached):
            with pytest.raises(ProjectRuleViolated) as exc:
                check_guidance(reached, stage, officer_id="o1", assigned=["o1"])
            assert refusal(exc) == ("stage_already_reached", "rule")
            assert exc.value.field == "stage"
        else:
            got = check_guidance(reached, stage, officer_id="o1", assigned=["o0", "o1"])
            assert got is (stage or upcoming)
        # Whatever the state, an officer who is not assigned is refused first.
        with pytest.raises(ProjectRuleViolated) as exc:
            check_guidance(reached, stage, officer_id="o9", assigned=["o1"])
        assert refusal(exc) == ("officer_not_assigned", "forbidden")

    def test_follow_up_today_or_later(self) -> None:
        today = date(2026, 3, 2)
        check_follow_up(None, today)
        check_follow_up(today, today)
        check_follow_up(today + timedelta(days=30), today)
        with pytest.raises(ProjectRuleViolated) as exc:
            check_follow_up(today - timedelta(days=1), today)
        assert (exc.value.code, exc.value.field) == ("follow_up_in_past", "follow_up_on")


class TestStagePlan:
    START = date(2026, 1, 15)

    def plan(self, gaps: list[int] | None = None) -> list[tuple[ProjectStage, date]]:
        gaps = gaps if gaps is not None else [30] * len(PROJECT_STAGES)
        days = list(itertools.accumulate(gaps))
        return [
            (s, self.START + timedelta(days=d)) for s, d in zip(PROJECT_STAGES, days, strict=True)
        ]

    def test_a_complete_plan_in_any_listed_order(self) -> None:
        plan = self.plan()
        by_stage = check_stage_plan(reversed(plan))
        assert list(by_stage) == list(PROJECT_STAGES)
        assert by_stage == dict(plan)

    def test_stages_may_share_a_date(self) -> None:
        assert len(check_stage_plan(self.plan([0] * len(PROJECT_STAGES)))) == 6

    @pytest.mark.parametrize("left_out", PROJECT_STAGES, ids=str)
    def test_every_stage_is_planned(self, left_out: ProjectStage) -> None:
        with pytest.raises(ProjectRuleViolated) as exc:
            check_stage_plan([(s, d) for s, d in self.plan() if s is not left_out])
        assert (exc.value.code, exc.value.field) == ("stage_plan_incomplete", "stages")
        assert left_out.label in str(exc.value)

    def test_a_stage_planned_twice_is_refused(self) -> None:
        plan = self.plan()
        with pytest.raises(ProjectRuleViolated) as exc:
            check_stage_plan([*plan, plan[2]])
        assert exc.value.code == "stage_plan_incomplete"
        assert "twice" in str(exc.value)

    @pytest.mark.parametrize("later", range(1, len(PROJECT_STAGES)))
    def test_no_stage_planned_before_the_one_it_follows(self, later: int) -> None:
        gaps = [30] * len(PROJECT_STAGES)
        gaps[later] = -1
        with pytest.raises(ProjectRuleViolated) as exc:
            check_stage_plan(self.plan(gaps))
        assert (exc.value.code, exc.value.field) == ("stage_plan_out_of_order", "stages")
        assert PROJECT_STAGES[later].label in str(exc.value)


class TestOfficers:
    def test_assigning_new_officers(self) -> None:
        assert check_officers_assigned(["a"], ["b", "c"]) == ("b", "c")
        assert check_officers_assigned([], ["a"]) == ("a",)

    def test_an_officer_is_assigned_once(self) -> None:
        with pytest.raises(ProjectRuleViolated) as exc:
            check_officers_assigned(["a", "b"], ["c", "b"])
        assert refusal(exc) == ("officer_already_assigned", "conflict")
        assert "b" in str(exc.value)

    def test_release_keeps_at_least_one_officer(self) -> None:
        assert check_officer_release(["a", "b"], "a") == {"b"}
        with pytest.raises(ProjectRuleViolated) as exc:
            check_officer_release(["a"], "a")
        assert refusal(exc) == ("project_needs_an_officer", "rule")
        with pytest.raises(ProjectRuleViolated) as exc:
            check_officer_release(["a", "b"], "z")
        assert refusal(exc) == ("officer_not_assigned", "missing")

    @pytest.mark.parametrize("role", [r.value for r in USER_ROLES])
    @pytest.mark.parametrize("assigned", [True, False])
    def test_who_marks_a_stage(self, role: str, assigned: bool) -> None:
        officers = ["me"] if assigned else ["someone-else"]
        if role == "leader" or (role == "officer" and assigned):
            check_stage_actor(role, "me", officers)
            return
        with pytest.raises(ProjectRuleViolated) as exc:
            check_stage_actor(role, "me", officers)
        expected = "officer_not_assigned" if role == "officer" else "stage_not_yours"
        assert refusal(exc) == (expected, "forbidden")


@pytest.mark.parametrize(
    ("planned", "reached", "today", "behind"),
    [
        (date(2026, 5, 1), False, date(2026, 5, 1), False),
        (date(2026, 5, 1), False, date(2026, 5, 2), True),
        (date(2026, 5, 1), True, date(2026, 5, 2), False),
        (date(2026, 5, 1), False, date(2026, 4, 30), False),
    ],
)
def test_behind_plan(planned: date, reached: bool, today: date, behind: bool) -> None:
    assert is_behind_plan(planned, reached, today) is behind
