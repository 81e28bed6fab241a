"""Permit item catalogue (事项目录) rules: approval modes, time limits, versions. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final, Protocol, TypeVar

# Catalogue codes as the bureau numbers them, e.g. QD-AJ-001 (青岛 · 安监 · serial).
ITEM_CODE_PATTERN: Final = r"^QD-[A-Z]{2,6}-[0-9]{3,4}$"


class ApprovalMode(StrEnum):
    """How an application for an item is decided (measure 3, "秒批+承诺制")."""

    instant = "instant"  # 秒批: decided on submission, no officer review
    pledge = "pledge"  # 承诺制: granted on a signed pledge, verified afterwards
    standard = "standard"  # reviewed by an officer within the promised time limit


class ItemStatus(StrEnum):
    """A published version's standing on a given date.

    There is no draft: a version is published when it is created and is immutable after.
    `retired` means a later version has come into force and replaced it.
    """

    published = "published"
    retired = "retired"


class MaterialSource(StrEnum):
    """Where a required material comes from."""

    applicant = "applicant"  # the applicant uploads it
    shared = "shared"  # fetched from another department's data ("三零e办": nothing to upload)


class ItemRuleViolated(ValueError):
    """A catalogue entry that cannot be published as submitted; `field` and `code` say why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Material:
    name: str
    source: MaterialSource
    mandatory: bool


def derive_approval_mode(
    *, requires_onsite_check: bool, requires_publicity: bool, pledge_allowed: bool
) -> ApprovalMode:
    """Rule `approval_mode`: the fastest lawful way an item can be decided.

    The bureau grants "秒批" to every item that needs neither an on-site check nor a statutory
    publicity period. Otherwise an item whose implementation elements allow a pledge (承诺制,
    e.g. a gas station's licence renewal) may be granted on the pledge and checked afterwards.
    Everything else is reviewed in the ordinary way.
    """
    if not requires_onsite_check and not requires_publicity:
        return ApprovalMode.instant
    if pledge_allowed:
        return ApprovalMode.pledge
    return ApprovalMode.standard


def check_promised_within_statutory(statutory_limit_days: int, promised_limit_days: int) -> None:
    """Rule `promised_within_statutory`: the bureau's promise may compress the law's limit,
    never extend it (both in working days)."""
    if promised_limit_days > statutory_limit_days:
        raise ItemRuleViolated(
            "promised_limit_days",
            "promised_limit_exceeds_statutory",
            f"the promised time limit ({promised_limit_days} working days) may not exceed the "
            f"statutory one ({statutory_limit_days} working days)",
        )


def is_zero_materials(materials: Iterable[Material]) -> bool:
    """Rule `zero_materials` (三零e办 零材料): the applicant need not upload anything."""
    return not any(m.mandatory and m.source is MaterialSource.applicant for m in materials)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def effective_on(self) -> date: ...


V = TypeVar("V", bound=Versioned)


def version_in_force(versions: Iterable[V], on: date) -> V | None:
    """Rule `version_in_force`: the latest published version whose effective date has come."""
    candidates = [v for v in versions if v.effective_on <= on]
    if not candidates:
        return None
    return max(candidates, key=lambda v: (v.effective_on, v.version))


def version_status(version: Versioned, in_force: Versioned | None) -> ItemStatus:
    """A version is retired once a later one is in force; in force or scheduled, published."""
    if in_force is not None and version.version < in_force.version:
        return ItemStatus.retired
    return ItemStatus.published


def next_version_number(versions: Iterable[Versioned]) -> int:
    """Versions of one item are numbered 1, 2, 3, ... in publication order."""
    return max((v.version for v in versions), default=0) + 1


def check_new_version_effective_on(
    versions: Iterable[Versioned], effective_on: date, today: date
) -> None:
    """Rules for a new version's effective date.

    `effective_on_after_latest`: it must come after the latest published version's date,
    including one published for a future date, so that version numbers and effective dates
    rise together and no version can be slipped in between two others.
    `version_not_retroactive`: it may not lie in the past, because what was in force on a past
    day (the basis of applications already decided) must never change.
    """
    latest = max(versions, key=lambda v: v.version, default=None)
    if latest is not None and effective_on <= latest.effective_on:
        raise ItemRuleViolated(
            "effective_on",
            "effective_on_not_after_latest",
            f"effective_on must be after {latest.effective_on.isoformat()}, the effective date "
            f"of the latest published version ({latest.version})",
        )
    if effective_on < today:
        raise ItemRuleViolated(
            "effective_on",
            "effective_on_in_past",
            f"a new version cannot take effect in the past (today is {today.isoformat()})",
        )


