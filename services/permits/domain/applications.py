"""Application rules: the path by risk, the review state machine without a direct "no",
clocks in working days, pledges. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final, Protocol

from services.permits.domain.catalogue import ApprovalMode


class CreditStanding(StrEnum):
    """What the credit service's lists say about an applicant (kept current from events)."""

    normal = "normal"
    redlisted = "redlisted"  # 红名单: prioritised in review queues
    blacklisted = "blacklisted"  # 黑名单: no instant or pledge path


class ApprovalPath(StrEnum):
    """The path one application actually takes (the item's mode, narrowed by risk)."""

    instant = "instant"
    pledge = "pledge"
    standard = "standard"


class ApplicationStatus(StrEnum):
    under_review = "under_review"  # in an officer's queue (standard path)
    rejection_proposed = "rejection_proposed"  # waiting for the leader (说"不"提级)
    approved = "approved"  # licence issued
    rejected = "rejected"  # a leader confirmed the rejection


FINAL_STATUSES: Final = frozenset({ApplicationStatus.approved, ApplicationStatus.rejected})


class ReviewAction(StrEnum):
    approve = "approve"
    propose_rejection = "propose_rejection"
    confirm_rejection = "confirm_rejection"
    send_back = "send_back"
    reject = "reject"  # the direct "no" the measure forbids; always refused


class ApplicationRuleViolated(ValueError):
    """An application or review step that the rules refuse; `code` is stable for clients."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        conflict: bool = False,
        forbidden: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        # True when the request is well-formed but the record's state forbids it (HTTP 409).
        self.conflict = conflict
        # True when the step belongs to another role (HTTP 403).
        self.forbidden = forbidden


@dataclass(frozen=True)
class PathDecision:
    """The path chosen and why, kept on the application so the decision can be explained."""

    path: ApprovalPath
    reason: str


def choose_path(
    item_mode: ApprovalMode, *, pledge_chosen: bool, standing: CreditStanding
) -> PathDecision:
    """Rule `risk_targeted_path`: the item's fastest mode unless the applicant's risk forbids it.

    Black-listed enterprises lose the fast paths (instant, pledge) and are reviewed in the
    ordinary way; choosing a pledge on an item that does not allow one is refused, and so is a
    pledge from a black-listed enterprise: signing a pledge is a legal act the applicant must
    not be led to believe was accepted.
    """
    if pledge_chosen and item_mode is not ApprovalMode.pledge:
        raise ApplicationRuleViolated(
            "pledge_not_allowed",
            "this item does not allow approval on a pledge (承诺制)",
            field="pledge",
        )
    blacklisted = standing is CreditStanding.blacklisted
    if pledge_chosen and blacklisted:
        raise ApplicationRuleViolated(
            "pledge_refused_blacklisted",
            "an enterprise on the black list cannot be approved on a pledge; apply without one",
            field="pledge",
        )
    if item_mode is ApprovalMode.instant:
        if blacklisted:
            return PathDecision(ApprovalPath.standard, "black-listed: no instant approval")
        return PathDecision(ApprovalPath.instant, "no on-site check and no statutory publicity")
    if pledge_chosen:
        return PathDecision(ApprovalPath.pledge, "pledge signed; verified after issue")
    if item_mode is ApprovalMode.pledge:
        return PathDecision(ApprovalPath.standard, "pledge not chosen: ordinary review")
    return PathDecision(ApprovalPath.standard, "item requires review")


_TRANSITIONS: Final[dict[tuple[ApplicationStatus, ReviewAction], ApplicationStatus]] = {
    (ApplicationStatus.under_review, ReviewAction.approve): ApplicationStatus.approved,
    (
        ApplicationStatus.under_review,
        ReviewAction.propose_rejection,
    ): ApplicationStatus.rejection_proposed,
    (
        ApplicationStatus.rejection_proposed,
        ReviewAction.confirm_rejection,
    ): ApplicationStatus.rejected,
    (ApplicationStatus.rejection_proposed, ReviewAction.send_back): ApplicationStatus.under_review,
    # A leader who overrides the proposed "no" may approve directly.
    (ApplicationStatus.rejection_proposed, ReviewAction.approve): ApplicationStatus.approved,
}

# Who may take each step: officers review and propose, only a leader says the final "no".
_ACTORS: Final[dict[ReviewAction, frozenset[str]]] = {
    ReviewAction.approve: frozenset({"officer", "leader"}),
    ReviewAction.propose_rejection: frozenset({"officer"}),
    ReviewAction.confirm_rejection: frozenset({"leader"}),
    ReviewAction.send_back: frozenset({"leader"}),
    ReviewAction.reject: frozenset(),
}


def review_transition(
    status: ApplicationStatus, action: ReviewAction, actor_role: str
) -> ApplicationStatus:
    """Rule `no_direct_rejection` and the review state machine: the next status, or refusal."""
    if action is ReviewAction.reject:
        raise ApplicationRuleViolated(
            "direct_rejection_forbidden",
            "an application cannot be rejected directly: propose the rejection with its reason "
            "and legal basis, and a leader decides (说“不”提级管理)",
            conflict=True,
        )
    if actor_role not in _ACTORS[action]:
        raise ApplicationRuleViolated(
            "review_step_not_yours",
            f"a {actor_role} may not {action.value.replace('_', ' ')}",
            forbidden=True,
        )
    if (
        action is ReviewAction.approve
        and status is ApplicationStatus.rejection_proposed
        and (actor_role != "leader")
    ):
        raise ApplicationRuleViolated(
            "awaiting_leader", "a proposed rejection is decided by a leader", conflict=True
        )
    target = _TRANSITIONS.get((status, action))
    if target is None:
        raise ApplicationRuleViolated(
            "invalid_transition",
            f"an application that is {status.value} cannot be given '{action.value}'",
            conflict=True,
        )
    return target


def review_priority(standing: CreditStanding) -> int:
    """Rule `redlist_first`: lower sorts first in an officer's queue (then oldest first)."""
    return 0 if standing is CreditStanding.redlisted else 1


