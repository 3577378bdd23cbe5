"""The HTML report: self-contained, escaped, and honest about unfinished runs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

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


def test_html_plots_are_well_formed_svg_with_the_reported_numbers(annotated_run):
    html = (annotated_run.out_dir / "report.html").read_text(encoding="utf-8")
    plots = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", html, re.S)]
    titles = [p.get("aria-label") for p in plots]
    assert titles == [
        "Risk distribution (records, log scale)",
        "Benchmark items flagged",
        "Characters of each work found",
    ]
    bars = {t.text for p in plots for t in p.iter("{http://www.w3.org/2000/svg}title")}
    report = annotated_run.report
    gsm = report["benchmarks"]["gsm8k-test"]
    assert f"gsm8k-test: {gsm['items_flagged']}/{gsm['items_total']}" in bars
    assert f"0.9–1.0: {report['risk_histogram']['counts'][-1]}" in bars
