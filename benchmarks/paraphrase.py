"""Paraphrase detection (issue 3): recall, false positives and cost, side by side.

Real benchmark items (the "eval" half of each corpus, never used to fit the verifier) are
reworded by several generator families and hidden in real C4 pages; hard negatives must stay
`keep`. The same suite is scanned twice in one run:

- **full scan**: both tiers; the paraphrase tier's candidates come from static vectors of
  every window, and the transformer embeds only pairs that could pass;
- **exhaustive**: both tiers; every window and every passage embedded by the transformer
  (the candidate stage Clearance had before static vectors, taken to every window).

Rephrasings written by hand (``reference_corpora/samples/handwritten_rephrasings.jsonl`` and
the second set ``handwritten_rephrasings_eval.jsonl`` and the third ``..._styles.jsonl``, not
made by our generators) are scanned too, with both tiers and with the paraphrase tier alone.

    python benchmarks/paraphrase.py --per-category 100 --negatives 100
    python benchmarks/paraphrase.py --whole-negative-sets   # FP rates on every negative once
"""

from __future__ import annotations

import argparse
import time

from benchmarks._common import cached_index, git_revision, machine
from benchmarks.candidate_recall import cached_passage_vectors
from indexer.embedding import Embedder
from reference_corpora.suite import (
    HANDWRITTEN,
    HANDWRITTEN_EVAL,
    HANDWRITTEN_STYLES,
    SuiteData,
    evaluate,
    format_scores,
    handwritten_suite,
    paraphrase_suite,
    score,
    whole_negative_sets,
)
from service.paraphrase_candidates import TransformerSpace
from service.scanner import Scanner, ScanSettings

# The transformer cosine below which the exhaustive baseline drops a neighbour (the floor the
# tier used before static candidates).
TRANSFORMER_FLOOR = 0.55


def run(scanner: Scanner, cases, label: str) -> tuple[list, float, int]:
    matcher = scanner.paraphrase
    matcher.windows_embedded = matcher.windows_seen = matcher.pairs_embedded = 0
    started = time.perf_counter()
    outcomes = evaluate(scanner, cases)
    elapsed = time.perf_counter() - started
    windows = matcher.windows_embedded
    print(
        f"\n## {label}: {len(cases)} documents in {elapsed:.1f} s "
        f"({len(cases) / elapsed:.2f} docs/s), {matcher.windows_seen} windows looked at, "
        f"{windows} texts embedded by the transformer ({matcher.pairs_embedded} pairs)"
    )
    print(format_scores(score(outcomes)))
    return outcomes, elapsed, windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=100)
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-exhaustive", action="store_true")
    parser.add_argument(
        "--exhaustive-per-category",
        type=int,
        default=12,
        help="cases per category in the side-by-side run (embedding every window is slow)",
    )
    parser.add_argument("--show-failures", type=int, default=10)
    parser.add_argument(
        "--whole-negative-sets",
        action="store_true",
        help="also scan every eval-half item of each hard-negative set once (about 5,000 pages)",
    )
    args = parser.parse_args()

    data = SuiteData.load()
    embedder = Embedder()
    index = cached_index("quality-index", data.index_corpora())
    cases = paraphrase_suite(data, args.per_category, args.negatives, seed=args.seed)
    print(f"# paraphrase suite (eval half), seed={args.seed}, revision {git_revision()}")
    print(f"# machine: {machine()}")

    print(f"# transformer backend: {embedder.backend}")
    scanner = Scanner.load(index, settings=ScanSettings(), embedder=embedder)
    outcomes, fast_time, fast_windows = run(scanner, cases, "full scan (static candidates)")
    misses = [o for o in outcomes if o.case.positive and not o.found]
    misses += [o for o in outcomes if not o.case.positive and o.flagged]
    for outcome in misses[: args.show_failures]:
        print(
            f"#   {outcome.case.doc_id}: decision {outcome.decision}, top {outcome.top or '-'}, "
            f"expected {outcome.case.expected or 'nothing'}"
        )

    if args.whole_negative_sets:
        whole = whole_negative_sets(data)
        outcomes, _, _ = run(scanner, whole, "full scan, every eval-half hard negative once")
        for outcome in [o for o in outcomes if o.flagged][: args.show_failures]:
            print(f"#   {outcome.case.doc_id}: decision {outcome.decision}, top {outcome.top}")

    print("\n# rephrasings written by hand, not by reference_corpora/transforms.py")
    alone = Scanner.load(index, settings=ScanSettings(tiers=("paraphrase",)), embedder=embedder)
    sets = (
        (HANDWRITTEN, "hand-written rephrasings"),
        (HANDWRITTEN_EVAL, "second set"),
        (HANDWRITTEN_STYLES, "third set (styles)"),
    )
    for path, name in sets:
        handwritten = handwritten_suite(data, path=path)
        run(scanner, handwritten, f"full scan, {name}")
        run(alone, handwritten, f"paraphrase tier alone, {name}")

    if not args.skip_exhaustive:
        subset = _per_category(cases, args.exhaustive_per_category)
        exhaustive = Scanner.load(index, embedder=embedder)
        exhaustive.paraphrase.space = TransformerSpace(
            embedder,
            TRANSFORMER_FLOOR,
            exhaustive.paraphrase.settings.window_sizes,
            cached_passage_vectors(embedder, exhaustive.index),
        )
        print(
            f"\n# side by side on the same {len(subset)} documents "
            f"({args.exhaustive_per_category} per category):"
        )
        _, fast_time, fast_windows = run(scanner, subset, "full scan")
        _, slow_time, slow_windows = run(exhaustive, subset, "exhaustive (every window embedded)")
        run(alone, subset, "paraphrase tier alone (no verbatim tier), same documents")
        print(
            f"\n# full scan is {slow_time / fast_time:.1f}x faster than embedding every window "
            f"({slow_windows / max(fast_windows, 1):.1f}x fewer texts embedded)"
        )


def _per_category(cases, count: int):
    seen: dict[str, int] = {}
    subset = []
    for case in cases:
        if seen.get(case.category, 0) < count:
            seen[case.category] = seen.get(case.category, 0) + 1
            subset.append(case)
    return subset


if __name__ == "__main__":
    main()
