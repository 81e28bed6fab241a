"""Inspection rules for the supervision registry (分级分类). No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import IntEnum, StrEnum

from kernel.vocab import Sector


class Tier(StrEnum):
    """Classification tier: key enterprises are planned every year (重点), others drawn."""

    key = "key"
    general = "general"


class StandardisationLevel(IntEnum):
    """Work-safety standardisation grade (安全生产标准化): 1 is the highest, 0 none."""

    none = 0
    level1 = 1
    level2 = 2
    level3 = 3


def default_tier(sector: Sector) -> Tier:
    """Rule `high_risk_sector_is_key`: high-risk sectors are key enterprises by default."""
    return Tier.key if sector.is_high_risk else Tier.general


def insurance_covered(policy_ends_on: date | None, today: date) -> bool:
    """Rule `insurance_in_force`: covered while an activated policy has not ended."""
    return policy_ends_on is not None and today <= policy_ends_on


def later_cover(current_end: date | None, new_end: date) -> date:
    """Several policies may overlap (renewal signed early): coverage runs to the latest end."""
    return new_end if current_end is None or new_end > current_end else current_end


# --- Registry kept current from events -------------------------------------------------------


class CreditStanding(StrEnum):
    """Credit's listing of an enterprise (红黑名单), as credit.standing.changed.v1 states it."""

    normal = "normal"
    redlisted = "redlisted"
    blacklisted = "blacklisted"


class RiskLevel(IntEnum):
    """An insurer's risk grade; the order is the severity (a higher grade raises priority)."""

    low = 1
    medium = 2
    high = 3
    major = 4


class LicenceStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    revoked = "revoked"


INCOMPLETE_NAME_PREFIX = "未登记企业 "


def placeholder_name(uscc: str) -> str:
    """Rule `no_listed_enterprise_escapes`: an enterprise credit lists before the registry knows
    it is entered under a placeholder name, so the plan still applies the listing to it."""
    return f"{INCOMPLETE_NAME_PREFIX}{uscc}"


def is_placeholder_name(name: str) -> bool:
    return name.startswith(INCOMPLETE_NAME_PREFIX)


def supersedes_assessment(
    held_on: date | None, held_level: RiskLevel | None, new_on: date, new_level: RiskLevel
) -> bool:
    """Rule `latest_assessment_wins`: a newer assessment replaces the held one, an older one
    (another insurer's, delivered late) is ignored. Two on the same day keep the higher grade:
    the registry cannot tell which is the correction, and under-rating risk is the worse error.
    """
    if held_on is None or held_level is None or new_on > held_on:
        return True
    return new_on == held_on and new_level > held_level


def next_licence_status(current: LicenceStatus | None, reported: LicenceStatus) -> LicenceStatus:
    """Rule `revocation_is_final`: once revoked a licence stays revoked whatever arrives later;
    otherwise the status permits reports is the status held."""
    if current is LicenceStatus.revoked:
        return LicenceStatus.revoked
    return reported


def count_active_licences(statuses: Iterable[LicenceStatus]) -> int:
    """Rule `licences_active_is_derived`: the count is recomputed from each licence's status,
    never incremented, so a redelivered or reordered event cannot make it drift."""
    return sum(1 for status in statuses if status is LicenceStatus.active)
