"""Where the paraphrase tier's time goes, stage by stage, on real C4 pages (issue 15).

Scans the pages of ``../shared/data/web/c4_sample_1000.jsonl`` with both tiers against the
shard-scan benchmark's index (built by ``benchmarks.shard_scan`` on first use), in batches as
the shard engine and the API give them, and times each stage of ``service.paraphrase`` by
wrapping it. Stages nest: ``find_candidates`` holds ``neighbours`` (the FAISS searches and
rescoring), ``window_vectors`` (static embedding) and ``cosine_margins``; ``_signals`` and
``_window_sieve`` hold ``_reference`` (reference passages prepared on first use);
``_add_transformer_cosines`` holds ``nearest_other_passages`` (the rivals' static search) and
``_vectors_of`` (passages embedded on first use).

    python -m benchmarks.paraphrase_cost                  # batches of 16 (shard scan)
    python -m benchmarks.paraphrase_cost --batch 1        # one page per call (API)

Side by side with an older revision: check it out in a git worktree and run this file there
with ``PYTHONPATH=<worktree>`` and ``--index`` pointing at this checkout's cached index.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import service.paraphrase as paraphrase
import service.paraphrase_candidates as candidates
from benchmarks._common import CACHE, git_revision, machine
from reference_corpora.catalog import data_dir
from service.scanner import Scanner, ScanSettings
from service.verbatim import VerbatimMatcher

STAGES: list[tuple[object, str]] = [
    (paraphrase, "find_candidates"),
    (paraphrase, "document_windows"),
    (paraphrase, "nearest_other_passages"),
    (candidates.StaticSpace, "window_vectors"),
    (candidates.StaticSpace, "neighbours"),
    (candidates, "cosine_margins"),
    *[
        (paraphrase.ParaphraseMatcher, name)
        for name in (
            "_hopeful",
            "_signals",
            "_window_sieve",
            "_reference",
            "_pair",
            "_could_pass",
            "_add_transformer_cosines",
            "_vectors_of",
        )
    ],
    (VerbatimMatcher, "find"),
]


def _timed(function: Callable, name: str, totals: Counter) -> Callable:
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - started

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--index", type=Path, default=CACHE / "shard-scan-index")
    args = parser.parse_args()
    index = args.index
    if not index.exists():
        raise SystemExit(
            "build the index first: python -m benchmarks.shard_scan --runs local-verbatim"
        )
    path = data_dir() / "web" / "c4_sample_1000.jsonl"
    pages = [json.loads(line)["text"] for line in path.open(encoding="utf-8")][: args.pages]

    rates = {}
    for tiers in (("verbatim",), ("verbatim", "paraphrase")):
        scanner = Scanner.load(index, settings=ScanSettings(tiers=tiers))
        scanner.scan_many(pages[:16])  # warm: buckets, caches, compiled trees
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(16, len(pages), args.batch):
            scanner.scan_many(pages[start : start + args.batch])
        count = len(pages) - 16
        rates[tiers] = ((time.process_time() - cpu) / count, (time.perf_counter() - wall) / count)

    totals: Counter = Counter()
    for owner, name in STAGES:
        if not hasattr(owner, name):  # an older revision, run side by side
            continue
        setattr(owner, name, _timed(getattr(owner, name), name, totals))
    scanner = Scanner.load(index)
    scanner.scan_many(pages[:16])
    totals.clear()
    for start in range(16, len(pages), args.batch):
        scanner.scan_many(pages[start : start + args.batch])

    print(
        f"# paraphrase cost, {count} C4 pages in batches of {args.batch}, revision {git_revision()}"
    )
    print(f"# machine: {machine()}")
    for tiers, (cpu, wall) in rates.items():
        print(
            f"{'+'.join(tiers):22s} {1000 * cpu:7.2f} ms CPU/page  {1000 * wall:7.2f} ms wall/page"
        )
    print("| stage | ms per page |\n|---|---|")
    for name, seconds in totals.most_common():
        print(f"| {name} | {1000 * seconds / count:.2f} |")
    matcher = scanner.paraphrase
    print(
        f"# windows looked at {matcher.windows_seen}, pairs embedded by the transformer "
        f"{matcher.pairs_embedded} (timed run and its warm-up)"
    )


if __name__ == "__main__":
    main()
