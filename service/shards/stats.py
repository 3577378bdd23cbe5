"""Counts kept while a shard is scanned; they go into its done marker and, summed, the report.

Keeping them per shard (not recounting outputs at the end) lets a resumed run report on shards
scanned by an earlier run without reading their outputs again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from indexer.readers import Reject
from indexer.store import ReferenceIndex
from service.results import Decision, ScanResult
from service.shards.scan_batch import AnnotatedBatch, merge_spans, ref_spans, span_length

RISK_BINS = 10
DECISIONS = tuple(d.value for d in Decision)


def worst(a: str | None, b: str) -> str:
    return b if a is None or Decision(b).severity > Decision(a).severity else a


class ItemLengths:
    """Characters of each reference item's text, looked up once per item found."""

    def __init__(self, index: ReferenceIndex):
        self._corpora = {c.name: c for c in index.corpora}
        self._lengths: dict[tuple[str, str], int] = {}

    def __call__(self, corpus: str, ref_id: str) -> int:
        key = (corpus, ref_id)
        if key not in self._lengths:
            index = self._corpora[corpus]
            self._lengths[key] = len(index.item_text(index.row_of(ref_id)))
        return self._lengths[key]


@dataclass
class ItemHits:
    """One reference item's hits within one shard (or, merged, within the whole run)."""

    corpus: str
    ref_id: str
    kind: str
    chars_total: int
    records: int = 0
    max_risk: float = 0.0
    decision: str | None = None
    chars_matched: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)
    shards: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "ref_id": self.ref_id,
            "kind": self.kind,
            "records": self.records,
            "max_risk": round(self.max_risk, 4),
            "decision": self.decision,
            "shards": dict(self.shards),
            "chars_total": self.chars_total,
            "chars_found": span_length(self.spans),
            "chars_matched": self.chars_matched,
            "spans": [list(s) for s in self.spans],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemHits:
        return cls(
            corpus=data["corpus"],
            ref_id=data["ref_id"],
            kind=data["kind"],
            chars_total=data["chars_total"],
            records=data["records"],
            max_risk=data["max_risk"],
            decision=data["decision"],
            chars_matched=data["chars_matched"],
            spans=[(s, e) for s, e in data["spans"]],
            shards=Counter(data["shards"]),
        )

    def merge(self, other: ItemHits) -> None:
        self.records += other.records
        self.max_risk = max(self.max_risk, other.max_risk)
        if other.decision is not None:
            self.decision = worst(self.decision, other.decision)
        self.chars_matched += other.chars_matched
        self.spans = merge_spans(self.spans + other.spans)
        self.shards.update(other.shards)


@dataclass
class ScanCounts:
    """Record counts, by decision, reject reason, risk, corpus and kind, plus items hit."""

    records: int = 0
    scanned: int = 0
    rejected: int = 0
    chars: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    risk_histogram: list[int] = field(default_factory=lambda: [0] * RISK_BINS)
    # "corpus:<name>" / "kind:<name>" -> decision -> records, and "... matches" totals
    groups: dict[str, Counter[str]] = field(default_factory=dict)
    items: dict[str, ItemHits] = field(default_factory=dict)

    def add_batch(self, annotated: AnnotatedBatch, shard_key: str, lengths: ItemLengths) -> None:
        for item, result in zip(annotated.batch.items, annotated.results, strict=True):
            self.records += 1
            if isinstance(item, Reject):
                self.rejected += 1
                self.rejects[item.kind.value] += 1
            else:
                assert result is not None
                self._add_result(result, shard_key, lengths)

    def _add_result(self, result: ScanResult, shard_key: str, lengths: ItemLengths) -> None:
        self.scanned += 1
        self.chars += result.chars
        self.decisions[result.decision.value] += 1
        self.risk_histogram[min(int(result.risk * RISK_BINS), RISK_BINS - 1)] += 1
        best: dict[str, str] = {}
        for match in result.matches:
            for group in (f"corpus:{match.corpus}", f"kind:{match.kind}"):
                best[group] = worst(best.get(group), match.decision.value)
                self.groups.setdefault(group, Counter())["matches"] += 1
            key = f"{match.corpus}\t{match.ref_id}"
            if key not in self.items:
                self.items[key] = ItemHits(
                    match.corpus, match.ref_id, match.kind, lengths(match.corpus, match.ref_id)
                )
            spans = ref_spans(match)
            self.items[key].merge(
                ItemHits(
                    match.corpus,
                    match.ref_id,
                    match.kind,
                    0,
                    records=1,
                    max_risk=match.risk,
                    decision=match.decision.value,
                    chars_matched=span_length(spans),
                    spans=spans,
                    shards=Counter({shard_key: 1}),
                )
            )
        for group, decision in best.items():
            self.groups[group][decision] += 1

    def merge(self, other: ScanCounts) -> None:
        self.records += other.records
        self.scanned += other.scanned
        self.rejected += other.rejected
        self.chars += other.chars
        self.decisions.update(other.decisions)
        self.rejects.update(other.rejects)
        self.risk_histogram = [
            a + b for a, b in zip(self.risk_histogram, other.risk_histogram, strict=True)
        ]
        for group, counts in other.groups.items():
            self.groups.setdefault(group, Counter()).update(counts)
        for key, hits in other.items.items():
            if key in self.items:
                self.items[key].merge(hits)
            else:
                self.items[key] = ItemHits.from_dict(hits.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "scanned": self.scanned,
            "rejected": self.rejected,
            "chars": self.chars,
            "decisions": {d: self.decisions.get(d, 0) for d in DECISIONS},
            "rejects": dict(self.rejects),
            "risk_histogram": self.risk_histogram,
            "groups": {g: dict(c) for g, c in self.groups.items()},
            "items": [hits.to_dict() for hits in self.items.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanCounts:
        items = [ItemHits.from_dict(d) for d in data["items"]]
        return cls(
            records=data["records"],
            scanned=data["scanned"],
            rejected=data["rejected"],
            chars=data["chars"],
            decisions=Counter(data["decisions"]),
            rejects=Counter(data["rejects"]),
            risk_histogram=list(data["risk_histogram"]),
            groups={g: Counter(c) for g, c in data["groups"].items()},
            items={f"{h.corpus}\t{h.ref_id}": h for h in items},
        )
