"""``report.html``: the shard-scan report as one self-contained page with inline SVG plots.

No scripts, fonts or stylesheets from elsewhere: the page must open on an offline machine and
survive being mailed around as a single file.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

COLORS = {"keep": "#4c9a2a", "review": "#e0a800", "remove": "#c0392b", "bar": "#3b6ea8"}
MAX_ITEMS_SHOWN = 200

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;
padding:.6rem 1rem;min-width:7rem}.card b{display:block;font-size:1.4rem}
.keep{color:#4c9a2a}.review{color:#b08400}.remove{color:#c0392b}.warn{color:#c0392b}
.plots{display:flex;gap:2rem;flex-wrap:wrap}small{color:#666}
"""


def render_html(report: dict[str, Any]) -> str:
    totals, run = report["totals"], report["run"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Clearance shard scan</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Clearance shard scan</h1>",
        f"<p><small>{escape(report['created_at'])} · index {escape(str(run.get('index')))} · "
        f"tiers {escape(', '.join(run.get('tiers', [])))} · engine "
        f"{escape(str(run.get('engine')))} · output {escape(str(run.get('output')))}</small></p>",
    ]
    if not report["complete"]:
        parts.append(
            f"<p class='warn'><b>Incomplete:</b> {totals['shards_done']} of "
            f"{totals['shards']} shards done; rerun the same command to finish.</p>"
        )
    parts.append(_cards(report))
    parts.append("<h2>Plots</h2><div class='plots'>")
    parts.append(_risk_plot(report["risk_histogram"]))
    parts.append(
        _hits_plot(
            "Benchmark items flagged",
            [
                (name, b["items_flagged"], f"{b['items_flagged']}/{b['items_total']}")
                for name, b in report["benchmarks"].items()
            ],
        )
    )
    works = [
        (
            f"{name}/{item['ref_id']}",
            item["chars_found"],
            f"{item['chars_found']:,} chars ({_share(item['chars_found'], item['chars_total'])})",
        )
        for name, corpus in report["works"].items()
        for item in corpus["items"]
    ]
    parts.append(_hits_plot("Characters of each work found", works))
    parts.append("</div>")
    parts.append(_corpora_table(report["corpora"]))
    parts.append(_items_tables("Benchmark items found", report["benchmarks"]))
    parts.append(_items_tables("Works found", report["works"]))
    parts.append(_rejects_table(report["rejects"]))
    parts.append(_shards_table(report["shards"]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _cards(report: dict[str, Any]) -> str:
    totals, decisions = report["totals"], report["decisions"]
    cards = [
        ("records", totals["records"], ""),
        ("scanned", totals["scanned"], ""),
        ("rejected", totals["rejected"], "warn" if totals["rejected"] else ""),
    ]
    cards += [(d, n, d) for d, n in decisions.items()]
    cards.append(("shards", f"{totals['shards_done']}/{totals['shards']}", ""))
    review = report.get("review")
    if review:  # verdicts from `clearance review`
        cards += [(f"flagged {k}", review[k], "") for k in ("reviewed", "confirmed", "dismissed")]
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><b class='{cls}'>{_fmt(value)}</b>{escape(label)}</div>"
            for label, value, cls in cards
        )
        + "</div>"
    )


def _risk_plot(histogram: dict[str, Any]) -> str:
    """Records per risk bin; heights on a log scale, since nearly every record is clean."""
    counts, edges = histogram["counts"], histogram["edges"]
    width, height, pad = 460, 220, 34
    bar = (width - 2 * pad) / len(counts)
    top = math.log10(1 + max(counts, default=0)) or 1
    out = [_svg_open(width, height + 40, "Risk distribution (records, log scale)")]
    for i, count in enumerate(counts):
        h = (height - 40) * math.log10(1 + count) / top
        x, y = pad + i * bar, height - h
        color = (
            COLORS["keep"]
            if edges[i] < 0.5
            else COLORS["review"]
            if edges[i] < 0.8
            else (COLORS["remove"])
        )
        out.append(
            f"<rect x='{x + 2:.1f}' y='{y:.1f}' width='{bar - 4:.1f}' height='{h:.1f}' "
            f"fill='{color}'><title>{edges[i]:.1f}–{edges[i + 1]:.1f}: {count}</title></rect>"
        )
        out.append(
            f"<text x='{x + bar / 2:.1f}' y='{y - 4:.1f}' font-size='10' "
            f"text-anchor='middle'>{count}</text>"
        )
        out.append(f"<text x='{x:.1f}' y='{height + 14}' font-size='10'>{edges[i]:.1f}</text>")
    out.append(f"<text x='{width - pad:.1f}' y='{height + 14}' font-size='10'>1.0</text>")
    out.append(
        f"<text x='{width / 2:.0f}' y='{height + 32}' font-size='11' "
        "text-anchor='middle'>risk</text></svg>"
    )
    return "".join(out)


