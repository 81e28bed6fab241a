"""Red and black list rules (Qingdao measure 5, 红黑名单). No I/O.

Black list (安全生产严重失信主体名单): 《安全生产严重失信主体名单管理办法》(应急管理部令第11号, in
force 2023-10-01). Nine listing cases, five with an accident and four without; a listing is
managed for 3 years from the decision and removed automatically when that term ends; once 12
months have passed the enterprise may apply for early removal (提前移出, credit repair). Before
the decision the enterprise is told the reasons, the basis and its right to state its case and
object (列入前告知), and the decision weighs any objection it filed.

Red list (守信红名单): 青岛市应急管理局《关于进一步做好安全生产领域守信激励失信惩戒工作的
通知》. An enterprise qualifies on facts this service holds or the nominator attests, and the
listing lasts 3 years; listed enterprises marked for joint incentives form the 联合激励对象名录.

Dates follow 《民法典》 articles 201-203 as in `domain.py`: a term of N months ends on the
corresponding day of the last month (or its last day), and that last day still counts, so what
happens "after" the term happens the next day.

Packs are immutable: a change of rule or wording is a new version, and each entry keeps the id
and version of the pack that governed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Final

from kernel.workdays import CalendarYearUnknown
from services.credit.domain import WorkingDays, add_months, zh_date, zh_months


class ListsRuleViolated(ValueError):
    """A list request refused by a business rule; `field` and `code` say which and why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


