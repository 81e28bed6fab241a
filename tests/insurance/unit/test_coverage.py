"""Cover rules: which policy covers a day, the one that last did, the one that will."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.insurance.coverage import (
    EndReason,
    PolicyCover,
    covers,
    end_reason,
    last_covered_on,
    next_cover,
    previous_cover,
    uncovered_since,
)
from services.insurance.domain import PolicyStatus

DAY = date(2026, 3, 16)
ACTIVE, PENDING, EXPIRED, CANCELLED = (
    PolicyStatus.active,
    PolicyStatus.pending,
    PolicyStatus.expired,
    PolicyStatus.cancelled,
)


def days(n: int) -> date:
    return DAY + timedelta(days=n)


def policy(
    status: PolicyStatus = ACTIVE,
    starts: int = -100,
    ends: int = 200,
    cancelled: int | None = None,
    policy_id: str = "p",
) -> PolicyCover:
    return PolicyCover(
        policy_id, status, days(starts), days(ends), None if cancelled is None else days(cancelled)
    )


class TestCovers:
    @pytest.mark.parametrize(
        ("p", "expected"),
        [
            (policy(starts=0), True),  # its first day
            (policy(ends=0), True),  # its last day
            (policy(ends=-1), False),  # expired yesterday, expiry not yet recorded
            (policy(starts=1), False),
            (policy(cancelled=0), True),  # cancelled today still covers today
            (policy(cancelled=-1), False),
            (policy(cancelled=300), True),  # a cancellation after the term changes nothing
            (policy(PENDING, starts=0), False),  # not activated: the status decides
            (policy(EXPIRED), False),
            (policy(CANCELLED, cancelled=5), False),
        ],
    )
    def test_rule(self, p: PolicyCover, expected: bool) -> None:
        assert covers(p, DAY) is expected

    def test_last_covered_on_is_the_earlier_of_end_and_cancellation(self) -> None:
        assert last_covered_on(policy(ends=10)) == days(10)
        assert last_covered_on(policy(ends=10, cancelled=3)) == days(3)
        assert last_covered_on(policy(ends=10, cancelled=10)) == days(10)
        assert last_covered_on(policy(ends=10, cancelled=12)) == days(10)

    @pytest.mark.parametrize(
        ("p", "reason"),
        [
            (policy(EXPIRED, ends=-1), EndReason.expired),
            (policy(ACTIVE, ends=-1), EndReason.expired),
            (policy(CANCELLED, ends=100, cancelled=-1), EndReason.cancelled),
            (policy(CANCELLED, ends=-1), EndReason.cancelled),
            (policy(ACTIVE, ends=100, cancelled=-2), EndReason.cancelled),
            (policy(EXPIRED, ends=-1, cancelled=-1), EndReason.expired),
        ],
    )
    def test_end_reason(self, p: PolicyCover, reason: EndReason) -> None:
        assert end_reason(p) is reason


class TestPreviousAndNext:
    def test_the_most_recent_end_is_the_previous_cover(self) -> None:
        older = policy(EXPIRED, starts=-800, ends=-435, policy_id="older")
        recent = policy(CANCELLED, starts=-400, ends=-5, cancelled=-20, policy_id="recent")
        assert previous_cover([older, recent], DAY) == recent
        assert uncovered_since(recent) == days(-19)

    def test_an_active_policy_past_its_end_has_ended(self) -> None:
        lapsed = policy(ACTIVE, starts=-366, ends=-1)
        assert previous_cover([lapsed], DAY) == lapsed
        assert uncovered_since(lapsed) == DAY

    def test_policies_that_never_covered_or_still_cover_are_not_previous(self) -> None:
        never_started = policy(CANCELLED, starts=-5, ends=300, cancelled=-10)
        pending = policy(PENDING, starts=-400, ends=-50)
        covering = policy(ACTIVE, starts=-10, ends=10)
        assert previous_cover([never_started, pending, covering], DAY) is None
        assert uncovered_since(None) is None

    def test_the_earliest_registered_future_policy_is_next(self) -> None:
        later = policy(PENDING, starts=60, ends=420, policy_id="later")
        sooner = policy(PENDING, starts=7, ends=370, policy_id="sooner")
        expired = policy(EXPIRED, starts=-400, ends=-40)
        assert next_cover([later, expired, sooner], DAY) == sooner

    def test_a_pending_policy_whose_day_came_but_not_yet_activated_is_next(self) -> None:
        lagging = policy(PENDING, starts=0, ends=365)
        assert next_cover([lagging], DAY) == lagging

    def test_a_covering_or_cancelled_policy_is_not_next(self) -> None:
        assert next_cover([policy(ACTIVE, starts=-1), policy(CANCELLED, starts=10)], DAY) is None