# --- applications (申请): which path, who may do what, and the clocks ------------------------


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


# --- key projects (重点项目): embedded service (嵌入式服务), guidance before each stage --------


class ProjectStage(StrEnum):
    """The stages of a hazardous-chemical construction project, in their statutory order
    (《危险化学品建设项目安全监督管理办法》: safety conditions, safety facilities design,
    trial production, completion acceptance)."""

    project_filing = "project_filing"
    safety_conditions_review = "safety_conditions_review"
    safety_facilities_design_review = "safety_facilities_design_review"
    trial_production_plan = "trial_production_plan"
    completion_acceptance = "completion_acceptance"
    production = "production"

    @property
    def label(self) -> str:
        """The stage's Chinese name, as the bureau and the enterprise call it."""
        return _STAGE_LABELS[self]

    @property
    def position(self) -> int:
        """1 for the first stage, 6 for the last."""
        return PROJECT_STAGES.index(self) + 1


_STAGE_LABELS: Final[dict[ProjectStage, str]] = {
    ProjectStage.project_filing: "立项/项目备案",
    ProjectStage.safety_conditions_review: "安全条件审查",
    ProjectStage.safety_facilities_design_review: "安全设施设计审查",
    ProjectStage.trial_production_plan: "试生产（使用）方案",
    ProjectStage.completion_acceptance: "竣工验收",
    ProjectStage.production: "投产",
}

# Definition order is the statutory order.
PROJECT_STAGES: Final[tuple[ProjectStage, ...]] = tuple(ProjectStage)


class GuidanceMode(StrEnum):
    """How an officer gave guidance."""

    on_site = "on_site"
    online = "online"
    phone = "phone"
    meeting = "meeting"

    @property
    def label(self) -> str:
        return _MODE_LABELS[self]


_MODE_LABELS: Final[dict[GuidanceMode, str]] = {
    GuidanceMode.on_site: "现场指导",
    GuidanceMode.online: "线上指导",
    GuidanceMode.phone: "电话指导",
    GuidanceMode.meeting: "会议指导",
}


