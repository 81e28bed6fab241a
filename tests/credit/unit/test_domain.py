"""Credit rules: the publicity rule pack, record classes, period arithmetic, readership, the repair
notice and the repair guide."""

from __future__ import annotations

import calendar as stdlib_calendar
import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.uscc import make_uscc
from kernel.workdays import CalendarYearUnknown, WorkingDayCalendar
from services.credit.domain import (
    INCENTIVE_SEVERITY,
    NDRC_ORDER_58,
    PUBLIC_READERSHIP,
    RULE_PACKS,
    NoRulePackInForce,
    NoticeFacts,
    PenaltyRuleViolated,
    PublicityRulePack,
    PublicityTerm,
    PublicityWindow,
    Readership,
    RecordClass,
    Severity,
    add_months,
    check_penalty_content,
    incentive_window,
    is_decision_number,
    is_in_publicity,
    is_published_late,
    normalise_decision_number,
    publication_deadline,
    publicity_window,
    repair_guide,
    repair_materials,
    repair_notice,
    rule_pack_in_force,
    zh_date,
    zh_months,
)

USCC = make_uscc(501)
PACK = NDRC_ORDER_58


class PlainWeekdays:
    """A fake calendar: Monday to Friday are working days, no holidays."""

    def add_working_days(self, start: date, n: int) -> date:
        day = start
        while n:
            day += timedelta(days=1)
            if day.weekday() < 5:
                n -= 1
        return day


class UnknownYears:
    """A fake calendar that knows no year at all."""

    def add_working_days(self, start: date, n: int) -> date:
        raise CalendarYearUnknown(start.year)


def window(
    severity: Severity, decided_on: date, published_on: date | None = None
) -> PublicityWindow:
    return publicity_window(PACK, severity, decided_on, published_on or decided_on, PlainWeekdays())


class TestAddMonths:
    @pytest.mark.parametrize(
        ("day", "months", "expected"),
        [
            (date(2026, 3, 10), 0, date(2026, 3, 10)),
            (date(2026, 3, 10), 3, date(2026, 6, 10)),
            (date(2026, 3, 10), 12, date(2027, 3, 10)),
            (date(2026, 3, 10), 36, date(2029, 3, 10)),
            (date(2026, 12, 15), 1, date(2027, 1, 15)),
            (date(2026, 12, 31), 12, date(2027, 12, 31)),
            # No corresponding day: the month's last day (《民法典》第二百零二条).
            (date(2026, 1, 31), 1, date(2026, 2, 28)),
            (date(2024, 1, 31), 1, date(2024, 2, 29)),
            (date(2026, 1, 31), 3, date(2026, 4, 30)),
            (date(2026, 3, 31), 6, date(2026, 9, 30)),
            (date(2026, 8, 31), 3, date(2026, 11, 30)),
            (date(2026, 11, 30), 3, date(2027, 2, 28)),
            (date(2023, 11, 30), 3, date(2024, 2, 29)),
            (date(2026, 5, 31), 1, date(2026, 6, 30)),
            # 29 February.
            (date(2024, 2, 29), 3, date(2024, 5, 29)),
            (date(2024, 2, 29), 12, date(2025, 2, 28)),
            (date(2024, 2, 29), 36, date(2027, 2, 28)),
            (date(2024, 2, 29), 48, date(2028, 2, 29)),
            (date(2023, 2, 28), 12, date(2024, 2, 28)),
            # Backwards, for completeness.
            (date(2026, 3, 31), -1, date(2026, 2, 28)),
            (date(2026, 1, 15), -1, date(2025, 12, 15)),
        ],
    )
    def test_corresponding_day_or_month_end(self, day: date, months: int, expected: date) -> None:
        assert add_months(day, months) == expected

    @given(
        st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
        st.integers(min_value=0, max_value=120),
    )
    def test_lands_in_the_right_month_on_the_same_day_or_the_last(
        self, day: date, months: int
    ) -> None:
        result = add_months(day, months)
        assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
        last = stdlib_calendar.monthrange(result.year, result.month)[1]
        assert result.day == min(day.day, last)

    @given(
        st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
        st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
        st.sampled_from([3, 12, 36]),
    )
    def test_never_reorders_two_dates(self, a: date, b: date, months: int) -> None:
        if a <= b:
            assert add_months(a, months) <= add_months(b, months)


