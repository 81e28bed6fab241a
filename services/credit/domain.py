"""Credit rules: publicity of credit records (penalties, dishonesty, incentives), the repair
notice (告知书) and the plain-language repair guide (明白纸). No I/O.

The publicity window of a record is computed, never typed, by a versioned rule pack:

- 《失信行为纠正后的信用信息修复管理办法（试行）》(国家发展改革委令2023年第58号, in force
  2023-05-01): penalty information about general dishonesty (一般失信行为) is published for at
  most 1 year and may be repaired once a minimum of 3 months has passed; serious dishonesty
  (严重失信行为): at most 3 years, minimum 1 year. The periods run from the day the penalty
  decision was made (行政处罚信息的公示期限起点以行政处罚作出时间为准; the 2019 notice 发改办财金
  〔2019〕527号 said the same: "自行政处罚决定之日起"), not from the day this system published it,
  so a late entry never stays public longer than the legal maximum.
- 《关于认真做好行政许可和行政处罚等信用信息公示工作的通知》(发改办财金〔2015〕2700号,
  "双公示"): a penalty decision is put online within 7 working days of the decision.
- A false pledge found on verification (虚假承诺) is recorded as dishonesty under
  《国务院办公厅关于全面推行证明事项和涉企经营许可事项告知承诺制的指导意见》（国办发〔2020〕42号）
  and published on the same terms as a penalty of the same severity; it is general dishonesty
  unless classed serious.
- An incentive (守信激励, e.g. a commendation) is published for 36 months from its decision and
  has nothing to repair.
- Period arithmetic follows 《民法典》 articles 201-203: counting starts the day after the
  decision; a period in months or years ends on the corresponding day of the final month, or on
  that month's last day when it has no such day (31 January + 1 month → 28/29 February); the
  period's last day counts in full, so what may happen "after" the period happens the next day.

A pack is immutable: a change of law or of the notice's wording is a new version, and every
record keeps the id and version of the pack that computed it.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final, Protocol

from kernel.workdays import CalendarYearUnknown


class Severity(StrEnum):
    """How the dishonesty behind a penalty is classed (失信行为的严重程度)."""

    general = "general"  # 一般失信
    serious = "serious"  # 严重失信

    @property
    def zh(self) -> str:
        return _SEVERITY_ZH[self]


_SEVERITY_ZH: Final = {Severity.general: "一般失信行为", Severity.serious: "严重失信行为"}


class RecordClass(StrEnum):
    """What a credit record is (信用记录的类别)."""

    penalty = "penalty"  # 行政处罚
    dishonesty = "dishonesty"  # 失信记录
    incentive = "incentive"  # 守信激励

    @property
    def is_repairable(self) -> bool:
        """Rule `repair_applies`: only adverse information can be repaired; an incentive cannot."""
        return self is not RecordClass.incentive


# An incentive is not dishonesty of any degree; the severity column says what it is instead.
INCENTIVE_SEVERITY: Final = "commendation"


class PenaltySource(StrEnum):
    """Where the penalty record came from."""

    inspection = "inspection"  # a decision made in an inspection case (执法检查)
    manual = "manual"  # entered by a credit officer from a paper decision


class PenaltyRuleViolated(ValueError):
    """A penalty record that cannot be published as submitted; `field` and `code` say why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


