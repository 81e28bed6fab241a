"""Insurance rules: the work-safety liability policy (安责险) and its life cycle. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class PolicyStatus(StrEnum):
    pending = "pending"  # registered, not yet in force
    active = "active"
    expired = "expired"


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
