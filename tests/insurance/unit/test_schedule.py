"""The 6+3 schedule generator (rule pack qd-6+3/2): pure, exhaustive over the period rules."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.insurance.domain import (
    MAX_TERM_DAYS,
    CustomService,
    ObligationKind,
    ObligationStatus,
    RiskLevel,
)
from services.insurance.schedule import (
    HALF_YEARLY,
    MONTHLY,
    PACK,
    QUARTERLY,
    TWO_MONTHLY,
    GradedState,
    PlannedObligation,
    ScheduleDays,
    Window,
    add_months,
    covered_periods,
    graded_schedule,
    hazard_assistance_window,
    policy_periods,
    policy_schedule,
    reassessment,
    training_windows,
    withdrawn_by_cancellation,
)

DAYS = ScheduleDays(risk_assessment_days=30, one_plan_days=60)
K = ObligationKind
D = date


def windows(planned: list[PlannedObligation], kind: ObligationKind) -> list[tuple[date, date]]:
    return [(p.window_start, p.due_on) for p in planned if p.kind is kind]


def w(a: date, b: date) -> Window:
    return Window(a, b)


def test_pack_is_named() -> None:
    assert PACK == "qd-6+3/2"


class TestAddMonths:
    @pytest.mark.parametrize(
        ("day", "months", "expected"),
        [
            (D(2026, 1, 15), 3, D(2026, 4, 15)),
            (D(2026, 11, 15), 3, D(2027, 2, 15)),  # across a year end
            (D(2026, 1, 31), 1, D(2026, 2, 28)),  # clamped to the month's last day
            (D(2028, 1, 31), 1, D(2028, 2, 29)),  # … a leap February's
            (D(2026, 1, 31), 3, D(2026, 4, 30)),
            (D(2026, 1, 31), 6, D(2026, 7, 31)),  # counted from the day, not the clamp
            (D(2028, 2, 29), 12, D(2029, 2, 28)),
            (D(2028, 2, 29), 48, D(2032, 2, 29)),
            (D(2026, 8, 31), 6, D(2027, 2, 28)),
            (D(2026, 5, 20), 0, D(2026, 5, 20)),
        ],
    )
    def test_same_day_of_the_month_else_its_last_day(
        self, day: date, months: int, expected: date
    ) -> None:
        assert add_months(day, months) == expected


class TestPolicyPeriods:
    """Key and full checks: quarters and half-years of the policy year, from its start."""

    def test_a_year_starting_mid_quarter_is_four_quarters_and_two_halves(self) -> None:
        starts_on, ends_on = D(2026, 2, 15), D(2027, 2, 14)
        assert policy_periods(starts_on, ends_on, QUARTERLY) == [
            w(D(2026, 2, 15), D(2026, 5, 14)),
            w(D(2026, 5, 15), D(2026, 8, 14)),
            w(D(2026, 8, 15), D(2026, 11, 14)),
            w(D(2026, 11, 15), D(2027, 2, 14)),
        ]
        assert policy_periods(starts_on, ends_on, HALF_YEARLY) == [
            w(D(2026, 2, 15), D(2026, 8, 14)),
            w(D(2026, 8, 15), D(2027, 2, 14)),
        ]

    def test_a_year_spanning_a_year_end(self) -> None:
        starts_on, ends_on = D(2026, 11, 15), D(2027, 11, 14)
        assert policy_periods(starts_on, ends_on, QUARTERLY) == [
            w(D(2026, 11, 15), D(2027, 2, 14)),
            w(D(2027, 2, 15), D(2027, 5, 14)),
            w(D(2027, 5, 15), D(2027, 8, 14)),
            w(D(2027, 8, 15), D(2027, 11, 14)),
        ]
        assert policy_periods(starts_on, ends_on, HALF_YEARLY) == [
            w(D(2026, 11, 15), D(2027, 5, 14)),
            w(D(2027, 5, 15), D(2027, 11, 14)),
        ]

    def test_start_on_31_january_clamps_to_month_ends_without_drifting(self) -> None:
        starts_on, ends_on = D(2026, 1, 31), D(2027, 1, 30)
        assert policy_periods(starts_on, ends_on, QUARTERLY) == [
            w(D(2026, 1, 31), D(2026, 4, 29)),  # 31 Jan + 3 months = 30 Apr
            w(D(2026, 4, 30), D(2026, 7, 30)),  # + 6 months = 31 Jul, not 30 Jul
            w(D(2026, 7, 31), D(2026, 10, 30)),
            w(D(2026, 10, 31), D(2027, 1, 30)),
        ]
        assert policy_periods(starts_on, ends_on, HALF_YEARLY) == [
            w(D(2026, 1, 31), D(2026, 7, 30)),
            w(D(2026, 7, 31), D(2027, 1, 30)),
        ]

    def test_start_on_30_november_crosses_a_short_february(self) -> None:
        assert policy_periods(D(2026, 11, 30), D(2027, 11, 29), QUARTERLY) == [
            w(D(2026, 11, 30), D(2027, 2, 27)),  # 30 Nov + 3 months = 28 Feb 2027
            w(D(2027, 2, 28), D(2027, 5, 29)),
            w(D(2027, 5, 30), D(2027, 8, 29)),
            w(D(2027, 8, 30), D(2027, 11, 29)),
        ]

    def test_start_on_29_february(self) -> None:
        # 29 Feb 2028 + 12 months = 28 Feb 2029: the policy year's last day is 27 Feb 2029 …
        year = [
            w(D(2028, 2, 29), D(2028, 5, 28)),
            w(D(2028, 5, 29), D(2028, 8, 28)),
            w(D(2028, 8, 29), D(2028, 11, 28)),
            w(D(2028, 11, 29), D(2029, 2, 27)),
        ]
        assert policy_periods(D(2028, 2, 29), D(2029, 2, 27), QUARTERLY) == year
        # … and a term ending 28 Feb 2029 has a one-day fifth quarter, merged backward.
        assert policy_periods(D(2028, 2, 29), D(2029, 2, 28), QUARTERLY) == [
            *year[:3],
            w(D(2028, 11, 29), D(2029, 2, 28)),
        ]
        assert policy_periods(D(2028, 2, 29), D(2029, 2, 28), HALF_YEARLY) == [
            w(D(2028, 2, 29), D(2028, 8, 28)),
            w(D(2028, 8, 29), D(2029, 2, 28)),
        ]

    def test_start_on_29_february_of_a_term_into_the_next_leap_year(self) -> None:
        assert policy_periods(D(2027, 11, 29), D(2028, 11, 28), QUARTERLY) == [
            w(D(2027, 11, 29), D(2028, 2, 28)),  # + 3 months = 29 Feb 2028
            w(D(2028, 2, 29), D(2028, 5, 28)),
            w(D(2028, 5, 29), D(2028, 8, 28)),
            w(D(2028, 8, 29), D(2028, 11, 28)),
        ]

    @pytest.mark.parametrize(
        ("ends_on", "last"),
        [
            # 30 days past the third quarter are enough for a key check of their own
            (D(2027, 1, 30), w(D(2027, 1, 1), D(2027, 1, 30))),
            # 29 are not: they merge backward into the third quarter
            (D(2027, 1, 29), w(D(2026, 10, 1), D(2027, 1, 29))),
        ],
    )
    def test_trailing_part_merges_backward_below_30_days(self, ends_on: date, last: Window) -> None:
        parts = policy_periods(D(2026, 4, 1), ends_on, QUARTERLY)
        assert len(parts) == (4 if last.start.year == 2027 else 3)
        assert parts[-1] == last

    @pytest.mark.parametrize(
        ("ends_on", "count"),
        [(D(2026, 11, 29), 2), (D(2026, 11, 28), 1)],  # 60 and 59 days past the first half
    )
    def test_half_year_minimum_is_60_days(self, ends_on: date, count: int) -> None:
        parts = policy_periods(D(2026, 4, 1), ends_on, HALF_YEARLY)
        assert len(parts) == count
        assert parts[0].start == D(2026, 4, 1)
        assert parts[-1].end == ends_on

    def test_200_days_owe_two_key_checks_and_one_full_check(self) -> None:
        starts_on = D(2026, 1, 1)
        ends_on = starts_on + timedelta(days=199)  # 19 July
        # 90 days, 91 days, then 19 days that merge backward.
        assert policy_periods(starts_on, ends_on, QUARTERLY) == [
            w(D(2026, 1, 1), D(2026, 3, 31)),
            w(D(2026, 4, 1), D(2026, 7, 19)),
        ]
        # 181 days, then 19 that merge backward.
        assert policy_periods(starts_on, ends_on, HALF_YEARLY) == [w(starts_on, ends_on)]

    def test_a_year_and_a_day_still_owes_four_and_two(self) -> None:
        # 1 Jan 2026 to 1 Jan 2027: the extra day merges into the last quarter and half.
        quarters = policy_periods(D(2026, 1, 1), D(2027, 1, 1), QUARTERLY)
        halves = policy_periods(D(2026, 1, 1), D(2027, 1, 1), HALF_YEARLY)
        assert (len(quarters), len(halves)) == (4, 2)
        assert quarters[-1] == w(D(2026, 10, 1), D(2027, 1, 1))
        assert halves[-1] == w(D(2026, 7, 1), D(2027, 1, 1))

    @pytest.mark.parametrize(
        ("ends_on", "quarters"),
        [
            (D(2026, 6, 20), [w(D(2026, 4, 10), D(2026, 6, 20))]),  # inside one quarter
            (D(2026, 7, 12), [w(D(2026, 4, 10), D(2026, 7, 12))]),  # + 3 days: merged
            (
                D(2026, 8, 8),  # + 30 days: a second key check
                [w(D(2026, 4, 10), D(2026, 7, 9)), w(D(2026, 7, 10), D(2026, 8, 8))],
            ),
        ],
    )
    def test_terms_shorter_than_half_a_year(self, ends_on: date, quarters: list[Window]) -> None:
        assert policy_periods(D(2026, 4, 10), ends_on, QUARTERLY) == quarters
        assert policy_periods(D(2026, 4, 10), ends_on, HALF_YEARLY) == [w(D(2026, 4, 10), ends_on)]

    def test_term_of_one_day_owes_one(self) -> None:
        assert policy_periods(D(2026, 5, 1), D(2026, 5, 1), QUARTERLY) == [
            w(D(2026, 5, 1), D(2026, 5, 1))
        ]

    def test_reversed_range_is_empty(self) -> None:
        assert policy_periods(D(2026, 5, 2), D(2026, 5, 1), QUARTERLY) == []
        assert policy_periods(D(2026, 5, 2), D(2026, 5, 1), HALF_YEARLY) == []


class TestCalendarPeriods:
    """Monthly and two-monthly services: calendar months (the reports insurers file)."""

    def test_whole_calendar_year_is_twelve_months(self) -> None:
        parts = covered_periods(D(2026, 1, 1), D(2026, 12, 31), MONTHLY)
        assert len(parts) == 12
        assert parts[1] == w(D(2026, 2, 1), D(2026, 2, 28))
        assert parts[-1] == w(D(2026, 12, 1), D(2026, 12, 31))

    @pytest.mark.parametrize(
        ("starts_on", "first"),
        [
            # 10 covered days are enough for a month of their own
            (D(2026, 3, 22), w(D(2026, 3, 22), D(2026, 3, 31))),
            # 9 are not: the part merges forward into the next month
            (D(2026, 3, 23), w(D(2026, 3, 23), D(2026, 4, 30))),
        ],
    )
    def test_leading_part_merges_forward_below_10_days(
        self, starts_on: date, first: Window
    ) -> None:
        assert covered_periods(starts_on, D(2026, 12, 31), MONTHLY)[0] == first

    @pytest.mark.parametrize(
        ("ends_on", "last"),
        [
            (D(2026, 12, 10), w(D(2026, 12, 1), D(2026, 12, 10))),  # 10 days: its own month
            (D(2026, 12, 9), w(D(2026, 11, 1), D(2026, 12, 9))),  # 9: merges backward
        ],
    )
    def test_trailing_part_merges_backward_below_10_days(self, ends_on: date, last: Window) -> None:
        assert covered_periods(D(2026, 4, 1), ends_on, MONTHLY)[-1] == last

    def test_monthly_minimum_is_10_days_and_february_is_a_month(self) -> None:
        assert covered_periods(D(2028, 1, 22), D(2028, 3, 31), MONTHLY) == [
            w(D(2028, 1, 22), D(2028, 1, 31)),  # 10 days
            w(D(2028, 2, 1), D(2028, 2, 29)),
            w(D(2028, 3, 1), D(2028, 3, 31)),
        ]
        assert covered_periods(D(2028, 1, 23), D(2028, 3, 9), MONTHLY) == [
            w(D(2028, 1, 23), D(2028, 3, 9)),  # 9 days each end: both merge into February
        ]

    def test_two_short_parts_make_one_window(self) -> None:
        # 6 days of May then 5 of June: leading merge first, then nothing is left to merge into.
        assert covered_periods(D(2026, 5, 26), D(2026, 6, 5), MONTHLY) == [
            w(D(2026, 5, 26), D(2026, 6, 5))
        ]

    def test_term_inside_one_month_owes_one_whatever_its_length(self) -> None:
        assert covered_periods(D(2026, 5, 1), D(2026, 5, 2), MONTHLY) == [
            w(D(2026, 5, 1), D(2026, 5, 2))
        ]

    def test_reversed_range_is_empty(self) -> None:
        assert covered_periods(D(2026, 5, 2), D(2026, 5, 1), MONTHLY) == []

    def test_two_monthly_periods_are_calendar_pairs(self) -> None:
        assert covered_periods(D(2026, 1, 1), D(2026, 12, 31), TWO_MONTHLY) == [
            w(D(2026, 1, 1), D(2026, 2, 28)),
            w(D(2026, 3, 1), D(2026, 4, 30)),
            w(D(2026, 5, 1), D(2026, 6, 30)),
            w(D(2026, 7, 1), D(2026, 8, 31)),
            w(D(2026, 9, 1), D(2026, 10, 31)),
            w(D(2026, 11, 1), D(2026, 12, 31)),
        ]


class TestTraining:
    def test_a_year_owes_two_at_midpoint_and_end(self) -> None:
        assert training_windows(D(2026, 1, 1), D(2026, 12, 31)) == [
            w(D(2026, 1, 1), D(2026, 7, 2)),
            w(D(2026, 7, 3), D(2026, 12, 31)),
        ]

    @pytest.mark.parametrize(("term_days", "count"), [(183, 2), (182, 1), (1, 1)])
    def test_183_days_owe_two_shorter_owes_one(self, term_days: int, count: int) -> None:
        starts_on = D(2026, 3, 5)
        ends_on = starts_on + timedelta(days=term_days - 1)
        parts = training_windows(starts_on, ends_on)
        assert len(parts) == count
        assert parts[0].start == starts_on
        assert parts[-1].end == ends_on

    def test_odd_length_gives_the_first_half_the_extra_day(self) -> None:
        first, second = training_windows(D(2026, 1, 1), D(2026, 7, 3))  # 184 days
        assert (first.days, second.days) == (92, 92)
        first, second = training_windows(D(2026, 1, 1), D(2026, 7, 2))  # 183 days
        assert (first.days, second.days) == (92, 91)


class TestPolicySchedule:
    def test_year_spanning_a_year_end_from_mid_quarter(self) -> None:
        planned = policy_schedule(D(2026, 11, 15), D(2027, 11, 14), [], DAYS)
        assert windows(planned, K.risk_assessment) == [(D(2026, 11, 15), D(2026, 12, 15))]
        # Policy quarters and half-years: no key check due on 31 December.
        assert windows(planned, K.key_check) == [
            (D(2026, 11, 15), D(2027, 2, 14)),
            (D(2027, 2, 15), D(2027, 5, 14)),
            (D(2027, 5, 15), D(2027, 8, 14)),
            (D(2027, 8, 15), D(2027, 11, 14)),
        ]
        assert windows(planned, K.full_check) == [
            (D(2026, 11, 15), D(2027, 5, 14)),
            (D(2027, 5, 15), D(2027, 11, 14)),
        ]
        assert windows(planned, K.training) == [
            (D(2026, 11, 15), D(2027, 5, 16)),
            (D(2027, 5, 17), D(2027, 11, 14)),
        ]
        kinds = {p.kind for p in planned}
        assert kinds == {K.risk_assessment, K.key_check, K.full_check, K.training}

    @pytest.mark.parametrize(
        ("starts_on", "ends_on"),
        [
            (D(2026, 3, 6), D(2027, 3, 5)),  # calendar rule: 4 key checks, 3 full checks
            (D(2026, 11, 15), D(2027, 11, 14)),  # calendar rule: 5 key checks
            (D(2026, 2, 20), D(2027, 2, 19)),  # calendar rule: 5 key checks, 3 full checks
            (D(2026, 4, 1), D(2027, 3, 31)),  # calendar rule: 3 full checks
            (D(2026, 1, 31), D(2027, 1, 30)),
            (D(2028, 2, 29), D(2029, 2, 28)),
        ],
    )
    def test_a_policy_year_owes_four_key_checks_and_two_full_checks(
        self, starts_on: date, ends_on: date
    ) -> None:
        planned = policy_schedule(starts_on, ends_on, [], DAYS)
        assert [p.seq for p in planned if p.kind is K.key_check] == [1, 2, 3, 4]
        assert [p.seq for p in planned if p.kind is K.full_check] == [1, 2]
        half = add_months(starts_on, 6)
        assert windows(planned, K.full_check) == [
            (starts_on, half - timedelta(days=1)),
            (half, ends_on),
        ]

    def test_listed_in_measure_order_then_seq(self) -> None:
        planned = policy_schedule(D(2026, 1, 1), D(2026, 12, 31), list(CustomService), DAYS)
        order = [(p.kind, p.seq) for p in planned]
        assert order[0] == (K.risk_assessment, 1)
        assert order[1:5] == [(K.key_check, n) for n in (1, 2, 3, 4)]
        assert order[-12:] == [(K.onsite_staff, n) for n in range(1, 13)]

    def test_leap_day_start(self) -> None:
        planned = policy_schedule(D(2028, 2, 29), D(2029, 2, 28), [], DAYS)
        assert windows(planned, K.risk_assessment) == [(D(2028, 2, 29), D(2028, 3, 30))]
        assert windows(planned, K.key_check) == [
            (D(2028, 2, 29), D(2028, 5, 28)),
            (D(2028, 5, 29), D(2028, 8, 28)),
            (D(2028, 8, 29), D(2028, 11, 28)),
            (D(2028, 11, 29), D(2029, 2, 28)),  # with the one day past 27 Feb, merged
        ]
        assert windows(planned, K.full_check) == [
            (D(2028, 2, 29), D(2028, 8, 28)),
            (D(2028, 8, 29), D(2029, 2, 28)),
        ]
        assert windows(planned, K.training) == [
            (D(2028, 2, 29), D(2028, 8, 29)),
            (D(2028, 8, 30), D(2029, 2, 28)),
        ]

    def test_term_ending_on_a_leap_day(self) -> None:
        planned = policy_schedule(D(2027, 3, 1), D(2028, 2, 29), [], DAYS)
        assert windows(planned, K.key_check)[-1] == (D(2027, 12, 1), D(2028, 2, 29))
        assert windows(planned, K.full_check)[-1] == (D(2027, 9, 1), D(2028, 2, 29))
        assert max(p.due_on for p in planned) == D(2028, 2, 29)

    def test_ends_on_quarter_boundaries(self) -> None:
        planned = policy_schedule(D(2026, 4, 1), D(2027, 3, 31), [], DAYS)
        assert windows(planned, K.key_check) == [
            (D(2026, 4, 1), D(2026, 6, 30)),
            (D(2026, 7, 1), D(2026, 9, 30)),
            (D(2026, 10, 1), D(2026, 12, 31)),
            (D(2027, 1, 1), D(2027, 3, 31)),
        ]
        # Half-years of the policy year, not Jan–Jun / Jul–Dec.
        assert windows(planned, K.full_check) == [
            (D(2026, 4, 1), D(2026, 9, 30)),
            (D(2026, 10, 1), D(2027, 3, 31)),
        ]

    def test_term_shorter_than_a_quarter(self) -> None:
        planned = policy_schedule(D(2026, 4, 10), D(2026, 6, 20), list(CustomService), DAYS)
        assert windows(planned, K.risk_assessment) == [(D(2026, 4, 10), D(2026, 5, 10))]
        assert windows(planned, K.key_check) == [(D(2026, 4, 10), D(2026, 6, 20))]
        assert windows(planned, K.full_check) == [(D(2026, 4, 10), D(2026, 6, 20))]
        assert windows(planned, K.training) == [(D(2026, 4, 10), D(2026, 6, 20))]
        assert windows(planned, K.one_plan) == [(D(2026, 4, 10), D(2026, 6, 9))]
        assert windows(planned, K.remote_guidance) == [
            (D(2026, 4, 10), D(2026, 4, 30)),
            (D(2026, 5, 1), D(2026, 5, 31)),
            (D(2026, 6, 1), D(2026, 6, 20)),
        ]
        assert windows(planned, K.onsite_staff) == windows(planned, K.remote_guidance)

    def test_day_counts_are_capped_at_the_end_of_a_short_term(self) -> None:
        planned = policy_schedule(D(2026, 5, 1), D(2026, 5, 20), [CustomService.one_plan], DAYS)
        assert windows(planned, K.risk_assessment) == [(D(2026, 5, 1), D(2026, 5, 20))]
        assert windows(planned, K.one_plan) == [(D(2026, 5, 1), D(2026, 5, 20))]

    def test_day_counts_follow_the_settings(self) -> None:
        planned = policy_schedule(
            D(2026, 1, 1),
            D(2026, 12, 31),
            [CustomService.one_plan],
            ScheduleDays(risk_assessment_days=10, one_plan_days=45),
        )
        assert windows(planned, K.risk_assessment) == [(D(2026, 1, 1), D(2026, 1, 11))]
        assert windows(planned, K.one_plan) == [(D(2026, 1, 1), D(2026, 2, 15))]

    @pytest.mark.parametrize(
        ("custom", "expected"),
        [
            ([], set()),
            ([CustomService.one_plan], {K.one_plan}),
            ([CustomService.remote_guidance], {K.remote_guidance}),
            ([CustomService.onsite_staff], {K.onsite_staff}),
            (list(CustomService), {K.one_plan, K.remote_guidance, K.onsite_staff}),
        ],
    )
    def test_custom_services_only_when_contracted(
        self, custom: list[CustomService], expected: set[ObligationKind]
    ) -> None:
        planned = policy_schedule(D(2026, 1, 1), D(2026, 12, 31), custom, DAYS)
        assert {p.kind for p in planned if not p.kind.mandatory} == expected

    def test_monthly_reports_from_mid_month(self) -> None:
        planned = policy_schedule(
            D(2026, 11, 25), D(2027, 11, 24), [CustomService.remote_guidance], DAYS
        )
        reports = windows(planned, K.remote_guidance)
        # 6 days of November merge forward; 24 days of November 2027 stand alone.
        assert reports[0] == (D(2026, 11, 25), D(2026, 12, 31))
        assert reports[-1] == (D(2027, 11, 1), D(2027, 11, 24))
        assert len(reports) == 12

    def test_never_graded_or_hazard_help_in_the_base_schedule(self) -> None:
        planned = policy_schedule(D(2026, 1, 1), D(2026, 12, 31), list(CustomService), DAYS)
        assert not {K.graded_service, K.hazard_assistance} & {p.kind for p in planned}
        assert all(p.risk_level is None for p in planned)

    def test_reversed_term_owes_nothing(self) -> None:
        assert policy_schedule(D(2026, 5, 2), D(2026, 5, 1), list(CustomService), DAYS) == []


class TestGraded:
    def test_major_is_monthly_from_the_assessment(self) -> None:
        planned = graded_schedule(RiskLevel.major, D(2026, 4, 10), D(2026, 12, 31))
        assert [(p.window_start, p.due_on) for p in planned][:2] == [
            (D(2026, 4, 10), D(2026, 4, 30)),
            (D(2026, 5, 1), D(2026, 5, 31)),
        ]
        assert len(planned) == 9
        assert [p.seq for p in planned] == list(range(1, 10))
        assert {p.risk_level for p in planned} == {RiskLevel.major}
        assert {p.kind for p in planned} == {K.graded_service}

    def test_high_is_every_two_calendar_months(self) -> None:
        planned = graded_schedule(RiskLevel.high, D(2026, 4, 25), D(2026, 12, 31), first_seq=4)
        # 6 days of Mar–Apr merge into May–Jun.
        assert [(p.window_start, p.due_on) for p in planned] == [
            (D(2026, 4, 25), D(2026, 6, 30)),
            (D(2026, 7, 1), D(2026, 8, 31)),
            (D(2026, 9, 1), D(2026, 10, 31)),
            (D(2026, 11, 1), D(2026, 12, 31)),
        ]
        assert [p.seq for p in planned] == [4, 5, 6, 7]

    @pytest.mark.parametrize("level", [RiskLevel.medium, RiskLevel.low])
    def test_medium_and_low_owe_nothing_extra(self, level: RiskLevel) -> None:
        assert graded_schedule(level, D(2026, 1, 1), D(2026, 12, 31)) == []

    def test_assessment_after_cover_owes_nothing(self) -> None:
        assert graded_schedule(RiskLevel.major, D(2027, 1, 1), D(2026, 12, 31)) == []


def graded(seq: int, start: date, due: date, status: str = "open") -> GradedState:
    return GradedState(seq, start, due, ObligationStatus(status))


class TestReassessment:
    START, END = D(2026, 1, 1), D(2026, 12, 31)

    def monthly(self) -> list[GradedState]:
        plan = graded_schedule(RiskLevel.major, D(2026, 1, 20), self.END)
        return [graded(p.seq, p.window_start, p.due_on) for p in plan]

    def test_first_level_known_schedules_from_the_assessment(self) -> None:
        change = reassessment([], None, RiskLevel.high, D(2026, 2, 10), self.START, self.END)
        assert change.withdraw == ()
        assert next((p.seq, p.window_start, p.due_on) for p in change.add) == (
            1,
            D(2026, 2, 10),
            D(2026, 4, 30),  # 19 days of Jan–Feb merge forward
        )

    def test_lowering_withdraws_open_services_not_yet_started(self) -> None:
        current = self.monthly()
        change = reassessment(
            current, RiskLevel.major, RiskLevel.low, D(2026, 3, 10), self.START, self.END
        )
        # Jan, Feb and March (window opened 1 March) stand; April onwards are withdrawn.
        assert change.withdraw == tuple(range(4, 13))
        assert change.add == ()

    def test_raising_continues_after_the_last_standing_service(self) -> None:
        current = [graded(1, D(2026, 3, 10), D(2026, 4, 30), "delivered")] + [
            graded(n, s, d)
            for n, (s, d) in enumerate(
                [(D(2026, 5, 1), D(2026, 6, 30)), (D(2026, 7, 1), D(2026, 8, 31))], start=2
            )
        ]
        change = reassessment(
            current, RiskLevel.high, RiskLevel.major, D(2026, 5, 15), self.START, self.END
        )
        assert change.withdraw == (3,)
        # May–June (open since 1 May) stands: monthly service resumes on 1 July, seq 4 on.
        assert [(p.seq, p.window_start, p.due_on) for p in change.add][:2] == [
            (4, D(2026, 7, 1), D(2026, 7, 31)),
            (5, D(2026, 8, 1), D(2026, 8, 31)),
        ]
        assert change.add[-1].due_on == self.END
        assert {p.risk_level for p in change.add} == {RiskLevel.major}

    def test_delivered_and_withdrawn_services_are_never_withdrawn_again(self) -> None:
        current = [
            graded(1, D(2026, 6, 1), D(2026, 6, 30), "delivered"),
            graded(2, D(2026, 7, 1), D(2026, 7, 31), "withdrawn"),
            graded(3, D(2026, 8, 1), D(2026, 8, 31), "verified"),
        ]
        change = reassessment(
            current, RiskLevel.major, RiskLevel.low, D(2026, 5, 1), self.START, self.END
        )
        assert change.withdraw == ()
        assert change.add == ()

    def test_numbering_continues_past_withdrawn_services(self) -> None:
        current = [graded(1, D(2026, 2, 1), D(2026, 2, 28), "withdrawn")]
        change = reassessment(
            current, RiskLevel.low, RiskLevel.major, D(2026, 11, 5), self.START, self.END
        )
        assert [(p.seq, p.window_start, p.due_on) for p in change.add] == [
            (2, D(2026, 11, 5), D(2026, 11, 30)),
            (3, D(2026, 12, 1), D(2026, 12, 31)),
        ]

    def test_confirming_the_same_level_changes_nothing(self) -> None:
        change = reassessment(
            self.monthly(), RiskLevel.major, RiskLevel.major, D(2026, 6, 1), self.START, self.END
        )
        assert change.withdraw == ()
        assert change.add == ()

    def test_assessment_dated_before_the_start_plans_from_the_start(self) -> None:
        change = reassessment([], None, RiskLevel.major, D(2025, 12, 20), self.START, self.END)
        assert change.add[0].window_start == self.START

    def test_cover_end_bounds_the_new_services(self) -> None:
        change = reassessment([], None, RiskLevel.major, D(2026, 3, 1), self.START, D(2026, 4, 15))
        assert [(p.window_start, p.due_on) for p in change.add] == [
            (D(2026, 3, 1), D(2026, 3, 31)),
            (D(2026, 4, 1), D(2026, 4, 15)),
        ]


class TestCancellation:
    C = D(2026, 6, 15)

    @pytest.mark.parametrize(
        ("status", "due_on", "withdrawn"),
        [
            ("open", D(2026, 6, 16), True),  # due after the last covered day
            ("open", D(2026, 6, 30), True),  # its window had opened: still withdrawn
            ("open", D(2026, 6, 15), False),  # due on the last covered day: still owed
            ("open", D(2026, 3, 31), False),  # already due (perhaps overdue): stays
            ("delivered", D(2026, 9, 30), False),  # delivered early: stays, verifiable
            ("verified", D(2026, 9, 30), False),
            ("withdrawn", D(2026, 9, 30), False),  # nothing to withdraw twice
        ],
    )
    def test_open_services_due_after_the_last_covered_day_are_withdrawn(
        self, status: str, due_on: date, withdrawn: bool
    ) -> None:
        assert withdrawn_by_cancellation(ObligationStatus(status), due_on, self.C) is withdrawn

    def test_cancelled_early_keeps_only_what_was_due(self) -> None:
        planned = policy_schedule(D(2026, 1, 1), D(2026, 12, 31), list(CustomService), DAYS)
        kept = [
            p
            for p in planned
            if not withdrawn_by_cancellation(ObligationStatus.open, p.due_on, self.C)
        ]
        assert windows(kept, K.key_check) == [(D(2026, 1, 1), D(2026, 3, 31))]
        assert windows(kept, K.full_check) == []
        assert windows(kept, K.training) == []
        assert windows(kept, K.risk_assessment) == [(D(2026, 1, 1), D(2026, 1, 31))]
        assert windows(kept, K.one_plan) == [(D(2026, 1, 1), D(2026, 3, 2))]
        assert len(windows(kept, K.onsite_staff)) == 5  # January to May
        assert all(p.due_on <= self.C for p in kept)

    def test_cancelled_mid_term_trims_the_policy_quarters(self) -> None:
        # Started 20 Feb; cancelled 15 June, a month into the second policy quarter.
        planned = policy_schedule(D(2026, 2, 20), D(2027, 2, 19), list(CustomService), DAYS)
        kept = [
            p
            for p in planned
            if not withdrawn_by_cancellation(ObligationStatus.open, p.due_on, self.C)
        ]
        assert windows(kept, K.key_check) == [(D(2026, 2, 20), D(2026, 5, 19))]
        withdrawn = [p for p in planned if p not in kept]
        assert windows(withdrawn, K.key_check)[0] == (D(2026, 5, 20), D(2026, 8, 19))
        assert len(windows(withdrawn, K.key_check)) == 3
        assert windows(withdrawn, K.full_check) == [
            (D(2026, 2, 20), D(2026, 8, 19)),
            (D(2026, 8, 20), D(2027, 2, 19)),
        ]
        # Monthly reports still follow calendar months: February (9 days merged) to May.
        assert windows(kept, K.remote_guidance)[0] == (D(2026, 2, 20), D(2026, 3, 31))
        assert windows(kept, K.remote_guidance)[-1] == (D(2026, 5, 1), D(2026, 5, 31))

    def test_cancelled_on_a_policy_quarters_last_day_keeps_its_check(self) -> None:
        planned = policy_schedule(D(2026, 3, 16), D(2027, 3, 15), [], DAYS)
        kept = [
            p
            for p in planned
            if not withdrawn_by_cancellation(ObligationStatus.open, p.due_on, self.C)
        ]
        assert windows(kept, K.key_check) == [(D(2026, 3, 16), D(2026, 6, 15))]


class TestHazardAssistance:
    COVER = w(D(2026, 1, 1), D(2026, 12, 31))

    def test_due_by_the_rectification_deadline(self) -> None:
        assert hazard_assistance_window(D(2026, 5, 6), D(2026, 5, 27), self.COVER, 15) == w(
            D(2026, 5, 6), D(2026, 5, 27)
        )

    def test_unknown_deadline_gives_the_configured_days(self) -> None:
        assert hazard_assistance_window(D(2026, 5, 6), None, self.COVER, 15) == w(
            D(2026, 5, 6), D(2026, 5, 21)
        )

    def test_inherited_hazard_opens_with_the_cover(self) -> None:
        # Found before this policy started, deadline still ahead: the deadline stands.
        assert hazard_assistance_window(D(2025, 12, 20), D(2026, 1, 10), self.COVER, 15) == w(
            D(2026, 1, 1), D(2026, 1, 10)
        )
        # Deadline already past when the cover starts: a fresh period from the start.
        assert hazard_assistance_window(D(2025, 11, 1), D(2025, 11, 20), self.COVER, 15) == w(
            D(2026, 1, 1), D(2026, 1, 16)
        )

    def test_never_due_after_the_last_covered_day(self) -> None:
        assert hazard_assistance_window(D(2026, 12, 28), D(2027, 1, 15), self.COVER, 15) == w(
            D(2026, 12, 28), D(2026, 12, 31)
        )

    def test_found_after_the_cover_owes_nothing(self) -> None:
        assert hazard_assistance_window(D(2027, 1, 2), None, self.COVER, 15) is None


# --- properties over many terms ------------------------------------------------------------

MIN_DAYS = {
    K.key_check: 30,
    K.full_check: 60,
    K.remote_guidance: 10,
    K.onsite_staff: 10,
}


def check_schedule(starts_on: date, ends_on: date) -> None:
    planned = policy_schedule(starts_on, ends_on, list(CustomService), DAYS)
    by_kind: dict[ObligationKind, list[PlannedObligation]] = defaultdict(list)
    for p in planned:
        assert starts_on <= p.window_start <= p.due_on <= ends_on, p
        by_kind[p.kind].append(p)
    assert set(by_kind) == {
        K.risk_assessment,
        K.key_check,
        K.full_check,
        K.training,
        K.one_plan,
        K.remote_guidance,
        K.onsite_staff,
    }
    term_days = (ends_on - starts_on).days + 1
    for kind, items in by_kind.items():
        assert [p.seq for p in items] == list(range(1, len(items) + 1)), kind
        for before, after in itertools.pairwise(items):
            assert before.due_on < after.window_start, (kind, before, after)
        if kind in MIN_DAYS or kind is K.training:
            # Periodic kinds tile the term exactly: no gap, no overlap.
            assert items[0].window_start == starts_on
            assert items[-1].due_on == ends_on
            for before, after in itertools.pairwise(items):
                assert after.window_start == before.due_on + timedelta(days=1)
        if kind in MIN_DAYS and len(items) > 1:
            assert all((p.due_on - p.window_start).days + 1 >= MIN_DAYS[kind] for p in items)
    assert len(by_kind[K.training]) == (2 if term_days >= 183 else 1)
    assert len(by_kind[K.risk_assessment]) == len(by_kind[K.one_plan]) == 1
    for kind, cadence in ((K.key_check, QUARTERLY), (K.full_check, HALF_YEARLY)):
        items = by_kind[kind]
        # Policy periods: window k opens k periods after the start (month-end clamped) …
        assert [p.window_start for p in items] == [
            add_months(starts_on, k * cadence.months) for k in range(len(items))
        ]
        # … and runs to the day before the next one opens (counted from the start, not from
        # its own start, which may be a clamped month end), the last to the end of the term.
        for p in items[:-1]:
            assert p.due_on == add_months(starts_on, p.seq * cadence.months) - timedelta(days=1)
        full = 0
        while add_months(starts_on, (full + 1) * cadence.months) - timedelta(days=1) <= ends_on:
            full += 1
        rest = (ends_on - add_months(starts_on, full * cadence.months)).days + 1
        assert len(items) == max(1, full + (rest >= cadence.min_days)), (kind, full, rest)
    # A policy quarter has at most 92 days and the trailing merge adds at most 29.
    assert all(p.due_on - p.window_start < timedelta(days=92 + 29) for p in by_kind[K.key_check])
    assert all(p.due_on - p.window_start < timedelta(days=184 + 59) for p in by_kind[K.full_check])
    if ends_on == add_months(starts_on, 12) - timedelta(days=1):
        assert (len(by_kind[K.key_check]), len(by_kind[K.full_check])) == (4, 2)


def test_every_start_day_of_three_years() -> None:
    for n in range(3 * 366):
        starts_on = D(2026, 1, 1) + timedelta(days=n)
        for term_days in (1, 2, 29, 91, 120, 121, 182, 183, 200, 365, MAX_TERM_DAYS + 1):
            check_schedule(starts_on, starts_on + timedelta(days=term_days - 1))
        check_schedule(starts_on, add_months(starts_on, 12) - timedelta(days=1))


def test_every_policy_year_owes_four_key_checks_and_two_full_checks() -> None:
    for n in range(4 * 366):
        starts_on = D(2026, 1, 1) + timedelta(days=n)
        # The policy year, its same-date-next-year variant, and 365 / 366 days.
        for ends_on in {
            add_months(starts_on, 12) - timedelta(days=1),
            add_months(starts_on, 12),
            starts_on + timedelta(days=364),
            starts_on + timedelta(days=365),
        }:
            planned = policy_schedule(starts_on, ends_on, [], DAYS)
            counts = Counter(p.kind for p in planned)
            assert (counts[K.key_check], counts[K.full_check]) == (4, 2), (starts_on, ends_on)


def test_every_200_day_term_owes_two_key_checks_and_one_full_check() -> None:
    for n in range(4 * 366):
        starts_on = D(2026, 1, 1) + timedelta(days=n)
        planned = policy_schedule(starts_on, starts_on + timedelta(days=199), [], DAYS)
        counts = Counter(p.kind for p in planned)
        assert (counts[K.key_check], counts[K.full_check]) == (2, 1), starts_on


@settings(max_examples=300, deadline=None)
@given(
    starts_on=st.dates(min_value=D(2024, 1, 1), max_value=D(2032, 12, 31)),
    length=st.integers(min_value=1, max_value=MAX_TERM_DAYS),
)
def test_schedule_properties(starts_on: date, length: int) -> None:
    check_schedule(starts_on, starts_on + timedelta(days=length))


@settings(max_examples=200, deadline=None)
@given(
    starts_on=st.dates(min_value=D(2024, 1, 1), max_value=D(2032, 12, 31)),
    length=st.integers(min_value=1, max_value=MAX_TERM_DAYS),
    offset=st.integers(min_value=0, max_value=MAX_TERM_DAYS),
    level=st.sampled_from([RiskLevel.major, RiskLevel.high]),
)
def test_graded_properties(starts_on: date, length: int, offset: int, level: RiskLevel) -> None:
    ends_on = starts_on + timedelta(days=length)
    from_on = starts_on + timedelta(days=offset)
    planned = graded_schedule(level, from_on, ends_on, first_seq=3)
    if from_on > ends_on:
        assert planned == []
        return
    assert planned[0].window_start == from_on
    assert planned[-1].due_on == ends_on
    assert [p.seq for p in planned] == list(range(3, 3 + len(planned)))
    for before, after in itertools.pairwise(planned):
        assert after.window_start == before.due_on + timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(
    starts_on=st.dates(min_value=D(2024, 1, 1), max_value=D(2032, 12, 31)),
    length=st.integers(min_value=1, max_value=MAX_TERM_DAYS),
    cut=st.integers(min_value=0, max_value=MAX_TERM_DAYS),
)
def test_cancellation_leaves_nothing_due_after_the_last_covered_day(
    starts_on: date, length: int, cut: int
) -> None:
    ends_on = starts_on + timedelta(days=length)
    cancelled_on = min(starts_on + timedelta(days=cut), ends_on)
    planned = policy_schedule(starts_on, ends_on, list(CustomService), DAYS)
    kept = [
        p
        for p in planned
        if not withdrawn_by_cancellation(ObligationStatus.open, p.due_on, cancelled_on)
    ]
    assert all(p.due_on <= cancelled_on for p in kept)
    assert len(kept) + sum(p.due_on > cancelled_on for p in planned) == len(planned)