# --- period arithmetic ---------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The day `months` months after `day`: the same day of the month, else the month's last day.

    This is the last day of a period of `months` months that starts counting after `day`
    (《民法典》第二百零一条、第二百零二条).
    """
    index = day.year * 12 + day.month - 1 + months
    year, month_index = divmod(index, 12)
    month = month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last_day))


class WorkingDays(Protocol):
    """What the rules need from the official working-day calendar (kernel.workdays)."""

    def add_working_days(self, start: date, n: int) -> date: ...


# --- the rule pack -------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicityTerm:
    """The publicity period of one severity: the longest it is shown, the shortest before repair."""

    maximum_months: int  # 最长公示期: shown no longer than this, then withdrawn automatically
    minimum_months: int  # 最短公示期: credit repair may be applied for once this has passed


@dataclass(frozen=True)
class PublicityRulePack:
    """One version of the publicity and repair-notice rules, with the texts they come from."""

    id: str
    version: str
    source: str
    effective_from: date
    general: PublicityTerm
    serious: PublicityTerm
    # 双公示: the latest start of publicity, in working days after the decision.
    publication_working_days: int
    publication_source: str
    # The repair notice (信用修复告知书): what to hand in, where, and how fast the bureau answers.
    repair_materials: tuple[str, ...]
    repair_channels: tuple[str, ...]
    repair_verification_working_days: int
    issuing_authority: str
    # Dishonesty (失信记录) from a false pledge: its legal basis and what its repair asks for
    # (there is no penalty decision to have carried out).
    pledge_dishonesty_basis: str
    dishonesty_repair_materials: tuple[str, ...]
    # 守信激励信息: published this long from the decision, never repaired.
    incentive_months: int
    # The national hotline, printed on the guide: a number that exists, not a made-up one.
    consultation_phone: str

    def term(self, severity: Severity) -> PublicityTerm:
        """The publicity period for a severity."""
        return self.general if severity is Severity.general else self.serious


NDRC_ORDER_58: Final = PublicityRulePack(
    id="ndrc-2023-58",
    version="1",
    source=(
        "《失信行为纠正后的信用信息修复管理办法（试行）》（国家发展和改革委员会令2023年第58号，"
        "自2023年5月1日起施行）"
    ),
    effective_from=date(2023, 5, 1),
    general=PublicityTerm(maximum_months=12, minimum_months=3),
    serious=PublicityTerm(maximum_months=36, minimum_months=12),
    publication_working_days=7,
    publication_source=(
        "《国家发展改革委办公厅关于认真做好行政许可和行政处罚等信用信息公示工作的通知》"
        "（发改办财金〔2015〕2700号）"
    ),
    repair_materials=(
        "整改完成证明（已纠正失信行为、消除不良影响的证明材料）",
        "信用承诺书",
        "履行行政处罚决定的证明",
    ),
    repair_channels=(
        "“信用中国（山东青岛）”网站在线申请",
        "青岛市应急管理局政务服务窗口现场申请",
    ),
    # Qingdao measure 10: a repair application is verified within 3 working days.
    repair_verification_working_days=3,
    issuing_authority="青岛市应急管理局",
    pledge_dishonesty_basis=(
        "《国务院办公厅关于全面推行证明事项和涉企经营许可事项告知承诺制的指导意见》"
        "（国办发〔2020〕42号）"
    ),
    dishonesty_repair_materials=(
        "整改完成证明（已纠正失信行为、消除不良影响的证明材料）",
        "信用承诺书",
    ),
    incentive_months=36,
    consultation_phone="12345政务服务便民热线",
)

RULE_PACKS: Final[tuple[PublicityRulePack, ...]] = (NDRC_ORDER_58,)


class NoRulePackInForce(LookupError):
    """No publicity rule pack was in force on a date."""

    code = "rule_pack_not_in_force"


def rule_pack_in_force(
    on: date, packs: tuple[PublicityRulePack, ...] = RULE_PACKS
) -> PublicityRulePack:
    """The pack that governs publicity published on `on`: the latest one already in force."""
    in_force = [p for p in packs if p.effective_from <= on]
    if not in_force:
        raise NoRulePackInForce(f"no penalty publicity rules were in force on {on.isoformat()}")
    return max(in_force, key=lambda p: p.effective_from)


# --- named rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicityWindow:
    """When a penalty is public, and from when its credit may be repaired (dates inclusive)."""

    starts_on: date  # the business date it was published
    ends_on: date  # last day shown: the maximum period's last day
    repair_eligible_on: date  # first day after the minimum period
    publish_by: date | None  # latest lawful start; None if the calendar does not know the year

    def contains(self, today: date) -> bool:
        """Rule `in_publicity`: shown to the public on this business date."""
        return is_in_publicity(self.starts_on, self.ends_on, today)

    @property
    def is_published_late(self) -> bool | None:
        return is_published_late(self.starts_on, self.publish_by)

    @property
    def has_elapsed(self) -> bool:
        """The maximum period ran out before it could be published: never shown at all."""
        return self.starts_on > self.ends_on


def is_published_late(starts_on: date, publish_by: date | None) -> bool | None:
    """Published after the 双公示 deadline (None when the deadline is unknown)."""
    return None if publish_by is None else starts_on > publish_by


def is_in_publicity(starts_on: date, ends_on: date, today: date) -> bool:
    """Rule `in_publicity`: a record is public from its start to its last day, both included."""
    return starts_on <= today <= ends_on


def publication_deadline(
    pack: PublicityRulePack, decided_on: date, working_days: WorkingDays
) -> date | None:
    """Rule `publish_within_working_days`: the latest day publicity may start (双公示).

    None when the official calendar does not cover the dates yet: unknown working days are never
    guessed as plain weekdays.
    """
    try:
        return working_days.add_working_days(decided_on, pack.publication_working_days)
    except CalendarYearUnknown:
        return None


def publicity_window(
    pack: PublicityRulePack,
    severity: Severity,
    decided_on: date,
    published_on: date,
    working_days: WorkingDays | None,
    *,
    elapsed_ok: bool = False,
) -> PublicityWindow:
    """Rule `penalty_publicity_window`: the window of a penalty (or a dishonesty record of the
    same severity) published on `published_on`.

    Refuses a decision dated after its publication. One whose maximum period has already run
    out may no longer be shown: refused, or with `elapsed_ok` returned as an empty window
    (`has_elapsed`) so that a decision received too late is still kept on file. Without a
    calendar there is no 双公示 deadline (dishonesty records are not penalty decisions).
    """
    if decided_on > published_on:
        raise PenaltyRuleViolated(
            "decided_on",
            "decision_in_future",
            f"decided_on {decided_on.isoformat()} is after today ({published_on.isoformat()})",
        )
    term = pack.term(severity)
    ends_on = add_months(decided_on, term.maximum_months)
    if ends_on < published_on and not elapsed_ok:
        raise PenaltyRuleViolated(
            "decided_on",
            "publicity_period_elapsed",
            f"the {term.maximum_months}-month publicity period of a {severity.value} penalty "
            f"decided on {decided_on.isoformat()} ended on {ends_on.isoformat()}; it may no "
            "longer be published",
        )
    return PublicityWindow(
        starts_on=published_on,
        ends_on=ends_on,
        repair_eligible_on=add_months(decided_on, term.minimum_months) + timedelta(days=1),
        publish_by=(
            None if working_days is None else publication_deadline(pack, decided_on, working_days)
        ),
    )


@dataclass(frozen=True)
class IncentiveWindow:
    """When an incentive is public (dates inclusive); there is no repair date."""

    starts_on: date
    ends_on: date


def incentive_window(
    pack: PublicityRulePack, decided_on: date, published_on: date
) -> IncentiveWindow:
    """Rule `incentive_publicity_window`: published from today to `incentive_months` after the
    decision; refused if the decision is in the future or its period has run out."""
    if decided_on > published_on:
        raise PenaltyRuleViolated(
            "decided_on",
            "decision_in_future",
            f"decided_on {decided_on.isoformat()} is after today ({published_on.isoformat()})",
        )
    ends_on = add_months(decided_on, pack.incentive_months)
    if ends_on < published_on:
        raise PenaltyRuleViolated(
            "decided_on",
            "publicity_period_elapsed",
            f"the {pack.incentive_months}-month publicity period of an incentive decided on "
            f"{decided_on.isoformat()} ended on {ends_on.isoformat()}; it may no longer be "
            "published",
        )
    return IncentiveWindow(starts_on=published_on, ends_on=ends_on)


def check_penalty_content(fine_amount: Decimal | None, other_measures: str | None) -> None:
    """Rule `penalty_content_present`: a penalty is a fine above zero or some other measure."""
    has_fine = fine_amount is not None and fine_amount > 0
    has_measures = bool(other_measures and other_measures.strip())
    if not (has_fine or has_measures):
        raise PenaltyRuleViolated(
            "other_measures",
            "penalty_content_missing",
            "a penalty needs a fine above zero or other measures (e.g. 警告, 责令停产停业整顿)",
        )


# --- decision numbers ----------------------------------------------------------------------

# GB/T 9704-2012 writes the year of a document number in hexagonal brackets 〔〕; people type
# [], （）, 【】 or full-width forms, which must not make one decision look like two.
_YEAR_IN_BRACKETS: Final = re.compile(r"[\[(【〔［（]\s*(\d{4})\s*[\])】〕］）]")
DECISION_NUMBER_PATTERN: Final = re.compile(r"^\S+〔\d{4}〕\S*\d+号$")


def normalise_decision_number(value: str) -> str:
    """The canonical form of a decision number (行政处罚决定书文号): 青应急罚〔2026〕12号."""
    text = unicodedata.normalize("NFKC", value)
    text = "".join(text.split())
    return _YEAR_IN_BRACKETS.sub(r"〔\1〕", text)


def is_decision_number(value: str) -> bool:
    """Rule `decision_number_format`: authority code, 〔year〕, serial number, 号."""
    return DECISION_NUMBER_PATTERN.fullmatch(value) is not None


# --- who may read what ---------------------------------------------------------------------


@dataclass(frozen=True)
class Readership:
    """Rule `penalty_readership`: what a reader may see.

    Everyone sees what is in publicity; once the period ends the record is withdrawn from the
    public. The bureau sees every record; an enterprise also sees all of its own.
    """

    sees_all: bool = False
    own_uscc: str | None = None

    def may_read(self, uscc: str, in_publicity: bool) -> bool:
        return (
            self.sees_all or in_publicity or (self.own_uscc is not None and uscc == self.own_uscc)
        )


PUBLIC_READERSHIP: Final = Readership()


# --- the repair notice (信用修复告知书) -------------------------------------------------------


def zh_date(day: date) -> str:
    """A date as written in Chinese official documents: 2026年3月5日."""
    return f"{day.year}年{day.month}月{day.day}日"


def zh_months(months: int) -> str:
    """A period in months as written in the regulation: 三个月, 一年, 三年."""
    if months % 12 == 0:
        return f"{_zh_number(months // 12)}年"
    return f"{_zh_number(months)}个月"


_DIGITS_ZH: Final = "零一二三四五六七八九"


def _zh_number(n: int) -> str:
    """A count in Chinese numerals (两 for a lone 2, as in 两年); digits from 100 on."""
    if n < 0 or n >= 100:
        return str(n)
    if n == 2:
        return "两"
    if n < 10:
        return _DIGITS_ZH[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else _DIGITS_ZH[tens]
    return f"{head}十{_DIGITS_ZH[ones] if ones else ''}"


@dataclass(frozen=True)
class NoticeFacts:
    """What the repair notice and the guide say about one penalty or dishonesty record.

    For a dishonesty record `decision_number` is the licence the false pledge was made for and
    `decided_on` the day verification found it untrue.
    """

    enterprise_name: str
    uscc: str
    decision_number: str
    decided_on: date
    severity: Severity
    fine_amount: Decimal | None
    window: PublicityWindow
    record_class: RecordClass = RecordClass.penalty


def _require_repairable(facts: NoticeFacts) -> None:
    if not facts.record_class.is_repairable:
        raise ValueError(f"a {facts.record_class.value} record has no credit repair")


def repair_materials(pack: PublicityRulePack, facts: NoticeFacts) -> list[str]:
    """Rule `repair_materials`: what a repair application needs; the fine's receipt when fined."""
    _require_repairable(facts)
    if facts.record_class is RecordClass.dishonesty:
        return list(pack.dishonesty_repair_materials)
    materials = list(pack.repair_materials)
    if facts.fine_amount is not None and facts.fine_amount > 0:
        materials[-1] += f"（罚款人民币{facts.fine_amount:,.2f}元的缴纳凭证）"
    return materials


