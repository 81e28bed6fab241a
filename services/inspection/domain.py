"""Inspection rules for the supervision registry (分级分类). No I/O."""

from __future__ import annotations

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