class ProjectRuleViolated(ValueError):
    """A key-project request that the rules refuse; `code` is stable for clients."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        conflict: bool = False,
        forbidden: bool = False,
        missing: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        # True when the request is well-formed but the project's state forbids it (HTTP 409).
        self.conflict = conflict
        # True when the caller is not the one who may do this (HTTP 403).
        self.forbidden = forbidden
        # True when the thing acted on does not exist (HTTP 404).
        self.missing = missing


def next_stage(reached: ProjectStage | None) -> ProjectStage | None:
    """The stage a project is working towards: the first if none is reached, None when done."""
    if reached is None:
        return PROJECT_STAGES[0]
    position = PROJECT_STAGES.index(reached)
    return PROJECT_STAGES[position + 1] if position + 1 < len(PROJECT_STAGES) else None


def check_stage_plan(plan: Iterable[tuple[ProjectStage, date]]) -> dict[ProjectStage, date]:
    """Rule `stage_plan_in_order`: every stage planned once, none planned before the one it
    follows. The plan is returned by stage."""
    planned: dict[ProjectStage, date] = {}
    for stage, on in plan:
        if stage in planned:
            raise ProjectRuleViolated(
                "stage_plan_incomplete",
                f"stage {stage.value} ({stage.label}) is planned twice",
                field="stages",
            )
        planned[stage] = on
    missing = [s for s in PROJECT_STAGES if s not in planned]
    if missing:
        names = ", ".join(f"{s.value} ({s.label})" for s in missing)
        raise ProjectRuleViolated(
            "stage_plan_incomplete",
            f"every stage needs a planned date; missing: {names}",
            field="stages",
        )
    for index in range(1, len(PROJECT_STAGES)):
        earlier, later = PROJECT_STAGES[index - 1], PROJECT_STAGES[index]
        if planned[later] < planned[earlier]:
            raise ProjectRuleViolated(
                "stage_plan_out_of_order",
                f"{later.label} is planned for {planned[later].isoformat()}, before "
                f"{earlier.label} ({planned[earlier].isoformat()}) which it follows",
                field="stages",
            )
    return {s: planned[s] for s in PROJECT_STAGES}


def check_officers_assigned(assigned: Iterable[str], adding: Iterable[str]) -> tuple[str, ...]:
    """Rule `officer_assigned_once`: officers to add, none of whom is already assigned."""
    current = set(assigned)
    new = tuple(adding)
    twice = sorted(o for o in set(new) if o in current)
    if twice:
        raise ProjectRuleViolated(
            "officer_already_assigned",
            f"already assigned to this project: {', '.join(twice)}",
            field="officer_ids",
            conflict=True,
        )
    return new


def check_officer_release(assigned: Iterable[str], officer_id: str) -> frozenset[str]:
    """Rule `at_least_one_officer`: an officer can be released only while another remains
    assigned, so a key project is never left without its embedded service."""
    current = frozenset(assigned)
    if officer_id not in current:
        raise ProjectRuleViolated(
            "officer_not_assigned",
            f"officer {officer_id} is not assigned to this project",
            missing=True,
        )
    remaining = current - {officer_id}
    if not remaining:
        raise ProjectRuleViolated(
            "project_needs_an_officer",
            "a key project keeps at least one assigned officer: assign the successor first",
            field="officer_id",
        )
    return remaining


def check_guidance(
    reached: ProjectStage | None,
    stage: ProjectStage | None,
    *,
    officer_id: str,
    assigned: Iterable[str],
) -> ProjectStage:
    """Rules `guidance_by_assigned_officer` and `guidance_before_stage`: only an officer
    assigned to the project guides it, and guidance prepares a stage not yet reached (the
    stage being worked towards when none is named). Returns the stage guided."""
    if officer_id not in set(assigned):
        raise ProjectRuleViolated(
            "officer_not_assigned",
            "only an officer assigned to this project may record guidance for it",
            forbidden=True,
        )
    upcoming = next_stage(reached)
    if upcoming is None:
        raise ProjectRuleViolated(
            "project_completed",
            "the project is in production: every stage is reached, nothing is left to prepare",
            conflict=True,
        )
    target = stage if stage is not None else upcoming
    if target.position < upcoming.position:
        raise ProjectRuleViolated(
            "stage_already_reached",
            f"{target.label} is already reached; guidance is given before a stage, for "
            f"{upcoming.label} or a later one",
            field="stage",
        )
    return target


def check_follow_up(follow_up_on: date | None, today: date) -> None:
    """Rule `follow_up_not_in_past`: a follow-up is due today or later."""
    if follow_up_on is not None and follow_up_on < today:
        raise ProjectRuleViolated(
            "follow_up_in_past",
            f"a follow-up cannot be due before today ({today.isoformat()})",
            field="follow_up_on",
        )


def check_stage_actor(role: str, subject: str, assigned: Iterable[str]) -> None:
    """Rule `stage_recorded_by_its_officers`: an assigned officer or a leader marks a stage."""
    if role == "leader" or (role == "officer" and subject in set(assigned)):
        return
    raise ProjectRuleViolated(
        "officer_not_assigned" if role == "officer" else "stage_not_yours",
        "only an officer assigned to this project, or a leader, may mark a stage reached",
        forbidden=True,
    )


def check_stage_advance(
    reached: ProjectStage | None, target: ProjectStage, guided: Iterable[ProjectStage]
) -> ProjectStage:
    """Rules `stages_in_order` and `guidance_before_stage`.

    A project reaches its stages one after another: no stage is skipped and none is reached
    again. And since the embedded service is given before each stage, a stage is reached only
    once at least one guidance record exists for it.
    """
    upcoming = next_stage(reached)
    if upcoming is None:
        raise ProjectRuleViolated(
            "project_completed", "the project is already in production", conflict=True
        )
    if target.position < upcoming.position:
        raise ProjectRuleViolated(
            "stage_already_reached",
            f"{target.label} is already reached; stages do not go back (next: {upcoming.label})",
            field="stage",
        )
    if target.position > upcoming.position:
        raise ProjectRuleViolated(
            "stage_skipped",
            f"{upcoming.label} comes before {target.label}; stages are reached in order",
            field="stage",
        )
    if target not in set(guided):
        raise ProjectRuleViolated(
            "guidance_required_before_stage",
            f"no guidance is recorded for {target.label} yet; an assigned officer gives "
            "guidance before each stage (嵌入式服务)",
            field="stage",
        )
    return target


def is_behind_plan(planned_on: date, is_reached: bool, today: date) -> bool:
    """A stage is behind plan when its planned date has passed and it is not reached."""
    return not is_reached and today > planned_on
