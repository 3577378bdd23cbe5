"""The run's summary, summed from the done markers: ``report.json`` and ``report.html``.

Built from markers rather than from this run's results, so a resumed run reports on every
shard in the output folder, including those an earlier (crashed) run finished.
Schema: service/shards/README.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexer.manifest import IndexManifest
from indexer.readers import Source
from indexer.readers.streams import named_format
from service.shards.layout import OutputLayout, write_atomic
from service.shards.local import ShardOutcome
from service.shards.stats import DECISIONS, RISK_BINS, ItemHits, ScanCounts

REPORT_SCHEMA = "clearance.scan-shards.report/1"
KIND_SECTIONS = {"benchmark": "benchmarks", "copyright": "works"}


def build_report(
    layout: OutputLayout,
    shards: list[Source],
    outcomes: list[ShardOutcome],
    run: dict[str, Any],
    manifest: IndexManifest,
) -> dict[str, Any]:
    markers = layout.markers()
    total = ScanCounts()
    for marker in markers:
        total.merge(ScanCounts.from_dict(marker["counts"]))
    done = {m["file"] for m in markers}
    errors = {o.key: o.error for o in outcomes if o.error}
    pending = [s for s in shards if s.key not in done or s.key in errors]
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "complete": not pending,
        "run": run,
        "totals": {
            "shards": len(markers) + len(pending),
            "shards_done": len(markers),
            "records": total.records,
            "scanned": total.scanned,
            "rejected": total.rejected,
            "bytes": sum(m["input"]["size"] for m in markers),
            "chars": total.chars,
            "cpu_seconds": round(sum(m.get("cpu_seconds", 0.0) for m in markers), 3),
        },
        "decisions": {d: total.decisions.get(d, 0) for d in DECISIONS},
        "rejects": dict(sorted(total.rejects.items())),
        "risk_histogram": {
            "edges": [round(i / RISK_BINS, 2) for i in range(RISK_BINS + 1)],
            "counts": total.risk_histogram,
        },
        "corpora": {},
        "kinds": {},
        "benchmarks": {},
        "works": {},
        "shards": [_shard_entry(m) for m in markers]
        + [
            {"file": s.key, "format": _named(s), "done": False, "error": errors.get(s.key)}
            for s in pending
        ],
    }
    review = review_section(layout.root, report["decisions"])
    if review is not None:
        report["review"] = review
    for kind in KIND_SECTIONS:
        counts = total.groups.get(f"kind:{kind}", {})
        report["kinds"][kind] = {
            "matches": counts.get("matches", 0),
            "records": _by_decision(counts),
        }
    for corpus in manifest.corpora:
        items = sorted(
            (h for h in total.items.values() if h.corpus == corpus.name),
            key=lambda h: (-h.records, -h.max_risk, h.ref_id),
        )
        flagged = sum(1 for h in items if h.decision in ("review", "remove"))
        counts = total.groups.get(f"corpus:{corpus.name}", {})
        report["corpora"][corpus.name] = {
            "kind": corpus.kind.value,
            "items_total": corpus.items,
            "items_matched": len(items),
            "items_flagged": flagged,
            "matches": counts.get("matches", 0),
            "records": _by_decision(counts),
        }
        report[KIND_SECTIONS[corpus.kind.value]][corpus.name] = {
            "items_total": corpus.items,
            "items_matched": len(items),
            "items_flagged": flagged,
            "flagged_share": round(flagged / corpus.items, 6) if corpus.items else 0.0,
            "items": [_item_entry(h) for h in items],
        }
    return report


def write_report(layout: OutputLayout, report: dict[str, Any]) -> None:
    from service.shards.report_html import render_html

    write_atomic(layout.root / "report.json", json.dumps(report, indent=1, ensure_ascii=False))
    write_atomic(layout.root / "report.html", render_html(report))


def review_section(root: Path, decisions: dict[str, int]) -> dict[str, int] | None:
    """How many flagged documents reviewers have judged (``clearance review``), if any."""
    from service.review.queue import FLAGGED, verdicts_path
    from service.review.store import VerdictStore

    path = verdicts_path(root)
    if not path.exists():
        return None
    with VerdictStore(path) as store:
        counts = store.counts()
    return {"flagged": sum(decisions[d] for d in FLAGGED), **counts.to_dict()}


def _by_decision(counts: Any) -> dict[str, int]:
    return {d: counts.get(d, 0) for d in DECISIONS}


def _item_entry(hits: ItemHits) -> dict[str, Any]:
    data = hits.to_dict()
    return {
        key: data[key]
        for key in (
            "ref_id",
            "records",
            "max_risk",
            "decision",
            "shards",
            "chars_total",
            "chars_found",
            "chars_matched",
        )
    }


def _shard_entry(marker: dict[str, Any]) -> dict[str, Any]:
    counts = marker["counts"]
    return {
        "file": marker["file"],
        "format": marker["format"],
        "done": True,
        "records": counts["records"],
        "scanned": counts["scanned"],
        "rejected": counts["rejected"],
        "bytes": marker["input"]["size"],
        "decisions": counts["decisions"],
        "seconds": marker["seconds"],
        "cpu_seconds": marker.get("cpu_seconds"),
        "outputs": marker["outputs"],
    }


def _named(shard: Source) -> str | None:
    """A pending shard's format as its name says (the reader has not opened it)."""
    fmt, compression = named_format(shard.name)
    if fmt is None:
        return None
    return fmt.value + (f".{compression}" if compression else "")
