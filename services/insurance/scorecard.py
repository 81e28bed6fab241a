"""Insurer scorecards: what insurers owed, delivered and had verified, and how they answered
enterprises' whistles, over a period of days. Pure arithmetic over facts; no I/O.

Definitions (the API documents the same words):
- An obligation belongs to a period when its due date falls in it; withdrawn ones are no
  longer owed and are left out altogether.
- delivered: the insurer pushed a record that stands (status delivered or verified); a
  verified obligation is always delivered. Delivered on time: delivered on or before the due
  date (the due day itself is in time).
- overdue: still open after its due date, as of `today`; open_not_yet_due: open, due today
  or later. So due = delivered + overdue + open_not_yet_due.
- assessable = delivered + overdue: the obligations whose outcome is known today. The rates
  are over it, so services not yet due do not count against an insurer mid-period:
  on_time_rate = delivered_on_time / assessable, verified_rate = verified / assessable;
  both null when nothing is assessable (in particular when nothing was due).
- A whistle belongs to the period of the Asia/Shanghai day it was raised on. Its answer is in
  time when given by the due instant (inclusive); a breach is one recorded by the SLA check,
  an answer after the due instant, or no answer while the due instant has passed at `now`. A
  whistle closed before a due instant without that answer owes nothing more for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from kernel.workdays import SHANGHAI, business_day_start
from services.insurance.domain import ObligationKind, ObligationStatus, is_overdue

# A scorecard covers at most a (leap) year of due dates, counted inclusively.
MAX_PERIOD_DAYS: Final = 366
# The days a scorecard period may fall on: no policy of this platform is older, and beyond
# them the period's Asia/Shanghai instants and calendar months run off the calendar.
EARLIEST_DAY: Final = date(2000, 1, 1)
LATEST_DAY: Final = date(2099, 12, 31)

RATE_DIGITS: Final = 4


class PeriodInvalid(ValueError):
    """A scorecard period that cannot be computed; `field` and `code` name the rule."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Period:
    """An inclusive range of business days."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


def check_period(first: date, last: date) -> Period:
    """Rule `scorecard_period`: `from` ≤ `to`, at most 366 days counted inclusively, and
    within the calendar the scorecards are kept for (EARLIEST_DAY to LATEST_DAY)."""
    # Checked first: the instants and months of a period at the ends of the calendar overflow.
    if first < EARLIEST_DAY:
        raise PeriodInvalid(
            "from",
            "period_out_of_range",
            f"`from` must be on or after {EARLIEST_DAY.isoformat()}",
        )
    if last > LATEST_DAY:
        raise PeriodInvalid(
            "to", "period_out_of_range", f"`to` must be on or before {LATEST_DAY.isoformat()}"
        )
    if first > last:
        raise PeriodInvalid("to", "period_reversed", "`to` must be on or after `from`")
    period = Period(first, last)
    if period.days > MAX_PERIOD_DAYS:
        raise PeriodInvalid(
            "to",
            "period_too_long",
            f"a scorecard period is at most {MAX_PERIOD_DAYS} days; this one is {period.days}",
        )
    return period


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def months_of(period: Period) -> list[Period]:
    """The calendar months the period touches, each clipped to the period (for charts)."""
    out: list[Period] = []
    start = period.first
    while start <= period.last:
        following = _next_month(start.replace(day=1))
        out.append(Period(start, min(period.last, following - timedelta(days=1))))
        start = following
    return out


def month_of(day: date) -> Period:
    """The whole calendar month that contains `day`."""
    return Period(day.replace(day=1), _next_month(day) - timedelta(days=1))


def instant_bounds(period: Period) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the period's days on the Asia/Shanghai calendar."""
    start = business_day_start(period.first)
    end = business_day_start(period.last + timedelta(days=1))
    return start, end


def shanghai_day(instant: datetime) -> date:
    """The Asia/Shanghai calendar day of an aware instant."""
    return instant.astimezone(SHANGHAI).date()


