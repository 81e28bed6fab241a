"""Whistle rules (企业吹哨、保险报到): the request's states and the insurer's SLA clock. No I/O.

An enterprise blows the whistle (asks its insurer for help); the insurer must acknowledge within
`whistle_ack_hours` and deliver the service within `whistle_delivery_hours`, both counted in
clock hours from the moment the whistle was raised: the response service runs 24 hours a day,
so nights, weekends and holidays count. The due instant itself is still in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class WhistleStatus(StrEnum):
    raised = "raised"  # 吹哨: the enterprise asked for help
    acknowledged = "acknowledged"  # 报到: the insurer answered and named a responder
    delivered = "delivered"  # the insurer says the help was given
    closed = "closed"  # the enterprise confirmed, with its feedback


class WhistleCategory(StrEnum):
    """What the enterprise needs."""

    hazard_help = "hazard_help"  # 隐患排查整改帮助
    emergency_guidance = "emergency_guidance"  # 应急指导
    training = "training"  # 培训
    other = "other"


class Feedback(StrEnum):
    satisfied = "satisfied"
    unsatisfied = "unsatisfied"


class WhistleAction(StrEnum):
    """What can be done to a whistle; each moves it to the next state."""

    acknowledge = "acknowledge"
    deliver = "deliver"
    close = "close"


class Breach(StrEnum):
    """Which SLA was missed."""

    ack = "ack"
    delivery = "delivery"


# The one path a whistle takes; nothing is skipped and nothing goes back.
TRANSITIONS: dict[WhistleAction, tuple[WhistleStatus, WhistleStatus]] = {
    WhistleAction.acknowledge: (WhistleStatus.raised, WhistleStatus.acknowledged),
    WhistleAction.deliver: (WhistleStatus.acknowledged, WhistleStatus.delivered),
    WhistleAction.close: (WhistleStatus.delivered, WhistleStatus.closed),
}

# The stable code of each refused transition: what the whistle should have been.
_NOT_IN_STATE = {
    WhistleAction.acknowledge: "whistle_not_raised",
    WhistleAction.deliver: "whistle_not_acknowledged",
    WhistleAction.close: "whistle_not_delivered",
}


class WhistleRuleViolated(ValueError):
    """A transition the whistle's state does not allow; `code` names the rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def next_status(current: WhistleStatus, action: WhistleAction) -> WhistleStatus:
    """Rule `whistle_transition`: raised → acknowledged → delivered → closed, one step at a time."""
    source, target = TRANSITIONS[action]
    if current is not source:
        raise WhistleRuleViolated(
            _NOT_IN_STATE[action],
            f"this whistle is {current.value}; only a {source.value} whistle can be {target.value}",
        )
    return target


@dataclass(frozen=True)
class WhistleSla:
    """The hours an insurer has, from the moment the whistle was raised."""

    ack_hours: int
    delivery_hours: int

    def __post_init__(self) -> None:
        if self.ack_hours < 1 or self.delivery_hours < 1:
            raise ValueError("SLA hours must be at least 1")


@dataclass(frozen=True)
class Deadlines:
    ack_due_at: datetime
    delivery_due_at: datetime


def deadlines(raised_at: datetime, sla: WhistleSla) -> Deadlines:
    """Rule `whistle_sla`: due instants in clock hours after raising (a 24-hour service)."""
    if raised_at.tzinfo is None:
        raise ValueError("raised_at must be timezone-aware")
    return Deadlines(
        ack_due_at=raised_at + timedelta(hours=sla.ack_hours),
        delivery_due_at=raised_at + timedelta(hours=sla.delivery_hours),
    )


def is_breached(due_at: datetime, done_at: datetime | None, at: datetime) -> bool:
    """Rule `whistle_sla_breached`: seen at `at`, the step was done after its due, or it is
    still not done and the due has passed. Doing it at the due instant is in time."""
    if done_at is not None and done_at <= at:
        return done_at > due_at
    return at > due_at


def is_overdue(due_at: datetime, done_at: datetime | None, at: datetime) -> bool:
    """Still waiting for the step at `at`, and its due has passed."""
    return (done_at is None or done_at > at) and at > due_at


@dataclass(frozen=True)
class WhistleClock:
    """What the breach rules need to know of a whistle."""

    ack_due_at: datetime
    delivery_due_at: datetime
    acknowledged_at: datetime | None
    delivered_at: datetime | None
    ack_breached_at: datetime | None
    delivery_breached_at: datetime | None


def breaches_to_record(clock: WhistleClock, at: datetime) -> list[Breach]:
    """Rule `whistle_breach_recorded_once`: the breaches seen at `at` that are not yet on record."""
    found = []
    if clock.ack_breached_at is None and is_breached(clock.ack_due_at, clock.acknowledged_at, at):
        found.append(Breach.ack)
    if clock.delivery_breached_at is None and is_breached(
        clock.delivery_due_at, clock.delivered_at, at
    ):
        found.append(Breach.delivery)
    return found
