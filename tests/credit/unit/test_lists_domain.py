"""Red- and black-list rules: packs, terms, the objection window, decisions, red criteria."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from kernel.workdays import WorkingDayCalendar
from services.credit.lists_domain import (
    MEM_ORDER_11,
    QINGDAO_REDLIST_NOTICE,
    BlacklistOutcome,
    BlacklistState,
    CaseStateConflict,
    ListingCriterion,
    ListsRuleViolated,
    PenaltySeen,
    PreNoticeFacts,
    RedlistCriterion,
    RedlistFacts,
    RedlistOutcome,
    RedlistState,
    accident_free_attested,
    check_decision,
    check_notice_may_be_served,
    check_objection,
    check_redlist_decision,
    criterion_from_event,
    failing,
    is_listing_expired,
    is_objection_window_open,
    listing_term,
    no_dishonesty_in_publicity,
    no_recent_penalty,
    not_blacklisted,
    objection_due_on,
    penalty_free_since,
    pre_notice,
    redlist_criteria,
    redlist_listed_until,
    removal_on,
    standardisation_level_2_or_higher,
)

CALENDAR = WorkingDayCalendar()


class TestPacks:
    def test_black_pack_has_the_nine_cases_five_with_an_accident(self) -> None:
        assert MEM_ORDER_11.id == "mem-2023-11"
        assert MEM_ORDER_11.effective_from == date(2023, 10, 1)
        assert "应急管理部令第11号" in MEM_ORDER_11.source
        assert [c.criterion for c in MEM_ORDER_11.cases] == list(ListingCriterion)
        assert sum(c.with_accident for c in MEM_ORDER_11.cases) == 5
        assert MEM_ORDER_11.case(ListingCriterion.unlicensed_operation).with_accident is False
        assert "第一百一十四条" in MEM_ORDER_11.case(ListingCriterion.aggravated_accident_fine).zh
        assert (MEM_ORDER_11.term_months, MEM_ORDER_11.early_removal_after_months) == (36, 12)
        assert MEM_ORDER_11.objection_working_days == 5

    def test_packs_are_immutable(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            MEM_ORDER_11.term_months = 24  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            QINGDAO_REDLIST_NOTICE.validity_months = 24  # type: ignore[misc]

    def test_red_pack_incentives_and_black_sanctions(self) -> None:
        assert QINGDAO_REDLIST_NOTICE.validity_months == 36
        assert any("每年检查不超过1次" in m for m in QINGDAO_REDLIST_NOTICE.incentives)
        assert any("政策性资金" in m for m in QINGDAO_REDLIST_NOTICE.incentives)
        assert any("典型示范企业" in m for m in QINGDAO_REDLIST_NOTICE.incentives)
        assert any("每年检查不少于2次" in m for m in MEM_ORDER_11.sanctions)
        assert any("约谈培训" in m for m in MEM_ORDER_11.sanctions)
        assert any("禁入" in m for m in MEM_ORDER_11.sanctions)


class TestListingTerm:
    @pytest.mark.parametrize(
        ("decided", "until", "early"),
        [
            (date(2026, 3, 12), date(2029, 3, 12), date(2027, 3, 13)),
            # 29 February: no such day three years on, the term ends on the month's last day.
            (date(2028, 2, 29), date(2031, 2, 28), date(2029, 3, 1)),
            (date(2026, 12, 31), date(2029, 12, 31), date(2028, 1, 1)),
            (date(2026, 1, 31), date(2029, 1, 31), date(2027, 2, 1)),
        ],
    )
    def test_three_years_and_early_removal_after_twelve_months(
        self, decided: date, until: date, early: date
    ) -> None:
        term = listing_term(MEM_ORDER_11, decided)
        assert (term.listed_until, term.early_removal_on) == (until, early)

    def test_expiry_is_the_day_after_the_last_day(self) -> None:
        until = date(2029, 3, 12)
        assert not is_listing_expired(until, until)
        assert is_listing_expired(until, date(2029, 3, 13))
        assert removal_on(until) == date(2029, 3, 13)
        assert removal_on(date(2029, 2, 28)) == date(2029, 3, 1)


class TestObjectionWindow:
    def test_five_working_days_over_the_national_day_holiday(self) -> None:
        # Served the day before 1-7 October 2026; Saturday 10 October is a make-up working day.
        assert objection_due_on(MEM_ORDER_11, date(2026, 9, 30), CALENDAR) == date(2026, 10, 13)

    def test_ordinary_week(self) -> None:
        assert objection_due_on(MEM_ORDER_11, date(2026, 3, 12), CALENDAR) == date(2026, 3, 19)

    def test_the_five_is_the_packs_value(self) -> None:
        pack = dataclasses.replace(MEM_ORDER_11, objection_working_days=10)
        assert objection_due_on(pack, date(2026, 3, 12), CALENDAR) == date(2026, 3, 26)

    def test_unknown_calendar_year_is_refused_not_guessed(self) -> None:
        latest = max(CALENDAR.supported_years())
        with pytest.raises(ListsRuleViolated) as caught:
            objection_due_on(MEM_ORDER_11, date(latest, 12, 28), CALENDAR)
        assert caught.value.code == "calendar_year_unknown"
        assert caught.value.field == "objection_due_on"
        assert str(latest + 1) in str(caught.value)

    def test_window_includes_the_due_day(self) -> None:
        due = date(2026, 10, 13)
        assert is_objection_window_open(due, due)
        assert not is_objection_window_open(due, date(2026, 10, 14))


class TestStateRules:
    def test_notice_only_on_a_proposed_case(self) -> None:
        check_notice_may_be_served(BlacklistState.proposed)
        with pytest.raises(CaseStateConflict) as caught:
            check_notice_may_be_served(BlacklistState.noticed)
        assert caught.value.code == "pre_notice_already_served"
        with pytest.raises(CaseStateConflict) as caught:
            check_notice_may_be_served(BlacklistState.listed)
        assert caught.value.code == "case_closed"

    def test_objection_on_time_late_twice_and_before_notice(self) -> None:
        due = date(2026, 10, 13)
        check_objection(BlacklistState.noticed, due, due)
        with pytest.raises(ListsRuleViolated) as late:
            check_objection(BlacklistState.noticed, due, date(2026, 10, 14))
        assert late.value.code == "objection_window_closed"
        with pytest.raises(CaseStateConflict) as twice:
            check_objection(BlacklistState.objected, due, due)
        assert twice.value.code == "objection_already_filed"
        with pytest.raises(CaseStateConflict):
            check_objection(BlacklistState.proposed, None, due)
        with pytest.raises(CaseStateConflict):
            check_objection(BlacklistState.listed, due, due)

    def test_listing_waits_for_the_window_unless_objected(self) -> None:
        due = date(2026, 10, 13)
        listed = BlacklistOutcome.listed
        with pytest.raises(ListsRuleViolated) as open_window:
            check_decision(BlacklistState.noticed, listed, due, due, None)
        assert (open_window.value.code, open_window.value.field) == (
            "objection_window_open",
            "outcome",
        )
        check_decision(BlacklistState.noticed, listed, due, date(2026, 10, 14), None)
        # Objected inside the window: the leader may decide at once, answering the objection.
        check_decision(BlacklistState.objected, listed, due, due, "陈述申辩理由不成立")
        with pytest.raises(ListsRuleViolated) as unanswered:
            check_decision(BlacklistState.objected, listed, due, due, "  ")
        assert (unanswered.value.code, unanswered.value.field) == (
            "objection_not_addressed",
            "reason",
        )

    def test_listing_needs_the_pre_notice(self) -> None:
        with pytest.raises(ListsRuleViolated) as caught:
            check_decision(
                BlacklistState.proposed, BlacklistOutcome.listed, None, date(2026, 3, 1), "x"
            )
        assert caught.value.code == "pre_notice_not_served"

    @pytest.mark.parametrize(
        "state", [BlacklistState.proposed, BlacklistState.noticed, BlacklistState.objected]
    )
    def test_withdrawal_any_time_before_a_decision_with_a_reason(
        self, state: BlacklistState
    ) -> None:
        due = date(2026, 10, 13)
        check_decision(state, BlacklistOutcome.withdrawn, due, due, "证据不足")
        with pytest.raises(ListsRuleViolated) as caught:
            check_decision(state, BlacklistOutcome.withdrawn, due, due, None)
        assert caught.value.code == "reason_required"

    @pytest.mark.parametrize(
        "state", [BlacklistState.listed, BlacklistState.withdrawn, BlacklistState.removed]
    )
    def test_a_decided_case_is_not_decided_again(self, state: BlacklistState) -> None:
        with pytest.raises(CaseStateConflict) as caught:
            check_decision(state, BlacklistOutcome.listed, date(2026, 1, 1), date(2026, 3, 1), "x")
        assert caught.value.code == "case_already_decided"

    def test_redlist_decision(self) -> None:
        check_redlist_decision(RedlistState.nominated, RedlistOutcome.approved, None)
        check_redlist_decision(RedlistState.nominated, RedlistOutcome.rejected, "标准化证书过期")
        with pytest.raises(ListsRuleViolated) as caught:
            check_redlist_decision(RedlistState.nominated, RedlistOutcome.rejected, "")
        assert caught.value.code == "reason_required"
        with pytest.raises(CaseStateConflict):
            check_redlist_decision(RedlistState.listed, RedlistOutcome.approved, None)


class TestCriterionFromEvent:
    def test_known_code(self) -> None:
        assert criterion_from_event("accident_concealed") == (
            ListingCriterion.accident_concealed,
            None,
        )

    def test_unknown_code_is_other_serious_and_kept(self) -> None:
        assert criterion_from_event("fake_rectification") == (
            ListingCriterion.other_serious,
            "fake_rectification",
        )


class TestPreNotice:
    def test_contents(self) -> None:
        text = pre_notice(
            MEM_ORDER_11,
            PreNoticeFacts(
                enterprise_name="青岛海湾化工有限公司",
                uscc="91370200MA3C0000XX",
                criterion=ListingCriterion.unlicensed_operation,
                facts="危险化学品经营许可证被暂扣期间仍从事经营活动。",
                basis_documents=("青应急罚〔2026〕12号",),
                served_on=date(2026, 9, 30),
                objection_due_on=date(2026, 10, 13),
            ),
        )
        lines = text.splitlines()
        assert lines[0] == "安全生产严重失信主体名单列入前告知书"
        assert "青岛海湾化工有限公司（统一社会信用代码：91370200MA3C0000XX）" in text
        assert "危险化学品经营许可证被暂扣期间仍从事经营活动" in text
        assert "许可被暂扣、吊销期间从事相关生产经营活动" in text  # the reason, as worded
        assert "应急管理部令第11号" in text  # the basis
        assert "青应急罚〔2026〕12号" in text
        assert "陈述、申辩的权利" in text
        assert "5个工作日内，即最迟于2026年10月13日（含当日）" in text
        assert "管理期限为三年" in text
        assert lines[-2:] == ["青岛市应急管理局", "2026年9月30日"]


def facts(**overrides: object) -> RedlistFacts:
    base = RedlistFacts(
        standardisation_level=2,
        accident_free_attested=True,
        penalties=(),
        dishonesty_in_publicity=(),
        blacklist_state=None,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


TODAY = date(2026, 3, 12)


class TestRedlistCriteria:
    @pytest.mark.parametrize(("level", "passed"), [(1, True), (2, True), (3, False), (None, False)])
    def test_standardisation_level(self, level: int | None, passed: bool) -> None:
        result = standardisation_level_2_or_higher(QINGDAO_REDLIST_NOTICE, level)
        assert result.code is RedlistCriterion.standardisation_level_2_or_higher
        assert result.passed is passed

    def test_penalty_window_is_three_years_back(self) -> None:
        assert penalty_free_since(QINGDAO_REDLIST_NOTICE, TODAY) == date(2023, 3, 13)
        old = PenaltySeen("青应急罚〔2023〕1号", date(2023, 3, 12))
        recent = PenaltySeen("青应急罚〔2023〕2号", date(2023, 3, 13))
        assert no_recent_penalty(QINGDAO_REDLIST_NOTICE, [old], TODAY).passed
        result = no_recent_penalty(QINGDAO_REDLIST_NOTICE, [old, recent], TODAY)
        assert not result.passed
        assert "青应急罚〔2023〕2号" in result.detail
        assert "青应急罚〔2023〕1号" not in result.detail

    def test_dishonesty_in_publicity(self) -> None:
        assert no_dishonesty_in_publicity([]).passed
        result = no_dishonesty_in_publicity(["LIC-2026-001"])
        assert not result.passed
        assert "LIC-2026-001" in result.detail

    @pytest.mark.parametrize(
        ("state", "passed"),
        [
            (None, True),
            (BlacklistState.proposed, False),
            (BlacklistState.objected, False),
            (BlacklistState.listed, False),
        ],
    )
    def test_not_blacklisted(self, state: BlacklistState | None, passed: bool) -> None:
        assert not_blacklisted(state).passed is passed

    def test_accident_free_attestation(self) -> None:
        assert accident_free_attested(QINGDAO_REDLIST_NOTICE, True).passed
        assert not accident_free_attested(QINGDAO_REDLIST_NOTICE, False).passed

    def test_all_criteria_and_failing(self) -> None:
        results = redlist_criteria(QINGDAO_REDLIST_NOTICE, facts(), TODAY)
        assert [r.code for r in results] == list(RedlistCriterion)
        assert failing(results) == ()
        bad = redlist_criteria(
            QINGDAO_REDLIST_NOTICE,
            facts(standardisation_level=3, blacklist_state=BlacklistState.listed),
            TODAY,
        )
        assert [r.code.value for r in failing(bad)] == [
            "standardisation_level_2_or_higher",
            "not_blacklisted",
        ]
        assert bad[0].as_dict() == {
            "code": "standardisation_level_2_or_higher",
            "passed": False,
            "detail": bad[0].detail,
        }

    @pytest.mark.parametrize(
        ("approved", "until"),
        [(date(2026, 3, 12), date(2029, 3, 12)), (date(2028, 2, 29), date(2031, 2, 28))],
    )
    def test_validity(self, approved: date, until: date) -> None:
        assert redlist_listed_until(QINGDAO_REDLIST_NOTICE, approved) == until
