"""Whistle rules: the state machine, the SLA deadlines in clock hours, breach detection."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.insurance.whistle_rules import (
    TRANSITIONS,
    Breach,
    WhistleAction,
    WhistleClock,
    WhistleRuleViolated,
    WhistleSla,
    WhistleStatus,
    breaches_to_record,
    deadlines,
    is_breached,
    is_overdue,
    next_status,
)

# Friday 18:00 Shanghai time: the deadlines run through the weekend.
RAISED = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
SLA = WhistleSla(ack_hours=24, delivery_hours=72)
ACK_DUE = RAISED + timedelta(hours=24)
DELIVERY_DUE = RAISED + timedelta(hours=72)
SECOND = timedelta(seconds=1)

ALLOWED = {
    (WhistleStatus.raised, WhistleAction.acknowledge): WhistleStatus.acknowledged,
    (WhistleStatus.acknowledged, WhistleAction.deliver): WhistleStatus.delivered,
    (WhistleStatus.delivered, WhistleAction.close): WhistleStatus.closed,
}
REFUSAL_CODE = {
    WhistleAction.acknowledge: "whistle_not_raised",
    WhistleAction.deliver: "whistle_not_acknowledged",
    WhistleAction.close: "whistle_not_delivered",
}


class TestTransitions:
    @pytest.mark.parametrize(
        ("status", "action"), list(itertools.product(WhistleStatus, WhistleAction))
    )
    def test_every_pair_of_state_and_action(
        self, status: WhistleStatus, action: WhistleAction
    ) -> None:
        if (status, action) in ALLOWED:
            assert next_status(status, action) is ALLOWED[(status, action)]
        else:
            with pytest.raises(WhistleRuleViolated) as caught:
                next_status(status, action)
            assert caught.value.code == REFUSAL_CODE[action]
            assert status.value in str(caught.value)

    def test_the_path_is_one_line_from_raised_to_closed(self) -> None:
        status = WhistleStatus.raised
        for action in (WhistleAction.acknowledge, WhistleAction.deliver, WhistleAction.close):
            status = next_status(status, action)
        assert status is WhistleStatus.closed
        assert {target for _, target in TRANSITIONS.values()} == set(WhistleStatus) - {
            WhistleStatus.raised
        }

    def test_closed_is_final(self) -> None:
        for action in WhistleAction:
            with pytest.raises(WhistleRuleViolated):
                next_status(WhistleStatus.closed, action)


class TestDeadlines:
    def test_clock_hours_from_raising(self) -> None:
        due = deadlines(RAISED, SLA)
        assert due.ack_due_at == datetime(2026, 3, 21, 10, 0, tzinfo=UTC)
        assert due.delivery_due_at == datetime(2026, 3, 23, 10, 0, tzinfo=UTC)

    def test_weekends_and_nights_count_the_service_is_24_hours(self) -> None:
        saturday_night = datetime(2026, 3, 21, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
        due = deadlines(saturday_night, WhistleSla(ack_hours=2, delivery_hours=10))
        assert due.ack_due_at == datetime(2026, 3, 21, 17, 30, tzinfo=UTC)
        assert due.delivery_due_at == datetime(2026, 3, 22, 1, 30, tzinfo=UTC)

    def test_the_configured_hours_are_used(self) -> None:
        due = deadlines(RAISED, WhistleSla(ack_hours=1, delivery_hours=720))
        assert due.ack_due_at - RAISED == timedelta(hours=1)
        assert due.delivery_due_at - RAISED == timedelta(days=30)

    def test_a_naive_instant_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            deadlines(RAISED.replace(tzinfo=None), SLA)

    @pytest.mark.parametrize(("ack", "delivery"), [(0, 72), (24, 0), (-1, 72)])
    def test_hours_are_at_least_one(self, ack: int, delivery: int) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            WhistleSla(ack_hours=ack, delivery_hours=delivery)


class TestBreach:
    @pytest.mark.parametrize(
        ("done_at", "at", "breached"),
        [
            # Not done: a breach only once the due has passed, even before anyone acts.
            (None, ACK_DUE - SECOND, False),
            (None, ACK_DUE, False),
            (None, ACK_DUE + SECOND, True),
            (None, ACK_DUE + timedelta(days=30), True),
            # Done in time, including at the due instant itself: never a breach afterwards.
            (RAISED, ACK_DUE + timedelta(days=30), False),
            (ACK_DUE, ACK_DUE, False),
            (ACK_DUE, ACK_DUE + timedelta(days=30), False),
            # Done late: a breach.
            (ACK_DUE + SECOND, ACK_DUE + SECOND, True),
            (ACK_DUE + timedelta(hours=5), ACK_DUE + timedelta(days=3), True),
            # Seen before it was done (a clock moved back): judged as not done at that instant.
            (ACK_DUE + timedelta(hours=5), ACK_DUE - SECOND, False),
            (ACK_DUE + timedelta(hours=5), ACK_DUE + timedelta(hours=1), True),
        ],
    )
    def test_is_breached(self, done_at: datetime | None, at: datetime, breached: bool) -> None:
        assert is_breached(ACK_DUE, done_at, at) is breached

    @pytest.mark.parametrize(
        ("done_at", "at", "overdue"),
        [
            (None, ACK_DUE, False),
            (None, ACK_DUE + SECOND, True),
            (ACK_DUE + SECOND, ACK_DUE + timedelta(hours=1), False),  # late, but no longer waiting
            (RAISED, ACK_DUE + SECOND, False),
            (ACK_DUE + timedelta(hours=5), ACK_DUE + timedelta(hours=1), True),
        ],
    )
    def test_is_overdue_means_still_waiting_after_the_due(
        self, done_at: datetime | None, at: datetime, overdue: bool
    ) -> None:
        assert is_overdue(ACK_DUE, done_at, at) is overdue


def clock(**over: datetime | None) -> WhistleClock:
    fields: dict[str, datetime | None] = {
        "acknowledged_at": None,
        "delivered_at": None,
        "ack_breached_at": None,
        "delivery_breached_at": None,
    }
    fields.update(over)
    return WhistleClock(ack_due_at=ACK_DUE, delivery_due_at=DELIVERY_DUE, **fields)


class TestBreachesToRecord:
    def test_nothing_before_the_first_due(self) -> None:
        assert breaches_to_record(clock(), ACK_DUE) == []

    def test_a_missed_acknowledgement_without_any_action(self) -> None:
        assert breaches_to_record(clock(), ACK_DUE + SECOND) == [Breach.ack]

    def test_both_when_nothing_was_done_by_the_delivery_due(self) -> None:
        assert breaches_to_record(clock(), DELIVERY_DUE + SECOND) == [Breach.ack, Breach.delivery]

    def test_a_late_acknowledgement_is_a_breach_when_it_happens(self) -> None:
        late = ACK_DUE + timedelta(hours=3)
        assert breaches_to_record(clock(acknowledged_at=late), late) == [Breach.ack]

    def test_an_acknowledgement_in_time_then_a_missed_delivery(self) -> None:
        c = clock(acknowledged_at=ACK_DUE)
        assert breaches_to_record(c, DELIVERY_DUE) == []
        assert breaches_to_record(c, DELIVERY_DUE + SECOND) == [Breach.delivery]

    def test_delivery_at_its_due_instant_is_in_time(self) -> None:
        c = clock(acknowledged_at=RAISED, delivered_at=DELIVERY_DUE)
        assert breaches_to_record(c, DELIVERY_DUE + timedelta(days=10)) == []

    def test_each_breach_is_recorded_once(self) -> None:
        seen = ACK_DUE + SECOND
        assert breaches_to_record(clock(ack_breached_at=seen), DELIVERY_DUE) == []
        assert (
            breaches_to_record(
                clock(ack_breached_at=seen, delivery_breached_at=DELIVERY_DUE + SECOND),
                DELIVERY_DUE + timedelta(days=5),
            )
            == []
        )

    def test_a_recorded_breach_stays_when_the_step_is_done_late(self) -> None:
        # The late acknowledgement does not make the recorded breach go away, nor add another.
        c = clock(acknowledged_at=ACK_DUE + timedelta(hours=2), ack_breached_at=ACK_DUE + SECOND)
        assert breaches_to_record(c, ACK_DUE + timedelta(hours=2)) == []
