"""Embedding backends: throughput, and whether they keep the scores of fp32.

For each backend, encodes the same real passages (C4 windows and reference passages) and
reports passages/s, cosine to the fp32 embedding (mean / min), and how often the nearest
reference passage of a query is the same as with fp32. The index default must be the fastest
backend that keeps the scores.

    python benchmarks/embedding_backends.py --passages 512
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks._common import git_revision, machine
from indexer.embedding import Embedder, EmbeddingSettings
from reference_corpora.suite import SuiteData


def passages(data: SuiteData, count: int) -> tuple[list[str], list[str]]:
    """Queries: 120-word windows of C4 pages; references: GSM8K and MMLU items."""
    queries = [" ".join(doc.split()[:120]) for doc in data.clean_web[:count]]
    refs = [it.text for it in data.corpora["gsm8k-test"].items[: count // 2]]
    refs += [it.text for it in data.corpora["mmlu-test"].items[: count // 2]]
    return queries, refs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=512)
    args = parser.parse_args()
    data = SuiteData.load()
    queries, refs = passages(data, args.passages)
    print(
        f"# embedding backends, {len(queries)} query + {len(refs)} reference passages, "
        f"revision {git_revision()}"
    )
    print(f"# machine: {machine()}")
    print(f"{'backend':<16} {'passages/s':>10} {'cos mean':>9} {'cos min':>9} {'same NN':>8}")
    baseline_q = baseline_nn = None
    # fp32 first: it is the reference the others are compared with; auto shows what it picks.
    for backend in ("torch-fp32", "torch-bf16", "auto"):
        embedder = Embedder(EmbeddingSettings(backend=backend))
        if backend == "auto":
            backend = f"auto={embedder.backend}"
        embedder.encode(queries[:16])  # warm-up
        started = time.perf_counter()
        q = embedder.encode(queries)
        elapsed = time.perf_counter() - started
        r = embedder.encode(refs)
        nearest = np.argmax(q @ r.T, axis=1)
        if baseline_q is None:
            baseline_q, baseline_nn = q, nearest
        cos = (q * baseline_q).sum(axis=1)
        same = float((nearest == baseline_nn).mean())
        print(
            f"{backend:<16} {len(queries) / elapsed:>10.1f} {cos.mean():>9.5f} {cos.min():>9.5f} "
            f"{same:>8.3f}"
        )


if __name__ == "__main__":
    main()
