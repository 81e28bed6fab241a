"""十条措施: the bureau's ten measures for the business environment, each as a card with what the
bureau committed to (from its announcement) and the live figures the services' public APIs give:
permits' per-item figures, the insurers' scorecards, the monthly lists, and each service's
`/public/stats` aggregates. A figure no public API offers is not shown rather than estimated;
a service that does not answer blanks the figures it gives, not the page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from gateway.portal import charts
from gateway.portal.charts import Series
from gateway.portal.pages_inspections import TodayDep, month_document, shift
from gateway.portal.rendering import PORTAL_PREFIX, render, zh_number, zh_percent
from gateway.portal.upstream import PortalError, fetch

router = APIRouter()
log = logging.getLogger("gateway.portal")
T = TypeVar("T")


@dataclass(frozen=True)
class Measure:
    title: str  # as the bureau announced it
    commitment: str  # what it committed to, in the announcement's words
    anchor: str


# The ten measures as the bureau announced them (/work/shared/seed/qingdao-ten-measures.zh.txt).
MEASURES: Final = (
    Measure(
        "建立“1+21+N”宣教培训服务体系",
        "按照“市安委会+21个市级安全生产专业委员会+N名安全专家”模式组建宣讲团，每月确定一个"
        "主题，线上线下相结合开展定向培训宣讲，对重点项目全生命周期前置式培训指导。",
        "outreach",
    ),
    Measure(
        "创优“政保双联”事故预防体系",
        "保险机构提供“6+3”服务：6项必备服务（起保后风险评估、每季度重点排查、每半年起底式"
        "大检查、每年两次全员培训、协助整改政府部门发现的隐患、分类分级服务）和3项个性化服务；"
        "开展“惠企助安”公益活动，为中小微企业提供专家指导服务。",
        "insurance",
    ),
    Measure(
        "深化行政审批“精致化”管理",
        "扩大“秒批+承诺制”实施范围，无需现场核查和法定公示的事项全部“秒批”；承诺制办理的"
        "事项事后核查；所有事项实现互联网办理。",
        "approval",
    ),
    Measure(
        "实行说“不”事项提级管理",
        "“不说不能办、只说如何办”；拟说“不”的事项未经请示上一级领导不得直接说“不”；"
        "公开审批负责人联系电话。",
        "no-escalation",
    ),
    Measure(
        "构建以信用为基础的监管机制",
        "实行“红黑名单”管理：红名单企业减少执法检查频次、优先支持，建立联合激励对象名录；"
        "黑名单企业加大监督检查频次、约谈培训、行业或职业禁入。",
        "credit",
    ),
    Measure(
        "深化“差异化”监管执法",
        "分级分类执法：重点企业计划性检查，一般企业以“双随机”抽查为主；红名单和二级以上"
        "标准化企业每年检查不超过1次，黑名单企业每年不少于2次。",
        "differentiated",
    ),
    Measure(
        "规范实施“执法+普法”模式",
        "“一次执法一堂课”，规范实施启动、检查、合议、反馈“四步检查法”，现场答疑，讲明法理、"
        "讲清事理、讲通情理。",
        "education",
    ),
    Measure(
        "持续优化“执法+服务”措施",
        "公布重点执法事项和“三个清单”（含131项企业常见违法行为清单）；提前15日公示月度执法"
        "检查企业名单，企业有诉求的检查前给予指导帮扶；重大行政处罚案件回访。",
        "service",
    ),
    Measure(
        "实施包容审慎柔性执法",
        "违法行为轻微并及时改正、没有造成危害后果的，不予行政处罚；红名单、拟上市、“专精特新”"
        "及一般行业企业首次发现的制度管理类违法行为和一般隐患，以批评教育、责令整改为主；"
        "企业自查发现且正在整改的隐患不予罚款。",
        "lenient",
    ),
    Measure(
        "完善企业信用修复服务机制",
        "送达行政处罚决定书时同步告知信用修复权利；公示或管理期限届满前已纠正失信行为的，"
        "收到信用修复申请后3个工作日内完成核实并反馈或上传信用网站。",
        "repair",
    ),
)

SOURCE_NAMES: Final = {
    "permits": "审批",
    "credit": "信用",
    "inspection": "执法检查",
    "insurance": "保险服务",
}

# The lenient-enforcement rules (services/inspection/enforcement.py) in the public's words.
LENIENT_RULES: Final = {
    "minor_corrected_harmless": "轻微并及时改正、无危害后果，不予处罚",
    "self_found_hazard_under_rectification": "企业自查并正在整改的隐患，不予罚款",
    "first_offence_management_leniency": "首次发现的制度管理类问题，批评教育、责令整改",
    "first_offence_slight_harm": "初次违法、危害轻微并及时改正，不予处罚",
}

SERVICE_KINDS: Final = (
    ("risk_assessment", "起保后风险评估"),
    ("key_check", "每季度重点排查"),
    ("full_check", "每半年起底式大检查"),
    ("training", "全员培训"),
    ("hazard_assistance", "协助整改隐患"),
    ("graded_service", "分类分级服务"),
    ("one_plan", "一企一策"),
    ("remote_guidance", "24小时远程指导"),
    ("onsite_staff", "驻厂驻点"),
)


def n(value: Any, unit: str) -> str:
    return f"{zh_number(value)} {unit}"


def slashed(values: list[Any], unit: str) -> str:
    """Figures of one unit side by side, as their label names them: "3 / 1 / 0 家"."""
    return " / ".join(zh_number(v) for v in values) + f" {unit}"


@dataclass
class Block:
    """One source's figures on a card; `unavailable` names the source that did not answer."""

    facts: list[tuple[str, str]] = field(default_factory=list)
    chart: Markup | None = None
    note: str | None = None
    unavailable: str | None = None


