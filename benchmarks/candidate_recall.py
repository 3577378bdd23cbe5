"""Recall of the paraphrase tier's candidate stage alone: is the right item among the pairs
it sends to verification?

The static stage (every window embedded with the index's static model, searched against the
passages' static vectors) is measured side by side with the exhaustive transformer stage
(every window and every passage embedded with all-MiniLM-L6-v2), on the positives of the
paraphrase suite and on the hand-written rephrasings, with the verbatim tier off so that
nothing is masked. A case counts when a candidate pair for an expected item has its window
overlapping the hidden text.

    python -m benchmarks.candidate_recall --per-category 50 --transformer-per-category 12
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from benchmarks._common import CACHE, cached_index, git_revision, machine
from indexer.embedding import Embedder
from indexer.store import CorpusIndex, ReferenceIndex
from reference_corpora.suite import Case, SuiteData, handwritten_suite, paraphrase_suite
from service.document import Document
from service.paraphrase import ParaphraseSettings
from service.paraphrase_candidates import (
    StaticSpace,
    TransformerSpace,
    VectorSpace,
    document_windows,
    find_candidates,
)


def stage_hits(
    space: VectorSpace,
    index: ReferenceIndex,
    cases: list[Case],
    settings: ParaphraseSettings,
    per_doc: int,
) -> tuple[list[bool], float, int]:
    """Per case, whether an expected item is among its candidates; seconds; pairs per doc."""
    hits, pairs = [], 0
    started = time.perf_counter()
    for start in range(0, len(cases), 16):
        batch = cases[start : start + 16]
        docs = [Document(c.text, index.manifest.settings, c.doc_id) for c in batch]
        windows = [
            w
            for n, doc in enumerate(docs)
            for w in document_windows(n, doc, settings.window_sizes, [])
        ]
        found = find_candidates(space, index, docs, windows, settings.top_k, per_doc)
        for case, candidates in zip(batch, found, strict=True):
            pairs += len(candidates)
            hits.append(
                any(
                    (c.corpus.name, c.corpus.ids[c.corpus.passage_item(c.passage)]) in case.expected
                    and case.span is not None
                    and c.window.char_start < case.span[1]
                    and c.window.char_end > case.span[0]
                    for c in candidates
                )
            )
    return hits, time.perf_counter() - started, pairs


def cached_passage_vectors(embedder: Embedder, index: ReferenceIndex):
    """Transformer vectors of every passage, kept on disk per corpus checksum."""

    def vectors(corpus: CorpusIndex) -> np.ndarray:
        path = CACHE / "transformer-vectors" / f"{corpus.record.checksum[7:23]}.npy"
        if path.exists():
            return np.load(path)
        array = embedder.encode([corpus.passage_text(p) for p in range(len(corpus.passages))])
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)
        return array

    return vectors


def table(rows: dict[str, dict[str, list[bool]]], spaces: list[str]) -> str:
    lines = [f"{'category':<30}" + "".join(f"{s:>22}" for s in spaces)]
    for category, by_space in rows.items():
        cells = []
        for space in spaces:
            hits = by_space.get(space)
            cells.append(f"{sum(hits):>5}/{len(hits):<5} {np.mean(hits):>9.3f}" if hits else "-")
        lines.append(f"{category:<30}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=50)
    parser.add_argument("--transformer-per-category", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--per-doc",
        type=int,
        help="candidates kept per document, best static cosine first (default: the tier's "
        "max_candidates_per_doc, what goes on to its exact sieves)",
    )
    args = parser.parse_args()

    data = SuiteData.load()
    index = ReferenceIndex.open(cached_index("quality-index", data.index_corpora()))
    settings = ParaphraseSettings()
    per_doc = args.per_doc or settings.max_candidates_per_doc
    positives = [
        c for c in paraphrase_suite(data, args.per_category, 1, seed=args.seed) if c.positive
    ]
    handwritten = [c for c in handwritten_suite(data) if c.positive]
    print(f"# candidate-stage recall, seed={args.seed}, revision {git_revision()}")
    print(f"# machine: {machine()}")
    print(
        f"# settings: sizes {settings.window_sizes}, top_k {settings.top_k}, static floor "
        f"{settings.min_static_cosine}, at most {per_doc} candidates per document"
    )

    static = StaticSpace(index, settings.min_static_cosine, settings.window_sizes)
    embedder = Embedder()
    transformer = TransformerSpace(
        embedder, 0.55, settings.window_sizes, cached_passage_vectors(embedder, index)
    )
    rows: dict[str, dict[str, list[bool]]] = defaultdict(dict)
    per_category: dict[str, list[Case]] = defaultdict(list)
    for case in positives + handwritten:
        per_category[case.category].append(case)
    spaces = [("static", static, None)]
    if args.transformer_per_category:
        spaces.append(("transformer", transformer, args.transformer_per_category))
    for name, space, limit in spaces:
        total_time, total_docs, total_pairs = 0.0, 0, 0
        for category, cases in per_category.items():
            chosen = cases if limit is None else cases[:limit]
            hits, seconds, pairs = stage_hits(space, index, chosen, settings, per_doc)
            rows[category][name] = hits
            total_time, total_docs, total_pairs = (
                total_time + seconds,
                total_docs + len(chosen),
                total_pairs + pairs,
            )
        print(
            f"## {name}: {total_docs} documents in {total_time:.1f} s "
            f"({total_docs / total_time:.1f} docs/s), {total_pairs / total_docs:.1f} pairs/doc"
        )
    if not args.transformer_per_category:
        print(table(rows, ["static"]))
        return
    # The static column again on the transformer's subset, for a like-for-like comparison.
    for category, cases in per_category.items():
        hits, _, _ = stage_hits(
            static, index, cases[: args.transformer_per_category], settings, per_doc
        )
        rows[category]["static (same subset)"] = hits
    print(table(rows, ["static", "static (same subset)", "transformer"]))


if __name__ == "__main__":
    main()
