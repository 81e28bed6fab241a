"""Push rules: which obligation kinds a push delivers, the counts each kind carries, dates."""

from __future__ import annotations

from datetime import date

import pytest

from services.insurance.domain import ObligationKind, PolicyStatus, last_covered_day
from services.insurance.push_domain import (
    PolicyNotActive,
    PushRuleViolated,
    check_assessment_not_older,
    check_assistance_kind,
    check_not_future,
    check_policy_accepts_pushes,
    check_policy_accepts_records,
    check_service_record_counts,
    check_service_record_kind,
    check_within_cover,
    check_within_policy,
)

D = date(2026, 3, 16)
K = ObligationKind


class TestPolicyAcceptsPushes:
    def test_active_accepts(self) -> None:
        check_policy_accepts_pushes(PolicyStatus.active)

    @pytest.mark.parametrize(
        "status", [PolicyStatus.pending, PolicyStatus.expired, PolicyStatus.cancelled]
    )
    def test_others_refuse(self, status: PolicyStatus) -> None:
        with pytest.raises(PolicyNotActive) as err:
            check_policy_accepts_pushes(status)
        assert err.value.code == "policy_not_active"
        assert status.value in str(err.value)


class TestDates:
    def test_today_and_before_are_not_future(self) -> None:
        check_not_future(D, D, "delivered_on")
        check_not_future(date(2026, 3, 15), D, "delivered_on")

    def test_tomorrow_is_future_and_names_the_field(self) -> None:
        with pytest.raises(PushRuleViolated) as err:
            check_not_future(date(2026, 3, 17), D, "assisted_on")
        assert (err.value.field, err.value.code) == ("assisted_on", "date_in_future")

    def test_policy_start_day_counts(self) -> None:
        check_within_policy(D, D, "assessed_on")
        with pytest.raises(PushRuleViolated) as err:
            check_within_policy(date(2026, 3, 15), D, "assessed_on")
        assert (err.value.field, err.value.code) == ("assessed_on", "date_before_policy")


class TestKinds:
    @pytest.mark.parametrize(
        "kind",
        [k for k in ObligationKind if k not in (K.risk_assessment, K.hazard_assistance)],
    )
    def test_service_record_delivers_every_other_kind(self, kind: ObligationKind) -> None:
        check_service_record_kind(kind)

    @pytest.mark.parametrize(
        ("kind", "endpoint"),
        [
            (K.risk_assessment, "POST /insurer/risk-assessments"),
            (K.hazard_assistance, "POST /insurer/hazard-assistance"),
        ],
    )
    def test_service_record_points_at_the_right_endpoint(
        self, kind: ObligationKind, endpoint: str
    ) -> None:
        with pytest.raises(PushRuleViolated) as err:
            check_service_record_kind(kind)
        assert (err.value.field, err.value.code) == (
            "obligation_id",
            "obligation_kind_has_own_endpoint",
        )
        assert err.value.endpoint == endpoint
        assert endpoint in str(err.value)

    def test_assistance_only_for_hazard_assistance(self) -> None:
        check_assistance_kind(K.hazard_assistance)
        for kind in ObligationKind:
            if kind is K.hazard_assistance:
                continue
            with pytest.raises(PushRuleViolated) as err:
                check_assistance_kind(kind)
            assert (err.value.field, err.value.code) == (
                "obligation_id",
                "obligation_not_hazard_assistance",
            )
            expected = (
                "POST /insurer/risk-assessments"
                if kind is K.risk_assessment
                else "POST /insurer/service-records"
            )
            assert err.value.endpoint == expected


SERVICE_KINDS = [k for k in ObligationKind if k not in (K.risk_assessment, K.hazard_assistance)]


class TestCounts:
    def test_training_needs_participants(self) -> None:
        check_service_record_counts(K.training, 1, None)
        with pytest.raises(PushRuleViolated) as err:
            check_service_record_counts(K.training, None, None)
        assert (err.value.field, err.value.code) == ("participants", "participants_required")

    @pytest.mark.parametrize("kind", [k for k in SERVICE_KINDS if k is not K.training])
    def test_participants_only_for_training(self, kind: ObligationKind) -> None:
        hazards = 0 if kind in (K.key_check, K.full_check) else None
        check_service_record_counts(kind, None, hazards)
        with pytest.raises(PushRuleViolated) as err:
            check_service_record_counts(kind, 30, hazards)
        assert (err.value.field, err.value.code) == ("participants", "participants_not_allowed")

    @pytest.mark.parametrize("kind", [K.key_check, K.full_check])
    def test_checks_need_hazards_found_zero_included(self, kind: ObligationKind) -> None:
        check_service_record_counts(kind, None, 0)
        check_service_record_counts(kind, None, 7)
        with pytest.raises(PushRuleViolated) as err:
            check_service_record_counts(kind, None, None)
        assert (err.value.field, err.value.code) == ("hazards_found", "hazards_found_required")

    @pytest.mark.parametrize(
        "kind", [k for k in SERVICE_KINDS if k not in (K.key_check, K.full_check)]
    )
    def test_hazards_found_only_for_checks(self, kind: ObligationKind) -> None:
        participants = 12 if kind is K.training else None
        with pytest.raises(PushRuleViolated) as err:
            check_service_record_counts(kind, participants, 0)
        assert (err.value.field, err.value.code) == ("hazards_found", "hazards_found_not_allowed")


class TestAssessmentOrder:
    def test_first_same_day_and_later_are_accepted(self) -> None:
        check_assessment_not_older(D, None)
        check_assessment_not_older(D, D)
        check_assessment_not_older(D, date(2026, 3, 1))

    def test_older_than_latest_is_refused(self) -> None:
        with pytest.raises(PushRuleViolated) as err:
            check_assessment_not_older(date(2026, 3, 1), D)
        assert (err.value.field, err.value.code) == ("assessed_on", "assessment_older_than_latest")


class TestRecordsAfterTheEnd:
    @pytest.mark.parametrize("status", ["active", "expired", "cancelled"])
    def test_a_policy_that_covered_takes_records(self, status: str) -> None:
        check_policy_accepts_records(PolicyStatus(status))

    def test_a_pending_policy_has_nothing_to_record(self) -> None:
        with pytest.raises(PolicyNotActive) as raised:
            check_policy_accepts_records(PolicyStatus.pending)
        assert raised.value.code == "policy_not_active"

    def test_last_covered_day_is_the_earlier_of_end_and_cancellation(self) -> None:
        end = date(2027, 3, 5)
        assert last_covered_day(end, None) == end
        assert last_covered_day(end, date(2026, 9, 30)) == date(2026, 9, 30)
        assert last_covered_day(end, date(2027, 3, 5)) == end

    def test_the_last_covered_day_itself_is_in_cover(self) -> None:
        check_within_cover(date(2026, 9, 30), date(2026, 9, 30), "delivered_on")
        with pytest.raises(PushRuleViolated) as raised:
            check_within_cover(date(2026, 10, 1), date(2026, 9, 30), "delivered_on")
        assert (raised.value.code, raised.value.field) == ("date_after_cover", "delivered_on")
