"""Server-rendered SVG charts: well-formed, labelled for assistive technology, numbers on the
chart, the same data as a table, escaped text, and refused inconsistent data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from markupsafe import Markup

from gateway.portal import charts
from gateway.portal.charts import Series

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(figure: Markup) -> ET.Element:
    found = re.search(r"<svg.*?</svg>", str(figure), re.S)
    assert found is not None
    return ET.fromstring(found.group(0))  # noqa: S314 (our own output, not untrusted input)


def table_rows(figure: Markup) -> list[list[str]]:
    body = re.search(r"<tbody>(.*)</tbody>", str(figure), re.S)
    assert body is not None
    return [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1))
    ]


def test_bar_chart_is_labelled_and_carries_its_numbers() -> None:
    figure = charts.bar_chart(
        "许可申请", "每个事项的申请件数", ["动火", "受限空间"], [1234, 5], unit="件"
    )
    root = svg_of(figure)
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert title.text == "许可申请"
    assert desc is not None
    assert desc.text == "每个事项的申请件数"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "1,234件" in texts
    assert "5件" in texts
    assert "动火" in texts
    widths = [float(r.get("width", 0)) for r in root.iter(f"{SVG}rect")]
    assert widths[0] > widths[1] * 100  # proportional to the values
    assert table_rows(figure) == [["动火", "1,234件"], ["受限空间", "5件"]]
    assert "<caption>许可申请</caption>" in figure
    assert 'scope="col"' in figure


def test_stacked_bar_adds_parts_and_writes_the_total() -> None:
    figure = charts.stacked_bar_chart(
        "服务",
        "按时与逾期",
        ["甲公司", "乙公司"],
        [Series("按时", [30, 0]), Series("逾期", [10, None])],
    )
    root = svg_of(figure)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "40" in texts
    assert "0" in texts
    assert "按时" in texts
    assert "逾期" in texts
    assert table_rows(figure) == [["甲公司", "30", "10"], ["乙公司", "0", "—"]]


def test_line_chart_marks_every_point() -> None:
    figure = charts.line_chart(
        "逐月", "按时完成数", ["1月", "2月", "3月"], [Series("按时", [1, Decimal("2.5"), 4])]
    )
    root = svg_of(figure)
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"1", "2.5", "4"} <= set(texts)


def test_text_is_escaped() -> None:
    figure = charts.bar_chart("<script>", "a & b", ["<b>x</b>"], [1])
    assert "<script>" not in figure
    assert "<b>x</b>" not in figure
    svg_of(figure)  # still well-formed XML


def test_empty_and_zero_data_render() -> None:
    svg_of(charts.bar_chart("空", "无数据", [], []))
    svg_of(charts.line_chart("零", "全为零", ["1月"], [Series("数", [0])]))


@pytest.mark.parametrize(("categories", "values"), [(["a", "b"], [1]), (["a"], [-1])])
def test_inconsistent_data_is_refused(categories: list[str], values: list[int]) -> None:
    with pytest.raises(ValueError, match=r"values for|negative value"):
        charts.bar_chart("t", "d", categories, values)
