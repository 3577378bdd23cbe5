"""The HTML report: self-contained, escaped, and honest about unfinished runs."""

from __future__ import annotations

from service.shards.report_html import render_html


def test_html_escapes_names_and_flags_an_incomplete_run(annotated_run):
    report = dict(annotated_run.report)
    report["complete"] = False
    report["totals"] = {**report["totals"], "shards_done": 5}
    report["shards"] = [
        *report["shards"][:5],
        {
            "file": "<b>x</b>.jsonl",
            "format": "jsonl",
            "done": False,
            "error": "EOFError: <truncated>",
        },
    ]
    html = render_html(report)
    assert "Incomplete:" in html and "5 of 6 shards done" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;.jsonl" in html
    assert "EOFError: &lt;truncated&gt;" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")