# --- Obligations --------------------------------------------------------------------------


@dataclass(frozen=True)
class ObligationFacts:
    """What a scorecard needs of an obligation; `count` identical ones grouped by the query."""

    kind: ObligationKind
    status: ObligationStatus
    due_on: date
    delivered_on: date | None
    rejections: int
    count: int = 1


def is_delivered(status: ObligationStatus) -> bool:
    """Delivered counts a verified obligation too: verification implies delivery."""
    return status in (ObligationStatus.delivered, ObligationStatus.verified)


def is_delivered_on_time(facts: ObligationFacts) -> bool:
    """Rule `delivered_on_time`: a standing delivery dated on or before the due day."""
    return (
        is_delivered(facts.status)
        and facts.delivered_on is not None
        and facts.delivered_on <= facts.due_on
    )


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, RATE_DIGITS) if denominator else None


@dataclass(frozen=True)
class ObligationCounts:
    """The counts of one insurer's (or all insurers') obligations due in a period."""

    due: int = 0
    delivered: int = 0
    delivered_on_time: int = 0
    verified: int = 0
    rejected_at_least_once: int = 0
    overdue: int = 0
    open_not_yet_due: int = 0

    @property
    def assessable(self) -> int:
        return self.delivered + self.overdue

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.delivered_on_time, self.assessable)

    @property
    def verified_rate(self) -> float | None:
        return _rate(self.verified, self.assessable)

    def plus(self, facts: ObligationFacts, today: date) -> ObligationCounts:
        """These counts with one more group of obligations; a withdrawn one changes nothing."""
        if facts.status is ObligationStatus.withdrawn:
            return self
        n = facts.count
        return ObligationCounts(
            due=self.due + n,
            delivered=self.delivered + (n if is_delivered(facts.status) else 0),
            delivered_on_time=self.delivered_on_time + (n if is_delivered_on_time(facts) else 0),
            verified=self.verified + (n if facts.status is ObligationStatus.verified else 0),
            rejected_at_least_once=self.rejected_at_least_once + (n if facts.rejections > 0 else 0),
            overdue=self.overdue + (n if is_overdue(facts.status, facts.due_on, today) else 0),
            open_not_yet_due=self.open_not_yet_due
            + (
                n
                if facts.status is ObligationStatus.open
                and not is_overdue(facts.status, facts.due_on, today)
                else 0
            ),
        )


@dataclass(frozen=True)
class ObligationScore:
    """Totals and the same counts per kind (every kind present, zeros included)."""

    total: ObligationCounts
    by_kind: dict[ObligationKind, ObligationCounts]


def score_obligations(
    facts: Iterable[ObligationFacts], period: Period, today: date
) -> ObligationScore:
    """Tally the obligations due in `period` (others are ignored) as of `today`."""
    total = ObligationCounts()
    by_kind = {kind: ObligationCounts() for kind in ObligationKind}
    for f in facts:
        if f.due_on not in period:
            continue
        total = total.plus(f, today)
        by_kind[f.kind] = by_kind[f.kind].plus(f, today)
    return ObligationScore(total=total, by_kind=by_kind)


# --- Whistles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WhistleFacts:
    """What a scorecard needs of a whistle (企业吹哨): its clocks and its answers."""

    raised_at: datetime
    ack_due_at: datetime
    delivery_due_at: datetime
    acknowledged_at: datetime | None = None
    delivered_at: datetime | None = None
    closed_at: datetime | None = None
    ack_breached_at: datetime | None = None
    delivery_breached_at: datetime | None = None


