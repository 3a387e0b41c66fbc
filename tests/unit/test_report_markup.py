"""The run report's page template: values from data are escaped, only the HTML the
report built itself goes in as markup, and a template left half filled is an error."""

from __future__ import annotations

import datetime as dt

import pytest

from tailor.report import ReportData, Section, report_html
from tailor.report.markup import render_template

pytestmark = pytest.mark.unit

HOSTILE = '<script>alert("x")</script> ana@example.com'


def test_a_hostile_title_is_escaped_and_masked():
    page = render_template(
        "page.html", text={"title": HOSTILE}, markup=dict.fromkeys(("header", "nav", "body"), "")
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; [email]" in page
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</html>\n")


def test_a_template_left_half_filled_is_an_error():
    with pytest.raises(KeyError):
        render_template("page.html", text={"title": "t"}, markup={"header": "h"})


def test_a_report_escapes_its_status_and_section_titles():
    data = ReportData(
        dt.date(2026, 10, 1),
        [Section("run", HOSTILE, "<p>built by the report</p>")],
        {"status": HOSTILE},
    )
    page = report_html(data)
    assert "<script>" not in page
    assert "<p>built by the report</p>" in page
    assert "ana@example.com" not in page
