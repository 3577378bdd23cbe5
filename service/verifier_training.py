"""Fitting the paraphrase verifier: ``python -m service.verifier_training``.

The verifier sees (document window, reference passage) pairs that the paraphrase tier's own
candidate stage produces, so it is trained on exactly those: a training suite of real
benchmark items and book passages, reworded by several generator families and hidden in real
C4 pages, plus hard negatives (GSM8K train against GSM8K test, MBPP against HumanEval, other
MMLU questions of the same subjects, books that are not indexed). Every candidate pair the
matcher produces is labelled positive when its passage belongs to the hidden item and its
window overlaps the hidden text. Human-judged sentence pairs (PAWS paraphrases and
high-overlap non-paraphrases, STS-B) are added so the model does not learn only our
generators' habits.

Training items are drawn from one half of each corpus (by a stable hash of the item id) and
``benchmarks/paraphrase.py`` evaluates on the other half, with other seeds. The result is a
small JSON file of logistic-regression coefficients; the run is deterministic.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np

from indexer.normalize import TextMode, tokenize
from reference_corpora.catalog import data_dir
from reference_corpora.suite import Case, SuiteData, training_suite
from service.verifier import FEATURES, MODEL_RESOURCE, ReferenceView, Verdict, pair_features

# Target false-positive rate on hard-negative pairs when choosing the acceptance threshold.
TARGET_PAIR_FPR = 0.005


@dataclass
class Example:
    features: dict[str, float]
    label: int
    source: str


class FeatureCollector:
    """A verifier that records every pair's features and accepts none: scans only collect."""

    accept_at = 2.0  # above any probability

    def __init__(self, term_settings):
        self.term_settings = term_settings
        self.seen: list[tuple[str, int, int, ReferenceView, dict[str, float]]] = []

    def verify(self, doc, doc_text, start, end, ref, cosine) -> Verdict:
        features, span = pair_features(doc, doc_text, start, end, ref, cosine, self.term_settings)
        self.seen.append((doc_text, start, end, ref, features))
        return Verdict(0.0, features["alignment"], span[0], span[1], features)


def collect_scan_pairs(scanner, cases: list[Case]) -> list[Example]:
    """Run the real paraphrase tier over ``cases`` and label every pair it verifies."""
    matcher = scanner.paraphrase
    examples: list[Example] = []
    for start in range(0, len(cases), 16):
        batch = cases[start : start + 16]
        collector = FeatureCollector(scanner.index.manifest.settings.terms)
        matcher.verifier = collector
        docs_by_text = {c.text: c for c in batch}
        scanner.scan_many([c.text for c in batch], ids=[c.doc_id for c in batch])
        for doc_text, window_start, window_end, ref, features in collector.seen:
            case = docs_by_text[doc_text]
            label = int(_is_hidden_item(scanner, case, ref, doc_text, window_start, window_end))
            examples.append(Example(features, label, case.category))
    return examples


def _is_hidden_item(
    scanner, case: Case, ref: ReferenceView, doc_text: str, start: int, end: int
) -> bool:
    if not case.positive or case.span is None:
        return False
    settings = scanner.index.manifest.settings
    tokens = tokenize(doc_text, TextMode.PROSE, settings.normalization)
    window_start, window_end = tokens.char_span(start, end)
    if window_end <= case.span[0] or window_start >= case.span[1]:
        return False
    for corpus_name, ref_id in case.expected:
        corpus = next(c for c in scanner.index.corpora if c.name == corpus_name)
        item = corpus.ids.index(ref_id)
        if ref.text in corpus.item_text(item):
            return True
    return False