@dataclass(frozen=True)
class Clock:
    """An application's time limit in working days and where it stands on a date."""

    submitted_on: date
    due_on: date
    limit_days: int

    def is_overdue(self, today: date, status: ApplicationStatus) -> bool:
        """Overdue once the due date has passed without a final decision.

        The clock keeps running while a proposed rejection waits for the leader.
        """
        return status not in FINAL_STATUSES and today > self.due_on


class WorkingDays(Protocol):
    def add_working_days(self, start: date, n: int) -> date: ...


def review_clock(calendar: WorkingDays, submitted_on: date, promised_limit_days: int) -> Clock:
    """Rule `promised_time_limit`: due after the item's promised working days (the day after
    submission is day 1; make-up working days count, public holidays do not)."""
    return Clock(
        submitted_on,
        calendar.add_working_days(submitted_on, promised_limit_days),
        promised_limit_days,
    )


# Pledge-based approval: the bureau verifies the pledge on site within this many working days.
PLEDGE_VERIFICATION_DAYS: Final = 20


class PledgeStatus(StrEnum):
    awaiting_verification = "awaiting_verification"
    kept = "kept"  # verification passed: the pledge is closed
    breached = "breached"  # verification failed: licence revoked, dishonesty recorded


def pledge_outcome(status: PledgeStatus, passed: bool) -> PledgeStatus:
    """Rule `pledge_verification`: one verification result closes a pledge, once."""
    if status is not PledgeStatus.awaiting_verification:
        raise ApplicationRuleViolated(
            "pledge_already_verified",
            f"this pledge was already verified ({status.value})",
            conflict=True,
        )
    return PledgeStatus.kept if passed else PledgeStatus.breached


def pledge_text(item_code: str, item_name: str, version: int) -> str:
    """The pledge (承诺书) an applicant signs for an item; its hash binds the signature."""
    return (
        f"承诺书（{item_code} 第{version}版）\n"
        f"本申请人申请办理“{item_name}”，郑重承诺：\n"
        "一、所提交的申请材料和填报信息真实、合法、有效；\n"
        "二、已具备法律、法规、规章规定的安全生产条件和许可条件；\n"
        f"三、同意应急管理部门在许可决定作出后{PLEDGE_VERIFICATION_DAYS}个工作日内进行核查；\n"
        "四、如承诺不实或不具备许可条件，自愿接受撤销许可的处理，"
        "并依法承担相应法律责任，相关失信信息记入信用记录。"
    )
