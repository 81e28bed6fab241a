"""The yearly inspection plan (年度监督检查计划, measure 6: 差异化监管执法). No I/O.

Seed, 第六条: 每年对重点企业进行计划性检查，对一般企业以"双随机"抽查为主; 对纳入守信"红名单"和
二级以上安全生产标准化企业……每年检查不超过1次; 对纳入失信"黑名单"的企业……每年检查不少于2次;
对已接受联合检查的企业，除有投诉举报、上级交办等情形外，本年度内原则上不再单独进行同类检查.

Each frequency rule is a named function that adjusts one enterprise's `PlanDraft` and records
what it did (`RuleApplied`), so every plan entry explains itself. The rules run in the order of
`RULE_PRECEDENCE`; a later rule wins over an earlier one where they disagree:

1. `key_enterprise_planned` / `general_double_random` set the base treatment by tier.
2. `risk_raises_priority` raises the priority by the insurer's risk level; a major risk puts a
   general enterprise on the plan (at least 1) instead of leaving it to the draw.
3. `redlisted_at_most_one`, `standardised_at_most_one` cap the year at 1 inspection.
4. `blacklisted_at_least_two` lifts the minimum to 2 and removes any cap: the black list's
   "不少于2次" is a sanction (失信惩戒, 加大监督检查频次), while the caps are incentives for good
   conduct; a black-listed enterprise has forfeited them.
5. `joint_inspection_exemption` exempts an enterprise that received a same-type joint
   inspection this year, except:
   - a complaint (投诉举报) or a superior's assignment (上级交办) recorded on the joint
     inspection: the exemption does not apply and the enterprise keeps its normal treatment;
   - a black-listed enterprise: the seed says the exemption applies only "原则上" (in
     principle), whereas "不少于2次" is an unconditional sanction, so the black-list minimum
     stands and the joint inspection does not count towards it (it was led by another
     department and is not one of the bureau's own inspections). The entry records that the
     exemption yielded.
   A key enterprise is exempted like any other: the joint inspection stands in for its yearly
   planned inspection, which is what "不再单独进行同类检查" asks.

Planned months are deterministic: spread evenly over the year from an offset taken from a stable
hash of the USCC and the year, so the bureau's monthly load is even and a re-run of the same
plan gives the same months. Nothing here is random; the monthly draw is where chance enters.

Packs are immutable: a change of rule or parameter is a new version, and each plan records the
id and version that produced it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from typing import Any, Final


class PlanMode(StrEnum):
    """How an enterprise is inspected in the year."""

    planned = "planned"  # 计划性检查: scheduled months
    random = "random"  # in the pool of the monthly double-random draw (双随机)
    exempt = "exempt"  # no separate inspection this year


class CreditStanding(StrEnum):
    """The enterprise's standing on the credit lists (from credit.standing.changed.v1)."""

    normal = "normal"
    redlisted = "redlisted"
    blacklisted = "blacklisted"


class RiskLevel(StrEnum):
    """The insurer's latest risk assessment (from insurance.risk.assessed.v1)."""

    low = "low"
    medium = "medium"
    high = "high"
    major = "major"


class JointOverride(StrEnum):
    """Why a separate same-type inspection is still needed after a joint inspection."""

    complaint = "complaint"  # 投诉举报
    assignment = "assignment"  # 上级交办


class InspectionType(StrEnum):
    """The kind of inspection a joint inspection was (同类检查 compares these)."""

    work_safety = "work_safety"  # 安全生产监督检查
    hazardous_chemicals = "hazardous_chemicals"  # 危险化学品专项检查
    fire_safety = "fire_safety"  # 消防安全检查
    occupational_health = "occupational_health"  # 职业健康检查
    special_equipment = "special_equipment"  # 特种设备检查


_OVERRIDE_ZH: Final[dict[str, str]] = {
    JointOverride.complaint: "投诉举报",
    JointOverride.assignment: "上级交办",
}
_RISK_ZH: Final[dict[str, str]] = {
    RiskLevel.low: "低",
    RiskLevel.medium: "一般",
    RiskLevel.high: "较大",
    RiskLevel.major: "重大",
}
_LEVEL_ZH: Final = {1: "一", 2: "二", 3: "三"}
_INCENTIVE_CAPS: Final = frozenset({"redlisted_at_most_one", "standardised_at_most_one"})
_MODES: Final = frozenset(mode.value for mode in PlanMode)