@dataclass
class Card:
    no: int
    measure: Measure
    blocks: list[Block] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


async def _body(request: Request, service: str, path: str, params: dict[str, str]) -> Any:
    result = await fetch(request, service, path, params)
    if not isinstance(result.body, dict):
        raise PortalError(f"{service} answered {path} with something other than an object")
    return result.body


async def _guarded(coro: Awaitable[Any]) -> Any:
    # One source down (or answering nonsense) blanks its own figures, not the page.
    try:
        return await coro
    except PortalError:
        return None


def _shaped(build: Callable[..., T], service: str, *bodies: Any) -> T | list[Block]:
    """`build(*bodies)`, or the source shown as unavailable when an answer lacks a figure the
    page reads (a service older or newer than this page): a blank, never a 500 page."""
    try:
        return build(*bodies)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("portal measures: unexpected answer from %s: %r", service, exc)
        return [_unavailable(service)]


def _unavailable(service: str) -> Block:
    return Block(unavailable=SOURCE_NAMES[service])


# --- one function per measure: the blocks its sources give ---------------------------------


def outreach_blocks(inspection: dict[str, Any] | None) -> list[Block]:
    if inspection is None:
        return [_unavailable("inspection")]
    o = inspection["outreach"]
    year = inspection["year"]
    chart = None
    if o["sessions"]:
        chart = charts.bar_chart(
            f"{year}年宣讲活动场次",
            "按线上（云上直播）和线下（集中培训、深入一线）统计的宣讲场次",
            ["线上", "线下"],
            [o["online"], o["offline"]],
            unit="场",
            head="形式",
            series_name="场次",
        )
    return [
        Block(
            facts=[
                ("宣讲团", n(o["groups"], "支")),
                ("组织宣讲团的市级专业委员会", n(o["professional_committees"], "个")),
                ("安全专家", n(o["experts"], "名")),
                (f"{year}年开展宣讲", n(o["sessions"], "场次")),
                ("参加人数", n(o["attendees"], "人次")),
                ("参加企业", n(o["enterprises"], "家次")),
                ("现场答疑", n(o["questions_answered"], "次")),
            ],
            chart=chart,
        )
    ]


