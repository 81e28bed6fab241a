"""Credit-repair rules (信用修复, Qingdao measure 10). No I/O.

- Who may apply, for what and from when: 《失信行为纠正后的信用信息修复管理办法（试行）》
  (国家发展改革委令2023年第58号): penalty and dishonesty records in publicity once their minimum
  period has passed (CreditRecord.repair_eligible_on); a black-listed enterprise for early
  removal (提前移出) from BlacklistEntry.early_removal_on. Incentives are never "repaired".
  The applicant corrects the dishonesty, signs a credit commitment (信用承诺书) and hands in
  proof.
- How fast the bureau answers: measure 10 — verified within 3 working days of receipt
  (rule pack field repair_verification_working_days), on the official calendar with 调休.
- A repair obtained by fraud (以欺诈等不正当手段获得信用修复) is revoked and the listing restored.
- Pushing results to the credit website: which answers are final, and the retry backoff.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final, Protocol

from kernel.workdays import CalendarYearUnknown
from services.credit.domain import PublicityRulePack, is_in_publicity, zh_date

CALENDAR_NOT_LOADED: Final = (
    "calendar not loaded: the official working-day schedule for the due date's year is not "
    "known yet, so the 3-working-day due date cannot be computed"
)


class RepairTargetKind(StrEnum):
    """What a repair application asks to repair."""

    record = "record"  # a penalty or dishonesty record in publicity: stop publicity early
    blacklist = "blacklist"  # a black-list case in state listed: early removal (提前移出)


class RepairState(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    revoked = "revoked"


class RepairAction(StrEnum):
    approve = "approve"
    reject = "reject"
    revoke = "revoke"


class RepairOutcome(StrEnum):
    """What the officer decides after verification (核实)."""

    approved = "approved"
    rejected = "rejected"


class EvidenceKind(StrEnum):
    rectification_proof = "rectification_proof"  # 整改完成证明
    fine_paid = "fine_paid"  # 罚款缴纳凭证 (履行行政处罚决定的证明)
    commitment = "commitment"  # 信用承诺书
    other = "other"


REPAIRABLE_RECORD_CLASSES: Final = frozenset({"penalty", "dishonesty"})


class RepairRuleViolated(ValueError):
    """An application or decision a repair rule refuses; `field` and `code` say why."""

    def __init__(
        self, field: str, code: str, message: str, *, eligible_on: date | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.eligible_on = eligible_on


class RepairStateConflict(ValueError):
    """The application is not in a state that allows the action (a 409, not a bad request)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RepairCalendar(Protocol):
    """What the repair clock needs from the official working-day calendar (kernel.workdays)."""

    def add_working_days(self, start: date, n: int) -> date: ...

    def working_days_between(self, start: date, end: date) -> int: ...


# --- targets and eligibility ---------------------------------------------------------------


@dataclass(frozen=True)
class RepairTarget:
    """The facts about a record or black-list case that the eligibility rules read."""

    kind: RepairTargetKind
    id: str
    uscc: str
    record_class: str | None  # records only
    state: str
    starts_on: date | None  # records: publicity window
    ends_on: date | None
    eligible_on: date | None  # repair_eligible_on (record) or early_removal_on (blacklist)


def active_key(kind: RepairTargetKind, target_id: str) -> str:
    """The value that makes one pending application per target unique in the database."""
    return f"{kind.value}:{target_id}"


def owns_target(applicant_uscc: str, target: RepairTarget) -> bool:
    """Rule `repair_own_target`: an enterprise repairs only its own records and listings."""
    return target.uscc == applicant_uscc


def check_target_repairable(target: RepairTarget) -> None:
    """Rule `repairable_record_class`: incentives (守信激励) are not dishonesty, so not repaired."""
    if target.kind is RepairTargetKind.record and (
        target.record_class not in REPAIRABLE_RECORD_CLASSES
    ):
        raise RepairRuleViolated(
            "target_id",
            "target_not_repairable",
            f"a {target.record_class} record is not dishonesty information and cannot be "
            "repaired; only penalty and dishonesty records can",
        )


def is_target_open(target: RepairTarget, today: date) -> bool:
    """Rule `repair_target_open`: the record is in publicity today / the case is listed."""
    if target.kind is RepairTargetKind.blacklist:
        return target.state == "listed"
    if target.state != "published" or target.starts_on is None or target.ends_on is None:
        return False
    return is_in_publicity(target.starts_on, target.ends_on, today)