class PlanRuleViolated(ValueError):
    """A plan request refused by a rule; `field` and `code` say which and why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class PlanRulePack:
    """One version of the yearly-plan frequency rules, with the text they come from."""

    id: str
    version: str
    source: str
    effective_from: date
    # The inspections this plan schedules; only a joint inspection of this type is "同类".
    inspection_type: str
    key_min_per_year: int  # 重点企业计划性检查
    general_max_per_year: int  # 一般企业: at most this many draws a year
    capped_max_per_year: int  # 红名单, 标准化二级以上: 每年检查不超过1次
    capped_standardisation_levels: frozenset[int]  # 1 is the highest grade, 0 none
    blacklist_min_per_year: int  # 黑名单: 每年检查不少于2次
    blacklist_min_gap_months: int  # spread the black-list inspections over the year
    blacklist_priority: int
    risk_priority: tuple[tuple[str, int], ...]
    planned_risk_levels: frozenset[str]  # a general enterprise at these levels is planned

    def applies_to(self, year: int) -> bool:
        """Whether this pack governs plans of `year` (it was in force before the year ended)."""
        return self.effective_from <= date(year, 12, 31)

    def risk_weight(self, risk_level: str | None) -> int:
        """How much a risk level raises the priority."""
        for level, weight in self.risk_priority:
            if level == risk_level:
                return weight
        return 0


DEFAULT_PLAN_PACK: Final = PlanRulePack(
    id="qd-eb-plan",
    version="1",
    source="青岛市应急管理局优化营商环境10条措施 第六条 深化“差异化”监管执法",
    # The seed dates the press conference "6月26日" without a year; 2023 is inferred from the
    # context (the 青岛银保监局 it names, the national credit rules of that year). A version
    # carrying the confirmed date replaces this one.
    effective_from=date(2023, 6, 26),
    inspection_type=InspectionType.work_safety.value,
    key_min_per_year=1,
    general_max_per_year=1,
    capped_max_per_year=1,
    capped_standardisation_levels=frozenset({1, 2}),
    blacklist_min_per_year=2,
    blacklist_min_gap_months=4,
    blacklist_priority=20,
    risk_priority=(
        (RiskLevel.low.value, 0),
        (RiskLevel.medium.value, 10),
        (RiskLevel.high.value, 30),
        (RiskLevel.major.value, 50),
    ),
    planned_risk_levels=frozenset({RiskLevel.major.value}),
)


@dataclass(frozen=True, slots=True)
class EnterpriseFacts:
    """What the plan needs to know about one enterprise in the registry."""

    uscc: str
    sector: str
    district: str
    tier: str  # key | general
    standardisation_level: int
    is_pre_ipo: bool
    is_specialised: bool
    credit_standing: str  # normal | redlisted | blacklisted
    risk_level: str | None  # low | medium | high | major | None
    joint_inspected: bool  # a same-type joint inspection this year
    override: str | None  # complaint | assignment (a separate inspection is still required)


@dataclass(frozen=True, slots=True)
class RuleApplied:
    """One rule's effect on an entry: its name, a short effect code and a zh-CN explanation."""

    rule: str
    effect: str
    detail: str


@dataclass(frozen=True, slots=True)
class PlanDecision:
    """One enterprise's line in the yearly plan."""

    uscc: str
    sector: str
    district: str
    mode: str  # planned | random | exempt
    min_inspections: int
    max_inspections: int | None
    priority: int
    planned_months: tuple[int, ...]
    rules: tuple[RuleApplied, ...]


@dataclass(slots=True)
class PlanDraft:
    """The treatment being worked out for one enterprise while the rules run."""

    mode: str
    min_inspections: int
    max_inspections: int | None
    priority: int = 0
    rules: list[RuleApplied] = field(default_factory=list)

    def note(self, rule: str, effect: str, detail: str) -> None:
        self.rules.append(RuleApplied(rule, effect, detail))


class PlanState(StrEnum):
    """Where a yearly plan stands: a leader's approval makes it the plan of its year."""

    draft = "draft"
    approved = "approved"  # the plan of its year; draws and schedules follow it
    superseded = "superseded"  # replaced by a later approved plan of the same year


