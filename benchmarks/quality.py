"""Detection quality of the verbatim categories (issue 2) on real data.

Real benchmark items and book passages hidden in real C4 pages (verbatim, re-wrapped,
re-cased, markdown, lightly edited, short TruthfulQA questions, 80-250-word book passages),
and negatives that must stay `keep`: clean C4 pages, GSM8K train against a GSM8K test index,
MBPP against HumanEval, other MMLU questions of the indexed subjects, passages of books that
are not indexed. Prints recall per positive category and false-positive rate per negative one.

    python benchmarks/quality.py                       # both tiers, 200 cases per category
    python benchmarks/quality.py --tiers verbatim --per-category 100
"""

from __future__ import annotations

import argparse
import time

from benchmarks._common import cached_index, git_revision, machine
from reference_corpora.suite import SuiteData, evaluate, format_scores, score, verbatim_suite
from service.scanner import Scanner, ScanSettings, parse_tiers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=200)
    parser.add_argument(
        "--negatives", type=int, default=250, help="cases per hard-negative set (clean web gets 4x)"
    )
    parser.add_argument("--tiers", default="verbatim,paraphrase")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show-failures", type=int, default=5)
    args = parser.parse_args()

    data = SuiteData.load()
    index = cached_index("quality-index", data.index_corpora())
    tiers = parse_tiers(args.tiers)
    scanner = Scanner.load(index, settings=ScanSettings(tiers=tiers))
    cases = verbatim_suite(data, args.per_category, args.negatives, seed=args.seed)

    started = time.perf_counter()
    outcomes = evaluate(scanner, cases)
    elapsed = time.perf_counter() - started

    print(
        f"# quality (issue 2 categories), tiers={args.tiers}, "
        f"seed={args.seed}, revision {git_revision()}"
    )
    print(f"# machine: {machine()}")
    print(f"# index: {', '.join(f'{c.name} {c.record.items}' for c in scanner.index.corpora)}")
    print(format_scores(score(outcomes)))
    print(
        f"# {len(cases)} documents scanned in {elapsed:.1f} s ({len(cases) / elapsed:.1f} docs/s)"
    )
    misses = [o for o in outcomes if o.case.positive and not o.found] + [
        o for o in outcomes if not o.case.positive and o.flagged
    ]
    for outcome in misses[: args.show_failures]:
        print(
            f"#   {outcome.case.doc_id}: decision {outcome.decision}, "
            f"top match {outcome.top or '-'}, expected {outcome.case.expected or 'nothing'}"
        )


if __name__ == "__main__":
    main()
