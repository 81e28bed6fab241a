"""Outreach rules ("1+21+N" 宣教培训服务体系, measure 1). No I/O.

The seed: "按照'市安委会+21个市级安全生产专业委员会+N名安全专家'模式，由监管执法人员、企业安全
管理人员、安全专家、法律顾问和健康公益组织专家组成...宣讲团，每月确定一个主题，采取'云上直播'、
集中培训等线上线下相结合方式，针对事故易发的行业领域开展定向培训宣讲". So "1" is the city
work-safety committee, "21" its municipal professional committees, "N" the safety experts; each
outreach group (宣讲团) is organised by one of those committees and its members are of the five
kinds the seed names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kernel.errors import RuleViolated

PROFESSIONAL_COMMITTEES = 21  # the "21" of 1+21+N


class OrganiserKind(StrEnum):
    """Who organises a group: the city committee (市安委会) or one of its professional ones."""

    committee = "committee"
    professional_committee = "professional_committee"


class MemberKind(StrEnum):
    """The five kinds of people a group is made of, as the seed lists them."""

    officer = "officer"  # 监管执法人员
    enterprise_safety_manager = "enterprise_safety_manager"  # 企业安全管理人员
    expert = "expert"  # 安全专家 (the "N")
    legal_adviser = "legal_adviser"  # 法律顾问
    health_ngo = "health_ngo"  # 健康公益组织专家


class SessionMode(StrEnum):
    online = "online"  # 云上直播
    offline = "offline"  # 集中培训, 深入企业一线、施工现场


class ProjectStage(StrEnum):
    """Stages of a key project at which training is given ahead (全生命周期, 建设之初到竣工投产)."""

    initiation = "initiation"
    construction = "construction"
    trial_production = "trial_production"
    completion = "completion"


@dataclass(frozen=True)
class MemberDraft:
    kind: MemberKind
    is_lead: bool
    uscc: str | None


def check_committee_capacity(
    kind: OrganiserKind, organiser: str, existing_professional: Iterable[str]
) -> None:
    """Rule `twenty_one_professional_committees`: groups come from at most 21 professional
    committees; a 22nd distinct organiser is a typo or a committee outside the system."""
    if kind is not OrganiserKind.professional_committee:
        return
    known = set(existing_professional)
    if organiser not in known and len(known) >= PROFESSIONAL_COMMITTEES:
        raise RuleViolated(
            f"groups already come from {PROFESSIONAL_COMMITTEES} professional committees; "
            f"{organiser!r} is not one of them",
            code="professional_committees_full",
            field="organiser",
        )


def check_members(members: Sequence[MemberDraft], *, field: str = "members") -> None:
    """Rule `one_lead_per_group` and `safety_manager_names_enterprise`: a group has exactly one
    lead (团长); an enterprise safety manager is identified by the enterprise's USCC, which is
    how attendance and later questions reach the right enterprise."""
    leads = sum(1 for m in members if m.is_lead)
    if leads != 1:
        raise RuleViolated(
            f"a group needs exactly one lead, got {leads}", code="group_lead_count", field=field
        )
    for index, member in enumerate(members):
        if member.kind is MemberKind.enterprise_safety_manager and member.uscc is None:
            raise RuleViolated(
                "an enterprise safety manager must name the enterprise's USCC",
                code="member_uscc_required",
                field=f"{field}[{index}].uscc",
            )
        if member.kind is not MemberKind.enterprise_safety_manager and member.uscc is not None:
            raise RuleViolated(
                f"only enterprise safety managers carry a USCC, not {member.kind.value}",
                code="member_uscc_unexpected",
                field=f"{field}[{index}].uscc",
            )


def check_lead_kept(members: Sequence[MemberDraft], adding_lead: bool) -> None:
    """Rule `one_lead_per_group` when a member joins an existing group."""
    if adding_lead and any(m.is_lead for m in members):
        raise RuleViolated("the group already has a lead", code="group_lead_count", field="is_lead")


def check_venue(mode: SessionMode, location: str | None, link: str | None) -> None:
    """Rule `venue_matches_mode`: an offline session says where, an online one where to watch."""
    if mode is SessionMode.offline and not location:
        raise RuleViolated(
            "an offline session needs a location", code="location_required", field="location"
        )
    if mode is SessionMode.online and not link:
        raise RuleViolated(
            "an online session needs the live-stream link", code="link_required", field="link"
        )


def check_key_project(project: str | None, stage: ProjectStage | None) -> None:
    """Rule `key_project_stage`: whole-life-cycle training names both the project and stage."""
    if (project is None) != (stage is None):
        raise RuleViolated(
            "key-project training names both the project and its stage",
            code="key_project_stage_pair",
            field="project_stage" if stage is None else "key_project",
        )


def check_theme_set(has_theme: bool, held_on: date) -> None:
    """Rule `monthly_theme_first` (每月确定一个主题): sessions of a month follow its theme, so
    the theme is set before the month's sessions are scheduled."""
    if not has_theme:
        raise RuleViolated(
            f"no theme is set for {held_on.year}-{held_on.month:02d}; set the monthly theme first",
            code="monthly_theme_missing",
            field="held_on",
        )


@dataclass(frozen=True)
class AttendanceLine:
    uscc: str
    attendees: int


def check_attendance(
    held_on: date,
    today: date,
    lines: Sequence[AttendanceLine],
    total_attendees: int,
) -> None:
    """Rules `attendance_after_session` and `attendance_adds_up`: attendance is a record of what
    happened, so not before the day; the total counts everyone, including people who came
    without an enterprise (citizens, other departments), so it is at least the enterprises'
    sum; one line per enterprise."""
    if held_on > today:
        raise RuleViolated(
            f"the session is on {held_on.isoformat()}; attendance is recorded afterwards",
            code="session_not_held",
            field="held_on",
        )
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.uscc in seen:
            raise RuleViolated(
                f"enterprise {line.uscc} appears twice",
                code="attendance_duplicate_enterprise",
                field=f"enterprises[{index}].uscc",
            )
        seen.add(line.uscc)
    listed = sum(line.attendees for line in lines)
    if total_attendees < listed:
        raise RuleViolated(
            f"total attendees {total_attendees} is below the enterprises' sum {listed}",
            code="attendance_total_short",
            field="total_attendees",
        )
