"""Enterprise size classes by the industrial thresholds of 工信部联企业〔2011〕300号."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.insurance.sme import MIIT_2011_300_INDUSTRY, SizeClass, classify

WAN = Decimal(10_000)  # 万元 → yuan
CENT = Decimal("0.01")


class TestRulePack:
    def test_thresholds_are_the_regulations_in_yuan(self) -> None:
        pack = MIIT_2011_300_INDUSTRY
        assert (pack.large.employees, pack.large.revenue_yuan) == (1000, 40000 * WAN)
        assert (pack.medium.employees, pack.medium.revenue_yuan) == (300, 2000 * WAN)
        assert (pack.small.employees, pack.small.revenue_yuan) == (20, 300 * WAN)
        assert "工信部联企业〔2011〕300号" in pack.source

    def test_only_large_is_not_an_sme(self) -> None:
        assert [s for s in SizeClass if not s.is_sme] == [SizeClass.large]


class TestClassify:
    @pytest.mark.parametrize(
        ("employees", "revenue", "expected"),
        [
            # large: both thresholds reached (at them counts)
            (1000, 40000 * WAN, SizeClass.large),
            (5000, Decimal("9999999999.99"), SizeClass.large),
            # one short of large on either axis → medium (both medium thresholds still reached)
            (999, 40000 * WAN, SizeClass.medium),
            (1000, 40000 * WAN - CENT, SizeClass.medium),
            (100000, 2000 * WAN, SizeClass.medium),
            (300, Decimal("9999999999.99"), SizeClass.medium),
            # medium: at both thresholds
            (300, 2000 * WAN, SizeClass.medium),
            # one short of medium → small
            (299, 2000 * WAN, SizeClass.small),
            (300, 2000 * WAN - CENT, SizeClass.small),
            (299, 40000 * WAN, SizeClass.small),
            (1000, 2000 * WAN - CENT, SizeClass.small),
            # small: at both thresholds
            (20, 300 * WAN, SizeClass.small),
            # one short of small → micro (人员20人以下 或 营业收入300万元以下)
            (19, 300 * WAN, SizeClass.micro),
            (20, 300 * WAN - CENT, SizeClass.micro),
            (19, 40000 * WAN, SizeClass.micro),
            (1000, 300 * WAN - CENT, SizeClass.micro),
            (5000, Decimal(0), SizeClass.micro),
            (1, Decimal(0), SizeClass.micro),
            (0, Decimal(0), SizeClass.micro),
        ],
    )
    def test_boundaries(self, employees: int, revenue: Decimal, expected: SizeClass) -> None:
        assert classify(employees, revenue) is expected

    def test_every_headcount_against_every_revenue_band(self) -> None:
        headcounts = {0: 0, 19: 0, 20: 1, 299: 1, 300: 2, 999: 2, 1000: 3}
        revenues = {
            Decimal(0): 0,
            300 * WAN - CENT: 0,
            300 * WAN: 1,
            2000 * WAN - CENT: 1,
            2000 * WAN: 2,
            40000 * WAN - CENT: 2,
            40000 * WAN: 3,
        }
        order = [SizeClass.micro, SizeClass.small, SizeClass.medium, SizeClass.large]
        for employees, e_band in headcounts.items():
            for revenue, r_band in revenues.items():
                # Both must be reached: the class is the lower of the two bands.
                assert classify(employees, revenue) is order[min(e_band, r_band)], (
                    employees,
                    revenue,
                )

    @pytest.mark.parametrize(("employees", "revenue"), [(-1, Decimal(0)), (5, Decimal("-0.01"))])
    def test_negative_inputs_are_refused(self, employees: int, revenue: Decimal) -> None:
        with pytest.raises(ValueError, match="negative"):
            classify(employees, revenue)
