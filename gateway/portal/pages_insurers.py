"""保险机构服务: insurers' scorecards for the "6+3" services of work-safety liability
insurance (measure 2, 政保双联): services due, delivered on time, overdue, and how insurers
answered enterprises' whistles. Aggregates only, as the insurance service publishes them."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.portal import charts
from gateway.portal.charts import Series
from gateway.portal.pages_inspections import TodayDep
from gateway.portal.rendering import render
from gateway.portal.upstream import PortalBadInput, PortalError, fetch

router = APIRouter()

_INSURER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_YEAR: Final = re.compile(r"\d{4}")
FIRST_YEAR: Final = 2000

KIND_NAMES: Final = {
    "risk_assessment": "起保后风险评估",
    "key_check": "每季度重点排查",
    "full_check": "每半年起底式大检查",
    "training": "全员培训",
    "hazard_assistance": "协助整改隐患",
    "graded_service": "分类分级服务",
    "one_plan": "一企一策",
    "remote_guidance": "24小时远程指导",
    "onsite_staff": "驻厂驻点",
}
STATUS_NAMES: Final = {"active": "正常", "suspended": "暂停", "withdrawn": "已退出"}


def year_of(raw: str | None, today: date) -> int:
    """?year=YYYY, by default this year; a page explaining the rule otherwise."""
    if raw is None or raw == "":
        return today.year
    if not _YEAR.fullmatch(raw) or not FIRST_YEAR <= int(raw) <= today.year:
        raise PortalBadInput(
            f"年份“{raw}”无效：请填写 {FIRST_YEAR} 年至 {today.year} 年之间的四位年份。",
        )
    return int(raw)


def _period(year: int) -> dict[str, str]:
    return {"from": f"{year}-01-01", "to": f"{year}-12-31"}


def _row(card: dict[str, Any]) -> dict[str, Any]:
    ob = card.get("obligations") or {}
    wh = card.get("whistles") or {}
    return {
        "id": card.get("insurer_id"),
        "name": card.get("insurer_name"),
        "status": STATUS_NAMES.get(str(card.get("insurer_status")), card.get("insurer_status")),
        "due": ob.get("due", 0),
        "delivered": ob.get("delivered", 0),
        "on_time": ob.get("delivered_on_time", 0),
        "late": max(ob.get("delivered", 0) - ob.get("delivered_on_time", 0), 0),
        "overdue": ob.get("overdue", 0),
        "open": ob.get("open_not_yet_due", 0),
        "verified": ob.get("verified", 0),
        "on_time_rate": ob.get("on_time_rate"),
        "verified_rate": ob.get("verified_rate"),
        "whistles": wh.get("raised", 0),
        "whistle_breaches": wh.get("ack_breaches", 0) + wh.get("delivery_breaches", 0),
        "by_kind": [
            {
                "name": KIND_NAMES.get(kind, kind),
                "due": c.get("due", 0),
                "on_time": c.get("delivered_on_time", 0),
                "overdue": c.get("overdue", 0),
                "on_time_rate": c.get("on_time_rate"),
            }
            for kind, c in (ob.get("by_kind") or {}).items()
            if kind in KIND_NAMES
        ],
    }


def delivery_chart(title: str, desc: str, labels: list[str], rows: list[dict[str, Any]]) -> Any:
    return charts.stacked_bar_chart(
        title,
        desc,
        labels,
        [
            Series("按时完成", [r["on_time"] for r in rows]),
            Series("逾期完成", [r["late"] for r in rows]),
            Series("逾期未完成", [r["overdue"] for r in rows]),
        ],
        unit="项",
        head="保险机构",
    )


@router.get("/insurers", include_in_schema=False)
async def scorecards(request: Request, today: TodayDep, year: str | None = None) -> Response:
    chosen = year_of(year, today)
    result = await fetch(request, "insurance", "/scorecards", _period(chosen))
    body = result.body if isinstance(result.body, dict) else {}
    rows = [_row(c) for c in body.get("items", []) if isinstance(c, dict)]
    chart = (
        delivery_chart(
            f"{chosen}年各保险机构“6+3”服务完成情况",
            "每家保险机构到期服务中按时完成、逾期完成和逾期未完成的项数",
            [str(r["name"]) for r in rows],
            rows,
        )
        if rows
        else None
    )
    return render(
        request,
        "insurers/list.html",
        {
            "year": chosen,
            "years": list(range(today.year, max(FIRST_YEAR, today.year - 4) - 1, -1)),
            "rows": rows,
            "chart": chart,
            "as_of": body.get("as_of"),
        },
        max_age=300,
    )


@router.get("/insurers/{insurer_id}", include_in_schema=False)
async def scorecard(
    request: Request, insurer_id: str, today: TodayDep, year: str | None = None
) -> Response:
    if not _INSURER_ID.fullmatch(insurer_id):
        raise PortalBadInput("保险机构编号只能包含字母、数字、点、横线和下划线，最长64位。")
    chosen = year_of(year, today)
    result = await fetch(request, "insurance", f"/scorecards/{insurer_id}", _period(chosen))
    if not isinstance(result.body, dict):
        raise PortalError("保险机构服务数据格式有误，请稍后再试。")
    card = _row(result.body)
    months = [m for m in result.body.get("months", []) if isinstance(m, dict)]
    month_rows = [_row({**m, "insurer_id": card["id"]}) for m in months]
    labels = [f"{int(str(m.get('month'))[5:7])}月" for m in months]
    return render(
        request,
        "insurers/detail.html",
        {
            "year": chosen,
            "card": card,
            "as_of": result.body.get("as_of"),
            "months": [{"label": lab, **r} for lab, r in zip(labels, month_rows, strict=True)],
            "chart": delivery_chart(
                f"{card['name']} {chosen}年逐月服务完成情况",
                "每月到期服务中按时完成、逾期完成和逾期未完成的项数",
                labels,
                month_rows,
            )
            if months
            else None,
            "kind_chart": charts.bar_chart(
                f"{card['name']} {chosen}年各项服务按时完成数",
                "“6+3”各项服务中按时完成的项数",
                [k["name"] for k in card["by_kind"]],
                [k["on_time"] for k in card["by_kind"]],
                unit="项",
                head="服务项目",
                series_name="按时完成",
            )
            if card["by_kind"]
            else None,
        },
        max_age=300,
    )
