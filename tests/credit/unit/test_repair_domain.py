"""Credit-repair rules: eligibility, the 3-working-day clock, the lifecycle, website delivery."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Final

import pytest

from kernel.uscc import make_uscc
from kernel.workdays import CalendarYearUnknown, WorkingDayCalendar
from services.credit.domain import NDRC_ORDER_58
from services.credit.repair_domain import (
    DeliveryVerdict,
    RepairAction,
    RepairOutcome,
    RepairRuleViolated,
    RepairState,
    RepairStateConflict,
    RepairTarget,
    RepairTargetKind,
    WebsiteResult,
    action_for,
    active_key,
    check_commitment_signed,
    check_decision_reason,
    check_evidence_present,
    check_no_pending_application,
    check_repair_application,
    check_repair_period_reached,
    check_target_open,
    check_target_repairable,
    classify_response,
    is_contact_phone,
    is_on_time,
    is_overdue,
    is_target_open,
    next_state,
    owns_target,
    repair_due_on,
    retry_delay_seconds,
    verdict_after_attempt,
    working_days_remaining,
)

USCC = make_uscc(501)
OTHER = make_uscc(502)
TODAY = date(2026, 7, 1)

RECORD = RepairTarget(
    kind=RepairTargetKind.record,
    id="r1",
    uscc=USCC,
    record_class="penalty",
    state="published",
    starts_on=date(2026, 3, 12),
    ends_on=date(2027, 3, 10),
    eligible_on=date(2026, 6, 11),
)
LISTING = RepairTarget(
    kind=RepairTargetKind.blacklist,
    id="b1",
    uscc=USCC,
    record_class=None,
    state="listed",
    starts_on=None,
    ends_on=None,
    eligible_on=date(2026, 6, 1),
)
CALENDAR = WorkingDayCalendar()


class UnknownCalendar:
    """A calendar that knows no year at all."""

    def add_working_days(self, start: date, n: int) -> date:
        raise CalendarYearUnknown(start.year)

    def working_days_between(self, start: date, end: date) -> int:
        raise CalendarYearUnknown(start.year)


def violation(exc: pytest.ExceptionInfo[RepairRuleViolated]) -> tuple[str, str]:
    return exc.value.field, exc.value.code


class TestEligibility:
    def test_own_target_only(self) -> None:
        assert owns_target(USCC, RECORD)
        assert not owns_target(OTHER, RECORD)

    @pytest.mark.parametrize("record_class", ["penalty", "dishonesty"])
    def test_penalty_and_dishonesty_records_are_repairable(self, record_class: str) -> None:
        check_target_repairable(dataclasses.replace(RECORD, record_class=record_class))

    def test_incentives_are_never_repaired(self) -> None:
        with pytest.raises(RepairRuleViolated) as exc:
            check_target_repairable(dataclasses.replace(RECORD, record_class="incentive"))
        assert violation(exc) == ("target_id", "target_not_repairable")

    def test_a_blacklist_case_is_repairable(self) -> None:
        check_target_repairable(LISTING)

    @pytest.mark.parametrize(
        ("today", "open_"),
        [
            (date(2026, 3, 11), False),  # before publicity started
            (date(2026, 3, 12), True),
            (date(2027, 3, 10), True),  # last day shown
            (date(2027, 3, 11), False),  # past the window even before the expiry pass
        ],
    )
    def test_record_open_within_its_window(self, today: date, open_: bool) -> None:
        assert is_target_open(RECORD, today) is open_

    def test_ended_record_is_not_open(self) -> None:
        ended = dataclasses.replace(RECORD, state="ended")
        assert not is_target_open(ended, TODAY)
        with pytest.raises(RepairRuleViolated) as exc:
            check_target_open(ended, TODAY)
        assert violation(exc) == ("target_id", "target_not_open")

    @pytest.mark.parametrize(
        ("state", "open_"),
        [
            ("proposed", False),
            ("noticed", False),
            ("objected", False),
            ("listed", True),
            ("withdrawn", False),
            ("removed", False),
        ],
    )
    def test_blacklist_open_only_while_listed(self, state: str, open_: bool) -> None:
        assert is_target_open(dataclasses.replace(LISTING, state=state), TODAY) is open_

    def test_too_early_names_the_eligible_date(self) -> None:
        with pytest.raises(RepairRuleViolated) as exc:
            check_repair_period_reached(RECORD, date(2026, 6, 10))
        assert violation(exc) == ("target_id", "repair_not_yet_eligible")
        assert exc.value.eligible_on == date(2026, 6, 11)
        assert "2026-06-11" in str(exc.value)
        assert "2026年6月11日" in str(exc.value)

    def test_eligible_from_the_date_itself(self) -> None:
        check_repair_period_reached(RECORD, date(2026, 6, 11))
        check_repair_period_reached(LISTING, date(2026, 6, 1))

    def test_blacklist_early_removal_date(self) -> None:
        with pytest.raises(RepairRuleViolated) as exc:
            check_repair_period_reached(LISTING, date(2026, 5, 31))
        assert exc.value.eligible_on == date(2026, 6, 1)

    def test_unknown_eligible_date_is_refused(self) -> None:
        with pytest.raises(RepairRuleViolated) as exc:
            check_repair_period_reached(dataclasses.replace(LISTING, eligible_on=None), TODAY)
        assert violation(exc) == ("target_id", "repair_date_unknown")

    def test_commitment_must_be_signed(self) -> None:
        check_commitment_signed(True)
        with pytest.raises(RepairRuleViolated) as exc:
            check_commitment_signed(False)
        assert violation(exc) == ("commitment_signed", "commitment_not_signed")

    def test_evidence_must_be_present(self) -> None:
        check_evidence_present(["proof"])
        with pytest.raises(RepairRuleViolated) as exc:
            check_evidence_present([])
        assert violation(exc) == ("evidence", "evidence_missing")

    def test_one_pending_application_per_target(self) -> None:
        check_no_pending_application(False)
        with pytest.raises(RepairStateConflict) as exc:
            check_no_pending_application(True)
        assert exc.value.code == "repair_pending"

    def test_active_key_names_kind_and_id(self) -> None:
        assert active_key(RepairTargetKind.record, "abc") == "record:abc"
        assert active_key(RepairTargetKind.blacklist, "abc") == "blacklist:abc"

    def test_all_rules_pass_for_a_proper_application(self) -> None:
        for target in (RECORD, LISTING):
            check_repair_application(
                target, today=TODAY, commitment_signed=True, evidence=["x"], has_pending=False
            )

    @pytest.mark.parametrize(
        ("target", "today", "signed", "evidence", "pending", "code"),
        [
            (dataclasses.replace(RECORD, record_class="incentive"), TODAY, True, ["x"], False,
             "target_not_repairable"),
            (dataclasses.replace(RECORD, state="ended"), TODAY, True, ["x"], False,
             "target_not_open"),
            (RECORD, date(2026, 5, 1), True, ["x"], False, "repair_not_yet_eligible"),
            (RECORD, TODAY, False, ["x"], False, "commitment_not_signed"),
            (RECORD, TODAY, True, [], False, "evidence_missing"),
        ],
    )  # fmt: skip
    def test_each_rule_refuses_on_its_own(
        self,
        target: RepairTarget,
        today: date,
        signed: bool,
        evidence: list[str],
        pending: bool,
        code: str,
    ) -> None:
        with pytest.raises(RepairRuleViolated) as exc:
            check_repair_application(
                target, today=today, commitment_signed=signed, evidence=evidence,
                has_pending=pending,
            )  # fmt: skip
        assert exc.value.code == code

    def test_pending_is_a_conflict_not_a_rule_error(self) -> None:
        with pytest.raises(RepairStateConflict):
            check_repair_application(
                RECORD, today=TODAY, commitment_signed=True, evidence=["x"], has_pending=True
            )


class TestContactPhone:
    @pytest.mark.parametrize(
        "phone",
        [
            "13812345678",
            "19912345678",
            "+8613812345678",
            "138 1234 5678",
            "138-1234-5678",
            "0532-88886666",
            "053288886666",
            "010-12345678",
            "0532-8888666",
            "0532-88886666-801",
        ],
    )
    def test_accepted(self, phone: str) -> None:
        assert is_contact_phone(phone)

    @pytest.mark.parametrize(
        "phone",
        [
            "",
            "12812345678",  # no 12x mobile prefix
            "1381234567",  # 10 digits
            "138123456789",  # 12 digits
            "88886666",  # landline without area code
            "0532-08886666",  # local number never starts with 0
            "+1 415 555 0100",
            "phone",
        ],
    )
    def test_refused(self, phone: str) -> None:
        assert not is_contact_phone(phone)


class TestClock:
    def test_pack_gives_three_working_days(self) -> None:
        assert NDRC_ORDER_58.repair_verification_working_days == 3

    def test_ordinary_week(self) -> None:
        # Monday 2026-03-09: Tue, Wed, Thu.
        assert repair_due_on(NDRC_ORDER_58, date(2026, 3, 9), CALENDAR) == date(2026, 3, 12)

    def test_friday_skips_the_weekend(self) -> None:
        assert repair_due_on(NDRC_ORDER_58, date(2026, 3, 13), CALENDAR) == date(2026, 3, 18)

    def test_national_day_and_its_saturday_make_up_day(self) -> None:
        # 2026-09-30 is the last working day before National Day (Oct 1-7 off); the official
        # calendar makes Saturday Oct 10 a working day: Oct 8, Oct 9, Oct 10.
        assert not CALENDAR.is_working_day(date(2026, 10, 7))
        assert CALENDAR.is_working_day(date(2026, 10, 10))
        assert repair_due_on(NDRC_ORDER_58, date(2026, 9, 30), CALENDAR) == date(2026, 10, 10)

    def test_received_on_a_holiday(self) -> None:
        assert repair_due_on(NDRC_ORDER_58, date(2026, 10, 3), CALENDAR) == date(2026, 10, 10)

    def test_received_on_a_weekend(self) -> None:
        # Saturday 2026-09-26 (an ordinary weekend): Mon 28, Tue 29, Wed 30.
        assert repair_due_on(NDRC_ORDER_58, date(2026, 9, 26), CALENDAR) == date(2026, 9, 30)

    def test_unknown_year_gives_no_due_date(self) -> None:
        assert repair_due_on(NDRC_ORDER_58, date(2026, 3, 9), UnknownCalendar()) is None

    def test_due_date_in_a_year_the_official_calendar_does_not_cover(self) -> None:
        last = max(CALENDAR.supported_years())
        assert repair_due_on(NDRC_ORDER_58, date(last, 12, 31), CALENDAR) is None

    @pytest.mark.parametrize(
        ("state", "due_on", "today", "expected"),
        [
            (RepairState.pending, date(2026, 3, 12), date(2026, 3, 12), False),
            (RepairState.pending, date(2026, 3, 12), date(2026, 3, 13), True),
            (RepairState.pending, None, date(2030, 1, 1), False),
            (RepairState.approved, date(2026, 3, 12), date(2026, 3, 13), False),
            (RepairState.rejected, date(2026, 3, 12), date(2026, 3, 13), False),
            (RepairState.revoked, date(2026, 3, 12), date(2026, 3, 13), False),
        ],
    )
    def test_overdue(
        self, state: RepairState, due_on: date | None, today: date, expected: bool
    ) -> None:
        assert is_overdue(state, due_on, today) is expected

    @pytest.mark.parametrize(
        ("decided_on", "due_on", "expected"),
        [
            (date(2026, 3, 11), date(2026, 3, 12), True),
            (date(2026, 3, 12), date(2026, 3, 12), True),
            (date(2026, 3, 13), date(2026, 3, 12), False),
            (date(2026, 3, 13), None, None),
            (None, date(2026, 3, 12), None),
        ],
    )
    def test_on_time(self, decided_on: date | None, due_on: date | None, expected: bool) -> None:
        assert is_on_time(decided_on, due_on) is expected

    @pytest.mark.parametrize(
        ("today", "expected"),
        [
            (date(2026, 9, 30), 3),
            (date(2026, 10, 5), 3),  # holidays do not use up the clock
            (date(2026, 10, 9), 1),
            (date(2026, 10, 10), 0),
            (date(2026, 10, 12), -1),
        ],
    )
    def test_working_days_remaining(self, today: date, expected: int) -> None:
        due = date(2026, 10, 10)
        assert working_days_remaining(RepairState.pending, due, today, CALENDAR) == expected

    def test_no_remaining_days_once_decided_or_unknown(self) -> None:
        due = date(2026, 10, 10)
        assert working_days_remaining(RepairState.approved, due, TODAY, CALENDAR) is None
        assert working_days_remaining(RepairState.pending, None, TODAY, CALENDAR) is None
        assert working_days_remaining(RepairState.pending, due, TODAY, UnknownCalendar()) is None


ALLOWED: Final = {
    (RepairState.pending, RepairAction.approve): RepairState.approved,
    (RepairState.pending, RepairAction.reject): RepairState.rejected,
    (RepairState.approved, RepairAction.revoke): RepairState.revoked,
}


class TestLifecycle:
    @pytest.mark.parametrize("state", list(RepairState))
    @pytest.mark.parametrize("action", list(RepairAction))
    def test_every_state_and_action(self, state: RepairState, action: RepairAction) -> None:
        expected = ALLOWED.get((state, action))
        if expected is not None:
            assert next_state(state, action) is expected
            return
        with pytest.raises(RepairStateConflict) as exc:
            next_state(state, action)
        expected_code = (
            "repair_not_approved" if action is RepairAction.revoke else "repair_not_pending"
        )
        assert exc.value.code == expected_code

    def test_outcome_maps_to_action(self) -> None:
        assert action_for(RepairOutcome.approved) is RepairAction.approve
        assert action_for(RepairOutcome.rejected) is RepairAction.reject

    @pytest.mark.parametrize("reason", [None, "", "   "])
    def test_rejection_needs_a_reason(self, reason: str | None) -> None:
        with pytest.raises(RepairRuleViolated) as exc:
            check_decision_reason(RepairOutcome.rejected, reason)
        assert violation(exc) == ("reason", "reason_required")

    def test_approval_needs_no_reason(self) -> None:
        check_decision_reason(RepairOutcome.approved, None)
        check_decision_reason(RepairOutcome.rejected, "整改材料不完整")


class TestWebsite:
    @pytest.mark.parametrize(
        ("status", "verdict"),
        [
            (200, DeliveryVerdict.delivered),
            (201, DeliveryVerdict.delivered),
            (204, DeliveryVerdict.delivered),
            (400, DeliveryVerdict.failed),
            (401, DeliveryVerdict.failed),
            (404, DeliveryVerdict.failed),
            (422, DeliveryVerdict.failed),
            (408, DeliveryVerdict.retry),
            (429, DeliveryVerdict.retry),
            (500, DeliveryVerdict.retry),
            (503, DeliveryVerdict.retry),
            (302, DeliveryVerdict.retry),
            (None, DeliveryVerdict.retry),
        ],
    )
    def test_classify(self, status: int | None, verdict: DeliveryVerdict) -> None:
        assert classify_response(status) is verdict

    @pytest.mark.parametrize(
        ("attempts", "delay"), [(1, 30.0), (2, 60.0), (3, 120.0), (7, 1920.0), (8, 3600.0)]
    )
    def test_backoff_doubles_up_to_the_cap(self, attempts: int, delay: float) -> None:
        assert retry_delay_seconds(attempts, 30.0, 3600.0) == delay

    def test_backoff_survives_many_attempts(self) -> None:
        assert retry_delay_seconds(10_000, 30.0, 3600.0) == 3600.0

    def test_backoff_needs_an_attempt(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            retry_delay_seconds(0, 30.0, 3600.0)

    def test_retry_budget(self) -> None:
        assert verdict_after_attempt(503, 2, 3) is DeliveryVerdict.retry
        assert verdict_after_attempt(503, 3, 3) is DeliveryVerdict.failed
        assert verdict_after_attempt(None, 3, 3) is DeliveryVerdict.failed
        assert verdict_after_attempt(200, 3, 3) is DeliveryVerdict.delivered
        assert verdict_after_attempt(400, 1, 3) is DeliveryVerdict.failed

    def test_payloads(self) -> None:
        approved = WebsiteResult(
            kind="repair_approved",
            application_id="a1",
            uscc=USCC,
            enterprise_name="青岛海湾化工有限公司",
            target_kind=RepairTargetKind.record,
            target_id="r1",
            document_number="青应急罚〔2026〕12号",
            decided_on=date(2026, 7, 1),
            outcome="approved",
        )
        assert approved.payload() == {
            "kind": "repair_approved",
            "application_id": "a1",
            "uscc": USCC,
            "enterprise_name": "青岛海湾化工有限公司",
            "target_kind": "record",
            "target_id": "r1",
            "document_number": "青应急罚〔2026〕12号",
            "decided_on": "2026-07-01",
            "outcome": "approved",
        }
        revoked = dataclasses.replace(
            approved,
            kind="repair_revoked",
            outcome="revoked",
            revoked_on=date(2026, 8, 3),
            reason="伪造整改证明",
        ).payload()
        assert revoked["revoked_on"] == "2026-08-03"
        assert revoked["reason"] == "伪造整改证明"
        assert revoked["outcome"] == "revoked"