class PlanStateConflict(ValueError):
    """The step does not apply to the plan in its current state."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_plan_year(year: int, today: date, pack: PlanRulePack = DEFAULT_PLAN_PACK) -> None:
    """Rule `plan_year_open`: plans are made for this year or the next, under a pack in force."""
    if year not in (today.year, today.year + 1):
        raise PlanRuleViolated(
            "year",
            "plan_year_not_open",
            f"a plan can be made for {today.year} or {today.year + 1}, not {year}",
        )
    _require_pack_in_force(pack, year)


def _require_pack_in_force(pack: PlanRulePack, year: int) -> None:
    if not pack.applies_to(year):
        raise PlanRuleViolated(
            "year",
            "rule_pack_not_in_force",
            f"rule pack {pack.id} v{pack.version} applies from {pack.effective_from}, "
            f"not to plans of {year}",
        )


def check_plan_approvable(
    state: str, generated_at: datetime, approved_generated_at: datetime | None
) -> None:
    """Rule `plan_approval`: only a draft is approved, and never one older than the plan in force.

    An older draft was made from an older registry (standings, risks, joint inspections have
    moved on since); approving it would silently undo the newer approved plan.
    """
    if state != PlanState.draft:
        raise PlanStateConflict("plan_not_draft", f"the plan is {state}; only a draft is approved")
    if approved_generated_at is not None and approved_generated_at > generated_at:
        raise PlanStateConflict(
            "plan_outdated",
            "a plan generated later is already approved for this year; generate a new draft",
        )


def check_joint_inspection(
    year: int, inspected_on: date, override: str | None, override_reason: str | None, today: date
) -> None:
    """Rule `joint_inspection_recorded`: a past inspection of its year; an override says why."""
    if inspected_on.year != year:
        raise PlanRuleViolated(
            "inspected_on",
            "joint_inspection_year_mismatch",
            f"inspected on {inspected_on}, which is not in {year}",
        )
    if inspected_on > today:
        raise PlanRuleViolated(
            "inspected_on",
            "joint_inspection_in_future",
            f"a joint inspection is recorded after it took place; {inspected_on} is after {today}",
        )
    has_reason = bool(override_reason and override_reason.strip())
    if override is not None and not has_reason:
        raise PlanRuleViolated(
            "override_reason",
            "override_reason_required",
            "a complaint or an assignment that still requires a separate inspection must be "
            "recorded with its reason",
        )
    if override is None and has_reason:
        raise PlanRuleViolated(
            "override",
            "override_missing",
            "an override reason was given without saying whether it is a complaint or an "
            "assignment",
        )


# --- the named rules -------------------------------------------------------------------------


def key_enterprise_planned(facts: EnterpriseFacts, draft: PlanDraft, pack: PlanRulePack) -> None:
    """每年对重点企业进行计划性检查: a key enterprise is planned at least once."""
    if facts.tier != "key":
        return
    draft.mode = PlanMode.planned
    draft.min_inspections = max(draft.min_inspections, pack.key_min_per_year)
    draft.max_inspections = None
    draft.note(
        "key_enterprise_planned",
        f"planned_min_{pack.key_min_per_year}",
        f"重点企业，每年进行计划性检查（不少于{pack.key_min_per_year}次）",
    )


def general_double_random(facts: EnterpriseFacts, draft: PlanDraft, pack: PlanRulePack) -> None:
    """对一般企业以"双随机"抽查为主: a general enterprise joins the monthly draw's pool."""
    if facts.tier == "key":
        return
    draft.mode = PlanMode.random
    draft.min_inspections = 0
    draft.max_inspections = pack.general_max_per_year
    draft.note(
        "general_double_random",
        f"random_max_{pack.general_max_per_year}",
        f"一般企业，纳入“双随机”抽查对象库，每年抽中不超过{pack.general_max_per_year}次",
    )


