"""FAISS indexes over passage embeddings: exact when small, compressed and approximate above.

Exact inner-product search costs 15 ms per query at 100k passages and 140 ms at 1M on this
machine; IVF answers in about 1 ms with 0.99 of true neighbours found (STACK-FACTS.md). HNSW
was slower to build and found fewer true neighbours there, so IVF is the approximate kind.

Above ``exact_max`` the IVF lists hold codes, not float32 rows, so an index of a publisher's
works fits in memory and in the page cache (``benchmarks/vector_compression.py`` measured each
kind against exact search on every book of the data folder and on the paraphrase suite):

- up to ``exact_max`` passages: ``flat-ip``, float32, exact (1 KB per 256-dim passage);
- up to ``pq_min``: ``ivf-sq8``, one byte per dimension (a quarter); the codes kept every
  window's exact nearest passage among its top k, what is lost is IVF's probing;
- above: ``ivf-pq``, ``pq_bytes`` per passage, its top candidates rescored on 8-bit codes
  (a quarter of the bytes a search touches per probed list). ``pq_fast_scan`` makes them 4-bit
  codes, twice as many, searched by FAISS's fast-scan kernels (lookup tables held in SIMD
  registers): at 1.27M passages about the same share of windows' exact nearest passages as
  8-bit codes of the same bytes at half the search time (``benchmarks/ivf_probes.py
  --other-codes``), but read into memory rather than mapped.

The kind is in the file (FAISS writes its type), so any of them, and the IVF-Flat that
earlier builds wrote above ``exact_max``, reads back as written, memory-mapped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


@dataclass(frozen=True)
class VectorSettings:
    """Which kind of index a corpus's vectors go into, by its size, and how it is probed; in the
    manifest (fields added later default to what older indexes were read with)."""

    exact_max: int = 50_000
    # nlist ~ 4 sqrt(N) and nprobe = nlist / 32 kept 0.99 of true neighbours in the facts file;
    # on real windows against 127k book passages it found the exact nearest one for 91.6% of
    # them, 1/8 for 99.0% at 4x the search time (BENCHMARKS.md): read at load, no rebuild.
    nprobe_fraction: float = 1 / 32
    min_nprobe: int = 16
    # ... but never more lists than this: nlist / 32 lists of N / nlist vectors each is N / 32
    # vectors a query, so without a cap every window's search grew with the corpus (0.24 ms
    # at 127k passages, 0.92 ms at 382k). Binds from 2,048 lists (about 262k passages) up; a
    # search-time setting, so an index built before it was added takes it too.
    max_nprobe: int = 64
    # Above this many passages, product-quantized codes: 8-bit codes of 1M passages are 256 MB,
    # the most a scanner should touch for one corpus's candidate stage.
    pq_min: int = 1_000_000
    # 64 bytes with their top 16 k rescored on 8-bit codes (kept beside, memory-mapped) found
    # the exact nearest passage as often as 8-bit codes alone on 127k book passages; 32 bytes,
    # or 4 k rescored, lost 5-12 points of it (BENCHMARKS.md).
    pq_bytes: int = 64
    pq_rescore: int = 16
    # 4-bit codes searched by fast scan (2 x pq_bytes of them) instead of 8-bit ones: half the
    # search time at 1.27M passages for the same share of exact nearest passages, but FAISS
    # reads the block-packed lists fast scan needs into each process's memory (72 bytes a
    # passage with its id: 105 MB at 1.27M passages, about 1 GB at 12.7M) where it maps the
    # 8-bit lists, shared by every worker. Off, so a scanner's own memory stays bounded; on
    # for one process with memory to spare. A build setting: each file reads back as written.
    pq_fast_scan: bool = False
    # k-means sample per IVF list (FAISS asks for 39 to 256), and at most this many in all:
    # k-means costs sample x nlist, and 256 a list of 4 sqrt(N) lists grows as N^1.5 (59 s of
    # wall time for 365k vectors and 1,426 lists on 2 cores here; 3.7M vectors and 14,400 lists
    # at 13M passages would be hours). Below 500k passages every passage trains.
    train_per_list: int = 256
    train_max: int = 500_000


def vector_kind(passages: int, settings: VectorSettings) -> str:
    """The kind of index ``passages`` vectors go into: flat-ip, ivf-sq8 or ivf-pq."""
    if passages <= settings.exact_max:
        return "flat-ip"
    return "ivf-sq8" if passages <= settings.pq_min else "ivf-pq"


def build_vector_index(vectors: np.ndarray, settings: VectorSettings) -> faiss.Index:
    """An inner-product index over L2-normalized ``vectors`` (row i = passage i)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dimension = vectors.shape
    index = empty_vector_index(n, dimension, settings)
    if not index.is_trained:
        index.train(vectors[training_rows(n, settings)])
    index.add(vectors)
    return index