def insurance_blocks(
    scorecards: dict[str, Any] | None, stats: dict[str, Any] | None
) -> list[Block]:
    blocks: list[Block] = []
    if stats is None:
        blocks.append(_unavailable("insurance"))
    else:
        year, cover, services, helped = (
            stats["year"],
            stats["cover"],
            stats["services"],
            stats["campaigns"],
        )
        delivered = services["delivered_by_kind"]
        kinds = [(label, delivered.get(key, 0)) for key, label in SERVICE_KINDS]
        blocks.append(
            Block(
                facts=[
                    ("在保企业", n(cover["enterprises_insured"], "家")),
                    ("有效保单", n(cover["policies_in_force"], "份")),
                    (f"{year}年完成“6+3”服务", n(services["delivered"], "项")),
                    ("其中按期完成", n(services["delivered_on_time"], "项")),
                    ("目前逾期未完成", n(services["overdue_now"], "项")),
                ],
                chart=charts.bar_chart(
                    f"{year}年“6+3”服务完成情况",
                    "保险机构按服务项目完成的“6+3”服务次数",
                    [label for label, _ in kinds],
                    [count for _, count in kinds],
                    unit="项",
                    head="服务项目",
                    series_name="完成",
                )
                if services["delivered"]
                else None,
            )
        )
        size = helped["smes_by_size"]
        blocks.append(
            Block(
                facts=[
                    ("“惠企助安”累计服务中小微企业", n(helped["smes_helped_all_years"], "家")),
                    (f"{year}年服务中小微企业", n(helped["smes_helped"], "家")),
                    (
                        "其中中型 / 小型 / 微型",
                        slashed([size["medium"], size["small"], size["micro"]], "家"),
                    ),
                    (f"{year}年专家上门服务", n(helped["visits"], "次")),
                ]
            )
        )
    if scorecards is None:
        blocks.append(_unavailable("insurance"))
    else:
        cards = [c for c in scorecards.get("items", []) if isinstance(c, dict)]
        obligations = [c.get("obligations") or {} for c in cards]

        def total(key: str) -> int:
            return sum(int(o.get(key, 0)) for o in obligations)

        assessable = total("assessable")
        on_time = total("delivered_on_time")
        whistles = sum(int((c.get("whistles") or {}).get("raised", 0)) for c in cards)
        blocks.append(
            Block(
                facts=[
                    ("参与保险机构", n(len(cards), "家")),
                    ("到期“6+3”服务", n(total("due"), "项")),
                    (
                        "按时完成",
                        f"{n(on_time, '项')}（按时完成率 "
                        f"{zh_percent(on_time / assessable if assessable else None)}）",
                    ),
                    ("逾期未完成", n(total("overdue"), "项")),
                    ("企业吹哨", n(whistles, "次")),
                ],
                note="以上为各保险机构服务评价的本年合计。",
            )
        )
    return blocks


