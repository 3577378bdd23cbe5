"""Where the verbatim tier's time goes, stage by stage (issue 12), on the shard-scan documents.

Each stage runs over a batch's documents before the next one starts, with the previous stages'
results cached, so its CPU time is its own: reading and parsing the JSON lines, tokenizing
(prose and code modes), token hashing, gram hashing, the postings lookup with candidate
ranking, alignment with its rapidfuzz checks, scoring, and writing the results as JSON. The
matcher's stages run through each revision's own (private) methods, so the same script runs
against an older revision from a git worktree:

    python -m benchmarks.verbatim_profile
    git worktree add /tmp/old <rev> && cd /tmp/old && \\
        PYTHONPATH=$PWD python -m benchmarks.verbatim_profile   # needs CLEARANCE_DATA_DIR
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks._common import CACHE, cached_index, git_revision, machine
from benchmarks.peer_speed import make_documents
from benchmarks.shard_scan import corpora
from indexer.normalize import TextMode
from reference_corpora.catalog import data_dir
from service.document import Document
from service.scanner import Scanner, ScanSettings
from service.scoring import ItemEvidence, score_document


class _Stages:
    """CPU seconds per stage, summed over batches."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.process_time()
        yield
        self.totals[name] = self.totals.get(name, 0.0) + time.process_time() - started


def profile_once(scanner: Scanner, lines: list[bytes], batch: int) -> dict[str, float]:
    clock = _Stages()
    settings = scanner.index.manifest.settings
    matcher = scanner.verbatim
    modes = list(TextMode)
    lengths = {(c.record.mode, n) for c in scanner.index.corpora for n in c.record.gram_lengths}
    for at in range(0, len(lines), batch):
        with clock.stage("read + parse JSON"):
            records = [json.loads(raw) for raw in lines[at : at + batch]]
        docs = [Document(r["text"], settings, r["id"]) for r in records]
        with clock.stage("tokenize (prose + code)"):
            for doc in docs:
                for mode in modes:
                    doc.tokens(mode)
        with clock.stage("token hashes"):
            for doc in docs:
                for mode in modes:
                    doc.token_hashes(mode)
        found = _find(matcher, docs, lengths, clock)
        with clock.stage("scoring"):
            results = [
                score_document(doc, evidence, scanner.policy, scanner.settings.min_report_risk)
                for doc, evidence in zip(docs, found, strict=True)
            ]
        with clock.stage("write JSON"):
            for result in results:
                json.dumps(result.to_dict(), ensure_ascii=False)
    return clock.totals


def _find(matcher: Any, docs: list[Document], lengths: set, clock: _Stages) -> list[list]:
    """The matcher's work split into gram hashing, the postings lookup with candidate ranking,
    and alignment with its rapidfuzz checks (private methods: each revision's own)."""
    found: list[list] = [[] for _ in docs]
    batched = _batched_candidates(matcher, docs, lengths, clock)
    if batched is None:  # older revisions: grams, then candidates, one document at a time
        with clock.stage("gram hashes"):
            for doc in docs:
                for mode, length in lengths:
                    doc.grams(mode, length)
        batched = {}
        with clock.stage("postings lookup + ranking"):
            for corpus in matcher.index.corpora:
                policy = matcher.policy.for_kind(corpus.record.kind.value)
                batched[corpus.name] = [matcher._candidates(d, corpus, policy) for d in docs]
    with clock.stage("alignment + rapidfuzz"):
        for corpus in matcher.index.corpora:
            policy = matcher.policy.for_kind(corpus.record.kind.value)
            for doc, evidence, passages in zip(docs, found, batched[corpus.name], strict=True):
                for passage in passages:
                    item = corpus.passage_item(passage)
                    for one in matcher._align(doc, corpus, passage, policy):
                        evidence.append(ItemEvidence(corpus, item, one))
    return found


def _batched_candidates(
    matcher: Any, docs: list[Document], lengths: set, clock: _Stages
) -> dict[str, list[list[int]]] | None:
    if not hasattr(matcher, "_presence"):  # a revision before batched candidates
        return None
    from service.verbatim_candidates import BatchGrams, CandidateLimits, find_candidates

    with clock.stage("gram hashes"):
        grams = {(mode, n): BatchGrams.of(docs, mode, n) for mode, n in lengths}
    out = {}
    with clock.stage("postings lookup + ranking"):
        for corpus in matcher.index.corpora:
            policy = matcher.policy.for_kind(corpus.record.kind.value)
            limits = CandidateLimits(
                matcher.settings.max_postings,
                matcher.settings.max_candidates,
                policy.candidate_min_hits,
            )
            mine = [grams[corpus.record.mode, n] for n in corpus.record.gram_lengths]
            out[corpus.name] = find_candidates(
                mine, corpus, matcher._presence(corpus), limits, len(docs)
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1, help="times the 1,300 C4 pages are used")
    parser.add_argument("--batch", type=int, default=64, help="documents per scan batch")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest of each stage")
    args = parser.parse_args()

    refs = corpora(data_dir(), 3000)
    scanner = Scanner.load(
        cached_index("shard-scan-index", refs), settings=ScanSettings(tiers=("verbatim",))
    )
    docs, size, _ = make_documents(CACHE / "peer-speed", refs, args.copies)
    lines = docs.read_bytes().splitlines()
    profile_once(scanner, lines[:64], args.batch)  # warm-up: compiled kernels, caches
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for stage, seconds in profile_once(scanner, lines, args.batch).items():
            best[stage] = min(best.get(stage, float("inf")), seconds)
    total = sum(best.values())
    print(f"# verbatim profile, revision {git_revision()}, batches of {args.batch}")
    print(f"# machine: {machine()}")
    print(f"# {len(lines):,} documents, {size / 1e6:.1f} MB; fastest of {args.repeat} runs")
    print("| stage | CPU s | share | µs per document |")
    print("|---|---|---|---|")
    for stage, seconds in best.items():
        print(
            f"| {stage} | {seconds:.3f} | {seconds / total:.0%} | "
            f"{seconds / len(lines) * 1e6:,.0f} |"
        )
    print(f"| all | {total:.3f} | 100% | {total / len(lines) * 1e6:,.0f} |")
    print(f"# {len(lines) / total:,.0f} documents per CPU-second")


if __name__ == "__main__":
    main()