class CaseStateConflict(ValueError):
    """The step does not apply to the case in its current state (someone else moved it on)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- the black list ------------------------------------------------------------------------


class ListingCriterion(StrEnum):
    """The listing cases (列入情形) of the serious-dishonesty list."""

    # With a production-safety accident.
    major_accident = "major_accident"
    repeated_larger_accidents = "repeated_larger_accidents"
    aggravated_accident_fine = "aggravated_accident_fine"
    accident_concealed = "accident_concealed"
    absconded_after_accident = "absconded_after_accident"
    # Without an accident, after an administrative penalty.
    unlicensed_operation = "unlicensed_operation"
    false_certification = "false_certification"
    penalty_evaded = "penalty_evaded"
    other_serious = "other_serious"


@dataclass(frozen=True)
class ListingCase:
    """One listing case as the regulation words it."""

    criterion: ListingCriterion
    zh: str
    with_accident: bool


class BlacklistState(StrEnum):
    """Where a black-list case stands."""

    proposed = "proposed"  # 拟列入, not yet told to the enterprise
    noticed = "noticed"  # 列入前告知书 served, objection window running
    objected = "objected"  # the enterprise stated its case (陈述、申辩)
    listed = "listed"  # 列入决定
    withdrawn = "withdrawn"  # decided not to list
    removed = "removed"  # 移出: term ended, repaired or reversed


OPEN_CASE_STATES: Final = frozenset(
    {
        BlacklistState.proposed,
        BlacklistState.noticed,
        BlacklistState.objected,
        BlacklistState.listed,
    }
)
# Only a decision and what follows it are published; a case that was never decided stays
# between the bureau and the enterprise.
PUBLIC_CASE_STATES: Final = frozenset({BlacklistState.listed, BlacklistState.removed})


@dataclass(frozen=True)
class BlacklistRulePack:
    """One version of the black-list rules and procedure, with the text they come from."""

    id: str
    version: str
    source: str
    effective_from: date
    cases: tuple[ListingCase, ...]
    term_months: int  # 管理期限
    early_removal_after_months: int  # 提前移出: may be applied for once this has passed
    # Working days the enterprise has to object after the pre-notice is served. The regulation
    # leaves the period to the deciding authority; this is the bureau's configured procedure
    # value, so a change of it is a new pack version.
    objection_working_days: int
    sanctions: tuple[str, ...]  # 失信惩戒措施
    issuing_authority: str

    def case(self, criterion: ListingCriterion) -> ListingCase:
        """The wording of one listing case."""
        for case in self.cases:
            if case.criterion is criterion:
                return case
        raise KeyError(criterion)


MEM_ORDER_11: Final = BlacklistRulePack(
    id="mem-2023-11",
    version="1",
    source="《安全生产严重失信主体名单管理办法》（应急管理部令第11号，自2023年10月1日起施行）",
    effective_from=date(2023, 10, 1),
    cases=(
        ListingCase(
            ListingCriterion.major_accident,
            "发生特别重大、重大生产安全事故",
            with_accident=True,
        ),
        ListingCase(
            ListingCriterion.repeated_larger_accidents,
            "12个月内累计发生2起以上较大生产安全事故",
            with_accident=True,
        ),
        ListingCase(
            ListingCriterion.aggravated_accident_fine,
            "发生生产安全事故，情节特别严重、影响特别恶劣，依照《中华人民共和国安全生产法》"
            "第一百一十四条规定被处以罚款数额2倍以上5倍以下罚款",
            with_accident=True,
        ),
        ListingCase(
            ListingCriterion.accident_concealed,
            "瞒报、谎报生产安全事故",
            with_accident=True,
        ),
        ListingCase(
            ListingCriterion.absconded_after_accident,
            "发生生产安全事故后，主要负责人不立即组织事故抢救或者在事故调查处理期间擅离职守或者逃匿",
            with_accident=True,
        ),
        ListingCase(
            ListingCriterion.unlicensed_operation,
            "未依法取得安全生产相关许可或者许可被暂扣、吊销期间从事相关生产经营活动",
            with_accident=False,
        ),
        ListingCase(
            ListingCriterion.false_certification,
            "承担安全评价、检测、检验职责的机构租借资质、挂靠、出具虚假报告或者证书",
            with_accident=False,
        ),
        ListingCase(
            ListingCriterion.penalty_evaded,
            "受到行政处罚后，有能力履行但拒不履行、逃避执行",
            with_accident=False,
        ),
        ListingCase(
            ListingCriterion.other_serious,
            "其他违反安全生产法律、法规受到行政处罚，且性质恶劣、情节严重",
            with_accident=False,
        ),
    ),
    term_months=36,
    early_removal_after_months=12,
    objection_working_days=5,
    sanctions=(
        "加大监督检查频次，每年检查不少于2次",
        "约谈培训",
        "依法实施行业或者职业禁入等惩戒措施",
    ),
    issuing_authority="青岛市应急管理局",
)


@dataclass(frozen=True)
class ListingTerm:
    """The management term of a listing: its last day and the first day of early removal."""

    listed_until: date  # last day listed; the automatic removal takes effect the day after
    early_removal_on: date  # first day an early removal (提前移出) may be applied for


def listing_term(pack: BlacklistRulePack, decided_on: date) -> ListingTerm:
    """Rule `blacklist_term`: 3 years from the decision; early removal after 12 months."""
    return ListingTerm(
        listed_until=add_months(decided_on, pack.term_months),
        early_removal_on=add_months(decided_on, pack.early_removal_after_months)
        + timedelta(days=1),
    )


def objection_due_on(pack: BlacklistRulePack, served_on: date, working_days: WorkingDays) -> date:
    """Rule `objection_window`: the last day to object, N working days after service.

    Refused when the official calendar does not cover the dates: a deadline computed on guessed
    weekdays could cut the enterprise's time short over a holiday.
    """
    try:
        return working_days.add_working_days(served_on, pack.objection_working_days)
    except CalendarYearUnknown as exc:
        raise ListsRuleViolated(
            "objection_due_on",
            "calendar_year_unknown",
            f"the objection deadline cannot be computed: the official working-day calendar for "
            f"{exc.year} is not loaded; load that year's schedule before serving the pre-notice",
        ) from exc


def is_objection_window_open(due_on: date, today: date) -> bool:
    """Rule `objection_window`: the enterprise may object up to and including the due day."""
    return today <= due_on


def check_notice_may_be_served(state: BlacklistState) -> None:
    """Rule `pre_notice_once`: a pre-notice is served once, on a proposed case."""
    if state is not BlacklistState.proposed:
        raise CaseStateConflict(
            "pre_notice_already_served"
            if state in {BlacklistState.noticed, BlacklistState.objected}
            else "case_closed",
            f"a pre-notice can be served only on a proposed case; this case is {state.value}",
        )


def check_objection(state: BlacklistState, due_on: date | None, today: date) -> None:
    """Rule `objection_in_time`: one objection, after the pre-notice and within its window."""
    if state is BlacklistState.objected:
        raise CaseStateConflict(
            "objection_already_filed", "an objection has already been filed for this case"
        )
    if state is not BlacklistState.noticed or due_on is None:
        raise CaseStateConflict(
            "case_closed", f"objections are taken only on a noticed case; it is {state.value}"
        )
    if not is_objection_window_open(due_on, today):
        raise ListsRuleViolated(
            "objected_on",
            "objection_window_closed",
            f"the objection period ended on {due_on.isoformat()}",
        )


class BlacklistOutcome(StrEnum):
    """What the leader decides on a case."""

    listed = "listed"
    withdrawn = "withdrawn"


def check_decision(
    state: BlacklistState,
    outcome: BlacklistOutcome,
    due_on: date | None,
    today: date,
    reason: str | None,
) -> None:
    """Rule `listing_decision`: list only after the enterprise had its say.

    The decision to list waits for the pre-notice and the end of the objection window, unless
    the enterprise has already objected; an objection must be answered with a reason. A
    withdrawal may come at any point before a decision and says why.
    """
    if state not in {BlacklistState.proposed, BlacklistState.noticed, BlacklistState.objected}:
        raise CaseStateConflict(
            "case_already_decided", f"the case has already been decided ({state.value})"
        )
    has_reason = bool(reason and reason.strip())
    if outcome is BlacklistOutcome.withdrawn:
        if not has_reason:
            raise ListsRuleViolated(
                "reason", "reason_required", "a withdrawal needs the reason it is withdrawn"
            )
        return
    if state is BlacklistState.proposed or due_on is None:
        raise ListsRuleViolated(
            "outcome",
            "pre_notice_not_served",
            "the pre-notice (列入前告知书) must be served before a decision to list",
        )
    if state is BlacklistState.noticed and is_objection_window_open(due_on, today):
        raise ListsRuleViolated(
            "outcome",
            "objection_window_open",
            f"the enterprise may object until {due_on.isoformat()}; decide after that day",
        )
    if state is BlacklistState.objected and not has_reason:
        raise ListsRuleViolated(
            "reason",
            "objection_not_addressed",
            "the enterprise objected: the decision must give the reason its objection is "
            "not accepted",
        )


def is_listing_expired(listed_until: date, today: date) -> bool:
    """Rule `term_ended`: the term's last day has passed (the entry leaves the list)."""
    return listed_until < today


