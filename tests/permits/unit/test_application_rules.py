"""Application rules: path choice by risk, the review state machine, clocks, pledges."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from kernel.auth.principal import USER_ROLES
from kernel.workdays import CalendarYearUnknown, WorkingDayCalendar
from services.permits.domain import (
    ApplicationRuleViolated,
    ApplicationStatus,
    ApprovalMode,
    ApprovalPath,
    CreditStanding,
    PledgeStatus,
    ReviewAction,
    choose_path,
    pledge_outcome,
    review_clock,
    review_priority,
    review_transition,
)

S = ApplicationStatus
A = ReviewAction

# (item mode, pledge chosen, standing) -> path, or the refusal code.
PATHS: dict[tuple[ApprovalMode, bool, CreditStanding], ApprovalPath | str] = {}
for mode, standing in itertools.product(ApprovalMode, CreditStanding):
    black = standing is CreditStanding.blacklisted
    PATHS[(mode, True, standing)] = (
        "pledge_not_allowed"
        if mode is not ApprovalMode.pledge
        else "pledge_refused_blacklisted"
        if black
        else ApprovalPath.pledge
    )
    PATHS[(mode, False, standing)] = (
        ApprovalPath.instant
        if mode is ApprovalMode.instant and not black
        else ApprovalPath.standard
    )


@pytest.mark.parametrize(("case", "expected"), list(PATHS.items()), ids=str)
def test_choose_path_every_combination(
    case: tuple[ApprovalMode, bool, CreditStanding], expected: ApprovalPath | str
) -> None:
    mode, pledge, standing = case
    if isinstance(expected, ApprovalPath):
        decision = choose_path(mode, pledge_chosen=pledge, standing=standing)
        assert decision.path is expected
        assert decision.reason
    else:
        with pytest.raises(ApplicationRuleViolated) as err:
            choose_path(mode, pledge_chosen=pledge, standing=standing)
        assert err.value.code == expected
        assert err.value.field == "pledge"
        assert not err.value.conflict


def test_blacklisted_instant_item_is_reviewed_and_says_why() -> None:
    decision = choose_path(
        ApprovalMode.instant, pledge_chosen=False, standing=CreditStanding.blacklisted
    )
    assert decision.path is ApprovalPath.standard
    assert "black" in decision.reason


# The review state machine, written out in full: (status, action, role) -> next status.
ALLOWED: dict[tuple[ApplicationStatus, ReviewAction, str], ApplicationStatus] = {
    (S.under_review, A.approve, "officer"): S.approved,
    (S.under_review, A.approve, "leader"): S.approved,
    (S.under_review, A.propose_rejection, "officer"): S.rejection_proposed,
    (S.rejection_proposed, A.confirm_rejection, "leader"): S.rejected,
    (S.rejection_proposed, A.send_back, "leader"): S.under_review,
    (S.rejection_proposed, A.approve, "leader"): S.approved,
}
ROLES = [r.value for r in USER_ROLES]


@pytest.mark.parametrize(
    ("status", "action", "role"),
    list(itertools.product(ApplicationStatus, ReviewAction, ROLES)),
    ids=str,
)
def test_review_state_machine_is_exactly_the_table(
    status: ApplicationStatus, action: ReviewAction, role: str
) -> None:
    expected = ALLOWED.get((status, action, role))
    if expected is not None:
        assert review_transition(status, action, role) is expected
        return
    with pytest.raises(ApplicationRuleViolated) as err:
        review_transition(status, action, role)
    if action is A.reject:
        assert err.value.code == "direct_rejection_forbidden"
        assert err.value.conflict
    elif err.value.code in ("invalid_transition", "awaiting_leader"):
        assert err.value.conflict
    else:
        assert err.value.code == "review_step_not_yours"
        assert err.value.forbidden
        assert not err.value.conflict


def test_nobody_may_reject_directly_not_even_a_leader() -> None:
    for role in ROLES:
        with pytest.raises(ApplicationRuleViolated, match="说“不”提级") as err:
            review_transition(S.under_review, A.reject, role)
        assert err.value.code == "direct_rejection_forbidden"


def test_officer_cannot_overrule_a_pending_rejection() -> None:
    with pytest.raises(ApplicationRuleViolated) as err:
        review_transition(S.rejection_proposed, A.approve, "officer")
    assert err.value.code == "awaiting_leader"


def test_final_decisions_are_final() -> None:
    for status, action in itertools.product((S.approved, S.rejected), ReviewAction):
        if action is A.reject:
            continue
        for role in ("officer", "leader"):
            with pytest.raises(ApplicationRuleViolated):
                review_transition(status, action, role)


def test_red_listed_enterprises_come_first() -> None:
    ordered = sorted(CreditStanding, key=review_priority)
    assert ordered[0] is CreditStanding.redlisted
    assert review_priority(CreditStanding.normal) == review_priority(CreditStanding.blacklisted)


class TestReviewClock:
    calendar = WorkingDayCalendar()

    def test_deadline_skips_national_day_and_counts_the_make_up_saturday(self) -> None:
        # 2026: 1-7 October are holidays; Saturday 10 October is a make-up working day.
        clock = review_clock(self.calendar, date(2026, 9, 30), 3)
        assert clock.due_on == date(2026, 10, 10)

    def test_overdue_only_after_the_due_date_and_while_undecided(self) -> None:
        clock = review_clock(self.calendar, date(2026, 9, 30), 3)
        assert not clock.is_overdue(date(2026, 10, 10), S.under_review)
        assert clock.is_overdue(date(2026, 10, 11), S.under_review)
        # The clock keeps running while the leader considers a proposed rejection.
        assert clock.is_overdue(date(2026, 10, 11), S.rejection_proposed)
        assert not clock.is_overdue(date(2026, 10, 11), S.approved)
        assert not clock.is_overdue(date(2026, 10, 11), S.rejected)

    def test_a_deadline_in_a_year_without_a_schedule_is_an_explicit_condition(self) -> None:
        with pytest.raises(CalendarYearUnknown) as err:
            review_clock(self.calendar, date(2026, 12, 28), 5)
        assert err.value.year == 2027

    def test_a_loaded_schedule_makes_it_computable(self) -> None:
        calendar = WorkingDayCalendar()
        calendar.load_year(
            2027,
            holidays=[date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)],
            makeup_workdays=[],
            source="test schedule (not the official notice)",
        )
        clock = review_clock(calendar, date(2026, 12, 28), 5)
        # 29, 30, 31 December, then 4 and 5 January (1-3 January are holidays).
        assert clock.due_on == date(2027, 1, 5)


@pytest.mark.parametrize(
    ("passed", "expected"), [(True, PledgeStatus.kept), (False, PledgeStatus.breached)]
)
def test_pledge_verification_closes_once(passed: bool, expected: PledgeStatus) -> None:
    outcome = pledge_outcome(PledgeStatus.awaiting_verification, passed)
    assert outcome is expected
    for again in (True, False):
        with pytest.raises(ApplicationRuleViolated) as err:
            pledge_outcome(outcome, again)
        assert err.value.code == "pledge_already_verified"
        assert err.value.conflict


def test_status_list_positions_are_a_permutation() -> None:
    from services.permits.licences import permuted_index
    from services.permits.status_list import MIN_BITS, StatusListFull

    positions = [permuted_index(n) for n in range(MIN_BITS)]
    assert len(set(positions)) == MIN_BITS
    assert all(0 <= p < MIN_BITS for p in positions)
    # Consecutive licences do not land on neighbouring bits.
    assert all(abs(a - b) > 1 for a, b in itertools.pairwise(positions[:1000]))
    with pytest.raises(StatusListFull):
        permuted_index(MIN_BITS)
