"""Insurance rules: the work-safety liability policy (安责险) and its life cycle. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class PolicyStatus(StrEnum):
    pending = "pending"  # registered, not yet in force
    active = "active"
    expired = "expired"  # its term ran out
    cancelled = "cancelled"  # ended early (退保) on `cancelled_on`


class RiskLevel(StrEnum):
    """An insurer's assessed risk level (风险等级), low to major."""

    low = "low"
    medium = "medium"
    high = "high"
    major = "major"


class CustomService(StrEnum):
    """The 3 custom services (定制3项) a policy may contract."""

    one_plan = "one_plan"  # 一企一策: one prevention plan for this enterprise
    remote_guidance = "remote_guidance"  # 24小时远程指导
    onsite_staff = "onsite_staff"  # 驻厂驻点


class ObligationKind(StrEnum):
    """What an insurer owes under a policy: the 6 mandatory services and the 3 custom ones."""

    risk_assessment = "risk_assessment"  # 起保后一次风险评估
    key_check = "key_check"  # 每季度一次重点排查
    full_check = "full_check"  # 每半年一次起底式大检查
    training = "training"  # 每年两次全员培训
    hazard_assistance = "hazard_assistance"  # 协助整改政府部门发现的隐患
    graded_service = "graded_service"  # 分类分级提供服务
    one_plan = "one_plan"
    remote_guidance = "remote_guidance"
    onsite_staff = "onsite_staff"

    @property
    def mandatory(self) -> bool:
        return self.value not in CustomService.__members__


class ObligationStatus(StrEnum):
    open = "open"  # owed; overdue once its due date has passed
    delivered = "delivered"  # the insurer pushed a record for it
    verified = "verified"  # the bureau checked the record and accepted it
    withdrawn = "withdrawn"  # no longer owed (policy cancelled, risk level lowered)


class ObligationRuleViolated(ValueError):
    """A transition the obligation's state does not allow; `code` names the rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_deliverable(status: ObligationStatus, window_start: date, delivered_on: date) -> None:
    """Rule `obligation_deliverable`: only an open obligation, on or after its window opens."""
    if status is not ObligationStatus.open:
        raise ObligationRuleViolated(
            "obligation_not_open", f"this obligation is {status.value}, not open"
        )
    if delivered_on < window_start:
        raise ObligationRuleViolated(
            "delivered_before_window",
            f"this obligation's window opens on {window_start.isoformat()}",
        )


def check_verifiable(status: ObligationStatus) -> None:
    """Rule `obligation_verifiable`: the bureau verifies or rejects only a delivered record."""
    if status is not ObligationStatus.delivered:
        raise ObligationRuleViolated(
            "obligation_not_delivered", f"this obligation is {status.value}, not delivered"
        )


def last_covered_day(ends_on: date, cancelled_on: date | None) -> date:
    """Rule `last_covered_day`: a policy covers up to its end date, or to an earlier
    cancellation's effective day (退保; a cancellation is never later than the end)."""
    return min(ends_on, cancelled_on) if cancelled_on is not None else ends_on


def is_overdue(status: ObligationStatus, due_on: date, today: date) -> bool:
    """Rule `obligation_overdue`: still open after its due date (the due day itself is in time)."""
    return status is ObligationStatus.open and today > due_on


class PolicyRuleViolated(ValueError):
    """A policy that cannot exist as submitted; `field` and `code` say which rule."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


# 安责险 is underwritten per year; a longer term would escape the yearly service schedule.
MAX_TERM_DAYS = 366


@dataclass(frozen=True)
class PolicyTerms:
    starts_on: date
    ends_on: date
    coverage_amount: Decimal
    premium: Decimal


def check_policy_terms(terms: PolicyTerms) -> None:
    """Rule `policy_term_valid`: a positive period of at most one year, money positive."""
    if terms.ends_on <= terms.starts_on:
        raise PolicyRuleViolated(
            "ends_on", "policy_period_invalid", "ends_on must be after starts_on"
        )
    if (terms.ends_on - terms.starts_on).days > MAX_TERM_DAYS:
        raise PolicyRuleViolated(
            "ends_on", "policy_period_too_long", f"a policy term is at most {MAX_TERM_DAYS} days"
        )
    if terms.premium >= terms.coverage_amount:
        raise PolicyRuleViolated(
            "premium", "premium_not_below_coverage", "premium must be below the coverage amount"
        )


def status_on(terms: PolicyTerms, today: date) -> PolicyStatus:
    """Rule `policy_in_force`: the status a policy has on a given business date."""
    if today < terms.starts_on:
        return PolicyStatus.pending
    if today > terms.ends_on:
        return PolicyStatus.expired
    return PolicyStatus.active


def should_activate(current: PolicyStatus, terms: PolicyTerms, today: date) -> bool:
    """A pending policy becomes active (and says so, once) when its start date arrives."""
    return current is PolicyStatus.pending and status_on(terms, today) is PolicyStatus.active
