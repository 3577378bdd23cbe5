"""FAISS indexes over passage embeddings: exact when small, approximate (IVF) when large.

Exact inner-product search costs 15 ms per query at 100k passages and 140 ms at 1M on this
machine; IVF-Flat answers in about 1 ms with 0.99 of true neighbours found (STACK-FACTS.md).
HNSW was slower to build and found fewer true neighbours there, so IVF is the approximate kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


@dataclass(frozen=True)
class VectorSettings:
    """When to switch to an approximate index, and how it is probed; in the manifest."""

    exact_max: int = 50_000
    # nlist ~ 4 sqrt(N) and nprobe = nlist / 32 kept 0.99 of true neighbours in the facts file.
    nprobe_fraction: float = 1 / 32
    min_nprobe: int = 16


def build_vector_index(vectors: np.ndarray, settings: VectorSettings) -> faiss.Index:
    """An inner-product index over L2-normalized ``vectors`` (row i = passage i)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dimension = vectors.shape
    if n <= settings.exact_max:
        index = faiss.IndexFlatIP(dimension)
    else:
        nlist = int(4 * math.sqrt(n))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        # Training on a fixed-seed sample keeps builds reproducible and bounded in time.
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(n, size=min(n, 256 * nlist), replace=False)]
        index.train(sample)
        index.nprobe = max(settings.min_nprobe, int(nlist * settings.nprobe_fraction))
    index.add(vectors)
    return index


# Up to this many query vectors are searched on one thread. A scan sends a few windows at a time,
# and waking FAISS's OpenMP team for them cost more than the search itself; its threads then
# spun on the two cores torch was about to use (2 KB pages, both tiers: p50 12 -> 9 ms, p99
# 60-70 -> 50 ms in an in-process profiling run on 2 cores).
SINGLE_THREAD_QUERIES = 256


def search(
    index: faiss.Index, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, passage ids) of the ``k`` nearest passages of each query row, leaving out the
    passages ``exclude`` names (taken down: ``indexer.removals``) inside the search, so that
    ``k`` others come back in their place."""
    selector = _excluding(exclude)
    params = None
    if selector is not None:
        params = (
            faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
            if isinstance(index, faiss.IndexIVF)
            else faiss.SearchParameters(sel=selector)
        )
    if len(queries) > SINGLE_THREAD_QUERIES:
        return index.search(queries, k, params=params)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)


def _excluding(ids: np.ndarray | None) -> faiss.IDSelector | None:
    if ids is None or len(ids) == 0:
        return None
    batch = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
    selector = faiss.IDSelectorNot(batch)
    selector.referenced = batch  # the C++ object keeps a bare pointer: keep it alive with it
    return selector


def vector_index_kind(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexIVF):
        return f"ivf-flat(nlist={index.nlist},nprobe={index.nprobe})"
    return "flat-ip"


def write_vector_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_vector_index(path: Path, settings: VectorSettings) -> faiss.Index:
    """Memory-map the index: it loads in milliseconds and pages are read only when touched."""
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = max(settings.min_nprobe, int(index.nlist * settings.nprobe_fraction))
    return index
