"""The reports page's table headers without a browser: each count column says what it counts, in
Chinese and English, and none borrows the words of a date label or an action button (issue: the
by-station count once read 上报时间, "reported at", the case page's label for a date)."""

from __future__ import annotations

import lxml.html

from tests.helpers import report_case
from tests.test_reports import simulate

PAGE = "/reports?kind=week&period=2026-W48"
CASE_FIGURES_ZH = ["上报案件", "24小时内响应率", "就地化解率", "办结满意度", "移交次数"]
CASE_FIGURES_EN = ["Cases reported", "Answered within 24 h", "Resolved on the spot", "Satisfaction", "Escalations"]


def headers(page: str, table: str) -> list[str]:
    document = lxml.html.fromstring(page)
    return [th.text_content().strip() for th in document.xpath(f"//table[@id='{table}']/thead//th")]


def test_the_report_tables_name_their_count_columns_in_chinese_and_english(browse, engine, world, clock):
    simulate(engine, world, clock, count=14)
    sun = browse("sun")
    chinese = sun.text(PAGE)
    assert headers(chinese, "by-station") == ["派出所", *CASE_FIGURES_ZH]
    assert headers(chinese, "by-officer") == ["民警", *CASE_FIGURES_ZH]
    assert headers(chinese, "by-department") == [
        "部门",
        "移交次数",
        "签收用时，中位数 / 90分位（分钟）",
        "处置用时，中位数 / 90分位（分钟）",
        "按时办结率",
        "超时次数",
        "退回次数",
        "转办次数",
    ]
    assert headers(chinese, "by-risk") == ["风险等级", "已响应", "时限内响应率", "中位数 / 90分位（分钟）"]
    english = sun.get(PAGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert headers(english, "by-station") == ["Station", *CASE_FIGURES_EN]
    assert headers(english, "by-officer") == ["Officer", *CASE_FIGURES_EN]


def test_the_case_page_still_labels_the_report_date_as_a_time(browse, engine, world):
    case = report_case(engine, world["wang"])
    page = browse("wang").text(f"/cases/{case['id']}")
    assert "<dt>上报时间</dt>" in page
