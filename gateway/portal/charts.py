"""Server-rendered charts for the portal: inline SVG sized by its viewBox (so it fits a phone
and costs no script), each with a title and description for assistive technology, the numbers
written on the chart, and the same data as a table (captioned, header cells scoped) for a
screen reader, a text browser or a page printed without colour.

Colours are presentation attributes, not style: the portal's CSP allows no inline style.
Every colour has at least 4.5:1 contrast against white (WCAG 1.4.11 asks 3:1 of graphics) and
white text on it is readable, so a value can be written inside its bar.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from markupsafe import Markup, escape

PALETTE: Final = ("#1f5fa8", "#2e7d32", "#b3261e", "#8a5a00", "#5b3f99", "#00695c")
TEXT: Final = "#1a1a1a"
GRID: Final = "#c4c4c4"
WIDTH: Final = 320
_ids = itertools.count(1)

Number = int | float | Decimal


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number | None]  # None: no figure for that category (drawn as a gap)


def fmt(value: Number | None, unit: str = "") -> str:
    """A figure as written on the chart and in its table: thousands separators, at most one
    decimal, the unit after it."""
    if value is None:
        return "—"
    number = Decimal(str(value))
    text = f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,.1f}"
    return text + unit


def _n(value: Number | None) -> float:
    return 0.0 if value is None else float(value)


def _svg_open(height: float, title: str, desc: str) -> tuple[str, list[str]]:
    uid = f"chart-{next(_ids)}"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:g}" width="100%" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" xmlns="http://www.w3.org/2000/svg" '
        f'font-size="12" fill="{TEXT}">',
        f'<title id="{uid}-t">{escape(title)}</title>',
        f'<desc id="{uid}-d">{escape(desc)}</desc>',
    ]
    return uid, parts


def _table(
    title: str, head: str, categories: Sequence[str], series: Sequence[Series], unit: str
) -> str:
    rows = [
        '<tr><th scope="row">'
        + str(escape(c))
        + "</th>"
        + "".join(f'<td class="num">{escape(fmt(s.values[i], unit))}</td>' for s in series)
        + "</tr>"
        for i, c in enumerate(categories)
    ]
    return (
        '<details class="chart-data"><summary>查看数据表</summary>'
        '<div class="table-scroll"><table>'
        f"<caption>{escape(title)}</caption>"
        f'<thead><tr><th scope="col">{escape(head)}</th>'
        + "".join(f'<th scope="col">{escape(s.name)}</th>' for s in series)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div></details>"
    )


def _figure(svg: str, table: str, title: str) -> Markup:
    # Safe: every text that came from data was escaped where the SVG and table were built.
    return Markup(  # noqa: S704
        f'<figure class="chart-figure">{svg}<figcaption>{escape(title)}</figcaption>'
        f"{table}</figure>"
    )


def _legend(series: Sequence[Series], y: float) -> list[str]:
    parts: list[str] = []
    x = 0.0
    for s, colour in zip(series, itertools.cycle(PALETTE)):
        parts.append(f'<rect x="{x:g}" y="{y - 10:g}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14:g}" y="{y:g}">{escape(s.name)}</text>')
        x += 14 + 13 * len(s.name) + 12
    return parts


def _check(categories: Sequence[str], series: Sequence[Series]) -> None:
    if not series:
        raise ValueError("a chart needs at least one series")
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(
                f"series {s.name!r} has {len(s.values)} values for {len(categories)} categories"
            )
        if any(v is not None and _n(v) < 0 for v in s.values):
            raise ValueError(f"series {s.name!r} has a negative value: these charts start at 0")


def bar_chart(
    title: str,
    desc: str,
    categories: Sequence[str],
    values: Sequence[Number | None],
    *,
    unit: str = "",
    head: str = "项目",
    series_name: str = "数值",
) -> Markup:
    """Horizontal bars, one per category, the label above each bar and its value after it."""
    return stacked_bar_chart(
        title, desc, categories, [Series(series_name, values)], unit=unit, head=head
    )


def stacked_bar_chart(
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    head: str = "项目",
) -> Markup:
    """Horizontal stacked bars: each category one bar made of the series' parts, the total
    after it, a part's value inside it where it fits; a legend when there are several series."""
    _check(categories, series)
    row, top = 36, (20 if len(series) > 1 else 0)
    height = top + row * max(len(categories), 1) + 4
    _uid, parts = _svg_open(height, title, desc)
    if len(series) > 1:
        parts += _legend(series, 12)
    totals = [sum(_n(s.values[i]) for s in series) for i in range(len(categories))]
    widest = max(totals, default=0.0) or 1.0
    span = WIDTH - 70  # room after the longest bar for its total
    for i, category in enumerate(categories):
        y = top + i * row
        parts.append(f'<text x="0" y="{y + 12:g}">{escape(category)}</text>')
        x = 0.0
        for s, colour in zip(series, itertools.cycle(PALETTE)):
            value = _n(s.values[i])
            w = span * value / widest
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 16:g}" width="{w:.1f}" height="16" fill="{colour}">'
                    f"<title>{escape(s.name)}：{escape(fmt(s.values[i], unit))}</title></rect>"
                )
                label = fmt(s.values[i])
                if len(series) > 1 and w >= 8 * len(label) + 6:
                    parts.append(
                        f'<text x="{x + w / 2:.1f}" y="{y + 28:g}" fill="#ffffff" '
                        f'text-anchor="middle" aria-hidden="true">{escape(label)}</text>'
                    )
            x += w
        total = None if all(s.values[i] is None for s in series) else totals[i]
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + 28:g}" font-weight="bold">'
            f"{escape(fmt(total, unit))}</text>"
        )
    parts.append("</svg>")
    return _figure("".join(parts), _table(title, head, categories, series, unit), title)


def line_chart(
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    head: str = "期间",
) -> Markup:
    """Lines over categories (e.g. months) from a zero baseline; every point marked, the last
    point of each line labelled with its value (all points when there is one line)."""
    _check(categories, series)
    top = 20 if len(series) > 1 else 8
    left, bottom, plot_h = 36, 22, 150
    height = top + plot_h + bottom
    _uid, parts = _svg_open(height, title, desc)
    if len(series) > 1:
        parts += _legend(series, 12)
    peak = max((_n(v) for s in series for v in s.values), default=0.0) or 1.0
    plot_w = WIDTH - left - 24
    step = plot_w / max(len(categories) - 1, 1)

    def px(i: int) -> float:
        return left + (i * step if len(categories) > 1 else plot_w / 2)

    def py(value: float) -> float:
        return top + plot_h - plot_h * value / peak

    for k in range(5):
        level = peak * k / 4
        y = py(level)
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(level))}</text>'
        )
    every = max(1, -(-len(categories) // 6))  # at most ~6 axis labels on a phone
    for i, category in enumerate(categories):
        if i % every == 0 or i == len(categories) - 1:
            parts.append(
                f'<text x="{px(i):.1f}" y="{height - 6:g}" text-anchor="middle">'
                f"{escape(category)}</text>"
            )
    for s, colour in zip(series, itertools.cycle(PALETTE)):
        points = [(px(i), py(_n(v)), v) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _v in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for j, (x, y, v) in enumerate(points):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            if len(series) == 1 or j == len(points) - 1:
                parts.append(
                    f'<text x="{x:.1f}" y="{y - 6:.1f}" text-anchor="middle" fill="{colour}" '
                    f'font-weight="bold">{escape(fmt(v))}</text>'
                )
    parts.append("</svg>")
    return _figure("".join(parts), _table(title, head, categories, series, unit), title)
