"""The Markdown report shows hostile activity names and case ids literally."""

from __future__ import annotations

from auditor.render.markdown import _cell, _code, findings_markdown


def test_cells_escape_html_and_markdown() -> None:
    assert _cell("<b>new</b> & *bold* | x_y") == "&lt;b&gt;new&lt;/b&gt; &amp; \\*bold\\* \\| x\\_y"
    assert _cell("two\nlines") == "two lines"


def test_code_spans_hold_backticks() -> None:
    assert _code("plain") == "`plain`"
    assert _code("a`b") == "`` a`b ``"
    assert _code("``x") == "``` ``x ```"
    assert _code("a|b") == "`a\\|b`"


def test_report_with_a_hostile_name() -> None:
    finding = {
        "kind": "rework_loop", "title": "<b>Fix</b> is done again", "activities": ["<b>Fix</b>", "a`b"],
        "cases": 1, "case_share": 0.5, "severity": "low", "evidence": {"note": "*x*"}, "case_ids": ["c|1"],
        "cost": None,
    }
    log = {"events": 4, "cases": 2, "activities": 2, "start": None, "end": None}
    text = findings_markdown({"log": log, "findings": [finding]})
    assert "&lt;b&gt;Fix&lt;/b&gt; is done again" in text and "<b>" not in text.replace("`<b>Fix</b>`", "")
    assert "`<b>Fix</b>`, `` a`b ``" in text
    assert "- note: \\*x\\*" in text and "`c\\|1`" in text


def test_stuck_path_says_where_the_extra_time_comes_from() -> None:
    edge = {"source": "Survey", "target": "Close|x", "cases": 10, "extra_hours_total": 1680.0, "slower_hours": 0.0,
            "more_often_hours": 1680.0, "mean_wait_hours": 168.0, "others_mean_wait_hours": 168.0,
            "passes_per_case": 2.0, "others_passes_per_case": 1.0}
    finding = {"kind": "reopened_after_close", "title": "t", "activities": [], "cases": 10, "case_share": 0.25,
               "severity": "high", "evidence": {"stuck_path": [edge]}, "case_ids": ["c1"], "cost": None}
    log = {"events": 4, "cases": 40, "activities": 2, "start": None, "end": None}
    text = findings_markdown({"log": log, "findings": [finding]})
    assert ("- stuck path: `Survey` → `Close\\|x` (10 cases, 1,680.0 extra h: 0.0 h slower passes, 1,680.0 h more "
            "passes, 2 passes per case against 1)") in text
