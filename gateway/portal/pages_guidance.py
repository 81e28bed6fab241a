"""Guidance and the permit catalogue: inspection's compliance guidance lists (常见违法行为,
危险作业, 劳务派遣和灵活用工), the item catalogue with its service guides, and the approvers'
published phones (measure 4)."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.portal.rendering import render
from gateway.portal.upstream import PortalNotFound, fetch

router = APIRouter()

QUERY_MAX: Final = 100
CURSOR_MAX: Final = 200
# permits' catalogue codes (QD-AJ-003); anything else cannot name an item.
ITEM_CODE: Final = re.compile(r"[A-Z]{2}-[A-Z]{2}-\d{3}")
CATALOGUE_LIMIT: Final = "200"

WORKER_KINDS: Final = {"dispatched": "劳务派遣", "flexible": "灵活用工", "intern": "实习学生"}
MATERIAL_SOURCES: Final = {
    "applicant": "申请人提供",
    "shared": "部门共享获取，无需提交",
}


@router.get("/guidance", include_in_schema=False)
async def guidance(request: Request, q: str | None = None, cursor: str | None = None) -> Response:
    q, cursor = (q or "").strip(), (cursor or "").strip()
    context: dict[str, Any] = {
        "q": q,
        "cursor": cursor,
        "error": None,
        "worker_kinds": WORKER_KINDS,
    }
    if len(q) > QUERY_MAX or len(cursor) > CURSOR_MAX:
        context["error"] = f"查询内容最长{QUERY_MAX}个字符，请缩短后重试。"
        context.update(violations=[], next_cursor=None, categories=[], hazardous=[], workers=[])
        return render(request, "guidance/index.html", context, status=400, max_age=0)
    params = {"limit": "50", **({"q": q} if q else {}), **({"cursor": cursor} if cursor else {})}
    violations, categories, hazardous, workers = await asyncio.gather(
        fetch(request, "inspection", "/guidance/violations", params),
        fetch(request, "inspection", "/guidance/violations/categories"),
        fetch(request, "inspection", "/guidance/hazardous-work"),
        fetch(request, "inspection", "/guidance/flexible-workers"),
    )
    page = violations.body if isinstance(violations.body, dict) else {}
    context.update(
        violations=page.get("items") or [],
        next_cursor=page.get("next_cursor"),
        categories=categories.body or [],
        hazardous=hazardous.body or [],
        workers=workers.body or [],
    )
    return render(request, "guidance/index.html", context, max_age=600)


async def _catalogue(request: Request) -> list[dict[str, Any]]:
    # The catalogue is a few dozen items: one page holds it all.
    answer = await fetch(request, "permits", "/items", {"limit": CATALOGUE_LIMIT})
    body = answer.body if isinstance(answer.body, dict) else {}
    return [i for i in body.get("items") or [] if isinstance(i, dict)]


@router.get("/permits/items", include_in_schema=False)
async def catalogue(request: Request) -> Response:
    items = await _catalogue(request)
    return render(request, "guidance/items.html", {"items": items}, max_age=600)


@router.get("/permits/items/{code}", include_in_schema=False)
async def item(request: Request, code: str) -> Response:
    if not ITEM_CODE.fullmatch(code):
        raise PortalNotFound("事项编码应形如 QD-AJ-003，请从办事指南列表进入。")
    answer = await fetch(request, "permits", f"/items/{code}")
    context = {"item": answer.body, "sources": MATERIAL_SOURCES}
    return render(request, "guidance/item.html", context, max_age=600)


@router.get("/approvers", include_in_schema=False)
async def approvers(request: Request) -> Response:
    # Measure 4 publishes each item's approving department and its phone: grouped by the
    # phone, so a caller sees whom one number serves.
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in await _catalogue(request):
        groups.setdefault((entry["department"], entry["contact_phone"]), []).append(entry)
    rows = [
        {"department": department, "phone": phone, "items": items}
        for (department, phone), items in sorted(groups.items())
    ]
    return render(request, "guidance/approvers.html", {"rows": rows}, max_age=600)