def check_target_open(target: RepairTarget, today: date) -> None:
    """Rule `repair_target_open`: only what is still shown or listed can be repaired."""
    if is_target_open(target, today):
        return
    what = (
        "the record is not in publicity"
        if target.kind is RepairTargetKind.record
        else "the enterprise is not on the black list under this case"
    )
    raise RepairRuleViolated(
        "target_id", "target_not_open", f"{what} (state {target.state}); nothing to repair"
    )


def check_repair_period_reached(target: RepairTarget, today: date) -> None:
    """Rule `repair_minimum_period`: apply from the day the minimum period has passed.

    Records: the minimum publicity period (3 months general, 1 year serious); black list:
    early removal after 12 months listed (BlacklistEntry.early_removal_on).
    """
    if target.eligible_on is None:
        raise RepairRuleViolated(
            "target_id",
            "repair_date_unknown",
            "the date from which this target may be repaired is not set; ask the bureau",
        )
    if today < target.eligible_on:
        raise RepairRuleViolated(
            "target_id",
            "repair_not_yet_eligible",
            f"credit repair may be applied for from {target.eligible_on.isoformat()} "
            f"({zh_date(target.eligible_on)}起可申请信用修复)",
            eligible_on=target.eligible_on,
        )


def check_commitment_signed(commitment_signed: bool) -> None:
    """Rule `repair_commitment_signed`: every application carries a signed 信用承诺书."""
    if not commitment_signed:
        raise RepairRuleViolated(
            "commitment_signed",
            "commitment_not_signed",
            "a signed credit commitment (信用承诺书) is required to apply for credit repair",
        )


def check_evidence_present(evidence: Sequence[Any]) -> None:
    """Rule `repair_evidence_present`: proof that the dishonesty was corrected."""
    if not evidence:
        raise RepairRuleViolated(
            "evidence",
            "evidence_missing",
            "at least one piece of evidence is required (e.g. rectification proof, fine paid)",
        )


def check_no_pending_application(has_pending: bool) -> None:
    """Rule `one_pending_repair_per_target` (also held by the unique active_key)."""
    if has_pending:
        raise RepairStateConflict(
            "repair_pending",
            "a repair application for this target is already pending; wait for its decision",
        )


def check_repair_application(
    target: RepairTarget,
    *,
    today: date,
    commitment_signed: bool,
    evidence: Sequence[Any],
    has_pending: bool,
) -> None:
    """All application rules, in the order an applicant would fix them.

    Ownership is not checked here: a stranger's target must look absent (404), which the use
    case decides before any rule can reveal that it exists.
    """
    check_target_repairable(target)
    check_target_open(target, today)
    check_repair_period_reached(target, today)
    check_commitment_signed(commitment_signed)
    check_evidence_present(evidence)
    check_no_pending_application(has_pending)


# --- contact phone -------------------------------------------------------------------------

# Mainland mobile numbers: 11 digits starting 13-19, optionally written with +86.
_MOBILE: Final = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
# Landlines: area code 0 + 2-3 digits, 7-8 digit number, optional extension (0532-88886666-801).
_LANDLINE: Final = re.compile(r"^0\d{2,3}-?[1-9]\d{6,7}(?:-\d{1,6})?$")


def normalise_phone(value: str) -> str:
    """The number without the spaces people type in it."""
    return "".join(value.split())


def is_contact_phone(value: str) -> bool:
    """Rule `contact_phone_format`: a mainland mobile or landline number."""
    number = normalise_phone(value)
    if _MOBILE.fullmatch(number.replace("-", "")):
        return True
    return _LANDLINE.fullmatch(number) is not None


# --- the 3-working-day clock ---------------------------------------------------------------


def repair_due_on(
    pack: PublicityRulePack, received_on: date, working_days: RepairCalendar
) -> date | None:
    """Rule `repair_verified_within_working_days`: the last day the bureau may answer.

    Counted from the working day after receipt, so an application received on a holiday or a
    weekend still gets three full working days. None when the official calendar does not cover
    the dates: a due date is never guessed from plain weekdays.
    """
    try:
        return working_days.add_working_days(received_on, pack.repair_verification_working_days)
    except CalendarYearUnknown:
        return None


def is_overdue(state: RepairState, due_on: date | None, today: date) -> bool:
    """Rule `repair_overdue`: still pending after its due date."""
    return state is RepairState.pending and due_on is not None and today > due_on


def is_on_time(decided_on: date | None, due_on: date | None) -> bool | None:
    """Rule `repair_decided_on_time`: decided on or before the due date; None if unknown."""
    if decided_on is None or due_on is None:
        return None
    return decided_on <= due_on