def risk_raises_priority(facts: EnterpriseFacts, draft: PlanDraft, pack: PlanRulePack) -> None:
    """A higher insurer-assessed risk raises the priority; a major risk is planned, not drawn."""
    weight = pack.risk_weight(facts.risk_level)
    if weight <= 0:
        return
    draft.priority += weight
    zh = _RISK_ZH.get(facts.risk_level or "", facts.risk_level)
    draft.note(
        "risk_raises_priority", f"priority_+{weight}", f"风险等级为{zh}，检查优先级提高{weight}"
    )
    if facts.risk_level in pack.planned_risk_levels and draft.mode != PlanMode.planned:
        draft.mode = PlanMode.planned
        draft.min_inspections = max(draft.min_inspections, 1)
        # The draw's yearly cap belongs to the random pool; a planned enterprise has none.
        draft.max_inspections = None
        draft.note(
            "risk_raises_priority",
            "planned_min_1",
            f"风险等级为{zh}，虽为一般企业，仍列入计划性检查（不少于1次）",
        )


def redlisted_at_most_one(facts: EnterpriseFacts, draft: PlanDraft, pack: PlanRulePack) -> None:
    """守信"红名单"企业以自主管理为主，每年检查不超过1次."""
    if facts.credit_standing != CreditStanding.redlisted:
        return
    _cap(draft, pack.capped_max_per_year)
    draft.note(
        "redlisted_at_most_one",
        f"max_{pack.capped_max_per_year}",
        f"守信“红名单”企业，以企业自主管理为主，每年检查不超过{pack.capped_max_per_year}次",
    )


def standardised_at_most_one(facts: EnterpriseFacts, draft: PlanDraft, pack: PlanRulePack) -> None:
    """二级以上安全生产标准化企业 (level 1 or 2) 每年检查不超过1次."""
    if facts.standardisation_level not in pack.capped_standardisation_levels:
        return
    _cap(draft, pack.capped_max_per_year)
    level = _LEVEL_ZH.get(facts.standardisation_level, str(facts.standardisation_level))
    draft.note(
        "standardised_at_most_one",
        f"max_{pack.capped_max_per_year}",
        f"安全生产标准化{level}级企业，以企业自主管理为主，每年检查不超过{pack.capped_max_per_year}次",
    )


def blacklisted_at_least_two(facts: EnterpriseFacts, draft: PlanDraft, pack: PlanRulePack) -> None:
    """失信"黑名单"企业加大检查频次，每年检查不少于2次; this sanction lifts any incentive cap."""
    if facts.credit_standing != CreditStanding.blacklisted:
        return
    lifted = any(applied.rule in _INCENTIVE_CAPS for applied in draft.rules)
    draft.mode = PlanMode.planned
    draft.min_inspections = max(draft.min_inspections, pack.blacklist_min_per_year)
    draft.max_inspections = None
    detail = (
        f"失信“黑名单”企业，加大检查频次，每年检查不少于{pack.blacklist_min_per_year}次，"
        f"分散在全年（间隔不少于{pack.blacklist_min_gap_months}个月）"
    )
    if lifted:
        detail += "；失信惩戒优先于“每年检查不超过1次”的激励措施"
    draft.priority += pack.blacklist_priority
    draft.note("blacklisted_at_least_two", f"planned_min_{pack.blacklist_min_per_year}", detail)


def joint_inspection_exemption(
    facts: EnterpriseFacts, draft: PlanDraft, pack: PlanRulePack
) -> None:
    """已接受联合检查的企业，除投诉举报、上级交办外，本年度原则上不再单独进行同类检查."""
    if not facts.joint_inspected:
        return
    if facts.override is not None:
        reason = _OVERRIDE_ZH.get(facts.override, facts.override)
        draft.note(
            "joint_inspection_exemption",
            f"override_{facts.override}",
            f"本年度已接受同类联合检查，但有{reason}情形，仍须单独检查，按常规频次处理",
        )
        return
    if facts.credit_standing == CreditStanding.blacklisted:
        draft.note(
            "joint_inspection_exemption",
            "yields_to_blacklist",
            "本年度已接受同类联合检查；联合检查豁免为“原则上”，失信“黑名单”企业每年检查"
            f"不少于{pack.blacklist_min_per_year}次的惩戒措施优先，不予豁免",
        )
        return
    draft.mode = PlanMode.exempt
    draft.min_inspections = 0
    draft.max_inspections = 0
    draft.note(
        "joint_inspection_exemption",
        "exempt",
        "本年度已接受同类联合检查，无投诉举报、上级交办情形，原则上不再单独进行同类检查",
    )


