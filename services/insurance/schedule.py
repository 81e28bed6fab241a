"""The 6+3 obligation schedule (6+3服务): what an insurer owes under one policy, and when. No I/O.

Rule pack `qd-6+3/2` (PACK), read from measure 2 of the Qingdao ten measures (政保双联, "6+3").
It replaces `qd-6+3/1`, which anchored the key and full checks on calendar quarters and
half-years (see "Why policy periods" below).

Periods. The policy owes one service per period it covers; the window of that service is the
covered part of the period and the service is due on its last covered day. Two kinds of
period are used:

- Policy periods, for the quarterly key checks and the half-yearly full checks. They are the
  quarters and half-years of the policy year, counted from `starts_on` in calendar months:
  period k of n months runs from `starts_on + k·n months` to the day before
  `starts_on + (k+1)·n months`, clipped to the end of the term. Adding months keeps the day of
  the month, or takes the month's last day when the month is shorter, and every boundary is
  counted from `starts_on` (not from the previous boundary), so a clamped month end never
  drifts. A policy starting 31 Jan 2026 owes key checks for 31 Jan–29 Apr, 30 Apr–30 Jul,
  31 Jul–30 Oct and 31 Oct 2026–30 Jan 2027; one starting 29 Feb 2028 owes them for
  29 Feb–28 May, 29 May–28 Aug, 29 Aug–28 Nov and 29 Nov 2028–27 Feb 2029, and the last day of
  a term ending 28 Feb 2029 merges into the fourth (below).
- Calendar periods, for the monthly services (graded service for `major`, remote guidance,
  on-site staff) and the two-monthly graded service for `high`: calendar months and the
  two-month periods Jan–Feb, Mar–Apr, …, because the monthly service reports insurers file
  are by calendar month.

A covered part shorter than the kind's minimum is too short to owe a service of its own and
merges into its neighbour, only while at least two windows remain (a term that fits in one
period, or in one period plus short parts, owes one service of that kind whatever its length):
- a *trailing* short part (the term ends early in a period) merges backward: the last window
  runs from the start of the previous period to the end of the term;
- a *leading* short part (only calendar periods have one: the policy starts late in a month)
  merges forward: the first window runs from the start of the policy to the end of the next
  period's covered part. The leading merge is applied first, then the trailing one.
So a policy starting 25 Dec owes no remote-guidance report due 31 Dec: its first runs
25 Dec–31 Jan.

Why policy periods. 每季度一次重点排查 and 每半年一次起底式大检查 are what an insurer prices
into a policy year and what the regulator expects of it: four key checks and two full checks
per policy year, whatever day the policy starts. Anchored on the calendar, a one-year policy
starting mid-quarter covers parts of five calendar quarters and three calendar half-years, so
the count depended on the start day (five key checks for a start on 15 Nov, four for 10 Mar;
three full checks for a start on 1 Apr), and short parts made some windows much longer than a
quarter. Counted from the start, a policy year is exactly four quarters and two half-years; a
shorter term owes one key check per full policy quarter plus one for a remainder of at least
30 days (a 200-day term: two key checks, the second covering the last 108–111 days, and one
full check), and a remainder under the minimum is served by the previous period's service.

The six mandatory services (规定6项):
1. risk_assessment (起保后一次风险评估): one, window from the start, due `risk_assessment_days`
   after the start (capped at the end of the term).
2. key_check (每季度一次重点排查): one per policy quarter covered; minimum part 30 days.
3. full_check (每半年一次起底式大检查): one per policy half-year covered; minimum part 60 days.
4. training (每年两次全员培训): a term of at least 183 days owes two, the first due at its midpoint
   (window start→mid), the second at its end (mid+1→end); a shorter term owes one (start→end).
   The midpoint is `starts_on + (days - 1) // 2`, so the first half is never the shorter one.
5. hazard_assistance (协助整改政府部门发现的隐患): one per government-found hazard while the
   policy covers the enterprise; see `hazard_assistance_window`.
6. graded_service (分类分级提供服务): none until an assessment gives a risk level; from the
   assessment date to the end of cover, `major` owes one per calendar month (minimum part 10
   days) and `high` one per two-month period (minimum part 20 days); `medium` and `low` owe
   nothing beyond the quarterly key checks. See `graded_schedule` and `reassessment`.

The three custom services (定制3项), only when contracted:
- one_plan (一企一策): one, window from the start, due `one_plan_days` after it (capped).
- remote_guidance (24小时远程指导) and onsite_staff (驻厂驻点): a monthly service report per
  calendar month covered, minimum part 10 days.

Cancellation (退保). `cancelled_on` is the last covered day. Services due on or before it stay
owed (and may be overdue). An open service due after it is withdrawn ("policy cancelled"),
even when its window had already opened: the insurer owes a period's service only for a
period it covers to its end, and cancellations are never backdated, so nothing already due can
be erased this way. A service already delivered stays delivered and may still be verified.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from services.insurance.domain import CustomService, ObligationKind, ObligationStatus, RiskLevel

PACK: Final = "qd-6+3/2"

WITHDRAWN_ON_CANCELLATION: Final = "policy cancelled"
WITHDRAWN_ON_REASSESSMENT: Final = "risk level reassessed"


@dataclass(frozen=True)
class Window:
    """A closed range of days: `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Cadence:
    """A periodic service: one per period of `months` months; parts under `min_days` merge."""

    months: int
    min_days: int


QUARTERLY: Final = Cadence(months=3, min_days=30)
HALF_YEARLY: Final = Cadence(months=6, min_days=60)
MONTHLY: Final = Cadence(months=1, min_days=10)
TWO_MONTHLY: Final = Cadence(months=2, min_days=20)

# A term of at least this many days owes the second all-staff training.
TWO_TRAININGS_MIN_DAYS: Final = 183

GRADED_CADENCE: Final[dict[RiskLevel, Cadence]] = {
    RiskLevel.major: MONTHLY,
    RiskLevel.high: TWO_MONTHLY,
}

# Served per policy period (policy_periods), not per calendar period.
PERIODIC: Final[dict[ObligationKind, Cadence]] = {
    ObligationKind.key_check: QUARTERLY,
    ObligationKind.full_check: HALF_YEARLY,
}

MONTHLY_CUSTOM: Final = (CustomService.remote_guidance, CustomService.onsite_staff)

# The order a policy's schedule is listed in (mandatory first, as the measure lists them).
KIND_ORDER: Final = tuple(ObligationKind)


@dataclass(frozen=True)
class ScheduleDays:
    """The configurable day counts of the pack (InsuranceSettings)."""

    risk_assessment_days: int
    one_plan_days: int


@dataclass(frozen=True)
class PlannedObligation:
    """One service the schedule says is owed: its kind, number, window and due date."""

    kind: ObligationKind
    seq: int
    window_start: date
    due_on: date
    risk_level: RiskLevel | None = None


def _period_end(day: date, months: int) -> date:
    """The last day of the calendar period of `months` months that contains `day`."""
    last_month = ((day.month - 1) // months) * months + months
    return date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months: the same day of the month, else the month's last."""
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _merge_trailing(parts: list[Window], min_days: int) -> list[Window]:
    if len(parts) >= 2 and parts[-1].days < min_days:
        parts[-2:] = [Window(parts[-2].start, parts[-1].end)]
    return parts


def covered_periods(starts_on: date, ends_on: date, cadence: Cadence) -> list[Window]:
    """The calendar-period windows a term owes one service each for (merge rules above)."""
    if ends_on < starts_on:
        return []
    parts: list[Window] = []
    day = starts_on
    while day <= ends_on:
        end = min(_period_end(day, cadence.months), ends_on)
        parts.append(Window(day, end))
        day = end + timedelta(days=1)
    if len(parts) >= 2 and parts[0].days < cadence.min_days:
        parts[0:2] = [Window(parts[0].start, parts[1].end)]
    return _merge_trailing(parts, cadence.min_days)


def policy_periods(starts_on: date, ends_on: date, cadence: Cadence) -> list[Window]:
    """The policy-period windows a term owes one service each for (counted from the start)."""
    parts: list[Window] = []
    k = 0
    while (start := add_months(starts_on, k * cadence.months)) <= ends_on:
        k += 1
        end = add_months(starts_on, k * cadence.months) - timedelta(days=1)
        parts.append(Window(start, min(end, ends_on)))
    return _merge_trailing(parts, cadence.min_days)


def training_windows(starts_on: date, ends_on: date) -> list[Window]:
    """All-staff training: two per policy year (midpoint and end), one for a short term."""
    if ends_on < starts_on:
        return []
    days = (ends_on - starts_on).days + 1
    if days < TWO_TRAININGS_MIN_DAYS:
        return [Window(starts_on, ends_on)]
    mid = starts_on + timedelta(days=(days - 1) // 2)
    return [Window(starts_on, mid), Window(mid + timedelta(days=1), ends_on)]


def _numbered(
    kind: ObligationKind,
    windows: Iterable[Window],
    first_seq: int = 1,
    risk_level: RiskLevel | None = None,
) -> list[PlannedObligation]:
    return [
        PlannedObligation(kind, seq, w.start, w.end, risk_level)
        for seq, w in enumerate(windows, start=first_seq)
    ]


def _one_after_start(
    kind: ObligationKind, starts_on: date, ends_on: date, days: int
) -> PlannedObligation:
    return PlannedObligation(kind, 1, starts_on, min(starts_on + timedelta(days=days), ends_on))


def policy_schedule(
    starts_on: date,
    ends_on: date,
    custom_services: Collection[CustomService],
    days: ScheduleDays,
) -> list[PlannedObligation]:
    """The services a policy owes over its term (inclusive), graded and hazard help aside."""
    if ends_on < starts_on:
        return []
    planned = [
        _one_after_start(
            ObligationKind.risk_assessment, starts_on, ends_on, days.risk_assessment_days
        )
    ]
    for kind, cadence in PERIODIC.items():
        planned += _numbered(kind, policy_periods(starts_on, ends_on, cadence))
    planned += _numbered(ObligationKind.training, training_windows(starts_on, ends_on))
    if CustomService.one_plan in custom_services:
        planned.append(
            _one_after_start(ObligationKind.one_plan, starts_on, ends_on, days.one_plan_days)
        )
    for service in MONTHLY_CUSTOM:
        if service in custom_services:
            planned += _numbered(
                ObligationKind(service.value), covered_periods(starts_on, ends_on, MONTHLY)
            )
    return sorted(planned, key=lambda p: (KIND_ORDER.index(p.kind), p.seq))


def graded_schedule(
    level: RiskLevel, from_on: date, ends_on: date, first_seq: int = 1
) -> list[PlannedObligation]:
    """Graded services for `level` from `from_on` to the end of cover, numbered on."""
    cadence = GRADED_CADENCE.get(level)
    if cadence is None:
        return []
    return _numbered(
        ObligationKind.graded_service,
        covered_periods(from_on, ends_on, cadence),
        first_seq=first_seq,
        risk_level=level,
    )


@dataclass(frozen=True)
class GradedState:
    """A graded-service obligation as the reassessment rule sees it."""

    seq: int
    window_start: date
    due_on: date
    status: ObligationStatus


@dataclass(frozen=True)
class Reassessment:
    """What a new risk level changes: graded services withdrawn (by seq) and added."""

    withdraw: tuple[int, ...]
    add: tuple[PlannedObligation, ...]


def reassessment(
    current: Collection[GradedState],
    previous: RiskLevel | None,
    level: RiskLevel,
    assessed_on: date,
    starts_on: date,
    cover_ends_on: date,
) -> Reassessment:
    """Rule `graded_by_risk_level`: re-plan the graded services after an assessment.

    Open graded services whose window opens after the assessment date are withdrawn; those
    already open (or delivered) stand. The new level's services start the day after the last
    standing one is due (or on the assessment date, or the policy's start, if later), so
    windows never overlap, and continue the numbering. An assessment that confirms the level
    the schedule was planned for changes nothing.
    """
    if previous is level:
        return Reassessment((), ())
    withdraw = tuple(
        sorted(
            g.seq
            for g in current
            if g.status is ObligationStatus.open and g.window_start > assessed_on
        )
    )
    standing = [
        g for g in current if g.seq not in withdraw and g.status is not ObligationStatus.withdrawn
    ]
    resume = max(assessed_on, starts_on)
    if standing:
        resume = max(resume, max(g.due_on for g in standing) + timedelta(days=1))
    next_seq = max((g.seq for g in current), default=0) + 1
    add = tuple(graded_schedule(level, resume, cover_ends_on, first_seq=next_seq))
    return Reassessment(withdraw, add)


def withdrawn_by_cancellation(status: ObligationStatus, due_on: date, cancelled_on: date) -> bool:
    """Rule `cancellation_trims_schedule`: an open service due after the last covered day."""
    return status is ObligationStatus.open and due_on > cancelled_on


def hazard_assistance_window(
    found_on: date,
    rectify_by: date | None,
    cover: Window,
    assistance_days: int,
) -> Window | None:
    """Rule `hazard_assistance_due`: when help with a government-found hazard is owed.

    The window opens when the hazard is found (or when this policy's cover starts, for a hazard
    still unrectified then). It is due by the hazard's rectification deadline, or
    `assistance_days` after the window opens while that deadline is unknown or already past
    when the cover starts; never after the last covered day. None when the hazard is found
    after the cover ended.
    """
    start = max(found_on, cover.start)
    if start > cover.end:
        return None
    due = rectify_by if rectify_by is not None else found_on + timedelta(days=assistance_days)
    if due < start:
        due = start + timedelta(days=assistance_days)
    return Window(start, min(due, cover.end))