def _numbered(items: list[str], indent: str = "    ") -> list[str]:
    """Items as 1. …；2. …。 the way a notice lists them."""
    return [
        f"{indent}{i}. {m}；" if i < len(items) else f"{indent}{i}. {m}。"
        for i, m in enumerate(items, start=1)
    ]


def repair_notice(pack: PublicityRulePack, facts: NoticeFacts) -> str:
    """Rule `repair_rights_notice`: the notice served with the decision (Qingdao measure 10)."""
    materials = repair_materials(pack, facts)
    term = pack.term(facts.severity)
    window = facts.window
    if facts.record_class is RecordClass.dishonesty:
        title = "失信信息信用修复告知书"
        fact = (
            f"    经{zh_date(facts.decided_on)}核查，你单位就许可证（编号{facts.decision_number}）"
            f"作出的告知承诺与实际情况不符，依据{pack.pledge_dishonesty_basis}记入失信记录。"
            f"该信息属于{facts.severity.zh}，"
        )
        condition = "你单位在纠正失信行为、消除不良影响后"
    else:
        title = "行政处罚信息信用修复告知书"
        fact = (
            f"    本机关于{zh_date(facts.decided_on)}对你单位作出行政处罚决定"
            f"（{facts.decision_number}），该行政处罚信息属于{facts.severity.zh}，"
        )
        condition = "你单位在纠正失信行为、履行行政处罚决定后"
    lines = [
        title,
        "",
        f"{facts.enterprise_name}（统一社会信用代码：{facts.uscc}）：",
        "",
        fact + f"自{zh_date(window.starts_on)}起依法向社会公示，"
        f"最长公示期{zh_months(term.maximum_months)}，至{zh_date(window.ends_on)}届满，"
        "届满后自动停止公示。",
        f"    根据{pack.source}，你单位享有申请信用修复的权利。最短公示期"
        f"{zh_months(term.minimum_months)}届满后，即自{zh_date(window.repair_eligible_on)}起，"
        f"{condition}，可以申请信用修复、提前停止公示。",
        "    申请时请提交以下材料：",
        *_numbered(materials),
        f"    申请渠道：{'；'.join(pack.repair_channels)}。",
        f"    本机关自收到完整申请材料之日起{_zh_number(pack.repair_verification_working_days)}"
        "个工作日内完成信息核实，并将结果反馈你单位或上传信用网站。",
        "",
        f"{pack.issuing_authority}",
        f"{zh_date(window.starts_on)}",
    ]
    return "\n".join(lines)