def _cap(draft: PlanDraft, cap: int) -> None:
    draft.max_inspections = (
        cap if draft.max_inspections is None else min(draft.max_inspections, cap)
    )
    draft.min_inspections = min(draft.min_inspections, cap)


Rule = Callable[[EnterpriseFacts, PlanDraft, PlanRulePack], None]

# Later rules win: see the module docstring for the legal reading behind this order.
RULE_PRECEDENCE: Final[tuple[Rule, ...]] = (
    key_enterprise_planned,
    general_double_random,
    risk_raises_priority,
    redlisted_at_most_one,
    standardised_at_most_one,
    blacklisted_at_least_two,
    joint_inspection_exemption,
)
RULE_NAMES: Final = tuple(rule.__name__ for rule in RULE_PRECEDENCE)


def spread_months(uscc: str, year: int, count: int) -> tuple[int, ...]:
    """`count` months, evenly spaced over the year from an offset fixed by the USCC and year.

    blake2b rather than `hash()`: Python salts str hashes per process, and the months must be
    the same on every run and every machine.
    """
    if count <= 0:
        return ()
    digest = hashlib.blake2b(f"{uscc}:{year}".encode(), digest_size=4).digest()
    return _spread(int.from_bytes(digest, "big") % 12, count)


@lru_cache(maxsize=256)
def _spread(offset: int, count: int) -> tuple[int, ...]:
    # More than one a month is scheduled within the months; the plan names each month once.
    if count >= 12:
        return tuple(range(1, 13))
    return tuple(sorted((offset + (i * 12) // count) % 12 + 1 for i in range(count)))


_Treatment = tuple[str, int, int | None, int, tuple[RuleApplied, ...]]
_TreatmentKey = tuple[str, int, str, str | None, bool, str | None]


def plan_enterprise(
    facts: EnterpriseFacts, year: int, pack: PlanRulePack = DEFAULT_PLAN_PACK
) -> PlanDecision:
    """One enterprise's treatment in the plan of `year`, with the rules that produced it."""
    return _decide(facts, year, pack, {})


def generate_plan(
    enterprises: Iterable[EnterpriseFacts], year: int, pack: PlanRulePack = DEFAULT_PLAN_PACK
) -> list[PlanDecision]:
    """The plan of `year` for every enterprise given, in the order given."""
    _require_pack_in_force(pack, year)
    # The rules read only the facts in the key, never the USCC, so the few hundred
    # combinations are worked out once each: that is what lets a 100,000-enterprise registry
    # be planned in about a second.
    treatments: dict[_TreatmentKey, _Treatment] = {}
    return [_decide(facts, year, pack, treatments) for facts in enterprises]


def _decide(
    facts: EnterpriseFacts,
    year: int,
    pack: PlanRulePack,
    treatments: dict[_TreatmentKey, _Treatment],
) -> PlanDecision:
    key = (
        facts.tier,
        facts.standardisation_level,
        facts.credit_standing,
        facts.risk_level,
        facts.joint_inspected,
        facts.override if facts.joint_inspected else None,
    )
    treatment = treatments.get(key)
    if treatment is None:
        treatment = treatments[key] = _apply_rules(facts, pack)
    mode, low, high, priority, rules = treatment
    return PlanDecision(
        uscc=facts.uscc,
        sector=facts.sector,
        district=facts.district,
        mode=mode,
        min_inspections=low,
        max_inspections=high,
        priority=priority,
        planned_months=spread_months(facts.uscc, year, low) if mode == "planned" else (),
        rules=rules,
    )


def _apply_rules(facts: EnterpriseFacts, pack: PlanRulePack) -> _Treatment:
    draft = PlanDraft(mode=PlanMode.random, min_inspections=0, max_inspections=None)
    for rule in RULE_PRECEDENCE:
        rule(facts, draft, pack)
    return (
        str(draft.mode),
        draft.min_inspections,
        draft.max_inspections,
        draft.priority,
        tuple(draft.rules),
    )


def summarise(decisions: Sequence[PlanDecision]) -> dict[str, Any]:
    """Counts per mode and per rule, inspections owed, and planned inspections per month."""
    modes = Counter({mode.value: 0 for mode in PlanMode})
    months = Counter({str(m): 0 for m in range(1, 13)})
    # Decisions of one treatment share their rules tuple: count the tuples, expand them once.
    shared: dict[int, tuple[RuleApplied, ...]] = {}
    uses: Counter[int] = Counter()
    minimum = 0
    for decision in decisions:
        modes[decision.mode] += 1
        minimum += decision.min_inspections
        shared[id(decision.rules)] = decision.rules
        uses[id(decision.rules)] += 1
        for month in decision.planned_months:
            months[str(month)] += 1
    rules: Counter[str] = Counter()
    for key, count in uses.items():
        # An entry counts once per rule even when the rule noted two effects.
        for name in {applied.rule for applied in shared[key]}:
            rules[name] += count
    return {
        "enterprises": len(decisions),
        "modes": dict(modes),
        "rules": dict(sorted(rules.items())),
        "minimum_inspections": minimum,
        "planned_by_month": dict(months),
    }


# --- verification ----------------------------------------------------------------------------


def check_decision(
    facts: EnterpriseFacts, decision: PlanDecision, pack: PlanRulePack = DEFAULT_PLAN_PACK
) -> list[str]:
    """The names of the rules `decision` breaks for `facts` (empty when it keeps them all).

    Written from the rules' text rather than by re-running `plan_enterprise`, so it catches a
    planner that is wrong, and a draw can use it on entries read back from storage.
    """
    broken: list[str] = []
    blacklisted = facts.credit_standing == CreditStanding.blacklisted
    exempt_due = facts.joint_inspected and facts.override is None and not blacklisted
    mode, low, high, months = (
        decision.mode,
        decision.min_inspections,
        decision.max_inspections,
        decision.planned_months,
    )

    if (decision.uscc, decision.sector, decision.district) != (
        facts.uscc,
        facts.sector,
        facts.district,
    ):
        broken.append("decision_matches_enterprise")
    consistent = (
        mode in _MODES
        and low >= 0
        and (high is None or low <= high)
        and all(1 <= m <= 12 for m in months)
        and list(months) == sorted(set(months))
        and (len(months) == min(low, 12) if mode == PlanMode.planned else not months)
        and (mode != PlanMode.planned or low >= 1)
        and (mode != PlanMode.random or low == 0)
    )
    if not consistent:
        broken.append("entry_consistent")

    if exempt_due != (mode == PlanMode.exempt) or (exempt_due and (low, high) != (0, 0)):
        broken.append("joint_inspection_exemption")
    if (
        facts.tier == "key"
        and not exempt_due
        and (mode != PlanMode.planned or low < pack.key_min_per_year)
    ):
        broken.append("key_enterprise_planned")
    planned_by_risk = facts.risk_level in pack.planned_risk_levels
    if (
        facts.tier != "key"
        and not blacklisted
        and not exempt_due
        and not planned_by_risk
        and (mode != PlanMode.random or high is None or high > pack.general_max_per_year)
    ):
        broken.append("general_double_random")
    risk_floor = pack.risk_weight(facts.risk_level) + (
        pack.blacklist_priority if blacklisted else 0
    )
    if decision.priority < risk_floor or (
        planned_by_risk and not exempt_due and (mode != PlanMode.planned or low < 1)
    ):
        broken.append("risk_raises_priority")
    capped = high is not None and high <= pack.capped_max_per_year
    if facts.credit_standing == CreditStanding.redlisted and not capped:
        broken.append("redlisted_at_most_one")
    if (
        facts.standardisation_level in pack.capped_standardisation_levels
        and not blacklisted
        and not capped
    ):
        broken.append("standardised_at_most_one")
    if blacklisted and not _keeps_blacklist_minimum(decision, pack):
        broken.append("blacklisted_at_least_two")
    return broken


def _keeps_blacklist_minimum(decision: PlanDecision, pack: PlanRulePack) -> bool:
    months = decision.planned_months
    gaps_ok = all(b - a >= pack.blacklist_min_gap_months for a, b in pairwise(months))
    return (
        decision.mode == PlanMode.planned
        and decision.min_inspections >= pack.blacklist_min_per_year
        and (
            decision.max_inspections is None
            or decision.max_inspections >= pack.blacklist_min_per_year
        )
        and len(months) >= pack.blacklist_min_per_year
        and gaps_ok
    )
