"""Permit catalogue rules: approval modes, time limits, versions. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from services.permits.domain import (
    ApprovalMode,
    ItemRuleViolated,
    ItemStatus,
    Material,
    MaterialSource,
    check_new_version_effective_on,
    check_promised_within_statutory,
    derive_approval_mode,
    is_zero_materials,
    next_version_number,
    version_in_force,
    version_status,
)

D = date(2026, 6, 1)


@dataclass(frozen=True)
class V:
    """A version as the rules see it (a fake of the stored row)."""

    version: int
    effective_on: date


class TestDeriveApprovalMode:
    @pytest.mark.parametrize(
        ("onsite", "publicity", "pledge", "expected"),
        [
            (False, False, False, ApprovalMode.instant),
            (False, False, True, ApprovalMode.instant),
            (False, True, False, ApprovalMode.standard),
            (False, True, True, ApprovalMode.pledge),
            (True, False, False, ApprovalMode.standard),
            (True, False, True, ApprovalMode.pledge),
            (True, True, False, ApprovalMode.standard),
            (True, True, True, ApprovalMode.pledge),
        ],
    )
    def test_every_combination(
        self, onsite: bool, publicity: bool, pledge: bool, expected: ApprovalMode
    ) -> None:
        mode = derive_approval_mode(
            requires_onsite_check=onsite, requires_publicity=publicity, pledge_allowed=pledge
        )
        assert mode is expected

    def test_instant_needs_neither_onsite_check_nor_publicity(self) -> None:
        # Allowing a pledge never slows an item that qualifies for instant approval.
        for pledge in (False, True):
            assert (
                derive_approval_mode(
                    requires_onsite_check=False, requires_publicity=False, pledge_allowed=pledge
                )
                is ApprovalMode.instant
            )


class TestPromisedWithinStatutory:
    @pytest.mark.parametrize(("statutory", "promised"), [(30, 5), (30, 30), (3, 0), (1, 1)])
    def test_promise_may_compress_or_equal_the_law(self, statutory: int, promised: int) -> None:
        check_promised_within_statutory(statutory, promised)

    def test_promise_may_not_exceed_the_law(self) -> None:
        with pytest.raises(ItemRuleViolated) as exc:
            check_promised_within_statutory(20, 21)
        assert exc.value.field == "promised_limit_days"
        assert exc.value.code == "promised_limit_exceeds_statutory"
        assert "20" in str(exc.value)


class TestZeroMaterials:
    def test_nothing_to_upload_when_every_mandatory_material_is_shared(self) -> None:
        materials = [
            Material("营业执照", MaterialSource.shared, mandatory=True),
            Material("安全评价报告", MaterialSource.applicant, mandatory=False),
        ]
        assert is_zero_materials(materials)

    def test_a_mandatory_upload_breaks_zero_materials(self) -> None:
        materials = [
            Material("营业执照", MaterialSource.shared, mandatory=True),
            Material("申请表", MaterialSource.applicant, mandatory=True),
        ]
        assert not is_zero_materials(materials)

    def test_no_materials_at_all(self) -> None:
        assert is_zero_materials([])


class TestVersionInForce:
    HISTORY = (V(1, D), V(2, D + timedelta(days=30)), V(3, D + timedelta(days=90)))

    def test_nothing_in_force_before_the_first_version(self) -> None:
        assert version_in_force(self.HISTORY, D - timedelta(days=1)) is None
        assert version_in_force([], D) is None

    @pytest.mark.parametrize(
        ("offset", "expected"),
        [(0, 1), (29, 1), (30, 2), (89, 2), (90, 3), (4000, 3)],
    )
    def test_latest_version_whose_date_has_come(self, offset: int, expected: int) -> None:
        found = version_in_force(self.HISTORY, D + timedelta(days=offset))
        assert found is not None
        assert found.version == expected

    def test_order_of_the_input_does_not_matter(self) -> None:
        found = version_in_force(reversed(self.HISTORY), D + timedelta(days=45))
        assert found == V(2, D + timedelta(days=30))

    def test_a_scheduled_version_is_not_in_force_yet(self) -> None:
        found = version_in_force([V(1, D), V(2, D + timedelta(days=1))], D)
        assert found == V(1, D)


class TestVersionStatus:
    def test_superseded_versions_are_retired_the_rest_published(self) -> None:
        in_force = V(2, D)
        assert version_status(V(1, D - timedelta(days=9)), in_force) is ItemStatus.retired
        assert version_status(in_force, in_force) is ItemStatus.published
        assert version_status(V(3, D + timedelta(days=9)), in_force) is ItemStatus.published

    def test_nothing_in_force_means_nothing_retired(self) -> None:
        assert version_status(V(1, D), None) is ItemStatus.published


class TestNewVersionEffectiveOn:
    TODAY = D

    def test_next_version_number(self) -> None:
        assert next_version_number([]) == 1
        assert next_version_number([V(1, D), V(2, D + timedelta(days=1))]) == 3

    def test_after_the_latest_version_and_not_in_the_past(self) -> None:
        check_new_version_effective_on([V(1, D - timedelta(days=100))], self.TODAY, self.TODAY)
        check_new_version_effective_on(
            [V(1, D - timedelta(days=100))], self.TODAY + timedelta(days=5), self.TODAY
        )

    @pytest.mark.parametrize("offset", [0, -1, -100])
    def test_must_come_after_the_latest_version(self, offset: int) -> None:
        latest = D + timedelta(days=10)
        with pytest.raises(ItemRuleViolated) as exc:
            check_new_version_effective_on(
                [V(1, D - timedelta(days=100)), V(2, latest)],
                latest + timedelta(days=offset),
                self.TODAY,
            )
        assert exc.value.code == "effective_on_not_after_latest"
        assert exc.value.field == "effective_on"

    def test_compares_with_a_scheduled_version_not_only_the_one_in_force(self) -> None:
        # v2 is scheduled for D+30; a v3 for D+20 would be in force before v2 ever was.
        history = [V(1, D - timedelta(days=100)), V(2, D + timedelta(days=30))]
        with pytest.raises(ItemRuleViolated) as exc:
            check_new_version_effective_on(history, D + timedelta(days=20), self.TODAY)
        assert exc.value.code == "effective_on_not_after_latest"

    def test_may_not_take_effect_in_the_past(self) -> None:
        with pytest.raises(ItemRuleViolated) as exc:
            check_new_version_effective_on(
                [V(1, D - timedelta(days=100))], self.TODAY - timedelta(days=1), self.TODAY
            )
        assert exc.value.code == "effective_on_in_past"
        assert exc.value.field == "effective_on"
