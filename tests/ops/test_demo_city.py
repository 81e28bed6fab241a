"""The demo city is fixed by its seed, made of valid codes and unique names, in proportions a
regulator would recognise."""

from __future__ import annotations

from collections import Counter

import pytest

from kernel.uscc import validate_uscc
from ops.demo.city import DISTRICTS, HIGH_RISK_SECTORS, MAX_INSURERS, build_city


def test_the_same_seed_gives_the_same_city_and_a_bigger_one_extends_it() -> None:
    small, again, bigger = build_city(3, 50, 4), build_city(3, 50, 4), build_city(3, 80, 4)
    assert small == again
    assert bigger.enterprises[:50] == small.enterprises
    other = build_city(4, 50, 4)
    assert not {e.uscc for e in other.enterprises} & {e.uscc for e in small.enterprises}


def test_codes_are_valid_and_names_unique() -> None:
    city = build_city(1, 2000, MAX_INSURERS)
    codes = [e.uscc for e in city.enterprises] + [i.uscc for i in city.insurers]
    assert all(validate_uscc(c, check_organisation_code=True) == c for c in codes)
    assert len(set(codes)) == len(codes)
    names = [e.name for e in city.enterprises]
    assert len(set(names)) == len(names)
    assert all(n.endswith("有限公司") for n in names)
    assert all(e.address.startswith(f"山东省青岛市{e.district}") for e in city.enterprises)


def test_proportions_look_like_the_city() -> None:
    city = build_city(1, 2000, 10)
    districts = Counter(e.district for e in city.enterprises)
    assert set(districts) == {d for d, _, _ in DISTRICTS}
    # The West Coast (黄岛) holds the most supervised enterprises, the old town (市南) few.
    assert districts.most_common(1)[0][0] == "黄岛区"
    assert districts["市南区"] < districts["城阳区"]
    high_risk = sum(e.sector in HIGH_RISK_SECTORS for e in city.enterprises) / 2000
    assert 0.15 < high_risk < 0.30
    assert len(city.officers) == 80
    assert [i.id for i in city.insurers][:3] == ["PICC-QD", "PINGAN-QD", "CPIC-QD"]


@pytest.mark.parametrize(
    ("seed", "enterprises", "insurers"), [(-1, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 12)]
)
def test_out_of_range_sizes_are_refused(seed: int, enterprises: int, insurers: int) -> None:
    with pytest.raises(ValueError, match="must be in"):
        build_city(seed, enterprises, insurers)
