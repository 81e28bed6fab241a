"""双随机检查: the monthly inspection list published 15 days ahead with the draw's
commitment, the revealed seed after the draw, and a check of the draw that a reader can run
on the server (no JavaScript) or in the page (static/drawcheck.js)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.portal import drawcheck
from gateway.portal.rendering import SHANGHAI, render
from gateway.portal.upstream import PortalBadInput, PortalError, fetch

router = APIRouter()

_PERIOD: Final = re.compile(r"(\d{4})-(\d{2})")
# The inspection service keeps draws for these years (its path parameters' bounds).
FIRST_YEAR: Final = 2000
LAST_YEAR: Final = 2100
ARCHIVE_MONTHS: Final = 12
# A month's public document for the in-page check: the inspection service's own public API
# through the gateway, so the browser checks the source rather than this page's copy.
API_PATH: Final = "/api/inspection/draws/{year}/{month}"

SECTOR_NAMES: Final = {
    "hazardous_chemicals": "危险化学品",
    "mining": "非煤矿山",
    "fireworks": "烟花爆竹",
    "metallurgy": "冶金",
    "nonferrous": "有色",
    "building_materials": "建材",
    "machinery": "机械",
    "light_industry": "轻工",
    "textiles": "纺织",
    "tobacco": "烟草",
    "trade": "商贸",
    "gas_station": "加油站",
    "other": "其他",
}


def portal_today() -> date:
    """The business date in Qingdao (tests override this dependency)."""
    return datetime.now(UTC).astimezone(SHANGHAI).date()


TodayDep = Annotated[date, Depends(portal_today)]


def shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def parse_period(text: str) -> tuple[int, int]:
    """YYYY-MM within the years the service keeps; a page explaining the rule otherwise."""
    found = _PERIOD.fullmatch(text)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise PortalBadInput(
            f"“{text}”不是有效的月份。请按“年-月”格式填写，例如 2026-12。",
        )
    year, month = int(found.group(1)), int(found.group(2))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PortalBadInput(f"只能查询 {FIRST_YEAR} 年至 {LAST_YEAR} 年的检查名单。")
    return year, month


async def month_document(request: Request, year: int, month: int) -> dict[str, Any] | None:
    """The month's public draw document, None when the month has no published list."""
    result = await fetch(request, "inspection", f"/draws/{year}/{month}", expect=(404,))
    if result.status == 404:
        return None
    if not isinstance(result.body, dict):
        raise PortalError("检查名单数据格式有误，请稍后再试。")
    return result.body


def _sector(code: Any) -> str:
    return SECTOR_NAMES.get(str(code), str(code))


def month_context(doc: dict[str, Any]) -> dict[str, Any]:
    """Only what the publication is for: the listed enterprises (name, USCC, district,
    sector, rank), the commitment and, once revealed, the values that reopen it. Team
    members are not named on the page; the team size is."""
    listed = [e for e in doc.get("listed", []) if isinstance(e, dict)]
    planned = [
        {**_entry(e), "team_size": len(e.get("team") or [])}
        for e in listed
        if e.get("kind") == "planned"
    ]
    drawn = sorted(
        ({**_entry(e), "rank": e.get("rank")} for e in listed if e.get("kind") == "drawn"),
        key=lambda e: int(e["rank"] or 0),
    )
    source = doc.get("source") or {}
    return {
        "state": doc.get("state"),
        "revealed": doc.get("state") == "revealed",
        "published_on": doc.get("published_on"),
        "revealed_on": doc.get("revealed_on"),
        "commitment": doc.get("commitment"),
        "inputs_digest": doc.get("inputs_digest"),
        "source_name": source.get("name"),
        "source_round": source.get("round"),
        "source_expected_on": source.get("expected_on"),
        "draw_count": doc.get("draw_count"),
        "pool_size": doc.get("pool_size"),
        "team_size": (doc.get("inputs") or {}).get("team_size"),
        "secret": doc.get("secret"),
        "public_value": doc.get("public_value"),
        "seed": doc.get("seed"),
        "planned": planned,
        "drawn": drawn,
    }


def _entry(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "uscc": e.get("uscc"),
        "name": e.get("name"),
        "district": e.get("district"),
        "sector": _sector(e.get("sector")),
    }


def _nav(year: int, month: int, today: date) -> dict[str, Any]:
    prev_y, prev_m = shift(year, month, -1)
    next_y, next_m = shift(year, month, 1)
    # A list is published at most ~a month ahead: no link beyond next month's.
    latest = shift(today.year, today.month, 1)
    return {
        "prev": f"{prev_y}-{prev_m:02d}" if prev_y >= FIRST_YEAR else None,
        "next": f"{next_y}-{next_m:02d}" if (next_y, next_m) <= latest else None,
    }


@router.get("/inspections", include_in_schema=False)
async def overview(request: Request, today: TodayDep) -> Response:
    """This month's and next month's lists, and the past year's months."""
    months = []
    for offset in (1, 0):
        y, m = shift(today.year, today.month, offset)
        doc = await month_document(request, y, m)
        months.append(
            {
                "year": y,
                "month": m,
                "period": f"{y}-{m:02d}",
                "doc": None if doc is None else month_context(doc),
            }
        )
    archive = [shift(today.year, today.month, -k) for k in range(1, ARCHIVE_MONTHS + 1)]
    return render(
        request,
        "inspections/overview.html",
        {
            "months": months,
            "archive": [{"year": y, "month": m, "period": f"{y}-{m:02d}"} for y, m in archive],
        },
    )


@router.get("/inspections/{period}", include_in_schema=False)
async def month_page(request: Request, period: str, today: TodayDep) -> Response:
    year, month = parse_period(period)
    doc = await month_document(request, year, month)
    context: dict[str, Any] = {
        "year": year,
        "month": month,
        "period": f"{year}-{month:02d}",
        "api_url": API_PATH.format(year=year, month=month),
        **_nav(year, month, today),
    }
    if doc is None:
        return render(request, "inspections/missing.html", context, status=404, max_age=60)
    return render(request, "inspections/month.html", {**context, **month_context(doc)})


@router.get("/inspections/{period}/check", include_in_schema=False)
async def check_page(request: Request, period: str, today: TodayDep) -> Response:
    """The server-side recompute: the same verdict the in-page button gives, without JS."""
    year, month = parse_period(period)
    doc = await month_document(request, year, month)
    context: dict[str, Any] = {
        "year": year,
        "month": month,
        "period": f"{year}-{month:02d}",
        **_nav(year, month, today),
    }
    if doc is None:
        return render(request, "inspections/missing.html", context, status=404, max_age=60)
    try:
        verdict = drawcheck.verify(doc)
    except drawcheck.DocumentInvalid as exc:
        return render(
            request,
            "inspections/check.html",
            {**context, "verdict": None, "invalid": str(exc)},
            status=502,
            max_age=0,
        )
    names = {
        str(e.get("uscc")): str(e.get("name"))
        for e in (doc.get("inputs") or {}).get("pool", [])
        if isinstance(e, dict)
    }
    expected = [
        {"rank": i, "uscc": u, "name": names.get(u, u)}
        for i, u in enumerate(verdict.expected_selection, start=1)
    ]
    return render(
        request,
        "inspections/check.html",
        {
            **context,
            "verdict": verdict,
            "invalid": None,
            "expected": expected,
            "seed": verdict.seed,
            "pool_size": len((doc.get("inputs") or {}).get("pool", [])),
        },
        # A revealed draw never changes; a committed one changes once, at the reveal.
        max_age=3600 if verdict.revealed else 60,
    )
