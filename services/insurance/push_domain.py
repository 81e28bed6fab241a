"""Rules for what an insurer may push (service records, risk assessments, assistance). No I/O."""

from __future__ import annotations

from datetime import date
from typing import Final

from services.insurance.domain import ObligationKind, PolicyStatus

# Where each kind of obligation is delivered: the two with their own record go elsewhere.
ENDPOINT_FOR_KIND: Final = {
    ObligationKind.risk_assessment: "POST /insurer/risk-assessments",
    ObligationKind.hazard_assistance: "POST /insurer/hazard-assistance",
}
SERVICE_RECORD_ENDPOINT: Final = "POST /insurer/service-records"

# The checks (重点排查, 起底式大检查) are where an insurer counts the hazards it found.
CHECK_KINDS: Final = frozenset({ObligationKind.key_check, ObligationKind.full_check})


class PushRuleViolated(ValueError):
    """A push refused by a business rule; `field` and `code` say which and why."""

    def __init__(self, field: str, code: str, message: str, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        # Where the refused record belongs instead, when another push delivers it.
        self.endpoint = endpoint


class PolicyNotActive(ValueError):
    """Rule `policy_accepts_pushes`: records are taken only for a policy in force."""

    code = "policy_not_active"

    def __init__(self, status: PolicyStatus) -> None:
        super().__init__(f"this policy is {status.value}; pushes are accepted only while active")
        self.status = status


def check_policy_accepts_pushes(status: PolicyStatus) -> None:
    """Rule `policy_accepts_pushes`: a risk assessment (which re-plans the graded service
    for the rest of the term) is taken only while the policy is in force."""
    if status is not PolicyStatus.active:
        raise PolicyNotActive(status)


def check_policy_accepts_records(status: PolicyStatus) -> None:
    """Rule `policy_accepts_records`: a service given under a policy may still be recorded
    after the policy ended (the last quarter's check and the second training fall due on its
    last day, and the report follows); a policy not yet in force has nothing to record."""
    if status is PolicyStatus.pending:
        raise PolicyNotActive(status)


def check_within_cover(day: date, last_covered: date, field: str) -> None:
    """Rule `date_within_cover`: no service is owed, so none recorded, after the last
    covered day."""
    if day > last_covered:
        raise PushRuleViolated(
            field,
            "date_after_cover",
            f"{field} {day.isoformat()} is after the policy's last covered day ({last_covered})",
        )


def check_not_future(day: date, today: date, field: str) -> None:
    """Rule `date_not_in_future`: a service cannot have happened after today."""
    if day > today:
        raise PushRuleViolated(
            field, "date_in_future", f"{field} {day.isoformat()} is after today ({today})"
        )


def check_within_policy(day: date, starts_on: date, field: str) -> None:
    """Rule `date_within_policy`: no record of a service before the policy started."""
    if day < starts_on:
        raise PushRuleViolated(
            field,
            "date_before_policy",
            f"{field} {day.isoformat()} is before the policy started on {starts_on}",
        )


def check_service_record_kind(kind: ObligationKind) -> None:
    """Rule `service_record_kind`: a risk assessment or hazard assistance has its own push."""
    endpoint = ENDPOINT_FOR_KIND.get(kind)
    if endpoint is not None:
        raise PushRuleViolated(
            "obligation_id",
            "obligation_kind_has_own_endpoint",
            f"a {kind.value} obligation is delivered with {endpoint}, not a service record",
            endpoint=endpoint,
        )


def check_assistance_kind(kind: ObligationKind) -> None:
    """Rule `assistance_kind`: an assistance report delivers only a hazard_assistance one."""
    if kind is not ObligationKind.hazard_assistance:
        endpoint = ENDPOINT_FOR_KIND.get(kind, SERVICE_RECORD_ENDPOINT)
        raise PushRuleViolated(
            "obligation_id",
            "obligation_not_hazard_assistance",
            f"this is a {kind.value} obligation; deliver it with {endpoint}",
            endpoint=endpoint,
        )


def check_service_record_counts(
    kind: ObligationKind, participants: int | None, hazards_found: int | None
) -> None:
    """Rule `service_record_counts`: training says how many attended (全员培训); a check says
    how many hazards it found; no other kind carries either count."""
    if kind is ObligationKind.training:
        if participants is None:
            raise PushRuleViolated(
                "participants", "participants_required", "a training record needs participants"
            )
    elif participants is not None:
        raise PushRuleViolated(
            "participants",
            "participants_not_allowed",
            f"participants is only for training, not {kind.value}",
        )
    if kind in CHECK_KINDS:
        if hazards_found is None:
            raise PushRuleViolated(
                "hazards_found",
                "hazards_found_required",
                f"a {kind.value} record needs hazards_found (0 if none)",
            )
    elif hazards_found is not None:
        raise PushRuleViolated(
            "hazards_found",
            "hazards_found_not_allowed",
            f"hazards_found is only for key_check and full_check, not {kind.value}",
        )


def check_assessment_not_older(assessed_on: date, latest: date | None) -> None:
    """Rule `assessment_order`: the level in force comes from the latest assessment, so one
    dated before the latest on file would silently roll the level back."""
    if latest is not None and assessed_on < latest:
        raise PushRuleViolated(
            "assessed_on",
            "assessment_older_than_latest",
            f"an assessment dated {latest.isoformat()} is already on file for this policy",
        )
