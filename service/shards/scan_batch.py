"""The shard scan itself: one function of (scanner, batch of records) -> annotated batch.

Both executors (the local process pool and the Ray engine) run exactly this function; they
differ only in where the scanner lives and how shards reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.readers import ReadBatch, Record
from service.allowlist import Allowlist
from service.policy import Policy
from service.results import Match, ScanResult
from service.scanner import Scanner, ScanSettings


@dataclass(frozen=True)
class ScannerSpec:
    """What a worker needs to load its own scanner: small and picklable, unlike a Scanner.

    The shard engines and ``clearance scan --workers`` (``service.scan_pool``) both use it.
    """

    index_dir: Path
    # Each worker owns one core: torch must not spread over all of them in every worker.
    settings: ScanSettings = field(default_factory=lambda: ScanSettings(threads=1))
    policy: Policy | None = None
    backend: str | None = None
    allowlist: Allowlist | None = None

    def load(self) -> Scanner:
        return Scanner.load(
            self.index_dir,
            policy=self.policy,
            settings=self.settings,
            backend=self.backend,
            allowlist=self.allowlist,
        )


@dataclass(frozen=True)
class AnnotatedBatch:
    """A read batch with, for each item, its scan result and ``clearance`` field (None: reject)."""

    batch: ReadBatch
    results: list[ScanResult | None]
    annotations: list[dict[str, Any] | None]


def scan_batch(scanner: Scanner, batch: ReadBatch) -> AnnotatedBatch:
    """Scan the batch's records in one scanner call and annotate each of them."""
    records = batch.records
    scanned = scanner.scan_many([r.text for r in records], ids=[r.id for r in records])
    by_record = iter(zip(records, scanned, strict=True))
    results: list[ScanResult | None] = []
    annotations: list[dict[str, Any] | None] = []
    for item in batch.items:
        if isinstance(item, Record):
            record, result = next(by_record)
            results.append(result)
            annotations.append(clearance_field(record, result))
        else:
            results.append(None)
            annotations.append(None)
    return AnnotatedBatch(batch, results, annotations)


def clearance_field(record: Record, result: ScanResult) -> dict[str, Any]:
    """The ``clearance`` object added to a scanned record (layout in service/shards/README.md)."""
    return {
        "id": record.id,
        "source": record.location.to_dict(),
        "risk": round(result.risk, 4),
        "decision": result.decision.value,
        "chars": result.chars,
        "matches": [match_summary(m) for m in result.matches],
    }


def match_summary(match: Match) -> dict[str, Any]:
    """A match without its evidence list: enough to review and to count, small enough to store."""
    return {
        "ref_id": match.ref_id,
        "corpus": match.corpus,
        "kind": match.kind,
        "methods": list(match.methods),
        "risk": round(match.risk, 4),
        "decision": match.decision.value,
        "similarity": round(match.similarity, 4),
        "coverage": round(match.coverage, 4),
        "matched_tokens": match.matched_tokens,
        "doc_span": list(match.doc_span),
        "ref_span": list(match.ref_span),
        "ref_chars": span_length(ref_spans(match)),
        "snippet": match.snippet,
        **({"allowed": match.allowed} if match.allowed else {}),
    }


def ref_spans(match: Match) -> list[tuple[int, int]]:
    """The reference characters the evidence covers, as sorted disjoint spans."""
    return merge_spans([(e.ref_start, e.ref_end) for e in match.evidence])


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def span_length(spans: list[tuple[int, int]]) -> int:
    return sum(end - start for start, end in spans)