def _hits_plot(title: str, rows: list[tuple[str, int, str]]) -> str:
    """Horizontal bars, largest first; rows are (label, value, value label)."""
    rows = sorted(rows, key=lambda r: -r[1])[:25]
    if not rows:
        return f"<div><b>{escape(title)}</b><p><small>nothing to show</small></p></div>"
    label_w, bar_w, row_h = 210, 240, 20
    height = 30 + row_h * len(rows)
    top = max(r[1] for r in rows) or 1
    out = [_svg_open(label_w + bar_w + 150, height, title)]
    for i, (label, value, shown) in enumerate(rows):
        y = 24 + i * row_h
        w = bar_w * value / top
        out.append(
            f"<text x='{label_w - 6}' y='{y + 13}' font-size='11' text-anchor='end'>"
            f"{escape(_clip(label, 32))}</text>"
        )
        out.append(
            f"<rect x='{label_w}' y='{y + 2}' width='{w:.1f}' height='{row_h - 5}' "
            f"fill='{COLORS['bar']}'><title>{escape(label)}: {escape(shown)}</title></rect>"
        )
        out.append(
            f"<text x='{label_w + w + 5:.1f}' y='{y + 13}' font-size='11'>{escape(shown)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _svg_open(width: int, height: int, title: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"role='img' aria-label='{escape(title)}'><text x='4' y='14' font-size='13' "
        f"font-weight='bold'>{escape(title)}</text>"
    )


def _corpora_table(corpora: dict[str, Any]) -> str:
    rows = [
        [
            escape(name),
            escape(c["kind"]),
            _fmt(c["items_total"]),
            _fmt(c["items_matched"]),
            _fmt(c["items_flagged"]),
            _fmt(c["matches"]),
            *(_fmt(c["records"][d]) for d in ("keep", "review", "remove")),
        ]
        for name, c in corpora.items()
    ]
    return "<h2>By corpus</h2>" + _table(
        [
            "corpus",
            "kind",
            "items",
            "items matched",
            "items flagged",
            "matches",
            "records keep",
            "records review",
            "records remove",
        ],
        rows,
    )


def _items_tables(title: str, corpora: dict[str, Any]) -> str:
    parts = [f"<h2>{escape(title)}</h2>"]
    for name, corpus in corpora.items():
        items = corpus["items"]
        if not items:
            continue
        parts.append(
            f"<h3>{escape(name)}: {corpus['items_flagged']} of {corpus['items_total']} "
            f"items flagged ({corpus['flagged_share']:.2%})</h3>"
        )
        rows = [
            [
                escape(i["ref_id"]),
                f"<span class='{i['decision']}'>{i['decision']}</span>",
                f"{i['max_risk']:.2f}",
                _fmt(i["records"]),
                f"{_fmt(i['chars_found'])} / {_fmt(i['chars_total'])}",
                escape(", ".join(f"{k} ({n})" for k, n in sorted(i["shards"].items()))),
            ]
            for i in items[:MAX_ITEMS_SHOWN]
        ]
        parts.append(
            _table(
                [
                    "item",
                    "decision",
                    "max risk",
                    "records",
                    "chars found / total",
                    "shards (records)",
                ],
                rows,
            )
        )
        if len(items) > MAX_ITEMS_SHOWN:
            parts.append(
                f"<p><small>{len(items) - MAX_ITEMS_SHOWN} more in report.json</small></p>"
            )
    return "".join(parts)


def _rejects_table(rejects: dict[str, int]) -> str:
    if not rejects:
        return "<h2>Rejected records</h2><p>none</p>"
    rows = [[escape(kind), _fmt(n)] for kind, n in rejects.items()]
    return (
        "<h2>Rejected records</h2><p><small>Each is in <code>rejects/</code> with its file, "
        "line or row, and reason.</small></p>" + _table(["reason", "records"], rows)
    )


def _shards_table(shards: list[dict[str, Any]]) -> str:
    rows = []
    for s in shards:
        if not s["done"]:
            rows.append(
                [
                    escape(s["file"]),
                    escape(s["format"]),
                    f"<span class='warn'>not done{_error_note(s)}</span>",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ]
            )
            continue
        d = s["decisions"]
        rows.append(
            [
                escape(s["file"]),
                escape(s["format"]),
                "done",
                _fmt(s["records"]),
                _fmt(s["rejected"]),
                _fmt(d["keep"]),
                _fmt(d["review"]),
                _fmt(d["remove"]),
                f"{s['seconds']:.1f}",
            ]
        )
    return "<h2>Shards</h2>" + _table(
        ["shard", "format", "status", "records", "rejected", "keep", "review", "remove", "seconds"],
        rows,
    )


def _error_note(shard: dict[str, Any]) -> str:
    return f": {escape(shard['error'])}" if shard.get("error") else ""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if _numeric(c) else ''}>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _numeric(cell: str) -> bool:
    return bool(cell) and cell.replace(",", "").replace(".", "").isdigit()


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
