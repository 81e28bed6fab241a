"""Registry rules kept from events, and the outreach rules ("1+21+N"). Pure, no I/O."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import pytest

from kernel.errors import RuleViolated
from kernel.uscc import make_uscc
from services.inspection.domain import (
    LicenceStatus,
    RiskLevel,
    count_active_licences,
    is_placeholder_name,
    next_licence_status,
    placeholder_name,
    supersedes_assessment,
)
from services.inspection.outreach_domain import (
    PROFESSIONAL_COMMITTEES,
    AttendanceLine,
    MemberDraft,
    MemberKind,
    OrganiserKind,
    ProjectStage,
    SessionMode,
    check_attendance,
    check_committee_capacity,
    check_key_project,
    check_lead_kept,
    check_members,
    check_theme_set,
    check_venue,
)

D1, D2 = date(2026, 5, 1), date(2026, 6, 1)


class TestPlaceholderName:
    def test_names_the_uscc_and_is_recognised(self) -> None:
        uscc = make_uscc(1)
        name = placeholder_name(uscc)
        assert name == f"未登记企业 {uscc}"
        assert is_placeholder_name(name)
        assert not is_placeholder_name("青岛海湾化工有限公司")


class TestLatestAssessmentWins:
    def test_first_assessment_is_taken(self) -> None:
        assert supersedes_assessment(None, None, D1, RiskLevel.low)

    def test_newer_replaces_even_when_lower(self) -> None:
        assert supersedes_assessment(D1, RiskLevel.major, D2, RiskLevel.low)

    def test_older_is_ignored_even_when_higher(self) -> None:
        assert not supersedes_assessment(D2, RiskLevel.low, D1, RiskLevel.major)

    @pytest.mark.parametrize(
        ("held", "new", "expected"),
        [
            (RiskLevel.medium, RiskLevel.high, True),
            (RiskLevel.high, RiskLevel.medium, False),
            (RiskLevel.high, RiskLevel.high, False),
        ],
    )
    def test_same_day_keeps_the_higher_grade(
        self, held: RiskLevel, new: RiskLevel, expected: bool
    ) -> None:
        assert supersedes_assessment(D1, held, D1, new) is expected

    def test_grades_are_ordered_by_severity(self) -> None:
        assert sorted(RiskLevel, key=int) == [
            RiskLevel.low,
            RiskLevel.medium,
            RiskLevel.high,
            RiskLevel.major,
        ]


class TestLicenceStatus:
    @pytest.mark.parametrize("current", [None, *LicenceStatus])
    @pytest.mark.parametrize("reported", list(LicenceStatus))
    def test_every_transition(self, current: LicenceStatus | None, reported: LicenceStatus) -> None:
        expected = LicenceStatus.revoked if current is LicenceStatus.revoked else reported
        assert next_licence_status(current, reported) is expected

    def test_count_is_derived_from_statuses(self) -> None:
        statuses = [LicenceStatus.active, LicenceStatus.suspended, LicenceStatus.active]
        assert count_active_licences(statuses) == 2
        assert count_active_licences([]) == 0
        assert count_active_licences([LicenceStatus.revoked]) == 0


def member(kind: MemberKind, lead: bool = False, uscc: str | None = None) -> MemberDraft:
    return MemberDraft(kind, lead, uscc)


class TestMembers:
    def test_one_lead_and_a_named_enterprise_pass(self) -> None:
        check_members(
            [
                member(MemberKind.officer, lead=True),
                member(MemberKind.enterprise_safety_manager, uscc=make_uscc(2)),
                member(MemberKind.expert),
                member(MemberKind.legal_adviser),
                member(MemberKind.health_ngo),
            ]
        )

    @pytest.mark.parametrize("leads", [0, 2])
    def test_exactly_one_lead(self, leads: int) -> None:
        members = [member(MemberKind.expert, lead=i < leads) for i in range(3)]
        with pytest.raises(RuleViolated) as exc:
            check_members(members)
        assert (exc.value.code, exc.value.extra["field"]) == ("group_lead_count", "members")

    def test_safety_manager_needs_uscc(self) -> None:
        with pytest.raises(RuleViolated) as exc:
            check_members(
                [member(MemberKind.expert, lead=True), member(MemberKind.enterprise_safety_manager)]
            )
        assert exc.value.code == "member_uscc_required"
        assert exc.value.extra["field"] == "members[1].uscc"

    @pytest.mark.parametrize(
        "kind", [k for k in MemberKind if k is not MemberKind.enterprise_safety_manager]
    )
    def test_others_carry_no_uscc(self, kind: MemberKind) -> None:
        with pytest.raises(RuleViolated) as exc:
            check_members([member(kind, lead=True, uscc=make_uscc(3))])
        assert exc.value.code == "member_uscc_unexpected"

    def test_a_second_lead_cannot_join(self) -> None:
        existing = [member(MemberKind.officer, lead=True)]
        check_lead_kept(existing, adding_lead=False)
        with pytest.raises(RuleViolated) as exc:
            check_lead_kept(existing, adding_lead=True)
        assert exc.value.extra["field"] == "is_lead"
        check_lead_kept([member(MemberKind.expert)], adding_lead=True)


class TestCommitteeCapacity:
    full: ClassVar[list[str]] = [f"专业委员会{i}" for i in range(PROFESSIONAL_COMMITTEES)]

    def test_a_known_committee_may_add_groups_when_full(self) -> None:
        check_committee_capacity(OrganiserKind.professional_committee, self.full[0], self.full)

    def test_a_22nd_committee_is_refused(self) -> None:
        with pytest.raises(RuleViolated) as exc:
            check_committee_capacity(OrganiserKind.professional_committee, "新委员会", self.full)
        assert (exc.value.code, exc.value.extra["field"]) == (
            "professional_committees_full",
            "organiser",
        )

    def test_below_21_a_new_committee_joins(self) -> None:
        check_committee_capacity(OrganiserKind.professional_committee, "新委员会", self.full[:-1])

    def test_the_city_committee_is_not_counted(self) -> None:
        check_committee_capacity(OrganiserKind.committee, "青岛市安全生产委员会", self.full)


class TestSessionRules:
    @pytest.mark.parametrize(
        ("mode", "location", "link", "code"),
        [
            (SessionMode.offline, None, "https://live.example/1", "location_required"),
            (SessionMode.online, "青岛市应急管理局", None, "link_required"),
        ],
    )
    def test_venue_matches_mode(
        self, mode: SessionMode, location: str | None, link: str | None, code: str
    ) -> None:
        with pytest.raises(RuleViolated) as exc:
            check_venue(mode, location, link)
        assert exc.value.code == code

    def test_venues_given(self) -> None:
        check_venue(SessionMode.offline, "黄岛区某化工园区", None)
        check_venue(SessionMode.online, None, "https://live.example/1")

    def test_key_project_names_project_and_stage(self) -> None:
        check_key_project(None, None)
        check_key_project("董家口LNG项目", ProjectStage.construction)
        with pytest.raises(RuleViolated) as exc:
            check_key_project("董家口LNG项目", None)
        assert exc.value.extra["field"] == "project_stage"
        with pytest.raises(RuleViolated) as exc:
            check_key_project(None, ProjectStage.completion)
        assert exc.value.extra["field"] == "key_project"

    def test_theme_first(self) -> None:
        check_theme_set(True, D1)
        with pytest.raises(RuleViolated) as exc:
            check_theme_set(False, D1)
        assert exc.value.code == "monthly_theme_missing"
        assert "2026-05" in exc.value.detail


class TestAttendance:
    lines: ClassVar[list[AttendanceLine]] = [
        AttendanceLine(make_uscc(11), 3),
        AttendanceLine(make_uscc(12), 2),
    ]

    def test_on_the_day_and_after(self) -> None:
        check_attendance(D1, D1, self.lines, 5)
        check_attendance(D1, D2, self.lines, 40)
        check_attendance(D1, D1, [], 0)

    def test_not_before_the_session(self) -> None:
        with pytest.raises(RuleViolated) as exc:
            check_attendance(D2, D1, self.lines, 5)
        assert exc.value.code == "session_not_held"

    def test_total_covers_the_enterprises(self) -> None:
        with pytest.raises(RuleViolated) as exc:
            check_attendance(D1, D1, self.lines, 4)
        assert (exc.value.code, exc.value.extra["field"]) == (
            "attendance_total_short",
            "total_attendees",
        )

    def test_one_line_per_enterprise(self) -> None:
        with pytest.raises(RuleViolated) as exc:
            check_attendance(D1, D1, [*self.lines, AttendanceLine(make_uscc(11), 1)], 10)
        assert exc.value.extra["field"] == "enterprises[2].uscc"
