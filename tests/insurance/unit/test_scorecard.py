"""Scorecard arithmetic: periods, obligation counts and rates, whistle SLAs, monthly series."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from services.insurance.domain import ObligationKind, ObligationStatus
from services.insurance.scorecard import (
    InsurerFacts,
    ObligationCounts,
    ObligationFacts,
    Period,
    PeriodInvalid,
    WhistleCounts,
    WhistleFacts,
    check_period,
    instant_bounds,
    is_ack_breached,
    is_delivered_on_time,
    is_delivery_breached,
    month_of,
    monthly_series,
    months_of,
    score_obligations,
    score_whistles,
    scorecard,
    shanghai_day,
)

TODAY = date(2026, 3, 16)
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))
OPEN, DELIVERED, VERIFIED, WITHDRAWN = (
    ObligationStatus.open,
    ObligationStatus.delivered,
    ObligationStatus.verified,
    ObligationStatus.withdrawn,
)


def ob(
    status: ObligationStatus = OPEN,
    due_on: date = TODAY,
    delivered_on: date | None = None,
    *,
    kind: ObligationKind = ObligationKind.key_check,
    rejections: int = 0,
    count: int = 1,
) -> ObligationFacts:
    return ObligationFacts(kind, status, due_on, delivered_on, rejections, count)


def one(facts: ObligationFacts, today: date = TODAY) -> ObligationCounts:
    return ObligationCounts().plus(facts, today)


class TestPeriod:
    def test_one_day_is_a_period(self) -> None:
        assert check_period(TODAY, TODAY).days == 1

    def test_reversed_period_names_to(self) -> None:
        with pytest.raises(PeriodInvalid) as exc:
            check_period(TODAY, TODAY - timedelta(days=1))
        assert (exc.value.field, exc.value.code) == ("to", "period_reversed")

    @pytest.mark.parametrize(
        ("first", "last"),
        [(date(2028, 1, 1), date(2028, 12, 31)), (date(2026, 1, 1), date(2027, 1, 1))],
    )
    def test_366_days_counted_inclusively_are_allowed(self, first: date, last: date) -> None:
        assert check_period(first, last).days == 366

    def test_367_days_are_too_long(self) -> None:
        with pytest.raises(PeriodInvalid) as exc:
            check_period(date(2026, 1, 1), date(2027, 1, 2))
        assert (exc.value.field, exc.value.code) == ("to", "period_too_long")
        assert "367" in str(exc.value)

    def test_membership_includes_both_ends(self) -> None:
        assert MARCH.first in MARCH
        assert MARCH.last in MARCH
        assert date(2026, 2, 28) not in MARCH
        assert date(2026, 4, 1) not in MARCH
        assert "2026-03-10" not in MARCH

    def test_months_are_clipped_to_the_period_and_cross_the_year_end(self) -> None:
        months = months_of(Period(date(2025, 11, 15), date(2026, 2, 3)))
        assert [(m.first, m.last) for m in months] == [
            (date(2025, 11, 15), date(2025, 11, 30)),
            (date(2025, 12, 1), date(2025, 12, 31)),
            (date(2026, 1, 1), date(2026, 1, 31)),
            (date(2026, 2, 1), date(2026, 2, 3)),
        ]

    def test_one_day_is_one_month_and_a_leap_year_has_twelve(self) -> None:
        assert months_of(Period(TODAY, TODAY)) == [Period(TODAY, TODAY)]
        year = months_of(Period(date(2028, 1, 1), date(2028, 12, 31)))
        assert len(year) == 12
        assert year[1] == Period(date(2028, 2, 1), date(2028, 2, 29))
        assert sum(m.days for m in year) == 366

    @pytest.mark.parametrize(
        ("day", "first", "last"),
        [
            (date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
            (date(2028, 2, 10), date(2028, 2, 1), date(2028, 2, 29)),
            (date(2026, 2, 1), date(2026, 2, 1), date(2026, 2, 28)),
        ],
    )
    def test_month_of(self, day: date, first: date, last: date) -> None:
        assert month_of(day) == Period(first, last)

    def test_days_are_asia_shanghai_days(self) -> None:
        start, end = instant_bounds(MARCH)
        assert start == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
        assert end == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
        assert shanghai_day(datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)) == date(2026, 3, 31)
        assert shanghai_day(datetime(2026, 3, 31, 16, 0, tzinfo=UTC)) == date(2026, 4, 1)


class TestObligationCounts:
    def test_open_on_its_due_day_is_in_time(self) -> None:
        assert one(ob(OPEN, TODAY)) == ObligationCounts(due=1, open_not_yet_due=1)

    def test_open_the_day_after_its_due_day_is_overdue(self) -> None:
        assert one(ob(OPEN, TODAY - timedelta(days=1))) == ObligationCounts(due=1, overdue=1)

    def test_delivered_on_the_due_day_is_on_time(self) -> None:
        facts = ob(DELIVERED, TODAY - timedelta(days=5), TODAY - timedelta(days=5))
        assert is_delivered_on_time(facts)
        assert one(facts) == ObligationCounts(due=1, delivered=1, delivered_on_time=1)

    def test_delivered_late_is_delivered_but_not_on_time(self) -> None:
        facts = ob(DELIVERED, TODAY - timedelta(days=5), TODAY - timedelta(days=4))
        assert not is_delivered_on_time(facts)
        assert one(facts) == ObligationCounts(due=1, delivered=1)

    def test_delivered_early_counts_before_its_due_date(self) -> None:
        facts = ob(DELIVERED, TODAY + timedelta(days=30), TODAY)
        assert one(facts) == ObligationCounts(due=1, delivered=1, delivered_on_time=1)

    def test_verified_implies_delivered(self) -> None:
        on_time = one(ob(VERIFIED, TODAY - timedelta(days=5), TODAY - timedelta(days=9)))
        assert on_time == ObligationCounts(due=1, delivered=1, delivered_on_time=1, verified=1)
        late = one(ob(VERIFIED, TODAY - timedelta(days=5), TODAY - timedelta(days=1)))
        assert late == ObligationCounts(due=1, delivered=1, verified=1)

    def test_withdrawn_is_not_owed(self) -> None:
        assert one(ob(WITHDRAWN, TODAY - timedelta(days=60), rejections=2)) == ObligationCounts()

    def test_rejected_then_open_again_is_rejected_and_overdue(self) -> None:
        # A rejected record leaves the obligation open; its old delivery date does not count.
        facts = ob(OPEN, TODAY - timedelta(days=3), TODAY - timedelta(days=4), rejections=1)
        assert not is_delivered_on_time(facts)
        assert one(facts) == ObligationCounts(due=1, overdue=1, rejected_at_least_once=1)

    def test_a_delivery_without_a_date_is_not_on_time(self) -> None:
        assert one(ob(DELIVERED, TODAY, None)) == ObligationCounts(due=1, delivered=1)

    def test_grouped_obligations_count_by_their_weight(self) -> None:
        facts = ob(VERIFIED, TODAY, TODAY, rejections=1, count=7)
        assert one(facts) == ObligationCounts(
            due=7, delivered=7, delivered_on_time=7, verified=7, rejected_at_least_once=7
        )

    def test_every_combination_keeps_due_equal_to_its_parts(self) -> None:
        days = [TODAY - timedelta(days=1), TODAY, TODAY + timedelta(days=1)]
        for status, due_on, delivered_on, rejections in itertools.product(
            ObligationStatus, days, [None, *days], [0, 1]
        ):
            c = one(ob(status, due_on, delivered_on, rejections=rejections))
            assert c.due == c.delivered + c.overdue + c.open_not_yet_due
            assert c.verified <= c.delivered
            assert c.delivered_on_time <= c.delivered
            assert c.due == (0 if status is WITHDRAWN else 1)
            assert c.rejected_at_least_once == (1 if rejections and c.due else 0)

    def test_rates_are_over_assessable_and_null_without_any(self) -> None:
        assert ObligationCounts().on_time_rate is None
        not_yet = one(ob(OPEN, TODAY + timedelta(days=1)))
        assert (not_yet.assessable, not_yet.on_time_rate, not_yet.verified_rate) == (0, None, None)
        c = ObligationCounts(
            due=4, delivered=2, delivered_on_time=1, verified=2, overdue=1, open_not_yet_due=1
        )
        assert c.assessable == 3
        assert (c.on_time_rate, c.verified_rate) == (0.3333, 0.6667)
        assert ObligationCounts(due=1, delivered=1, delivered_on_time=1).on_time_rate == 1.0


class TestScoreObligations:
    def test_due_dates_outside_the_period_are_ignored_and_kinds_are_all_present(self) -> None:
        facts = [
            ob(OPEN, MARCH.first - timedelta(days=1)),
            ob(OPEN, MARCH.first, kind=ObligationKind.training),
            ob(DELIVERED, MARCH.last, TODAY, kind=ObligationKind.hazard_assistance),
            ob(OPEN, MARCH.last + timedelta(days=1)),
        ]
        score = score_obligations(facts, MARCH, TODAY)
        assert score.total == ObligationCounts(due=2, delivered=1, delivered_on_time=1, overdue=1)
        assert set(score.by_kind) == set(ObligationKind)
        assert score.by_kind[ObligationKind.training] == ObligationCounts(due=1, overdue=1)
        assert score.by_kind[ObligationKind.hazard_assistance].delivered_on_time == 1
        assert score.by_kind[ObligationKind.key_check] == ObligationCounts()

    def test_overdue_is_judged_on_the_day_asked(self) -> None:
        facts = [ob(OPEN, date(2026, 3, 20))]
        assert score_obligations(facts, MARCH, date(2026, 3, 20)).total.overdue == 0
        assert score_obligations(facts, MARCH, date(2026, 3, 21)).total.overdue == 1


T0 = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # 10:00 in Qingdao
ACK_DUE = T0 + timedelta(hours=24)
DELIVERY_DUE = T0 + timedelta(hours=72)
SECOND = timedelta(seconds=1)


def whistle(**over: datetime | None) -> WhistleFacts:
    base: dict[str, datetime | None] = {
        "raised_at": T0,
        "ack_due_at": ACK_DUE,
        "delivery_due_at": DELIVERY_DUE,
    }
    base.update(over)
    return WhistleFacts(**base)  # type: ignore[arg-type]


class TestWhistleSla:
    def test_answers_at_the_due_instant_are_in_time(self) -> None:
        w = whistle(acknowledged_at=ACK_DUE, delivered_at=DELIVERY_DUE)
        later = DELIVERY_DUE + timedelta(days=10)
        assert not is_ack_breached(w, later)
        assert not is_delivery_breached(w, later)
        assert WhistleCounts().plus(w, later) == WhistleCounts(
            raised=1, acknowledged_in_time=1, delivered_in_time=1
        )

    def test_answers_a_second_late_are_breaches(self) -> None:
        w = whistle(acknowledged_at=ACK_DUE + SECOND, delivered_at=DELIVERY_DUE + SECOND)
        seen = DELIVERY_DUE + SECOND
        assert is_ack_breached(w, seen)
        assert is_delivery_breached(w, seen)
        assert WhistleCounts().plus(w, DELIVERY_DUE + SECOND) == WhistleCounts(
            raised=1, ack_breaches=1, delivery_breaches=1
        )

    def test_unanswered_is_awaiting_until_the_due_instant_then_breached(self) -> None:
        w = whistle()
        assert WhistleCounts().plus(w, ACK_DUE) == WhistleCounts(
            raised=1, awaiting_acknowledgement=1, awaiting_delivery=1
        )
        assert WhistleCounts().plus(w, ACK_DUE + SECOND) == WhistleCounts(
            raised=1, ack_breaches=1, awaiting_delivery=1
        )
        assert WhistleCounts().plus(w, DELIVERY_DUE + SECOND) == WhistleCounts(
            raised=1, ack_breaches=1, delivery_breaches=1
        )

    def test_a_recorded_breach_is_never_cleared(self) -> None:
        w = whistle(
            acknowledged_at=ACK_DUE - SECOND,  # the record wins over a contradicting clock
            ack_breached_at=ACK_DUE + SECOND,
            delivery_breached_at=DELIVERY_DUE + SECOND,
            delivered_at=DELIVERY_DUE + timedelta(hours=5),
        )
        assert is_ack_breached(w, T0)
        assert is_delivery_breached(w, T0)
        assert WhistleCounts().plus(w, T0) == WhistleCounts(
            raised=1, ack_breaches=1, delivery_breaches=1
        )

    def test_a_delivery_answers_an_unacknowledged_call(self) -> None:
        w = whistle(delivered_at=ACK_DUE - SECOND)
        assert not is_ack_breached(w, DELIVERY_DUE + timedelta(days=1))
        assert WhistleCounts().plus(w, DELIVERY_DUE) == WhistleCounts(
            raised=1, acknowledged_in_time=1, delivered_in_time=1
        )

    def test_closed_before_a_due_instant_owes_nothing_more(self) -> None:
        w = whistle(closed_at=ACK_DUE - SECOND)
        later = DELIVERY_DUE + timedelta(days=3)
        assert not is_ack_breached(w, later)
        assert not is_delivery_breached(w, later)
        assert WhistleCounts().plus(w, later) == WhistleCounts(raised=1)

    def test_closed_after_a_due_instant_without_the_answer_is_a_breach(self) -> None:
        w = whistle(acknowledged_at=T0, closed_at=DELIVERY_DUE + SECOND)
        later = DELIVERY_DUE + timedelta(days=1)
        assert not is_ack_breached(w, later)
        assert is_delivery_breached(w, later)

    def test_answers_after_the_instant_asked_are_not_known_yet(self) -> None:
        w = whistle(acknowledged_at=ACK_DUE - SECOND, delivered_at=DELIVERY_DUE - SECOND)
        assert is_ack_breached(w, ACK_DUE + SECOND) is False
        assert is_delivery_breached(w, ACK_DUE + SECOND) is False
        # Before the acknowledgement, and with its due passed, the call was unanswered.
        early = whistle(acknowledged_at=ACK_DUE + timedelta(hours=2))
        assert is_ack_breached(early, ACK_DUE + SECOND) is True
        assert is_ack_breached(early, ACK_DUE - SECOND) is False

    def test_whistles_belong_to_the_shanghai_day_they_were_raised(self) -> None:
        last_march = datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)
        first_april = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
        ws = [
            whistle(raised_at=last_march, acknowledged_at=last_march),
            whistle(raised_at=first_april, acknowledged_at=first_april),
        ]
        assert score_whistles(ws, MARCH, first_april).raised == 1
        april = Period(date(2026, 4, 1), date(2026, 4, 30))
        assert score_whistles(ws, april, first_april).raised == 1


class TestSeries:
    def test_months_add_up_to_the_period(self) -> None:
        period = Period(date(2026, 1, 20), date(2026, 4, 10))
        facts = InsurerFacts(
            obligations=[
                ob(OPEN, date(2026, 1, 20)),
                ob(DELIVERED, date(2026, 2, 28), date(2026, 3, 1), kind=ObligationKind.training),
                ob(VERIFIED, date(2026, 3, 31), date(2026, 3, 2), count=3),
                ob(OPEN, date(2026, 4, 10)),
                ob(OPEN, date(2026, 4, 11)),  # after the period
                ob(WITHDRAWN, date(2026, 2, 2)),
            ],
            whistles=[
                whistle(raised_at=datetime(2026, 1, 31, 16, 0, tzinfo=UTC)),  # 1 Feb in Qingdao
                whistle(acknowledged_at=T0),
            ],
        )
        whole = scorecard(facts, period, TODAY, T0)
        months = monthly_series(facts, period, TODAY, T0)
        assert [m.period for m in months] == months_of(period)
        assert [m.obligations.total.due for m in months] == [1, 1, 3, 1]
        assert [m.whistles.raised for m in months] == [0, 1, 1, 0]
        for name in ("due", "delivered", "delivered_on_time", "verified", "overdue"):
            assert sum(getattr(m.obligations.total, name) for m in months) == getattr(
                whole.obligations.total, name
            )
        assert whole.obligations.total == ObligationCounts(
            due=6, delivered=4, delivered_on_time=3, verified=3, overdue=1, open_not_yet_due=1
        )
        assert whole.whistles.raised == 2
