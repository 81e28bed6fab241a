"""Server-side rendering of the public portal: one Jinja2 environment, zh-CN filters, and
`render`, which gives every page its caching, language and content-security headers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

PORTAL_PREFIX: Final = "/portal"
TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"
SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
BUREAU_NAME: Final = "青岛市应急管理局"

# Pages load only their own stylesheet and scripts (/portal/static) and submit GET forms to
# the portal itself; nothing inline, nothing from elsewhere, never framed. The gateway's
# security-headers layer sets this on every /portal path (gateway/main.py).
PORTAL_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

# Status words the public APIs use, as a reader of the page says them.
STATUS_WORDS: Final[Mapping[str, str]] = {
    "valid": "有效",
    "active": "有效",
    "revoked": "已撤销",
    "suspended": "已暂停",
    "expired": "已过期",
    "invalid": "伪造或无法识别",
    "listed": "公示中",
    "removed": "已移出",
    "repaired": "已修复",
    "pending": "修复中",
    "accepted": "修复中",
    "in_review": "修复中",
    "rejected": "修复未通过",
    "withdrawn": "已撤回",
    "ended": "公示期满",
    "red": "守信红名单",
    "black": "严重失信主体名单",
    "instant": "即时办结",
    "pledge": "告知承诺",
    "standard": "一般程序",
}

# The generation time changes on every render while the data does not: the ETag is taken
# over the body with this marker in its place, so an unchanged page still answers 304.
_GENERATED_MARKER: Final = "\x00generated-at\x00"


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(SHANGHAI).date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        if len(text) > 10:
            return _as_date(datetime.fromisoformat(text.replace("Z", "+00:00")))
        return date.fromisoformat(text)
    except ValueError:
        return None


def zh_date(value: Any) -> str:
    """2026-12-07 (or a timestamp, read in Asia/Shanghai) as 2026年12月7日; '—' when absent."""
    day = _as_date(value)
    if day is None:
        return "—" if value in (None, "") else str(value)
    return f"{day.year}年{day.month}月{day.day}日"


def zh_datetime(value: Any) -> str:
    """A timestamp as 2026年12月7日 14:05 Beijing time."""
    if value in (None, ""):
        return "—"
    try:
        moment = (
            value
            if isinstance(value, datetime)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def zh_number(value: Any, places: int = 0) -> str:
    """12345.6 as 12,346 (or with `places` decimals); text that is not a number as it is."""
    if value in (None, ""):
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{number:,.{places}f}"


def zh_percent(value: Any, places: int = 1) -> str:
    """A ratio (0.953) as 95.3%."""
    if value in (None, ""):
        return "—"
    try:
        number = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{number:.{places}f}%"


def status_word(value: Any) -> str:
    """An API status value in plain Chinese; an unknown one as it came."""
    if value in (None, ""):
        return "—"
    return STATUS_WORDS.get(str(value), str(value))


@lru_cache(maxsize=64)
def _static_version(name: str) -> str:
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()
    return digest[:12]


def static_url(name: str) -> str:
    """The URL of a file under static/, versioned by its content, so it can be cached for
    good (the static mount answers with immutable caching)."""
    return f"{PORTAL_PREFIX}/static/{name}?v={_static_version(name)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        zh_date=zh_date,
        zh_datetime=zh_datetime,
        number=zh_number,
        percent=zh_percent,
        status_word=status_word,
    )
    env.globals.update(static_url=static_url, bureau_name=BUREAU_NAME, portal=PORTAL_PREFIX)
    return env


TEMPLATES: Final = _environment()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 8.8.3.2): W/"x" and "x" name the same representation here.
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags


def page_headers(max_age: int) -> dict[str, str]:
    """Headers every portal page carries; `max_age` 0 means nothing may store it."""
    cache = f"public, max-age={max_age}" if max_age > 0 else "no-store"
    return {
        "Cache-Control": cache,
        "Content-Language": "zh-CN",
        "Content-Security-Policy": PORTAL_CSP,
        "Vary": "Accept-Encoding",
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    max_age: int = 60,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The page `template` with `context`, as text/html with an ETag; 304 when the caller
    already holds this version (only for 200 answers)."""
    text = TEMPLATES.get_template(template).render(
        {
            **context,
            "request_path": request.url.path,
            # A constant of ours, no input in it: safe to mark as markup.
            "generated_at": Markup(_GENERATED_MARKER),  # noqa: S704
        }
    )
    sent = {**page_headers(max_age), **(headers or {})}
    if status == 200 and max_age > 0:
        etag = _etag(text.encode("utf-8"))
        sent["ETag"] = etag
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=sent)
    now = zh_datetime(datetime.now(UTC)) + "（北京时间）"
    body = text.replace(_GENERATED_MARKER, now).encode("utf-8")
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=sent)