def sentence_pairs(embedder, settings, root: Path, limit: int, seed: int) -> list[Example]:
    """PAWS (paraphrase vs. high-overlap non-paraphrase) and STS-B (graded) sentence pairs."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, int, str]] = []
    with (root / "pairs" / "paws_wiki_dev.tsv").open(encoding="utf-8") as handle:
        paws = [
            r for r in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if len(r) == 4
        ]
    for _, first, second, label in rng.sample(paws, min(limit, len(paws))):
        rows.append((first, second, int(label), "paws"))
    with (root / "pairs" / "stsb_train.tsv").open(encoding="utf-8") as handle:
        sts = [r for r in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if len(r) >= 7]
    for row in rng.sample(sts, min(limit // 2, len(sts))):
        score = float(row[4])
        if score >= 4.4 or score <= 2.5:
            rows.append((row[5], row[6], int(score >= 4.4), "stsb"))
    first_vectors = embedder.encode([r[0] for r in rows])
    second_vectors = embedder.encode([r[1] for r in rows])
    examples = []
    for (first, second, label, source), a, b in zip(
        rows, first_vectors, second_vectors, strict=True
    ):
        ref = ReferenceView.of(first, TextMode.PROSE, settings)
        window = tokenize(second, TextMode.PROSE, settings.normalization)
        if len(window) == 0 or len(ref.prose) == 0:
            continue
        features, _ = pair_features(
            window, second, 0, len(window), ref, float(a @ b), settings.terms
        )
        examples.append(Example(features, label, source))
    return examples


def fit(examples: list[Example], seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x = np.array([[e.features[f] for f in FEATURES] for e in examples], dtype=np.float64)
    y = np.array([e.label for e in examples])
    sources = np.array([e.source for e in examples])
    x_train, x_test, y_train, y_test, _, s_test = train_test_split(
        x, y, sources, test_size=0.25, random_state=seed, stratify=y
    )
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    model.fit((x_train - mean) / scale, y_train)
    p_test = model.predict_proba((x_test - mean) / scale)[:, 1]
    negatives = np.sort(p_test[y_test == 0])[::-1]
    cutoff_index = int(len(negatives) * TARGET_PAIR_FPR)
    accept_at = float(max(0.5, negatives[cutoff_index] + 1e-6)) if len(negatives) else 0.5
    recall = float((p_test[y_test == 1] >= accept_at).mean())
    per_source = {
        src: {
            "pairs": int((s_test == src).sum()),
            "positives": int(y_test[s_test == src].sum()),
            "accepted": int((p_test[s_test == src] >= accept_at).sum()),
        }
        for src in sorted(set(s_test))
    }
    return {
        "features": list(FEATURES),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coefficients": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
        "accept_at": accept_at,
        "info": {
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "examples": len(examples),
            "positives": int(y.sum()),
            "held_out_auc": float(roc_auc_score(y_test, p_test)),
            "held_out_recall_at_accept": recall,
            "held_out_negative_pairs_accepted": float((p_test[y_test == 0] >= accept_at).mean()),
            "held_out_by_source": per_source,
            "seed": seed,
        },
    }


def train(
    output: Path, index_dir: Path, seed: int = 7, per_category: int = 60, negatives: int = 60
) -> dict:
    from indexer.build import ensure_index
    from indexer.embedding import Embedder
    from service.paraphrase import ParaphraseMatcher
    from service.scanner import Scanner, ScanSettings

    data = SuiteData.load()
    embedder = Embedder()
    ensure_index(index_dir, data.index_corpora(), embedder=embedder)
    scanner = Scanner.load(index_dir, settings=ScanSettings(tiers=("verbatim",)))
    scanner.paraphrase = ParaphraseMatcher(
        scanner.index,
        scanner.policy,
        embedder,
        verifier=FeatureCollector(scanner.index.manifest.settings.terms),
    )
    cases = training_suite(data, per_category, negatives, seed=seed)
    examples = collect_scan_pairs(scanner, cases)
    examples += sentence_pairs(embedder, scanner.index.manifest.settings, data_dir(), 1600, seed)
    model = fit(examples, seed)
    output.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description="Fit the paraphrase verifier on ../shared/data.")
    default = Path(str(resources.files("service.models").joinpath(MODEL_RESOURCE)))
    parser.add_argument("--out", type=Path, default=default)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-category", type=int, default=60)
    parser.add_argument("--negatives", type=int, default=60)
    parser.add_argument(
        "--index",
        type=Path,
        default=Path("benchmarks/.cache/quality-index"),
        help="index of the suite's corpora (built if missing or stale)",
    )
    args = parser.parse_args()
    model = train(args.out, args.index, args.seed, args.per_category, args.negatives)
    print(json.dumps(model["info"], indent=2))
    print(
        "coefficients:",
        dict(zip(FEATURES, (round(c, 3) for c in model["coefficients"]), strict=True)),
    )
    print(f"accept_at {model['accept_at']:.3f}; written to {args.out}")


if __name__ == "__main__":
    main()
