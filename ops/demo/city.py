"""A Qingdao-like city made up from a seed: districts, enterprises, insurers, officers.

Pure data, no I/O: the same seed and size always give the same city, and a larger size gives
the same first enterprises plus more, so a run can be extended later.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, TypeVar

from kernel.uscc import make_uscc
from kernel.vocab import Sector

T = TypeVar("T")

# (district, share of the registered enterprises, streets). The industrial districts (West
# Coast, Chengyang, Jimo, Jiaozhou) hold most of the supervised enterprises; the old town few.
DISTRICTS: Final[tuple[tuple[str, int, tuple[str, ...]], ...]] = (
    ("市南区", 4, ("香港中路", "山东路", "南京路", "东海西路")),
    ("市北区", 7, ("辽宁路", "延安三路", "重庆南路", "黑龙江南路")),
    ("李沧区", 8, ("九水东路", "书院路", "京口路", "四流北路")),
    ("崂山区", 7, ("株洲路", "松岭路", "海尔路", "科苑纬一路")),
    ("黄岛区", 22, ("长江中路", "江山中路", "前湾港路", "漓江西路", "淮河东路")),
    ("城阳区", 16, ("正阳路", "春阳路", "长城路", "青大工业园")),
    ("即墨区", 13, ("鹤山路", "蓝鳌路", "烟青路", "通济新经济区")),
    ("胶州市", 11, ("扬州路", "兰州西路", "胶州湾工业园", "福州南路")),
    ("平度市", 7, ("红旗路", "常州路", "青岛路", "平度经济开发区")),
    ("莱西市", 5, ("烟台路", "石岛路", "威海西路", "姜山工业园")),
)

# (sector, share, trade words). Shares follow the bureau's directly supervised trades: trade
# and warehousing and light manufacturing are many, mines and fireworks shops few.
SECTORS: Final[tuple[tuple[Sector, int, tuple[str, ...]], ...]] = (
    (Sector.trade, 28, ("商贸", "物流", "仓储", "国际贸易", "供应链")),
    (Sector.machinery, 15, ("机械", "重工", "机电", "装备制造", "精密机械")),
    (Sector.light_industry, 12, ("食品", "橡胶制品", "塑料制品", "家电", "啤酒")),
    (Sector.hazardous_chemicals, 9, ("化工", "精细化工", "石化", "化学品贸易", "新材料")),
    (Sector.gas_station, 6, ("石油销售", "能源", "加油站")),
    (Sector.building_materials, 6, ("建材", "水泥制品", "新型建材", "玻璃")),
    (Sector.textiles, 5, ("纺织", "服装", "针织", "家纺")),
    (Sector.metallurgy, 3, ("钢铁", "特钢", "铸造")),
    (Sector.nonferrous, 2, ("铝业", "铜业", "有色金属")),
    (Sector.fireworks, 1, ("烟花爆竹经营",)),
    (Sector.mining, 1, ("矿业", "石材开采")),
    (Sector.tobacco, 1, ("烟草物流",)),
    (Sector.other, 11, ("科技", "实业", "电子", "医药")),
)

# Sectors where 安全生产责任保险 is compulsory (高危行业领域); elsewhere it is voluntary.
HIGH_RISK_SECTORS: Final = frozenset(
    {
        Sector.hazardous_chemicals,
        Sector.mining,
        Sector.fireworks,
        Sector.metallurgy,
        Sector.nonferrous,
        Sector.gas_station,
    }
)

BRANDS: Final = (
    "海润", "鑫源", "恒通", "华信", "瑞丰", "德胜", "金海", "泰和", "永盛", "中联",
    "海晟", "东方", "宏达", "新港", "凯盛", "嘉华", "汇丰源", "顺安", "明阳", "润泽",
    "蓝海", "海湾", "琴岛", "崂峰", "胶澳", "盛世", "佳和", "万通", "利群", "远洋",
    "天晟", "华泰", "正阳", "鼎盛", "同创", "诺安", "博远", "科瑞", "海川", "启航",
    "国信", "青特", "浩宇", "和信", "金石", "瑞源", "丰华", "开元", "长城", "世纪",
)  # fmt: skip

SURNAMES: Final = "王张李刘陈杨赵黄周吴徐孙马胡朱郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN: Final = (
    "伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰",
    "涛", "明", "超", "平", "刚", "霞", "建华", "海燕", "志强", "秀英", "国庆", "文博",
)  # fmt: skip


@dataclass(frozen=True)
class InsurerProfile:
    """A property insurer's Qingdao branch and its share of the 安责险 market."""

    id: str
    name: str
    share: int
    uscc: str