def permits_figures(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    items = [i for i in body.get("items", []) if isinstance(i, dict)]

    def total(key: str) -> int:
        return sum(int(i.get(key, 0)) for i in items)

    busiest = sorted(items, key=lambda i: -int(i.get("applications", 0)))[:8]
    busiest = [i for i in busiest if int(i.get("applications", 0)) > 0]
    applications = total("applications")
    return {
        "applications": applications,
        "instant": total("instant"),
        "pledge": total("pledge"),
        "instant_share": total("instant") / applications if applications else None,
        "rejections_confirmed": total("rejections_confirmed"),
        "rejections_sent_back": total("rejections_sent_back"),
        "open_overdue": total("open_overdue"),
        "chart": charts.stacked_bar_chart(
            "各事项申请量及办理方式（申请量前8项）",
            "每个许可事项的申请中秒批、承诺制和一般程序办理的件数",
            [str(i.get("item_name")) for i in busiest],
            [
                Series("秒批", [int(i.get("instant", 0)) for i in busiest]),
                Series("承诺制", [int(i.get("pledge", 0)) for i in busiest]),
                Series(
                    "一般程序",
                    [
                        max(
                            int(i.get("applications", 0))
                            - int(i.get("instant", 0))
                            - int(i.get("pledge", 0)),
                            0,
                        )
                        for i in busiest
                    ],
                ),
            ],
            unit="件",
            head="许可事项",
        )
        if busiest
        else None,
    }


def approval_blocks(
    permits: dict[str, Any] | None, inspection: dict[str, Any] | None
) -> list[Block]:
    blocks: list[Block] = []
    if permits is None:
        blocks.append(_unavailable("permits"))
    else:
        blocks.append(
            Block(
                facts=[
                    ("许可申请", n(permits["applications"], "件")),
                    (
                        "“秒批”办结",
                        f"{n(permits['instant'], '件')}"
                        f"（占 {zh_percent(permits['instant_share'])}）",
                    ),
                    ("“承诺制”办理", n(permits["pledge"], "件")),
                    ("超期未办结", n(permits["open_overdue"], "件")),
                ],
                chart=permits["chart"],
            )
        )
    if inspection is None:
        blocks.append(_unavailable("inspection"))
    else:
        visits = inspection["pledge_visits"]
        blocks.append(
            Block(
                facts=[
                    (f"{inspection['year']}年承诺制事后核查", n(visits["verified"], "次")),
                    ("核查属实", n(visits["passed"], "次")),
                    ("发现虚假承诺", n(visits["breached"], "次")),
                    ("待核查", n(visits["due_now"], "件")),
                ]
            )
        )
    return blocks


def no_escalation_blocks(permits: dict[str, Any] | None) -> list[Block]:
    if permits is None:
        return [_unavailable("permits")]
    return [
        Block(
            facts=[
                ("经上一级领导确认的不予许可", n(permits["rejections_confirmed"], "件")),
                ("拟说“不”被退回重新办理", n(permits["rejections_sent_back"], "件")),
            ]
        )
    ]


def credit_blocks(credit: dict[str, Any] | None) -> list[Block]:
    if credit is None:
        return [_unavailable("credit")]
    now, flows, year = credit["listed_now"], credit["in_year"], credit["year"]
    return [
        Block(
            facts=[
                ("守信红名单企业", n(now["redlist"], "家")),
                ("其中联合激励对象", n(now["joint_incentive"], "家")),
                ("严重失信黑名单企业", n(now["blacklist"], "家")),
                (f"{year}年新列入红名单", n(flows["redlist_listed"], "家")),
                (f"{year}年新列入黑名单", n(flows["blacklist_listed"], "家")),
                (f"{year}年移出黑名单", n(flows["blacklist_removed"], "家")),
            ]
        )
    ]


def differentiated_blocks(inspection: dict[str, Any] | None) -> list[Block]:
    if inspection is None:
        return [_unavailable("inspection")]
    cases, year = inspection["inspections"], inspection["year"]
    tier, source, standing = cases["by_tier"], cases["by_source"], cases["by_standing"]
    sources = [
        ("计划检查", source["planned"]),
        ("双随机抽查", source["draw"]),
        ("承诺制核查", source["pledge"]),
        ("投诉举报", source["complaint"]),
        ("上级交办", source["assignment"]),
        ("重大案件回访", source["follow_up"]),
    ]
    return [
        Block(
            facts=[
                (f"{year}年执法检查", n(cases["total"], "次")),
                ("涉及企业", n(cases["enterprises"], "家")),
                ("重点企业 / 一般企业", slashed([tier["key"], tier["general"]], "次")),
                (
                    "红名单企业 / 黑名单企业",
                    slashed([standing["redlisted"], standing["blacklisted"]], "次"),
                ),
            ],
            chart=charts.bar_chart(
                f"{year}年执法检查来源",
                "按检查启动原因统计的执法检查次数",
                [label for label, _ in sources],
                [count for _, count in sources],
                unit="次",
                head="检查来源",
                series_name="检查次数",
            )
            if cases["total"]
            else None,
            note="企业分级分类和信用状态按企业当前所在名单统计。",
        )
    ]


def education_blocks(inspection: dict[str, Any] | None) -> list[Block]:
    if inspection is None:
        return [_unavailable("inspection")]
    cases, year = inspection["inspections"], inspection["year"]
    return [
        Block(
            facts=[
                (f"{year}年执法检查", n(cases["total"], "次")),
                ("完成“四步检查法”全部步骤", n(cases["closed"], "次")),
                ("现场讲授“一堂课”", n(cases["lessons_given"], "次")),
                ("现场答疑", n(cases["questions_answered"], "次")),
            ]
        )
    ]


async def months_block(request: Request, today: date) -> Block:
    months: list[dict[str, Any]] = []
    for offset in (0, 1):
        y, m = shift(today.year, today.month, offset)
        doc = await month_document(request, y, m)
        listed = [] if doc is None else doc.get("listed", [])
        months.append(
            {
                "label": f"{y}年{m}月",
                "published": doc is not None,
                "planned": sum(1 for e in listed if e.get("kind") == "planned"),
                "drawn": None if doc is None else doc.get("draw_count"),
                "pool": None if doc is None else doc.get("pool_size"),
            }
        )
    facts = [
        (
            m["label"],
            f"计划检查 {zh_number(m['planned'])} 家，从 {zh_number(m['pool'])} 家中随机抽取 "
            f"{zh_number(m['drawn'])} 家"
            if m["published"]
            else "尚未公示",
        )
        for m in months
    ]
    published = [m for m in months if m["published"]]
    return Block(
        facts=facts,
        chart=charts.stacked_bar_chart(
            "本月和下月检查企业数",
            "每月计划检查和随机抽取的企业数",
            [m["label"] for m in published],
            [
                Series("计划检查", [m["planned"] for m in published]),
                Series("随机抽取", [m["drawn"] for m in published]),
            ],
            unit="家",
            head="月份",
        )
        if published
        else None,
    )


def service_blocks(months: Block | None, inspection: dict[str, Any] | None) -> list[Block]:
    blocks = [months if months is not None else _unavailable("inspection")]
    if inspection is None:
        blocks.append(_unavailable("inspection"))
    else:
        asked = inspection["guidance_requests"]
        blocks.append(
            Block(
                facts=[
                    (f"{inspection['year']}年检查前企业申请指导", n(asked["requested"], "次")),
                    ("已指导答复", n(asked["answered"], "次")),
                    (
                        "重大行政处罚案件回访",
                        n(inspection["inspections"]["by_source"]["follow_up"], "次"),
                    ),
                ]
            )
        )
    return blocks


def lenient_blocks(inspection: dict[str, Any] | None) -> list[Block]:
    if inspection is None:
        return [_unavailable("inspection")]
    decided, hazards, year = inspection["decisions"], inspection["hazards"], inspection["year"]
    total = decided["no_penalty"] + decided["rectification_order"] + decided["penalty"]
    rules = sorted(decided["lenient_by_rule"].items(), key=lambda kv: -kv[1])
    return [
        Block(
            facts=[
                (f"{year}年合议决定", n(total, "项")),
                ("不予行政处罚", n(decided["no_penalty"], "项")),
                ("批评教育、责令整改，不予罚款", n(decided["rectification_order"], "项")),
                ("给予行政处罚", n(decided["penalty"], "项")),
            ],
            chart=charts.bar_chart(
                f"{year}年包容审慎执法适用情况",
                "按适用的包容审慎规则统计的未予处罚或未予罚款的决定数",
                [LENIENT_RULES.get(rule, rule) for rule, _ in rules],
                [count for _, count in rules],
                unit="项",
                head="适用规则",
                series_name="决定数",
            )
            if rules
            else None,
        ),
        Block(
            facts=[
                (f"{year}年检查发现隐患", n(hazards["found"], "项")),
                ("其中重大隐患", n(hazards["major"], "项")),
                ("已整改验收", n(hazards["rectified"], "项")),
                ("整改待验收", n(hazards["awaiting_verification"], "项")),
                ("正在整改", n(hazards["open"], "项")),
                ("超过整改期限", n(hazards["overdue"], "项")),
            ],
            chart=charts.stacked_bar_chart(
                f"{year}年检查发现隐患整改情况",
                "检查发现的隐患中已整改验收、待验收和正在整改的项数",
                ["隐患"],
                [
                    Series("已整改验收", [hazards["rectified"]]),
                    Series("待验收", [hazards["awaiting_verification"]]),
                    Series("正在整改", [hazards["open"]]),
                ],
                unit="项",
                head="类别",
            )
            if hazards["found"]
            else None,
        ),
    ]


def repair_blocks(credit: dict[str, Any] | None) -> list[Block]:
    if credit is None:
        return [_unavailable("credit")]
    repairs, now, year = credit["repairs"], credit["listed_now"], credit["year"]
    limit = repairs["time_limit_working_days"]
    within = repairs["decided_within_limit"] / repairs["decided"] if repairs["decided"] else None
    return [
        Block(
            facts=[
                (f"{year}年受理信用修复申请", n(repairs["applied"], "件")),
                ("办结", n(repairs["decided"], "件")),
                (
                    f"{limit}个工作日内办结" if limit else "按期办结",
                    f"{n(repairs['decided_within_limit'], '件')}（{zh_percent(within)}）",
                ),
                ("完成信用修复企业", n(repairs["enterprises_repaired"], "家")),
                ("正在办理", n(repairs["pending_now"], "件")),
                ("目前公示中的行政处罚", n(now["penalties_in_publicity"], "条")),
            ]
        )
    ]


@router.get("/measures", include_in_schema=False)
async def scoreboard(request: Request, today: TodayDep) -> Response:
    year = {"year": str(today.year)}
    period = {"from": f"{today.year}-01-01", "to": f"{today.year}-12-31"}
    (
        permits_body,
        scorecards,
        insurance,
        inspection,
        credit,
        months,
    ) = await asyncio.gather(
        _guarded(_body(request, "permits", "/figures", {})),
        _guarded(_body(request, "insurance", "/scorecards", period)),
        _guarded(_body(request, "insurance", "/public/stats", year)),
        _guarded(_body(request, "inspection", "/public/stats", year)),
        _guarded(_body(request, "credit", "/public/stats", year)),
        _guarded(months_block(request, today)),
    )
    try:
        permits = permits_figures(permits_body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("portal measures: unexpected answer from permits: %r", exc)
        permits = None
    portal = PORTAL_PREFIX
    blocks: dict[str, list[Block]] = {
        "outreach": _shaped(outreach_blocks, "inspection", inspection),
        "insurance": _shaped(insurance_blocks, "insurance", scorecards, insurance),
        "approval": _shaped(approval_blocks, "permits", permits, inspection),
        "no-escalation": _shaped(no_escalation_blocks, "permits", permits),
        "credit": _shaped(credit_blocks, "credit", credit),
        "differentiated": _shaped(differentiated_blocks, "inspection", inspection),
        "education": _shaped(education_blocks, "inspection", inspection),
        "service": _shaped(service_blocks, "inspection", months, inspection),
        "lenient": _shaped(lenient_blocks, "inspection", inspection),
        "repair": _shaped(repair_blocks, "credit", credit),
    }
    links: dict[str, list[tuple[str, str]]] = {
        "insurance": [(f"{portal}/insurers", "查看各保险机构服务评价")],
        "approval": [(f"{portal}/permits/items", "查看办事指南")],
        "no-escalation": [(f"{portal}/approvers", "审批负责人联系电话")],
        "credit": [(f"{portal}/credit/red", "红名单"), (f"{portal}/credit/black", "黑名单")],
        "service": [(f"{portal}/inspections", "月度检查名单"), (f"{portal}/guidance", "三个清单")],
        "repair": [(f"{portal}/credit/penalties", "行政处罚公示")],
    }
    cards = [
        Card(no, m, blocks.get(m.anchor, []), links.get(m.anchor, []))
        for no, m in enumerate(MEASURES, 1)
    ]
    return render(
        request,
        "measures/scoreboard.html",
        {"cards": cards, "year": today.year},
        max_age=300,
    )