def working_days_remaining(
    state: RepairState, due_on: date | None, today: date, working_days: RepairCalendar
) -> int | None:
    """Working days left to answer a pending application (0 on the due date, negative past it).

    None once decided, or when the calendar does not cover today or the due date.
    """
    if state is not RepairState.pending or due_on is None:
        return None
    try:
        return working_days.working_days_between(today, due_on)
    except CalendarYearUnknown:
        return None


# --- the state machine ---------------------------------------------------------------------

_TRANSITIONS: Final[dict[tuple[RepairState, RepairAction], RepairState]] = {
    (RepairState.pending, RepairAction.approve): RepairState.approved,
    (RepairState.pending, RepairAction.reject): RepairState.rejected,
    (RepairState.approved, RepairAction.revoke): RepairState.revoked,
}


def next_state(state: RepairState, action: RepairAction) -> RepairState:
    """Rule `repair_lifecycle`: pending → approved | rejected; approved → revoked; nothing else."""
    try:
        return _TRANSITIONS[(state, action)]
    except KeyError:
        if action is RepairAction.revoke:
            raise RepairStateConflict(
                "repair_not_approved",
                f"only an approved repair can be revoked; this one is {state.value}",
            ) from None
        raise RepairStateConflict(
            "repair_not_pending", f"the application was already decided ({state.value})"
        ) from None


def action_for(outcome: RepairOutcome) -> RepairAction:
    return RepairAction.approve if outcome is RepairOutcome.approved else RepairAction.reject


def check_decision_reason(outcome: RepairOutcome, reason: str | None) -> None:
    """Rule `rejection_reasoned`: a rejection tells the enterprise why (and what to correct)."""
    if outcome is RepairOutcome.rejected and not (reason and reason.strip()):
        raise RepairRuleViolated(
            "reason", "reason_required", "a rejected repair must give the enterprise a reason"
        )


# --- the credit website --------------------------------------------------------------------


@dataclass(frozen=True)
class WebsiteResult:
    """What the credit website (信用网站) is told about one repair result."""

    kind: str  # repair_approved | repair_revoked
    application_id: str
    uscc: str
    enterprise_name: str
    target_kind: RepairTargetKind
    target_id: str
    document_number: str | None  # the penalty decision number (records only)
    decided_on: date
    outcome: str  # approved | revoked
    revoked_on: date | None = None
    reason: str | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body the website receives."""
        body: dict[str, Any] = {
            "kind": self.kind,
            "application_id": self.application_id,
            "uscc": self.uscc,
            "enterprise_name": self.enterprise_name,
            "target_kind": self.target_kind.value,
            "target_id": self.target_id,
            "document_number": self.document_number,
            "decided_on": self.decided_on.isoformat(),
            "outcome": self.outcome,
        }
        if self.revoked_on is not None:
            body["revoked_on"] = self.revoked_on.isoformat()
            body["reason"] = self.reason
        return body


class DeliveryVerdict(StrEnum):
    delivered = "delivered"
    retry = "retry"
    failed = "failed"


# Timeouts and throttling are the website's momentary state, not a fault of the request.
_RETRYABLE_CLIENT_ERRORS: Final = frozenset({408, 429})


def classify_response(status_code: int | None) -> DeliveryVerdict:
    """Rule `website_answer`: 2xx delivered; other 4xx final (the same body will be refused
    again); 5xx, 408, 429 and no answer at all (None) are worth retrying."""
    if status_code is None:
        return DeliveryVerdict.retry
    if 200 <= status_code < 300:
        return DeliveryVerdict.delivered
    if 400 <= status_code < 500 and status_code not in _RETRYABLE_CLIENT_ERRORS:
        return DeliveryVerdict.failed
    return DeliveryVerdict.retry


def retry_delay_seconds(attempts: int, base: float, maximum: float) -> float:
    """Rule `website_backoff`: base after the 1st failure, doubling, capped at maximum."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    # Capping the exponent first keeps 2**n from overflowing a float after many attempts.
    return float(min(base * 2 ** min(attempts - 1, 64), maximum))


def verdict_after_attempt(
    status_code: int | None, attempts: int, max_attempts: int
) -> DeliveryVerdict:
    """The delivery's state after its `attempts`-th attempt: a retry past the budget fails."""
    verdict = classify_response(status_code)
    if verdict is DeliveryVerdict.retry and attempts >= max_attempts:
        return DeliveryVerdict.failed
    return verdict