# Real-looking branch names of the property insurers writing 安责险 in the city; ids are the
# machine-client ids the bureau registers them under.
INSURERS: Final[tuple[tuple[str, str, int], ...]] = (
    ("PICC-QD", "中国人民财产保险股份有限公司青岛市分公司", 28),
    ("PINGAN-QD", "中国平安财产保险股份有限公司青岛分公司", 18),
    ("CPIC-QD", "中国太平洋财产保险股份有限公司青岛分公司", 15),
    ("CLPC-QD", "中国人寿财产保险股份有限公司青岛市中心支公司", 9),
    ("CCIC-QD", "中国大地财产保险股份有限公司青岛分公司", 7),
    ("CIC-QD", "中华联合财产保险股份有限公司青岛分公司", 6),
    ("TPIC-QD", "太平财产保险有限公司青岛分公司", 5),
    ("SSAIC-QD", "阳光财产保险股份有限公司青岛市分公司", 4),
    ("TAIC-QD", "天安财产保险股份有限公司青岛分公司", 3),
    ("YAIC-QD", "永安财产保险股份有限公司青岛分公司", 3),
    ("YDTH-QD", "英大泰和财产保险股份有限公司青岛分公司", 2),
)
MAX_INSURERS: Final = len(INSURERS)

# Each seed's enterprises get their own block of a million make_uscc seeds; block 0 is the
# insurers' (their branches' codes are the same whatever the seed).
_BLOCK: Final = 1_000_000


@dataclass(frozen=True)
class EnterpriseProfile:
    """One enterprise of the demo city and the traits its year of activity depends on."""

    index: int
    uscc: str
    name: str
    district: str
    address: str
    sector: Sector
    standardisation_level: int  # 0 none, 1 (highest) to 3
    is_specialised: bool  # 专精特新
    manager: str  # 安全管理负责人
    phone: str

    @property
    def is_high_risk(self) -> bool:
        return self.sector in HIGH_RISK_SECTORS


@dataclass(frozen=True)
class City:
    """Everything the demo loads, fixed by (seed, sizes)."""

    seed: int
    enterprises: tuple[EnterpriseProfile, ...]
    insurers: tuple[InsurerProfile, ...]
    officers: tuple[str, ...]


def person(rng: random.Random) -> str:
    """A plausible Chinese full name."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def mobile(rng: random.Random) -> str:
    """A mainland mobile number (the insurers' contact pattern accepts it)."""
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def _weighted(
    rng: random.Random, rows: tuple[tuple[T, int, tuple[str, ...]], ...]
) -> tuple[T, tuple[str, ...]]:
    value, _, extra = rng.choices(rows, weights=[r[1] for r in rows])[0]
    return value, extra


def enterprise(seed: int, index: int, taken: set[str]) -> EnterpriseProfile:
    """Enterprise `index` of the city of `seed`; `taken` keeps names unique across the city."""
    rng = random.Random(f"demo-city:{seed}:{index}")
    district, streets = _weighted(rng, DISTRICTS)
    sector, trades = _weighted(rng, SECTORS)
    name = ""
    for attempt in range(50):
        place = "青岛" if attempt < 10 or rng.random() < 0.6 else district.rstrip("区市")
        name = f"{place}{rng.choice(BRANDS)}{rng.choice(trades)}有限公司"
        if name not in taken:
            break
    else:
        name = f"青岛{rng.choice(BRANDS)}{rng.choice(trades)}第{index}有限公司"
    taken.add(name)
    level = rng.choices((0, 1, 2, 3), weights=(62, 5, 13, 20))[0]
    return EnterpriseProfile(
        index=index,
        uscc=make_uscc((seed + 1) * _BLOCK + index),
        name=name,
        district=district,
        address=f"山东省青岛市{district}{rng.choice(streets)}{rng.randrange(1, 399)}号",
        sector=sector,
        standardisation_level=level,
        is_specialised=rng.random() < 0.06,
        manager=person(rng),
        phone=mobile(rng),
    )


def build_city(seed: int, enterprises: int, insurers: int) -> City:
    """The city of `seed` with `enterprises` enterprises and the first `insurers` insurers."""
    if not 0 <= seed < 100_000:
        raise ValueError(f"seed must be in [0, 100000), got {seed}")
    if not 1 <= enterprises < _BLOCK:
        raise ValueError(f"enterprises must be in [1, {_BLOCK}), got {enterprises}")
    if not 1 <= insurers <= MAX_INSURERS:
        raise ValueError(f"insurers must be in [1, {MAX_INSURERS}], got {insurers}")
    taken: set[str] = set()
    people = tuple(enterprise(seed, i, taken) for i in range(enterprises))
    companies = tuple(
        InsurerProfile(id=i, name=n, share=s, uscc=make_uscc(k))
        for k, (i, n, s) in enumerate(INSURERS[:insurers])
    )
    # One enforcement officer per 25 enterprises, at least four (two teams of two): real
    # bureaus spread cases over their staff, and the gateway budgets writes per caller.
    officers = tuple(f"officer-{seed}-{n:03d}" for n in range(max(4, min(400, enterprises // 25))))
    return City(seed=seed, enterprises=people, insurers=companies, officers=officers)