class TestRulePack:
    def test_order_58_terms(self) -> None:
        assert PACK.term(Severity.general) == PublicityTerm(maximum_months=12, minimum_months=3)
        assert PACK.term(Severity.serious) == PublicityTerm(maximum_months=36, minimum_months=12)
        assert PACK.publication_working_days == 7
        assert PACK.repair_verification_working_days == 3

    def test_pack_names_its_sources(self) -> None:
        assert PACK.id == "ndrc-2023-58"
        assert PACK.version == "1"
        assert "国家发展和改革委员会令2023年第58号" in PACK.source
        assert "失信行为纠正后的信用信息修复管理办法（试行）" in PACK.source
        assert "发改办财金〔2015〕2700号" in PACK.publication_source
        assert PACK.effective_from == date(2023, 5, 1)

    def test_pack_is_immutable(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            PACK.version = "2"  # type: ignore[misc]

    def test_in_force_from_its_effective_date(self) -> None:
        assert rule_pack_in_force(date(2023, 5, 1)) is PACK
        assert rule_pack_in_force(date(2030, 1, 1)) is PACK
        with pytest.raises(NoRulePackInForce, match="2023-04-30"):
            rule_pack_in_force(date(2023, 4, 30))

    def test_a_newer_pack_takes_over_on_its_date(self) -> None:
        newer = dataclasses.replace(PACK, version="2", effective_from=date(2027, 1, 1))
        packs = (*RULE_PACKS, newer)
        assert rule_pack_in_force(date(2026, 12, 31), packs) is PACK
        assert rule_pack_in_force(date(2027, 1, 1), packs) is newer


class TestPublicityWindow:
    @pytest.mark.parametrize(
        ("severity", "decided_on", "ends_on", "repair_eligible_on"),
        [
            (Severity.general, date(2026, 3, 10), date(2027, 3, 10), date(2026, 6, 11)),
            (Severity.serious, date(2026, 3, 10), date(2029, 3, 10), date(2027, 3, 11)),
            # 29 February: no corresponding day in a common year → 28 February.
            (Severity.general, date(2024, 2, 29), date(2025, 2, 28), date(2024, 5, 30)),
            (Severity.serious, date(2024, 2, 29), date(2027, 2, 28), date(2025, 3, 1)),
            # Month ends: the minimum period ends on February's last day.
            (Severity.general, date(2026, 11, 30), date(2027, 11, 30), date(2027, 3, 1)),
            (Severity.general, date(2023, 11, 30), date(2024, 11, 30), date(2024, 3, 1)),
            (Severity.general, date(2026, 12, 31), date(2027, 12, 31), date(2027, 4, 1)),
            (Severity.serious, date(2026, 12, 31), date(2029, 12, 31), date(2028, 1, 1)),
        ],
    )
    def test_periods_run_from_the_decision(
        self, severity: Severity, decided_on: date, ends_on: date, repair_eligible_on: date
    ) -> None:
        w = window(severity, decided_on)
        assert w.starts_on == decided_on
        assert w.ends_on == ends_on
        assert w.repair_eligible_on == repair_eligible_on

    def test_publicity_starts_on_the_day_it_is_published(self) -> None:
        w = window(Severity.general, date(2026, 3, 10), date(2026, 3, 12))
        assert w.starts_on == date(2026, 3, 12)

    def test_late_publication_does_not_extend_the_legal_maximum(self) -> None:
        w = window(Severity.general, date(2026, 3, 10), date(2026, 9, 1))
        assert (w.starts_on, w.ends_on) == (date(2026, 9, 1), date(2027, 3, 10))
        assert w.repair_eligible_on == date(2026, 6, 11)  # already open on publication

    def test_decision_after_today_is_refused(self) -> None:
        with pytest.raises(PenaltyRuleViolated) as caught:
            window(Severity.general, date(2026, 3, 11), date(2026, 3, 10))
        assert (caught.value.field, caught.value.code) == ("decided_on", "decision_in_future")

    @pytest.mark.parametrize(
        ("severity", "decided_on"),
        [(Severity.general, date(2025, 1, 10)), (Severity.serious, date(2023, 1, 10))],
    )
    def test_may_be_published_up_to_its_last_day_and_not_after(
        self, severity: Severity, decided_on: date
    ) -> None:
        last_day = add_months(decided_on, PACK.term(severity).maximum_months)
        assert window(severity, decided_on, last_day).ends_on == last_day
        with pytest.raises(PenaltyRuleViolated) as caught:
            window(severity, decided_on, last_day + timedelta(days=1))
        assert (caught.value.field, caught.value.code) == ("decided_on", "publicity_period_elapsed")

    def test_contains_is_inclusive_at_both_ends(self) -> None:
        w = window(Severity.general, date(2026, 3, 10), date(2026, 3, 12))
        assert not w.contains(date(2026, 3, 11))
        assert w.contains(date(2026, 3, 12))
        assert w.contains(date(2027, 3, 10))
        assert not w.contains(date(2027, 3, 11))
        assert is_in_publicity(w.starts_on, w.ends_on, date(2026, 12, 1))


class TestPublicationDeadline:
    def test_seven_working_days_on_plain_weekdays(self) -> None:
        # Tuesday 10 March 2026 + 7 working days: 11, 12, 13, 16, 17, 18, 19.
        assert publication_deadline(PACK, date(2026, 3, 10), PlainWeekdays()) == date(2026, 3, 19)

    def test_official_calendar_skips_national_day_and_counts_makeup_days(self) -> None:
        # 2025: 1-8 October off, Saturday 11 October a make-up working day (调休).
        deadline = publication_deadline(PACK, date(2025, 9, 30), WorkingDayCalendar())
        assert deadline == date(2025, 10, 16)

    def test_unknown_year_is_none_not_a_guess(self) -> None:
        assert publication_deadline(PACK, date(2026, 3, 10), UnknownYears()) is None
        w = publicity_window(
            PACK, Severity.general, date(2026, 3, 10), date(2026, 3, 30), UnknownYears()
        )
        assert w.publish_by is None
        assert w.is_published_late is None

    def test_late_only_after_the_deadline(self) -> None:
        on_time = window(Severity.general, date(2026, 3, 10), date(2026, 3, 19))
        late = window(Severity.general, date(2026, 3, 10), date(2026, 3, 20))
        assert on_time.publish_by == late.publish_by == date(2026, 3, 19)
        assert on_time.is_published_late is False
        assert late.is_published_late is True
        assert is_published_late(date(2026, 3, 20), None) is None


class TestPenaltyContent:
    @pytest.mark.parametrize(
        ("fine", "measures"),
        [(Decimal("0.01"), None), (Decimal("50000"), "警告"), (None, "警告"), (Decimal(0), "警告")],
    )
    def test_fine_or_measures_suffice(self, fine: Decimal | None, measures: str | None) -> None:
        check_penalty_content(fine, measures)

    @pytest.mark.parametrize(
        ("fine", "measures"), [(None, None), (Decimal(0), None), (None, "  "), (Decimal(0), "")]
    )
    def test_a_penalty_without_content_is_refused(
        self, fine: Decimal | None, measures: str | None
    ) -> None:
        with pytest.raises(PenaltyRuleViolated) as caught:
            check_penalty_content(fine, measures)
        assert caught.value.code == "penalty_content_missing"
        assert caught.value.field == "other_measures"


class TestDecisionNumber:
    @pytest.mark.parametrize(
        "typed",
        [
            "青应急罚〔2026〕12号",
            " 青应急罚〔2026〕12号 ",
            "青应急罚[2026]12号",
            "青应急罚［2026］12号",
            "青应急罚(2026)12号",
            "青应急罚（2026）12号",
            "青应急罚【2026】12号",
            "青应急罚 〔 2026 〕 12 号",
            "青应急罚〔２０２６〕１２号",
        ],
    )
    def test_variants_normalise_to_one_form(self, typed: str) -> None:
        assert normalise_decision_number(typed) == "青应急罚〔2026〕12号"

    @pytest.mark.parametrize(
        "number", ["青应急罚〔2026〕12号", "(青)应急罚〔2026〕第7号", "鲁青应急罚字〔2025〕108号"]
    )
    def test_well_formed(self, number: str) -> None:
        assert is_decision_number(normalise_decision_number(number))

    @pytest.mark.parametrize(
        "number",
        ["12号", "青应急罚2026年12号", "青应急罚〔26〕12号", "青应急罚〔2026〕号", "〔2026〕12号"],
    )
    def test_malformed(self, number: str) -> None:
        assert not is_decision_number(normalise_decision_number(number))


class TestReadership:
    def test_public_sees_only_what_is_in_publicity(self) -> None:
        assert PUBLIC_READERSHIP.may_read(USCC, in_publicity=True)
        assert not PUBLIC_READERSHIP.may_read(USCC, in_publicity=False)

    def test_bureau_sees_everything(self) -> None:
        assert Readership(sees_all=True).may_read(USCC, in_publicity=False)

    def test_enterprise_sees_all_of_its_own_and_the_public_part_of_others(self) -> None:
        own = Readership(own_uscc=USCC)
        assert own.may_read(USCC, in_publicity=False)
        assert own.may_read(make_uscc(502), in_publicity=True)
        assert not own.may_read(make_uscc(502), in_publicity=False)


def facts(
    severity: Severity = Severity.general,
    fine: Decimal | None = Decimal("50000.00"),
    published_on: date = date(2026, 3, 12),
    record_class: RecordClass = RecordClass.penalty,
) -> NoticeFacts:
    decided_on = date(2026, 3, 10)
    return NoticeFacts(
        enterprise_name="青岛海湾化工有限公司",
        uscc=USCC,
        decision_number="青应急罚〔2026〕12号"
        if record_class is RecordClass.penalty
        else "QDWH-2026-0042",
        decided_on=decided_on,
        severity=severity,
        fine_amount=fine,
        window=window(severity, decided_on, published_on),
        record_class=record_class,
    )


class TestRepairNotice:
    def test_general_penalty_notice(self) -> None:
        text = repair_notice(PACK, facts())
        assert text.startswith("行政处罚信息信用修复告知书\n")
        assert f"青岛海湾化工有限公司（统一社会信用代码：{USCC}）：" in text
        assert "2026年3月10日对你单位作出行政处罚决定（青应急罚〔2026〕12号）" in text
        assert "属于一般失信行为" in text
        assert "自2026年3月12日起依法向社会公示" in text
        assert "最长公示期一年，至2027年3月10日届满" in text
        assert "最短公示期三个月届满后，即自2026年6月11日起" in text
        assert "国家发展和改革委员会令2023年第58号" in text
        assert text.endswith("青岛市应急管理局\n2026年3月12日")

    def test_serious_penalty_notice(self) -> None:
        text = repair_notice(PACK, facts(Severity.serious))
        assert "属于严重失信行为" in text
        assert "最长公示期三年，至2029年3月10日届满" in text
        assert "最短公示期一年届满后，即自2027年3月11日起" in text

    def test_lists_the_materials_channels_and_verification_time(self) -> None:
        text = repair_notice(PACK, facts())
        assert "1. 整改完成证明" in text
        assert "2. 信用承诺书；" in text
        assert "3. 履行行政处罚决定的证明（罚款人民币50,000.00元的缴纳凭证）。" in text
        assert "“信用中国（山东青岛）”网站" in text
        assert "青岛市应急管理局政务服务窗口" in text
        assert "三个工作日内完成信息核实" in text

    @pytest.mark.parametrize("fine", [None, Decimal(0)])
    def test_without_a_fine_asks_for_no_payment_receipt(self, fine: Decimal | None) -> None:
        text = repair_notice(PACK, facts(fine=fine))
        assert "3. 履行行政处罚决定的证明。" in text
        assert "罚款" not in text

    def test_is_deterministic(self) -> None:
        assert repair_notice(PACK, facts()) == repair_notice(PACK, facts())

    def test_follows_the_pack(self) -> None:
        stricter = dataclasses.replace(
            PACK, general=PublicityTerm(maximum_months=12, minimum_months=12)
        )
        text = repair_notice(stricter, facts())
        assert "最短公示期一年届满后" in text


class TestRecordClasses:
    def test_pack_terms_per_class(self) -> None:
        # Dishonesty is published on the penalty terms of its severity; incentives 36 months.
        assert PACK.incentive_months == 36
        assert "国办发〔2020〕42号" in PACK.pledge_dishonesty_basis
        assert "告知承诺制" in PACK.pledge_dishonesty_basis
        assert PACK.consultation_phone == "12345政务服务便民热线"

    def test_only_adverse_records_are_repairable(self) -> None:
        assert RecordClass.penalty.is_repairable
        assert RecordClass.dishonesty.is_repairable
        assert not RecordClass.incentive.is_repairable
        assert INCENTIVE_SEVERITY not in {s.value for s in Severity}

    @pytest.mark.parametrize(
        ("decided_on", "ends_on"),
        [
            (date(2026, 3, 10), date(2029, 3, 10)),
            (date(2024, 2, 29), date(2027, 2, 28)),  # no 29 February in 2027
            (date(2026, 1, 31), date(2029, 1, 31)),
            (date(2025, 8, 31), date(2028, 8, 31)),
        ],
    )
    def test_incentive_is_public_36_months_from_its_decision(
        self, decided_on: date, ends_on: date
    ) -> None:
        w = incentive_window(PACK, decided_on, decided_on + timedelta(days=2))
        assert (w.starts_on, w.ends_on) == (decided_on + timedelta(days=2), ends_on)
        assert incentive_window(PACK, decided_on, ends_on).ends_on == ends_on

    def test_incentive_refused_in_the_future_or_after_its_period(self) -> None:
        with pytest.raises(PenaltyRuleViolated) as future:
            incentive_window(PACK, date(2026, 3, 11), date(2026, 3, 10))
        assert future.value.code == "decision_in_future"
        with pytest.raises(PenaltyRuleViolated) as elapsed:
            incentive_window(PACK, date(2023, 3, 10), date(2026, 3, 11))
        assert elapsed.value.code == "publicity_period_elapsed"

    def test_an_elapsed_decision_can_be_kept_as_an_empty_window(self) -> None:
        w = publicity_window(
            PACK,
            Severity.general,
            date(2025, 1, 10),
            date(2026, 3, 12),
            PlainWeekdays(),
            elapsed_ok=True,
        )
        assert w.has_elapsed
        assert w.ends_on == date(2026, 1, 10)
        assert not w.contains(date(2026, 1, 10))
        assert not w.contains(date(2026, 3, 12))
        assert not window(Severity.general, date(2026, 3, 10)).has_elapsed

    def test_without_a_calendar_there_is_no_publication_deadline(self) -> None:
        w = publicity_window(PACK, Severity.general, date(2026, 3, 10), date(2026, 3, 12), None)
        assert w.publish_by is None
        assert w.ends_on == date(2027, 3, 10)

    def test_incentives_have_no_notice_guide_or_materials(self) -> None:
        incentive = dataclasses.replace(facts(), record_class=RecordClass.incentive)
        for document in (repair_notice, repair_guide, repair_materials):
            with pytest.raises(ValueError, match="no credit repair"):
                document(PACK, incentive)


class TestPenaltyNoticeUnchanged:
    def test_penalty_notice_is_word_for_word_the_one_pack_version_1_served(self) -> None:
        # Pack version 1 is kept because adding record classes changed no penalty's text.
        expected = (
            "行政处罚信息信用修复告知书\n\n"
            f"青岛海湾化工有限公司（统一社会信用代码：{USCC}）：\n\n"
            "    本机关于2026年3月10日对你单位作出行政处罚决定（青应急罚〔2026〕12号），"
            "该行政处罚信息属于一般失信行为，自2026年3月12日起依法向社会公示，最长公示期一年，"
            "至2027年3月10日届满，届满后自动停止公示。\n"
            "    根据《失信行为纠正后的信用信息修复管理办法（试行）》（国家发展和改革委员会令"
            "2023年第58号，自2023年5月1日起施行），你单位享有申请信用修复的权利。最短公示期"
            "三个月届满后，即自2026年6月11日起，你单位在纠正失信行为、履行行政处罚决定后，"
            "可以申请信用修复、提前停止公示。\n"
            "    申请时请提交以下材料：\n"
            "    1. 整改完成证明（已纠正失信行为、消除不良影响的证明材料）；\n"
            "    2. 信用承诺书；\n"
            "    3. 履行行政处罚决定的证明（罚款人民币50,000.00元的缴纳凭证）。\n"
            "    申请渠道：“信用中国（山东青岛）”网站在线申请；青岛市应急管理局政务服务窗口"
            "现场申请。\n"
            "    本机关自收到完整申请材料之日起三个工作日内完成信息核实，并将结果反馈你单位或"
            "上传信用网站。\n\n"
            "青岛市应急管理局\n"
            "2026年3月12日"
        )
        assert repair_notice(PACK, facts()) == expected
        assert PACK.version == "1"


class TestDishonestyNotice:
    def test_names_the_false_pledge_and_its_basis(self) -> None:
        text = repair_notice(PACK, facts(fine=None, record_class=RecordClass.dishonesty))
        assert text.startswith("失信信息信用修复告知书\n")
        assert "许可证（编号QDWH-2026-0042）作出的告知承诺与实际情况不符" in text
        assert "国办发〔2020〕42号" in text
        assert "属于一般失信行为" in text
        assert "最短公示期三个月届满后，即自2026年6月11日起" in text
        assert "纠正失信行为、消除不良影响后" in text
        assert "1. 整改完成证明（已纠正失信行为、消除不良影响的证明材料）；" in text
        assert "2. 信用承诺书。" in text
        assert "行政处罚" not in text

    def test_serious_dishonesty_has_the_serious_terms(self) -> None:
        text = repair_notice(
            PACK, facts(Severity.serious, fine=None, record_class=RecordClass.dishonesty)
        )
        assert "最长公示期三年，至2029年3月10日届满" in text


class TestRepairGuide:
    def test_penalty_guide_answers_the_six_questions(self) -> None:
        text = repair_guide(PACK, facts())
        lines = text.split("\n")
        assert lines[0] == "信用修复明白纸"
        assert f"青岛海湾化工有限公司（统一社会信用代码：{USCC}）" in lines
        assert "处罚决定书文号：青应急罚〔2026〕12号" in lines
        headings = [
            line for line in lines if line[:2] in {"一、", "二、", "三、", "四、", "五、", "六、"}
        ]
        assert headings == [
            "一、什么时候可以申请",
            "二、需要准备什么材料",
            "三、到哪里申请",
            "四、多长时间办结",
            "五、修复后的效果",
            "六、咨询电话",
        ]
        assert "    自2026年6月11日起（最短公示期三个月届满后）可以申请。" in text
        assert "公示期至2027年3月10日届满，届满后自动停止公示" in text
        assert "    3. 履行行政处罚决定的证明（罚款人民币50,000.00元的缴纳凭证）。" in lines
        assert "    1. “信用中国（山东青岛）”网站在线申请；" in lines
        assert "    2. 青岛市应急管理局政务服务窗口现场申请。" in lines
        assert "    自收到完整申请材料之日起三个工作日内办结。" in lines
        assert "    修复成功后停止公示，信用网站同步更新。" in lines
        assert lines[lines.index("六、咨询电话") + 1] == "    12345政务服务便民热线"
        assert lines[-1] == "青岛市应急管理局"

    def test_serious_penalty_guide_dates(self) -> None:
        text = repair_guide(PACK, facts(Severity.serious))
        assert "自2027年3月11日起（最短公示期一年届满后）可以申请" in text
        assert "公示期至2029年3月10日届满" in text

    @pytest.mark.parametrize("fine", [None, Decimal(0)])
    def test_without_a_fine_no_receipt_is_asked_for(self, fine: Decimal | None) -> None:
        text = repair_guide(PACK, facts(fine=fine))
        assert "    3. 履行行政处罚决定的证明。" in text.split("\n")
        assert "罚款" not in text

    def test_dishonesty_guide_names_the_licence_and_its_materials(self) -> None:
        text = repair_guide(PACK, facts(fine=None, record_class=RecordClass.dishonesty))
        assert "许可证编号：QDWH-2026-0042" in text
        assert "    2. 信用承诺书。" in text.split("\n")
        assert "履行行政处罚决定" not in text

    def test_follows_the_pack(self) -> None:
        other = dataclasses.replace(
            PACK, consultation_phone="0532-00000000", repair_verification_working_days=5
        )
        text = repair_guide(other, facts())
        assert "    0532-00000000" in text
        assert "五个工作日内办结" in text


class TestChineseWriting:
    @pytest.mark.parametrize(
        ("day", "text"),
        [(date(2026, 3, 5), "2026年3月5日"), (date(2027, 12, 31), "2027年12月31日")],
    )
    def test_dates(self, day: date, text: str) -> None:
        assert zh_date(day) == text

    @pytest.mark.parametrize(
        ("months", "text"),
        [
            (1, "一个月"),
            (2, "两个月"),
            (3, "三个月"),
            (6, "六个月"),
            (10, "十个月"),
            (18, "十八个月"),
            (12, "一年"),
            (24, "两年"),
            (36, "三年"),
            (30, "三十个月"),
        ],
    )
    def test_periods(self, months: int, text: str) -> None:
        assert zh_months(months) == text


def test_every_pack_is_well_formed() -> None:
    """Each shipped pack: minimum below maximum, unique (id, version), a source."""
    seen: set[tuple[str, str]] = set()
    for pack in RULE_PACKS:
        assert isinstance(pack, PublicityRulePack)
        for severity in Severity:
            term = pack.term(severity)
            assert 0 < term.minimum_months <= term.maximum_months
        assert pack.source
        assert pack.publication_source
        assert (pack.id, pack.version) not in seen
        seen.add((pack.id, pack.version))