def removal_on(listed_until: date) -> date:
    """The day an expired listing leaves the list: the day after its last day."""
    return listed_until + timedelta(days=1)


def criterion_from_event(code: str) -> tuple[ListingCriterion, str | None]:
    """The listing case a penalty event named; an unknown code falls back to `other_serious`
    and is returned as the second item so it is kept with the facts."""
    try:
        return ListingCriterion(code), None
    except ValueError:
        return ListingCriterion.other_serious, code


@dataclass(frozen=True)
class PreNoticeFacts:
    """What the pre-notice says about one case."""

    enterprise_name: str
    uscc: str
    criterion: ListingCriterion
    facts: str
    basis_documents: tuple[str, ...]  # decision numbers of the penalties it rests on
    served_on: date
    objection_due_on: date


def pre_notice(pack: BlacklistRulePack, facts: PreNoticeFacts) -> str:
    """Rule `pre_notice`: the 列入前告知书 served before a decision to list."""
    case = pack.case(facts.criterion)
    basis = f"{pack.source}规定的“{case.zh}”情形"
    documents = (
        f"；相关行政处罚决定：{'、'.join(facts.basis_documents)}" if facts.basis_documents else ""
    )
    sanctions = "、".join(pack.sanctions)
    lines = [
        "安全生产严重失信主体名单列入前告知书",
        "",
        f"{facts.enterprise_name}（统一社会信用代码：{facts.uscc}）：",
        "",
        f"    经查，{facts.facts.strip()}",
        f"    你单位的上述行为属于{basis}，本机关拟将你单位列入安全生产严重失信主体名单。",
        f"    列入依据：{pack.source}{documents}。",
        f"    列入后管理期限为{zh_months(pack.term_months)}，自列入决定作出之日起计算，"
        f"期间依法实施{sanctions}。自列入之日起满{zh_months(pack.early_removal_after_months)}"
        "后，你单位纠正失信行为的，可以申请提前移出。",
        "    你单位依法享有陈述、申辩的权利。如对拟列入有异议，可以自本告知书送达之日起"
        f"{pack.objection_working_days}个工作日内，即最迟于{zh_date(facts.objection_due_on)}"
        "（含当日），向本机关提出书面陈述、申辩意见并提交相关证据；逾期未提出的，视为放弃"
        "陈述、申辩的权利。",
        "",
        pack.issuing_authority,
        zh_date(facts.served_on),
    ]
    return "\n".join(lines)