def _breached(
    recorded_at: datetime | None,
    answered_at: datetime | None,
    due_at: datetime,
    closed_at: datetime | None,
    now: datetime,
) -> bool:
    if recorded_at is not None:
        return True  # recorded once by the SLA check; a late answer never clears it
    # Seen at `now`, as whistle_rules.is_breached sees it: what happened later is not known yet.
    if answered_at is not None and answered_at <= now:
        return answered_at > due_at
    if closed_at is not None and closed_at <= now:
        return closed_at > due_at  # closed unanswered: owed nothing more only if before due
    return now > due_at


def acknowledged_at(w: WhistleFacts) -> datetime | None:
    """When the insurer answered the call: its acknowledgement, or a delivery without one."""
    return w.acknowledged_at if w.acknowledged_at is not None else w.delivered_at


def is_ack_breached(w: WhistleFacts, now: datetime) -> bool:
    """Rule `whistle_ack_sla`: not acknowledged by its due instant (保险报到 too late)."""
    return _breached(w.ack_breached_at, acknowledged_at(w), w.ack_due_at, w.closed_at, now)


def is_delivery_breached(w: WhistleFacts, now: datetime) -> bool:
    """Rule `whistle_delivery_sla`: the service not delivered by its due instant."""
    return _breached(w.delivery_breached_at, w.delivered_at, w.delivery_due_at, w.closed_at, now)


@dataclass(frozen=True)
class WhistleCounts:
    """How an insurer answered the whistles raised in a period.

    raised = acknowledged_in_time + ack_breaches + awaiting_acknowledgement (+ those closed
    before any acknowledgement was due), and likewise for delivery.
    """

    raised: int = 0
    acknowledged_in_time: int = 0
    ack_breaches: int = 0
    awaiting_acknowledgement: int = 0
    delivered_in_time: int = 0
    delivery_breaches: int = 0
    awaiting_delivery: int = 0

    def plus(self, w: WhistleFacts, now: datetime) -> WhistleCounts:
        ack_breached = is_ack_breached(w, now)
        delivery_breached = is_delivery_breached(w, now)
        return WhistleCounts(
            raised=self.raised + 1,
            acknowledged_in_time=self.acknowledged_in_time
            + int(acknowledged_at(w) is not None and not ack_breached),
            ack_breaches=self.ack_breaches + int(ack_breached),
            awaiting_acknowledgement=self.awaiting_acknowledgement
            + int(acknowledged_at(w) is None and w.closed_at is None and not ack_breached),
            delivered_in_time=self.delivered_in_time
            + int(w.delivered_at is not None and not delivery_breached),
            delivery_breaches=self.delivery_breaches + int(delivery_breached),
            awaiting_delivery=self.awaiting_delivery
            + int(w.delivered_at is None and w.closed_at is None and not delivery_breached),
        )


def score_whistles(
    whistles: Iterable[WhistleFacts], period: Period, now: datetime
) -> WhistleCounts:
    """Tally the whistles raised on the period's Asia/Shanghai days, as of `now`."""
    counts = WhistleCounts()
    for w in whistles:
        if shanghai_day(w.raised_at) in period:
            counts = counts.plus(w, now)
    return counts


# --- Scorecards ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorecard:
    """One insurer's scorecard for one period."""

    period: Period
    obligations: ObligationScore
    whistles: WhistleCounts


@dataclass(frozen=True)
class InsurerFacts:
    """An insurer's obligations (due in the period) and whistles (raised in it)."""

    obligations: Sequence[ObligationFacts] = ()
    whistles: Sequence[WhistleFacts] = ()


def scorecard(facts: InsurerFacts, period: Period, today: date, now: datetime) -> Scorecard:
    """The scorecard of one insurer for one period."""
    return Scorecard(
        period=period,
        obligations=score_obligations(facts.obligations, period, today),
        whistles=score_whistles(facts.whistles, period, now),
    )


def monthly_series(
    facts: InsurerFacts, period: Period, today: date, now: datetime
) -> list[Scorecard]:
    """The scorecard of each calendar month in the period (clipped to it), oldest first."""
    return [scorecard(facts, month, today, now) for month in months_of(period)]
