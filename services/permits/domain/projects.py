"""Key project rules (重点项目, embedded service): stages in order, guidance before each. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Final


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