# --- the red list --------------------------------------------------------------------------


class RedlistState(StrEnum):
    nominated = "nominated"
    listed = "listed"
    rejected = "rejected"
    removed = "removed"


OPEN_REDLIST_STATES: Final = frozenset({RedlistState.nominated, RedlistState.listed})
PUBLIC_REDLIST_STATES: Final = frozenset({RedlistState.listed, RedlistState.removed})


class RedlistOutcome(StrEnum):
    approved = "approved"
    rejected = "rejected"


class RedlistCriterion(StrEnum):
    """The red-list criteria, each computed by the rule function of the same name."""

    standardisation_level_2_or_higher = "standardisation_level_2_or_higher"
    no_recent_penalty = "no_recent_penalty"
    no_dishonesty_in_publicity = "no_dishonesty_in_publicity"
    not_blacklisted = "not_blacklisted"
    accident_free_attested = "accident_free_attested"


@dataclass(frozen=True)
class RedlistRulePack:
    """One version of the red-list rules and the incentives that come with a listing."""

    id: str
    version: str
    source: str
    effective_from: date
    validity_months: int
    # 安全生产标准化 levels run 1 (highest) to 3; 二级以上 means level 1 or 2.
    lowest_standardisation_level: int
    penalty_free_months: int
    accident_free_months: int
    incentives: tuple[str, ...]  # 守信激励措施, also the measures of the joint directory
    sanctions: tuple[str, ...]  # what the black list brings, for contrast in the directory


QINGDAO_REDLIST_NOTICE: Final = RedlistRulePack(
    id="qd-eb-redlist",
    version="1",
    source="青岛市应急管理局《关于进一步做好安全生产领域守信激励失信惩戒工作的通知》",
    # The seed names the notice but not its date; the pack is dated with the national order
    # it implements, and a version with the notice's own date replaces it once confirmed.
    effective_from=date(2023, 10, 1),
    validity_months=36,
    lowest_standardisation_level=2,
    penalty_free_months=36,
    accident_free_months=36,
    incentives=(
        "减少执法检查频次，每年检查不超过1次",
        "申请安全生产政策性资金、评先评优活动中予以优先考虑",
        "作为安全生产典型示范企业加以宣传推广",
    ),
    sanctions=MEM_ORDER_11.sanctions,
)


@dataclass(frozen=True)
class CriterionResult:
    """One red-list criterion as computed: passed or not, and why, in Chinese."""

    code: RedlistCriterion
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class PenaltySeen:
    """A penalty decision found for the enterprise."""

    document_number: str
    decided_on: date


@dataclass(frozen=True)
class RedlistFacts:
    """What the red-list criteria are computed from on one day."""

    standardisation_level: int | None  # None: not given (a check before nominating)
    accident_free_attested: bool
    penalties: tuple[PenaltySeen, ...]  # every penalty of the enterprise; the rule filters
    dishonesty_in_publicity: tuple[str, ...]  # document numbers of records public today
    blacklist_state: BlacklistState | None  # the open black-list case, if any


def standardisation_level_2_or_higher(pack: RedlistRulePack, level: int | None) -> CriterionResult:
    """Criterion: 二级以上安全生产标准化 (level 1 or 2)."""
    code = RedlistCriterion.standardisation_level_2_or_higher
    if level is None:
        return CriterionResult(code, False, "未提供安全生产标准化等级")
    passed = 1 <= level <= pack.lowest_standardisation_level
    verdict = "符合" if passed else "不符合"
    return CriterionResult(code, passed, f"安全生产标准化{level}级，{verdict}二级以上要求")


