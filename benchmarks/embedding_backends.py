"""Embedding backends: cold start, throughput, and whether they keep the scores of fp32.

For each backend: the cold start of a fresh process (import, load, first encode of one text;
median of ``--cold-runs``, with the process's peak memory), texts/s on the same real texts (C4
windows of 120 words, then GSM8K and MMLU items), cosine to the torch-fp32 embedding over all
of them (mean / min), and how often a window's nearest reference is the same as with fp32.
A scanner embeds about 0.56 texts per document (BENCHMARKS.md, static candidates), so the cold
start is what ``auto`` is chosen on, as long as the scores stay those of fp32.

    python -m benchmarks.embedding_backends --passages 512
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks._common import git_revision, machine
from indexer.embedding import Embedder, EmbeddingSettings
from reference_corpora.suite import SuiteData

# torch-fp32 first: it is the reference the others are compared with; auto shows its pick.
BACKENDS = ("torch-fp32", "torch-bf16", "onnx-fp32", "auto")

_COLD_START = """
import time
started = time.perf_counter()
import json, sys
from indexer.embedding import Embedder, EmbeddingSettings
embedder = Embedder(EmbeddingSettings(backend=sys.argv[1]))
embedder.encode(["Natalia sold clips to 48 of her friends in April."])
print(json.dumps({
    "seconds": time.perf_counter() - started,
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
    "rss_mb": int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
                  .split()[1]) / 1024,
    "torch": "torch" in sys.modules,
}))
"""


def passages(data: SuiteData, count: int) -> tuple[list[str], list[str]]:
    """Queries: 120-word windows of C4 pages; references: GSM8K and MMLU items."""
    queries = [" ".join(doc.split()[:120]) for doc in data.clean_web[:count]]
    refs = [it.text for it in data.corpora["gsm8k-test"].items[: count // 2]]
    refs += [it.text for it in data.corpora["mmlu-test"].items[: count // 2]]
    return queries, refs


def cold_start(backend: str, runs: int) -> tuple[float, float, bool]:
    """Median seconds to a first vector in a fresh process, peak MB, and whether torch loaded."""
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _COLD_START, backend],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = statistics.median(r["seconds"] for r in results)
    return seconds, max(r["rss_mb"] for r in results), results[0]["torch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    data = SuiteData.load()
    queries, refs = passages(data, args.passages)
    print(
        f"# embedding backends, {len(queries)} query + {len(refs)} reference texts, cold start "
        f"median of {args.cold_runs} fresh processes, revision {git_revision()}"
    )
    print(f"# machine: {machine()}")
    print(
        f"{'backend':<16} {'cold s':>7} {'peak MB':>8} {'torch':>6} {'texts/s':>8} "
        f"{'cos mean':>9} {'cos min':>9} {'same NN':>8}"
    )
    baseline = baseline_nn = None
    for backend in BACKENDS:
        seconds, peak, torch_loaded = cold_start(backend, args.cold_runs)
        embedder = Embedder(EmbeddingSettings(backend=backend))
        label = f"auto={embedder.backend}" if backend == "auto" else backend
        embedder.encode(queries[:16])  # warm-up
        started = time.perf_counter()
        vectors = embedder.encode(queries + refs)
        rate = len(vectors) / (time.perf_counter() - started)
        q, r = vectors[: len(queries)], vectors[len(queries) :]
        nearest = np.argmax(q @ r.T, axis=1)
        if baseline is None:
            baseline, baseline_nn = vectors, nearest
        cos = (vectors * baseline).sum(axis=1)
        same = float((nearest == baseline_nn).mean())
        print(
            f"{label:<16} {seconds:>7.2f} {peak:>8.0f} {'yes' if torch_loaded else 'no':>6} "
            f"{rate:>8.1f} {cos.mean():>9.6f} {cos.min():>9.6f} {same:>8.3f}",
            flush=True,
        )
        del embedder


if __name__ == "__main__":
    main()
