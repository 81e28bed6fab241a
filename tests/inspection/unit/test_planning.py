"""Yearly plan rules (measure 6): each named rule, their precedence, months, and properties."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.uscc import make_uscc
from kernel.vocab import QINGDAO_DISTRICTS, Sector
from services.inspection.planning import (
    DEFAULT_PLAN_PACK,
    RULE_NAMES,
    EnterpriseFacts,
    PlanDecision,
    PlanDraft,
    PlanRuleViolated,
    PlanState,
    PlanStateConflict,
    blacklisted_at_least_two,
    check_decision,
    check_joint_inspection,
    check_plan_approvable,
    check_plan_year,
    general_double_random,
    generate_plan,
    joint_inspection_exemption,
    key_enterprise_planned,
    plan_enterprise,
    redlisted_at_most_one,
    risk_raises_priority,
    spread_months,
    standardised_at_most_one,
    summarise,
)

YEAR = 2027
PACK = DEFAULT_PLAN_PACK


def facts(n: int = 1, **over: Any) -> EnterpriseFacts:
    base: dict[str, Any] = {
        "uscc": make_uscc(n),
        "sector": "trade",
        "district": "市南区",
        "tier": "general",
        "standardisation_level": 0,
        "is_pre_ipo": False,
        "is_specialised": False,
        "credit_standing": "normal",
        "risk_level": None,
        "joint_inspected": False,
        "override": None,
    }
    base.update(over)
    return EnterpriseFacts(**base)


def plan(**over: Any) -> PlanDecision:
    return plan_enterprise(facts(**over), YEAR)


def rule_names(decision: PlanDecision) -> list[str]:
    return [r.rule for r in decision.rules]


def effects(decision: PlanDecision, rule: str) -> list[str]:
    return [r.effect for r in decision.rules if r.rule == rule]


def fresh_draft() -> PlanDraft:
    return PlanDraft(mode="random", min_inspections=0, max_inspections=None)


class TestRulePack:
    def test_pack_is_versioned_and_cites_the_measure(self) -> None:
        assert (PACK.id, PACK.version) == ("qd-eb-plan", "1")
        assert "第六条" in PACK.source
        assert PACK.effective_from == date(2023, 6, 26)

    def test_pack_is_immutable(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            PACK.blacklist_min_per_year = 1  # type: ignore[misc]

    def test_pack_applies_from_the_year_it_took_effect(self) -> None:
        assert not PACK.applies_to(2022)
        assert PACK.applies_to(2023)
        assert PACK.applies_to(2030)

    def test_risk_weights_rise_with_the_level(self) -> None:
        weights = [PACK.risk_weight(level) for level in (None, "low", "medium", "high", "major")]
        assert weights == sorted(weights)
        assert weights[0] == 0
        assert weights[3] < weights[4]


class TestKeyEnterprisePlanned:
    def test_key_enterprise_is_planned_once_with_one_month(self) -> None:
        decision = plan(tier="key")
        assert (decision.mode, decision.min_inspections, decision.max_inspections) == (
            "planned",
            1,
            None,
        )
        assert len(decision.planned_months) == 1
        assert rule_names(decision) == ["key_enterprise_planned"]
        assert "重点企业" in decision.rules[0].detail

    def test_rule_ignores_a_general_enterprise(self) -> None:
        draft = fresh_draft()
        key_enterprise_planned(facts(tier="general"), draft, PACK)
        assert draft.rules == []
        assert draft.mode == "random"


class TestGeneralDoubleRandom:
    def test_general_enterprise_joins_the_random_pool_at_most_once(self) -> None:
        decision = plan()
        assert (decision.mode, decision.min_inspections, decision.max_inspections) == (
            "random",
            0,
            1,
        )
        assert decision.planned_months == ()
        assert effects(decision, "general_double_random") == ["random_max_1"]
        assert "双随机" in decision.rules[0].detail

    def test_yearly_cap_is_a_pack_parameter(self) -> None:
        pack = dataclasses.replace(PACK, version="test", general_max_per_year=2)
        decision = plan_enterprise(facts(), YEAR, pack)
        assert decision.max_inspections == 2
        assert check_decision(facts(), decision, pack) == []

    def test_rule_ignores_a_key_enterprise(self) -> None:
        draft = fresh_draft()
        general_double_random(facts(tier="key"), draft, PACK)
        assert draft.rules == []


class TestRiskRaisesPriority:
    @pytest.mark.parametrize(
        ("level", "priority"), [(None, 0), ("low", 0), ("medium", 10), ("high", 30), ("major", 50)]
    )
    def test_priority_by_risk_level(self, level: str | None, priority: int) -> None:
        assert plan(risk_level=level).priority == priority

    def test_no_note_without_a_raise(self) -> None:
        assert "risk_raises_priority" not in rule_names(plan(risk_level="low"))

    def test_high_risk_general_enterprise_stays_in_the_draw(self) -> None:
        decision = plan(risk_level="high")
        assert decision.mode == "random"
        assert effects(decision, "risk_raises_priority") == ["priority_+30"]
        assert "较大" in decision.rules[-1].detail

    def test_major_risk_puts_a_general_enterprise_on_the_plan(self) -> None:
        decision = plan(risk_level="major")
        assert (decision.mode, decision.min_inspections, decision.max_inspections) == (
            "planned",
            1,
            None,
        )
        assert effects(decision, "risk_raises_priority") == ["priority_+50", "planned_min_1"]

    def test_major_risk_key_enterprise_only_gains_priority(self) -> None:
        decision = plan(tier="key", risk_level="major")
        assert effects(decision, "risk_raises_priority") == ["priority_+50"]
        assert decision.min_inspections == 1

    def test_major_risk_red_listed_enterprise_is_planned_exactly_once(self) -> None:
        decision = plan(risk_level="major", credit_standing="redlisted")
        assert (decision.mode, decision.min_inspections, decision.max_inspections) == (
            "planned",
            1,
            1,
        )


class TestRedlistedAtMostOne:
    def test_red_listed_general_enterprise_capped_at_one(self) -> None:
        decision = plan(credit_standing="redlisted")
        assert (decision.mode, decision.max_inspections) == ("random", 1)
        assert effects(decision, "redlisted_at_most_one") == ["max_1"]
        assert "红名单" in decision.rules[-1].detail

    def test_red_listed_key_enterprise_planned_exactly_once(self) -> None:
        decision = plan(tier="key", credit_standing="redlisted")
        assert (decision.mode, decision.min_inspections, decision.max_inspections) == (
            "planned",
            1,
            1,
        )
        assert len(decision.planned_months) == 1

    def test_rule_ignores_other_standings(self) -> None:
        for standing in ("normal", "blacklisted"):
            draft = fresh_draft()
            redlisted_at_most_one(facts(credit_standing=standing), draft, PACK)
            assert draft.rules == []


class TestStandardisedAtMostOne:
    @pytest.mark.parametrize(("level", "zh"), [(1, "一级"), (2, "二级")])
    def test_levels_one_and_two_are_capped(self, level: int, zh: str) -> None:
        decision = plan(tier="key", standardisation_level=level)
        assert decision.max_inspections == 1
        assert effects(decision, "standardised_at_most_one") == ["max_1"]
        assert zh in decision.rules[-1].detail

    @pytest.mark.parametrize("level", [0, 3])
    def test_other_levels_are_not_capped(self, level: int) -> None:
        decision = plan(tier="key", standardisation_level=level)
        assert decision.max_inspections is None
        assert "standardised_at_most_one" not in rule_names(decision)

    def test_rule_lowers_an_existing_minimum_to_the_cap(self) -> None:
        draft = PlanDraft(mode="planned", min_inspections=3, max_inspections=None)
        standardised_at_most_one(facts(standardisation_level=2), draft, PACK)
        assert (draft.min_inspections, draft.max_inspections) == (1, 1)


class TestBlacklistedAtLeastTwo:
    def test_black_listed_enterprise_planned_twice_one_per_half_year(self) -> None:
        decision = plan(credit_standing="blacklisted")
        assert (decision.mode, decision.min_inspections, decision.max_inspections) == (
            "planned",
            2,
            None,
        )
        first, second = decision.planned_months
        assert first <= 6 < second
        assert second - first == 6
        assert decision.priority == PACK.blacklist_priority
        assert effects(decision, "blacklisted_at_least_two") == ["planned_min_2"]

    def test_black_list_minimum_beats_the_standardisation_cap(self) -> None:
        decision = plan(tier="key", credit_standing="blacklisted", standardisation_level=1)
        assert (decision.min_inspections, decision.max_inspections) == (2, None)
        assert rule_names(decision) == [
            "key_enterprise_planned",
            "standardised_at_most_one",
            "blacklisted_at_least_two",
        ]
        assert "优先" in decision.rules[-1].detail

    def test_no_precedence_note_when_no_cap_was_lifted(self) -> None:
        assert "优先" not in plan(credit_standing="blacklisted").rules[-1].detail

    def test_black_list_and_risk_priorities_add_up(self) -> None:
        assert plan(credit_standing="blacklisted", risk_level="high").priority == 50

    def test_rule_ignores_other_standings(self) -> None:
        draft = fresh_draft()
        blacklisted_at_least_two(facts(credit_standing="redlisted"), draft, PACK)
        assert draft.rules == []
        assert draft.min_inspections == 0


class TestJointInspectionExemption:
    @pytest.mark.parametrize("tier", ["general", "key"])
    def test_joint_inspection_exempts_for_the_year(self, tier: str) -> None:
        decision = plan(tier=tier, joint_inspected=True)
        assert (decision.mode, decision.min_inspections, decision.max_inspections) == (
            "exempt",
            0,
            0,
        )
        assert decision.planned_months == ()
        assert effects(decision, "joint_inspection_exemption") == ["exempt"]
        assert "原则上不再单独进行同类检查" in decision.rules[-1].detail

    def test_exemption_also_covers_a_major_risk(self) -> None:
        assert plan(joint_inspected=True, risk_level="major").mode == "exempt"

    @pytest.mark.parametrize(
        ("override", "zh"), [("complaint", "投诉举报"), ("assignment", "上级交办")]
    )
    def test_override_restores_normal_treatment_and_is_recorded(
        self, override: str, zh: str
    ) -> None:
        decision = plan(tier="key", joint_inspected=True, override=override)
        normal = plan(tier="key")
        assert (decision.mode, decision.min_inspections, decision.planned_months) == (
            normal.mode,
            normal.min_inspections,
            normal.planned_months,
        )
        assert effects(decision, "joint_inspection_exemption") == [f"override_{override}"]
        assert zh in decision.rules[-1].detail

    def test_black_list_minimum_is_not_exempted(self) -> None:
        decision = plan(credit_standing="blacklisted", joint_inspected=True)
        assert (decision.mode, decision.min_inspections) == ("planned", 2)
        assert len(decision.planned_months) == 2
        assert effects(decision, "joint_inspection_exemption") == ["yields_to_blacklist"]

    def test_override_without_a_joint_inspection_means_nothing(self) -> None:
        decision = plan(override="complaint")
        assert decision == plan()
        draft = fresh_draft()
        joint_inspection_exemption(facts(override="complaint"), draft, PACK)
        assert draft.rules == []


class TestPrecedence:
    def test_rules_run_in_the_documented_order(self) -> None:
        assert RULE_NAMES == (
            "key_enterprise_planned",
            "general_double_random",
            "risk_raises_priority",
            "redlisted_at_most_one",
            "standardised_at_most_one",
            "blacklisted_at_least_two",
            "joint_inspection_exemption",
        )

    def test_rules_are_explained_in_the_order_applied(self) -> None:
        decision = plan(
            tier="key", risk_level="high", standardisation_level=2, joint_inspected=True
        )
        assert rule_names(decision) == [
            "key_enterprise_planned",
            "risk_raises_priority",
            "standardised_at_most_one",
            "joint_inspection_exemption",
        ]
        assert decision.mode == "exempt"

    def test_risk_rule_alone_keeps_the_draft_order_independent(self) -> None:
        draft = fresh_draft()
        risk_raises_priority(facts(risk_level="medium"), draft, PACK)
        assert (draft.mode, draft.priority) == ("random", 10)


class TestSpreadMonths:
    def test_months_are_deterministic(self) -> None:
        assert spread_months(make_uscc(5), YEAR, 2) == spread_months(make_uscc(5), YEAR, 2)

    @pytest.mark.parametrize(("count", "gap"), [(2, 6), (3, 4), (4, 3)])
    def test_months_are_evenly_spaced(self, count: int, gap: int) -> None:
        for n in range(50):
            months = spread_months(make_uscc(n), YEAR, count)
            assert len(months) == count
            assert all(b - a == gap for a, b in pairwise(months))

    def test_no_inspections_no_months(self) -> None:
        assert spread_months(make_uscc(1), YEAR, 0) == ()

    def test_more_than_twelve_is_every_month(self) -> None:
        assert spread_months(make_uscc(1), YEAR, 20) == tuple(range(1, 13))

    def test_the_month_moves_between_years(self) -> None:
        months = {spread_months(make_uscc(7), year, 1) for year in range(2024, 2040)}
        assert len(months) > 1

    def test_load_is_even_across_months(self) -> None:
        load = Counter(m for n in range(12_000) for m in spread_months(make_uscc(n), YEAR, 1))
        assert set(load) == set(range(1, 13))
        assert max(load.values()) < 1_000 * 1.12
        assert min(load.values()) > 1_000 * 0.88


class TestGeneratePlan:
    def test_one_decision_per_enterprise_in_order(self) -> None:
        enterprises = [facts(n, tier="key" if n % 2 else "general") for n in range(10)]
        decisions = generate_plan(enterprises, YEAR)
        assert [d.uscc for d in decisions] == [f.uscc for f in enterprises]
        assert decisions == [plan_enterprise(f, YEAR) for f in enterprises]

    def test_year_before_the_pack_is_refused(self) -> None:
        with pytest.raises(PlanRuleViolated) as caught:
            generate_plan([facts()], 2022)
        assert (caught.value.field, caught.value.code) == ("year", "rule_pack_not_in_force")

    def test_summary_counts_modes_rules_and_months(self) -> None:
        enterprises = [
            facts(1, tier="key"),
            facts(2, credit_standing="blacklisted"),
            facts(3),
            facts(4, joint_inspected=True),
            facts(5, risk_level="major"),
        ]
        decisions = generate_plan(enterprises, YEAR)
        summary = summarise(decisions)
        assert summary["enterprises"] == 5
        assert summary["modes"] == {"planned": 3, "random": 1, "exempt": 1}
        # The major-risk entry noted risk_raises_priority twice; it counts once.
        assert summary["rules"]["risk_raises_priority"] == 1
        assert summary["rules"]["general_double_random"] == 4
        assert summary["minimum_inspections"] == 4
        assert sum(summary["planned_by_month"].values()) == 4


class TestCheckDecision:
    @pytest.mark.parametrize(
        ("over", "change", "broken"),
        [
            (
                {"credit_standing": "blacklisted"},
                {"min_inspections": 1},
                "blacklisted_at_least_two",
            ),
            (
                {"credit_standing": "blacklisted"},
                {"planned_months": (3, 4)},
                "blacklisted_at_least_two",
            ),
            ({"credit_standing": "redlisted"}, {"max_inspections": None}, "redlisted_at_most_one"),
            ({"standardisation_level": 2}, {"max_inspections": 2}, "standardised_at_most_one"),
            ({"joint_inspected": True}, {"mode": "random"}, "joint_inspection_exemption"),
            ({}, {"mode": "exempt", "max_inspections": 0}, "joint_inspection_exemption"),
            ({"tier": "key"}, {"mode": "random", "planned_months": ()}, "key_enterprise_planned"),
            ({}, {"max_inspections": 2}, "general_double_random"),
            ({"risk_level": "high"}, {"priority": 0}, "risk_raises_priority"),
            (
                {"risk_level": "major"},
                {"mode": "random", "min_inspections": 0, "planned_months": ()},
                "risk_raises_priority",
            ),
            ({"tier": "key"}, {"planned_months": (13,)}, "entry_consistent"),
            ({"tier": "key"}, {"planned_months": (2, 5)}, "entry_consistent"),
            ({}, {"uscc": make_uscc(99)}, "decision_matches_enterprise"),
        ],
    )
    def test_each_broken_rule_is_named(
        self, over: dict[str, Any], change: dict[str, Any], broken: str
    ) -> None:
        enterprise = facts(**over)
        good = plan_enterprise(enterprise, YEAR)
        assert check_decision(enterprise, good) == []
        assert broken in check_decision(enterprise, dataclasses.replace(good, **change))


class TestPlanYear:
    @pytest.mark.parametrize("year", [2026, 2027])
    def test_this_year_or_the_next(self, year: int) -> None:
        check_plan_year(year, date(2026, 12, 1))

    @pytest.mark.parametrize("year", [2025, 2028])
    def test_other_years_are_not_open(self, year: int) -> None:
        with pytest.raises(PlanRuleViolated) as caught:
            check_plan_year(year, date(2026, 12, 1))
        assert (caught.value.field, caught.value.code) == ("year", "plan_year_not_open")

    def test_a_year_before_the_pack_is_refused(self) -> None:
        with pytest.raises(PlanRuleViolated) as caught:
            check_plan_year(2022, date(2022, 3, 1))
        assert caught.value.code == "rule_pack_not_in_force"


class TestPlanApproval:
    EARLY = datetime(2027, 1, 5, 8, tzinfo=UTC)
    LATE = datetime(2027, 3, 5, 8, tzinfo=UTC)

    def test_a_draft_is_approved(self) -> None:
        check_plan_approvable(PlanState.draft, self.LATE, None)
        check_plan_approvable(PlanState.draft, self.LATE, self.EARLY)

    @pytest.mark.parametrize("state", [PlanState.approved, PlanState.superseded])
    def test_only_a_draft(self, state: PlanState) -> None:
        with pytest.raises(PlanStateConflict) as caught:
            check_plan_approvable(state, self.LATE, None)
        assert caught.value.code == "plan_not_draft"

    def test_never_a_draft_older_than_the_plan_in_force(self) -> None:
        with pytest.raises(PlanStateConflict) as caught:
            check_plan_approvable(PlanState.draft, self.EARLY, self.LATE)
        assert caught.value.code == "plan_outdated"


class TestJointInspectionRecorded:
    TODAY = date(2027, 3, 15)

    def test_a_past_inspection_of_its_year(self) -> None:
        check_joint_inspection(2027, date(2027, 3, 15), None, None, self.TODAY)
        check_joint_inspection(2027, date(2027, 1, 2), "complaint", "群众举报", self.TODAY)

    @pytest.mark.parametrize(
        ("year", "on", "override", "reason", "field", "code"),
        [
            (2026, date(2027, 1, 2), None, None, "inspected_on", "joint_inspection_year_mismatch"),
            (2027, date(2027, 3, 16), None, None, "inspected_on", "joint_inspection_in_future"),
            (
                2027,
                date(2027, 1, 2),
                "assignment",
                None,
                "override_reason",
                "override_reason_required",
            ),
            (
                2027,
                date(2027, 1, 2),
                "complaint",
                " ",
                "override_reason",
                "override_reason_required",
            ),
            (2027, date(2027, 1, 2), None, "有投诉", "override", "override_missing"),
        ],
    )
    def test_refusals_name_the_field(
        self, year: int, on: date, override: str | None, reason: str | None, field: str, code: str
    ) -> None:
        with pytest.raises(PlanRuleViolated) as caught:
            check_joint_inspection(year, on, override, reason, self.TODAY)
        assert (caught.value.field, caught.value.code) == (field, code)


# --- properties ------------------------------------------------------------------------------

enterprise_facts = st.builds(
    EnterpriseFacts,
    uscc=st.integers(min_value=0, max_value=10**9).map(make_uscc),
    sector=st.sampled_from([s.value for s in Sector]),
    district=st.sampled_from(QINGDAO_DISTRICTS),
    tier=st.sampled_from(["key", "general"]),
    standardisation_level=st.integers(min_value=0, max_value=3),
    is_pre_ipo=st.booleans(),
    is_specialised=st.booleans(),
    credit_standing=st.sampled_from(["normal", "redlisted", "blacklisted"]),
    risk_level=st.sampled_from([None, "low", "medium", "high", "major"]),
    joint_inspected=st.booleans(),
    override=st.sampled_from([None, "complaint", "assignment"]),
)
years = st.integers(min_value=2024, max_value=2100)


class TestProperties:
    @given(enterprise_facts, years)
    def test_frequency_rules_always_hold(self, f: EnterpriseFacts, year: int) -> None:
        d = plan_enterprise(f, year)
        black = f.credit_standing == "blacklisted"
        exempt_due = f.joint_inspected and f.override is None and not black
        if black:
            assert d.mode == "planned"
            assert d.min_inspections >= 2
            assert d.max_inspections is None or d.max_inspections >= 2
            months = d.planned_months
            assert all(b - a >= 4 for a, b in pairwise(months))
        elif f.credit_standing == "redlisted" or f.standardisation_level in (1, 2):
            assert d.max_inspections is not None
            assert d.max_inspections <= 1
        if d.mode == "exempt":
            assert exempt_due
            assert (d.min_inspections, d.max_inspections) == (0, 0)
        if exempt_due:
            assert d.mode == "exempt"
        if f.tier == "key" and not exempt_due:
            assert d.mode == "planned"
            assert d.min_inspections >= 1
        assert all(1 <= m <= 12 for m in d.planned_months)
        if d.mode == "planned":
            assert len(d.planned_months) == d.min_inspections >= 1
        else:
            assert d.planned_months == ()
        assert d.max_inspections is None or d.min_inspections <= d.max_inspections
        assert d.priority >= PACK.risk_weight(f.risk_level)

    @given(enterprise_facts, years)
    def test_every_change_of_fact_is_explained(self, f: EnterpriseFacts, year: int) -> None:
        d = plan_enterprise(f, year)
        assert d.rules, "every entry says which rules applied"
        assert all(r.rule in RULE_NAMES and r.detail for r in d.rules)

    @given(st.lists(enterprise_facts, max_size=40), years)
    @settings(max_examples=60)
    def test_check_decision_accepts_the_generated_plan(
        self, enterprises: list[EnterpriseFacts], year: int
    ) -> None:
        decisions = generate_plan(enterprises, year)
        assert all(check_decision(f, d) == [] for f, d in zip(enterprises, decisions, strict=True))
        # The plan reuses the treatment of enterprises with the same facts; that must never
        # differ from planning each enterprise on its own.
        assert decisions == [plan_enterprise(f, year) for f in enterprises]

    @given(enterprise_facts, st.sampled_from(["low", "medium", "high", "major"]))
    def test_higher_risk_never_lowers_priority(self, f: EnterpriseFacts, level: str) -> None:
        lower = plan_enterprise(dataclasses.replace(f, risk_level=None), YEAR)
        higher = plan_enterprise(dataclasses.replace(f, risk_level=level), YEAR)
        assert higher.priority >= lower.priority
