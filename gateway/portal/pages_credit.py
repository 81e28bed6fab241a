"""Credit publicity (信用信息公示): the red list, the black list and penalties, searchable by
name or USCC and paginated, and one enterprise's public credit information by its USCC: its
standing, every public record and list entry with its repair status and dated history, in
publicity or not (credit's GET /public/enterprises/{uscc}/history)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from gateway.portal.rendering import PORTAL_PREFIX, render
from gateway.portal.upstream import fetch
from kernel.uscc import USCC_LENGTH, InvalidUSCC, validate_uscc

router = APIRouter()

ListName = Literal["red", "black", "penalties"]
PAGE_SIZE: Final = 20
QUERY_MAX: Final = 100  # credit's search limit
CURSOR_MAX: Final = 200

LISTS: Final[dict[str, dict[str, str]]] = {
    "red": {"title": "守信红名单", "path": "/redlist", "template": "credit/red.html"},
    "black": {
        "title": "严重失信主体名单（黑名单）",
        "path": "/blacklist",
        "template": "credit/black.html",
    },
    "penalties": {
        "title": "行政处罚信息公示",
        "path": "/penalties",
        "template": "credit/penalties.html",
    },
}

# Public steps of a record's or list entry's life (credit's history kinds), as pages word them.
HISTORY_WORDS: Final = {
    "published": "开始公示",
    "expired": "公示期满，停止公示",
    "repaired": "信用修复通过，停止公示",
    "reversed": "原决定被撤销，停止公示",
    "listed": "列入名单",
    "restored": "信用修复撤销，恢复原状态",
    "removed_expired": "期满移出",
    "removed_repaired": "信用修复后移出",
    "removed_reversed": "决定被撤销后移出",
    "removed_revoked": "撤销列入",
    "removed_early": "提前移出",
    "removed_dishonesty": "因新的失信信息移出",
    "repair_approved": "信用修复通过",
}

# What each kind of entry of credit's public history is called on the enterprise's page.
ENTRY_TITLES: Final = {
    "penalty": "行政处罚",
    "dishonesty": "失信记录",
    "incentive": "守信激励",
    "blacklist": "严重失信主体名单（黑名单）",
    "redlist": "守信红名单",
}

# Why a record left publicity or an entry left its list, as a short badge.
END_WORDS: Final = {
    "expired": "公示期满",
    "repaired": "已修复",
    "reversed": "原决定已撤销",
}
REMOVAL_WORDS: Final = {
    "expired": "期满移出",
    "repaired": "信用修复后移出",
    "reversed": "决定被撤销后移出",
    "dishonesty": "因新的失信信息移出",
}


def uscc_problem(value: str) -> str | None:
    """Why `value` is not a USCC, in plain Chinese; None when it is one."""
    try:
        validate_uscc(value)
    except InvalidUSCC as exc:
        if exc.rule == "length":
            return (
                f"统一社会信用代码由{USCC_LENGTH}位数字或大写英文字母组成，"
                f"您输入的是{len(value.strip())}位。"
            )
        if exc.rule == "division_code":
            return f"第3至8位是行政区划代码，只能是数字，第{exc.position}位不是数字。"
        if exc.rule == "character":
            return (
                f"第{exc.position}位的字符不能用于统一社会信用代码：代码只使用数字0-9和"
                "除 I、O、S、V、Z 以外的大写英文字母。"
            )
        if exc.rule == "check_character":
            return (
                f"第18位是校验码，按前17位计算应为“{exc.expected}”，您输入的是"
                f"“{value.strip()[-1:].upper()}”。请核对是否有抄错的字符。"
            )
        return "统一社会信用代码格式不正确，请核对。"
    return None


def looks_like_uscc(q: str) -> bool:
    """An 18-character word is meant as a code, never as part of a company name."""
    return len(q) == USCC_LENGTH and q.isascii() and q.isalnum()


def history_word(kind: str) -> str:
    return HISTORY_WORDS.get(kind, "状态变更")


def entry_title(entry: dict[str, Any]) -> str:
    """`行政处罚 青应急罚〔2026〕12号`, `守信红名单`: what the entry is, for its heading."""
    title = ENTRY_TITLES.get(str(entry.get("kind")), "信用记录")
    number = entry.get("document_number")
    return f"{title} {number}" if number else title


def entry_status(entry: dict[str, Any]) -> tuple[str, str]:
    """The entry's state today as (badge text, badge tone) for the page."""
    listing = entry.get("kind") in ("blacklist", "redlist")
    if entry.get("is_current"):
        if listing:
            return "列入中", "bad" if entry.get("kind") == "blacklist" else "ok"
        return "公示中", "ok" if entry.get("kind") == "incentive" else "warn"
    reason = str(entry.get("end_reason") or "")
    if listing:
        return (REMOVAL_WORDS.get(reason, "已移出") if reason else "期满移出"), (
            "ok" if reason == "repaired" else ""
        )
    # Past its last day, before the daily pass has marked it: the period simply ran out.
    return END_WORDS.get(reason, "公示期满"), "ok" if reason == "repaired" else ""


