"""Enterprise size classes (企业划型) for 惠企助安 expert help to small enterprises. No I/O.

Rule pack `MIIT_2011_300_INDUSTRY`: the industrial (工业) thresholds of 《中小企业划型标准规定》
(工信部联企业〔2011〕300号, art. 4(2)):
  - 从业人员1000人以下或营业收入40000万元以下的为中小微型企业, so an enterprise at or above both
    (1000 employees and 40000万元 = 400,000,000 yuan of revenue) is large;
  - 从业人员300人及以上，且营业收入2000万元及以上的为中型企业;
  - 从业人员20人及以上，且营业收入300万元及以上的为小型企业;
  - 从业人员20人以下或营业收入300万元以下的为微型企业.

The regulation sets other thresholds for other industries (construction, wholesale, retail,
transport, ...); they are not modelled here: the industrial thresholds apply to every sector,
which suits the manufacturing and hazardous-chemicals enterprises 惠企助安 visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class SizeClass(StrEnum):
    large = "large"  # 大型
    medium = "medium"  # 中型
    small = "small"  # 小型
    micro = "micro"  # 微型

    @property
    def is_sme(self) -> bool:
        """中小微企业: everything but large."""
        return self is not SizeClass.large


@dataclass(frozen=True)
class Threshold:
    """The least headcount and revenue (both must be reached) for a size class."""

    employees: int
    revenue_yuan: Decimal


@dataclass(frozen=True)
class SizeRulePack:
    name: str
    source: str
    large: Threshold
    medium: Threshold
    small: Threshold


MIIT_2011_300_INDUSTRY = SizeRulePack(
    name="MIIT_2011_300_INDUSTRY",
    source="《中小企业划型标准规定》(工信部联企业〔2011〕300号) 工业",
    large=Threshold(1000, Decimal("400000000")),  # 1000人, 40000万元
    medium=Threshold(300, Decimal("20000000")),  # 300人, 2000万元
    small=Threshold(20, Decimal("3000000")),  # 20人, 300万元
)


def classify(
    employees: int, annual_revenue: Decimal, pack: SizeRulePack = MIIT_2011_300_INDUSTRY
) -> SizeClass:
    """Rule `enterprise_size_class`: the largest class whose headcount AND revenue are reached."""
    if employees < 0:
        raise ValueError("employees cannot be negative")
    if annual_revenue < 0:
        raise ValueError("annual revenue cannot be negative")
    for size, threshold in (
        (SizeClass.large, pack.large),
        (SizeClass.medium, pack.medium),
        (SizeClass.small, pack.small),
    ):
        if employees >= threshold.employees and annual_revenue >= threshold.revenue_yuan:
            return size
    return SizeClass.micro