def repair_guide(pack: PublicityRulePack, facts: NoticeFacts) -> str:
    """Rule `repair_guide`: the one-page plain-language guide (信用修复明白纸) handed out with
    the notice: when, what to bring, where, how long, what changes, whom to ask."""
    materials = repair_materials(pack, facts)
    term = pack.term(facts.severity)
    window = facts.window
    document = "许可证编号" if facts.record_class is RecordClass.dishonesty else "处罚决定书文号"
    days = _zh_number(pack.repair_verification_working_days)
    lines = [
        "信用修复明白纸",
        "",
        f"{facts.enterprise_name}（统一社会信用代码：{facts.uscc}）",
        f"{document}：{facts.decision_number}",
        "",
        "一、什么时候可以申请",
        f"    自{zh_date(window.repair_eligible_on)}起（最短公示期"
        f"{zh_months(term.minimum_months)}届满后）可以申请。公示期至{zh_date(window.ends_on)}"
        "届满，届满后自动停止公示，不用申请。",
        "二、需要准备什么材料",
        *_numbered(materials),
        "三、到哪里申请",
        *_numbered(list(pack.repair_channels)),
        "四、多长时间办结",
        f"    自收到完整申请材料之日起{days}个工作日内办结。",
        "五、修复后的效果",
        "    修复成功后停止公示，信用网站同步更新。",
        "六、咨询电话",
        f"    {pack.consultation_phone}",
        "",
        f"{pack.issuing_authority}",
    ]
    return "\n".join(lines)