def empty_vector_index(passages: int, dimension: int, settings: VectorSettings) -> faiss.Index:
    """The index ``passages`` vectors go into, untrained when it is an IVF one, nprobe set.

    Filled a run of rows at a time (``index.add`` in passage order) it is the same index as
    one filled at once: a merge adds one part's vectors after another (``indexer.part_merge``).
    """
    kind = vector_kind(passages, settings)
    if kind == "flat-ip":
        return faiss.IndexFlatIP(dimension)
    nlist = ivf_lists(passages)
    quantizer = faiss.IndexFlatIP(dimension)
    if kind == "ivf-sq8":
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        ivf = product_quantized(quantizer, dimension, nlist, settings)
        codes = faiss.IndexScalarQuantizer(
            dimension, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index = faiss.IndexRefine(ivf, codes)
        index.k_factor = settings.pq_rescore
    _set_nprobe(index, settings)
    return index


def product_quantized(
    quantizer: faiss.Index, dimension: int, nlist: int, settings: VectorSettings
) -> faiss.IndexIVF:
    """The untrained IVF-PQ index of the ``ivf-pq`` kind, before its rescoring codes: 8-bit
    codes, or (``pq_fast_scan``) 4-bit ones for the fast-scan kernels, in the same bytes."""
    if not settings.pq_fast_scan:
        return faiss.IndexIVFPQ(
            quantizer, dimension, nlist, settings.pq_bytes, 8, faiss.METRIC_INNER_PRODUCT
        )
    # Twice as many 4-bit codes as the bytes say, but no more than the dimensions divide into.
    codes = max(
        m for m in range(1, min(2 * settings.pq_bytes, dimension) + 1) if dimension % m == 0
    )
    ivf = faiss.IndexIVFPQFastScan(
        quantizer, dimension, nlist, codes, 4, faiss.METRIC_INNER_PRODUCT
    )
    # Codes of each vector's residual from its list's centroid: FAISS leaves this off for
    # inner product, and the codes of the vectors themselves found 0.35 of the exact top
    # passages where residuals found 0.57 (32 bytes, 1.27M passages).
    ivf.by_residual = True
    return ivf


def ivf_lists(passages: int) -> int:
    return int(4 * math.sqrt(passages))


def training_rows(passages: int, settings: VectorSettings) -> np.ndarray:
    """Which rows train an IVF index of ``passages`` vectors, in the order they are given.

    A fixed-seed sample keeps builds reproducible and bounded in time.
    """
    size = min(passages, settings.train_per_list * ivf_lists(passages), settings.train_max)
    return np.random.default_rng(0).choice(passages, size=size, replace=False)


def _set_nprobe(index: faiss.Index, settings: VectorSettings) -> None:
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        wanted = max(settings.min_nprobe, int(ivf.nlist * settings.nprobe_fraction))
        ivf.nprobe = min(wanted, max(settings.max_nprobe, settings.min_nprobe))


def is_exact(index: faiss.Index) -> bool:
    """True for a flat float index: its rows are the vectors themselves."""
    return isinstance(index, faiss.IndexFlat)


def flat_rows(index: faiss.Index) -> np.ndarray:
    """The rows of a flat float index as an array over its own storage (the memory-mapped
    file, for an index read from disk): no copy. It is valid while the index lives."""
    flat = faiss.downcast_index(index)
    if flat.ntotal == 0:
        return np.empty((0, flat.d), dtype=np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


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
    params = _search_parameters(index, _excluding(exclude))
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


def _search_parameters(
    index: faiss.Index, selector: faiss.IDSelector | None
) -> faiss.SearchParameters | None:
    if selector is None:
        return None
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return faiss.SearchParameters(sel=selector)
    params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)
    if isinstance(index, faiss.IndexRefine):  # the base search selects, the rescoring follows
        base, params = params, faiss.IndexRefineSearchParameters(k_factor=index.k_factor)
        params.base_index_params = base
        params.referenced = base
    return params


def vector_index_kind(index: faiss.Index) -> str:
    """The kind and its parameters, as the corpus record shows them."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return "flat-ip" if is_exact(index) else type(index).__name__
    ivf = faiss.downcast_index(ivf)
    probes = f"nlist={ivf.nlist},nprobe={ivf.nprobe}"
    rescore = f",rescore=sq8x{index.k_factor:g}" if isinstance(index, faiss.IndexRefine) else ""
    if isinstance(ivf, faiss.IndexIVFPQ):
        return f"ivf-pq({probes},bytes={ivf.pq.M}{rescore})"
    if isinstance(ivf, faiss.IndexIVFPQFastScan):
        return f"ivf-pq({probes},bytes={ivf.pq.M * ivf.pq.nbits // 8},fast-scan{rescore})"
    if isinstance(ivf, faiss.IndexIVFScalarQuantizer):
        return f"ivf-sq8({probes})"
    return f"ivf-flat({probes})"


def write_vector_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_vector_index(path: Path, settings: VectorSettings) -> faiss.Index:
    """Memory-map the index: it loads in milliseconds, pages are read only when touched, and
    worker processes share them (float rows, 8-bit and PQ codes, IVF lists alike)."""
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    _set_nprobe(index, settings)
    return index
