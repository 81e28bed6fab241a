"""Cover: whether a policy covers its enterprise on a day, and, for an enterprise without cover
(a coverage gap), the policy that last covered it and the one that will. No I/O.

The coverage-gap query expresses `covers` in SQL (services/insurance/supervision.py); the
API tests hold the two to the same boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from services.insurance.domain import PolicyStatus, last_covered_day


class EndReason(StrEnum):
    expired = "expired"  # the term ran out
    cancelled = "cancelled"  # ended early (退保)


@dataclass(frozen=True)
class PolicyCover:
    """What cover needs of a policy."""

    policy_id: str
    status: PolicyStatus
    starts_on: date
    ends_on: date
    cancelled_on: date | None = None


def last_covered_on(p: PolicyCover) -> date:
    """The policy's last day of cover: its end date, or its cancellation date if earlier."""
    return last_covered_day(p.ends_on, p.cancelled_on)


def covers(p: PolicyCover, day: date) -> bool:
    """Rule `policy_covers`: an active policy covers every day of its term up to its last day
    of cover (a policy cancelled on a day still covers that day)."""
    return p.status is PolicyStatus.active and p.starts_on <= day <= last_covered_on(p)


def end_reason(p: PolicyCover) -> EndReason:
    """Why a policy's cover stopped: cancelled (退保) before the term ran out, or expired."""
    if p.status is PolicyStatus.cancelled or (
        p.cancelled_on is not None and p.cancelled_on < p.ends_on
    ):
        return EndReason.cancelled
    return EndReason.expired


def _has_covered(p: PolicyCover) -> bool:
    # A policy cancelled while pending never covered a day; neither did one never activated.
    return p.status is not PolicyStatus.pending and p.starts_on <= last_covered_on(p)


def previous_cover(policies: Iterable[PolicyCover], day: date) -> PolicyCover | None:
    """The policy whose cover ended most recently before `day`, if any did."""
    ended = [p for p in policies if _has_covered(p) and last_covered_on(p) < day]
    return max(ended, key=lambda p: (last_covered_on(p), p.starts_on, p.policy_id), default=None)


def next_cover(policies: Iterable[PolicyCover], day: date) -> PolicyCover | None:
    """The earliest policy registered to cover the enterprise from `day` or later, if any."""
    upcoming = [
        p
        for p in policies
        if p.status in (PolicyStatus.pending, PolicyStatus.active)
        and last_covered_on(p) >= day
        and not covers(p, day)
    ]
    return min(upcoming, key=lambda p: (p.starts_on, p.policy_id), default=None)


def uncovered_since(previous: PolicyCover | None) -> date | None:
    """The first day without cover after the previous policy (None if it never had one)."""
    return None if previous is None else last_covered_on(previous) + timedelta(days=1)
