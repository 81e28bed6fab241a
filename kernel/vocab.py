"""Shared vocabulary of the domain that every service and contract spells the same way."""

from __future__ import annotations

from enum import StrEnum


class Sector(StrEnum):
    """Industry sectors the bureau supervises (分行业监管)."""

    hazardous_chemicals = "hazardous_chemicals"  # 危险化学品
    mining = "mining"  # 非煤矿山
    fireworks = "fireworks"  # 烟花爆竹
    metallurgy = "metallurgy"  # 冶金
    nonferrous = "nonferrous"  # 有色
    building_materials = "building_materials"  # 建材
    machinery = "machinery"  # 机械
    light_industry = "light_industry"  # 轻工
    textiles = "textiles"  # 纺织
    tobacco = "tobacco"  # 烟草
    trade = "trade"  # 商贸
    gas_station = "gas_station"  # 加油站
    other = "other"

    @property
    def is_high_risk(self) -> bool:
        """High-risk sectors where work-safety liability insurance is compulsory."""
        return self in _HIGH_RISK


_HIGH_RISK = frozenset(
    {
        Sector.hazardous_chemicals,
        Sector.mining,
        Sector.fireworks,
        Sector.metallurgy,
        Sector.nonferrous,
        Sector.gas_station,
    }
)


QINGDAO_DISTRICTS = (
    "市南区",
    "市北区",
    "李沧区",
    "崂山区",
    "城阳区",
    "黄岛区",
    "即墨区",
    "胶州市",
    "平度市",
    "莱西市",
)