def penalty_free_since(pack: RedlistRulePack, today: date) -> date:
    """The earliest decision date that still counts against the enterprise."""
    return add_months(today, -pack.penalty_free_months) + timedelta(days=1)


def no_recent_penalty(
    pack: RedlistRulePack, penalties: Sequence[PenaltySeen], today: date
) -> CriterionResult:
    """Criterion: no administrative penalty decided in the last 3 years."""
    since = penalty_free_since(pack, today)
    recent = sorted((p for p in penalties if p.decided_on >= since), key=lambda p: p.decided_on)
    period = zh_months(pack.penalty_free_months)
    if not recent:
        return CriterionResult(
            RedlistCriterion.no_recent_penalty,
            True,
            f"近{period}内（{zh_date(since)}以来）无行政处罚记录",
        )
    listed = "、".join(f"{p.document_number}（{zh_date(p.decided_on)}）" for p in recent)
    return CriterionResult(
        RedlistCriterion.no_recent_penalty, False, f"近{period}内受到行政处罚：{listed}"
    )


def no_dishonesty_in_publicity(documents: Sequence[str]) -> CriterionResult:
    """Criterion: no dishonesty record of the enterprise is in publicity today."""
    if not documents:
        return CriterionResult(
            RedlistCriterion.no_dishonesty_in_publicity, True, "无正在公示的失信记录"
        )
    return CriterionResult(
        RedlistCriterion.no_dishonesty_in_publicity,
        False,
        f"存在正在公示的失信记录：{'、'.join(documents)}",
    )


def not_blacklisted(state: BlacklistState | None) -> CriterionResult:
    """Criterion: not on the black list and no black-list case open against it."""
    if state is None:
        return CriterionResult(
            RedlistCriterion.not_blacklisted, True, "未列入严重失信主体名单，无在办列入案件"
        )
    what = "已列入严重失信主体名单" if state is BlacklistState.listed else "存在在办的拟列入案件"
    return CriterionResult(RedlistCriterion.not_blacklisted, False, what)


def accident_free_attested(pack: RedlistRulePack, attested: bool) -> CriterionResult:
    """Criterion: accident-free for 3 years, attested by the nominator.

    Accident data is not held by this service, so the nominating officer's attestation is the
    evidence and is recorded with the entry.
    """
    period = zh_months(pack.accident_free_months)
    if attested:
        return CriterionResult(
            RedlistCriterion.accident_free_attested,
            True,
            f"推荐单位确认近{period}未发生生产安全事故",
        )
    return CriterionResult(
        RedlistCriterion.accident_free_attested,
        False,
        f"未确认近{period}未发生生产安全事故",
    )


def redlist_criteria(
    pack: RedlistRulePack, facts: RedlistFacts, today: date
) -> tuple[CriterionResult, ...]:
    """Every red-list criterion for the facts on `today`, in a fixed order."""
    return (
        standardisation_level_2_or_higher(pack, facts.standardisation_level),
        no_recent_penalty(pack, facts.penalties, today),
        no_dishonesty_in_publicity(facts.dishonesty_in_publicity),
        not_blacklisted(facts.blacklist_state),
        accident_free_attested(pack, facts.accident_free_attested),
    )


def failing(results: Sequence[CriterionResult]) -> tuple[CriterionResult, ...]:
    """The criteria not met."""
    return tuple(r for r in results if not r.passed)


def redlist_listed_until(pack: RedlistRulePack, approved_on: date) -> date:
    """Rule `redlist_validity`: the last day of a red listing approved on `approved_on`."""
    return add_months(approved_on, pack.validity_months)


def check_redlist_decision(
    state: RedlistState, outcome: RedlistOutcome, reason: str | None
) -> None:
    """Rule `redlist_decision`: a nomination is decided once; a rejection says why."""
    if state is not RedlistState.nominated:
        raise CaseStateConflict(
            "nomination_already_decided", f"the nomination has already been decided ({state})"
        )
    if outcome is RedlistOutcome.rejected and not (reason and reason.strip()):
        raise ListsRuleViolated("reason", "reason_required", "a rejection needs its reason")