def _page_context(which: str, q: str, cursor: str) -> dict[str, Any]:
    return {
        "list": which,
        "title": LISTS[which]["title"],
        "q": q,
        "cursor": cursor,
        "error": None,
        "items": [],
        "next_cursor": None,
        "history_word": history_word,
    }


async def _list_page(
    request: Request, which: ListName, q: str | None, cursor: str | None
) -> Response:
    q, cursor = (q or "").strip(), (cursor or "").strip()
    context = _page_context(which, q, cursor)
    template = LISTS[which]["template"]
    if len(q) > QUERY_MAX:
        context["error"] = f"查询内容最长{QUERY_MAX}个字符，您输入了{len(q)}个。"
        return render(request, template, context, status=400, max_age=0)
    if looks_like_uscc(q) and (problem := uscc_problem(q)) is not None:
        context["error"] = problem
        return render(request, template, context, status=400, max_age=0)
    if len(cursor) > CURSOR_MAX:
        context["error"] = "翻页参数无效，请从第一页重新查询。"
        return render(request, template, context, status=400, max_age=0)
    params: dict[str, str] = {"limit": str(PAGE_SIZE)}
    if cursor:
        params["cursor"] = cursor
    if q:
        is_code = looks_like_uscc(q)
        term = validate_uscc(q) if is_code else q
        # Penalties search a name or filter on a code; the lists take either as `q`.
        key = "q" if which != "penalties" else "uscc" if is_code else "name"
        params[key] = term
    answer = await fetch(request, "credit", LISTS[which]["path"], params)
    body = answer.body if isinstance(answer.body, dict) else {}
    context["items"] = body.get("items") or []
    context["next_cursor"] = body.get("next_cursor")
    return render(request, template, context)


@router.get("/credit/red", include_in_schema=False)
async def red_list(request: Request, q: str | None = None, cursor: str | None = None) -> Response:
    return await _list_page(request, "red", q, cursor)


@router.get("/credit/black", include_in_schema=False)
async def black_list(request: Request, q: str | None = None, cursor: str | None = None) -> Response:
    return await _list_page(request, "black", q, cursor)


@router.get("/credit/penalties", include_in_schema=False)
async def penalties(request: Request, q: str | None = None, cursor: str | None = None) -> Response:
    return await _list_page(request, "penalties", q, cursor)


@router.get("/credit/search", include_in_schema=False)
async def search(
    q: str | None = None, which: Annotated[str | None, Query(alias="list")] = None
) -> Response:
    """The home page's search box: a code goes to the enterprise's page, a name to a list."""
    q = (q or "").strip()
    if looks_like_uscc(q):
        return RedirectResponse(f"{PORTAL_PREFIX}/credit/{q.upper()}", status_code=303)
    target = f"{PORTAL_PREFIX}/credit/{which if which in LISTS else 'penalties'}"
    return RedirectResponse(target + (f"?{urlencode({'q': q})}" if q else ""), status_code=303)


@router.get("/credit/{code}", include_in_schema=False)
async def enterprise(request: Request, code: str) -> Response:
    """Standing now, every public record and list entry with its repair status, and the
    dated timeline of them all (credit's public history, publicity ended or not)."""
    context: dict[str, Any] = {
        "code": code,
        "name": None,
        "error": None,
        "history_word": history_word,
        "entry_title": entry_title,
        "entry_status": entry_status,
    }
    problem = uscc_problem(code)
    if problem is not None:
        context["error"] = problem
        return render(request, "credit/enterprise.html", context, status=400, max_age=0)
    uscc = validate_uscc(code)
    standing, history = await asyncio.gather(
        fetch(request, "credit", f"/standing/{uscc}"),
        fetch(request, "credit", f"/public/enterprises/{uscc}/history"),
    )
    body = history.body if isinstance(history.body, dict) else {}
    entries = [e for e in body.get("entries") or [] if isinstance(e, dict)]
    titles = {e.get("id"): entry_title(e) for e in entries}
    timeline = [
        {**step, "entry": titles.get(step.get("entry_id"), "")}
        for step in body.get("timeline") or []
        if isinstance(step, dict)
    ]
    context.update(
        uscc=uscc,
        name=body.get("enterprise_name"),
        standing=standing.body if isinstance(standing.body, dict) else {},
        # What stands now first, then the most recent.
        entries=sorted(
            entries,
            key=lambda e: (bool(e.get("is_current")), str(e.get("starts_on") or "")),
            reverse=True,
        ),
        timeline=timeline,
        truncated=bool(body.get("truncated")),
    )
    if not entries:
        # The credit service knows no enterprise register: no public entry is all it can say.
        return render(request, "credit/enterprise.html", context, status=404, max_age=60)
    return render(request, "credit/enterprise.html", context)
