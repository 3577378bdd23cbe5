"""How many IVF lists a static-candidate search must probe on a large index (issue 13).

The library corpus of an ``index_scale`` index (``benchmarks/.cache/index-scale-<k>x``, built
by ``python -m benchmarks.index_scale``) is searched with the real windows the paraphrase tier
cuts from C4 pages, each page holding a library passage reworded (sentences reordered, 60% of
words swapped for synonyms) or copied with light edits. The exact nearest passage of each
window comes from an exhaustive search of the index's own 8-bit codes (the rescoring codes of
IVF-PQ, or the IVF-SQ8 codes scanned in full): those codes kept every window's exact nearest
passage among its top k on 127k book passages (BENCHMARKS.md, compressed vectors). For each
``nprobe`` it prints the share of the exact top k found, of those above the tier's static
floor, and of windows whose exact nearest passage is among the IVF search's top k; the pages
whose planted passage some window's top k holds (what the candidate stage needs; the
exhaustive search's count is printed first); and the search time per window on one thread.

    python -m benchmarks.ivf_probes --size 10
    python -m benchmarks.ivf_probes --size 10 --other-codes   # and the other PQ codes, side by side

``--other-codes`` sweeps a second index beside the library's own: the same IVF lists (its
coarse centroids reused) holding the other kind of PQ codes of the same bytes a passage
(``VectorSettings.pq_fast_scan``: 8-bit codes, or twice as many 4-bit codes searched with
FAISS's fast-scan kernels, lookup tables in SIMD registers), its top candidates rescored on
the library's own 8-bit codes. It is filled with the vectors those 8-bit codes decode to (the
build's float vectors are not kept), so it measures search cost and candidate recall, not a
build.
"""

from __future__ import annotations

import argparse
import random
import time

import faiss
import numpy as np

from benchmarks._common import git_revision, machine
from benchmarks.index_scale import index_dir, scan_pages
from benchmarks.vector_compression import top_k_agreement
from indexer.store import STATIC_VECTORS, ReferenceIndex, corpus_dir
from indexer.vector_index import (
    VectorSettings,
    flat_rows,
    product_quantized,
    search,
    vector_index_kind,
)
from reference_corpora import transforms as T
from service.document import Document
from service.paraphrase import ParaphraseSettings
from service.paraphrase_candidates import StaticSpace, document_windows

K = 15
PROBES = (16, 32, 64, 128, 256)


def planted_pages(index: ReferenceIndex, pages: int, seed: int) -> tuple[list[str], list[int]]:
    """Pieces of C4 pages, each with one library passage reworded or lightly edited in its
    middle (500 characters of page on each side keep the exhaustive search short)."""
    corpus = next(c for c in index.corpora if c.name == "library")
    rng = random.Random(seed)
    web = scan_pages()
    texts, sources = [], []
    for number in range(pages):
        sources.append(rng.randrange(len(corpus.passages)))
        passage = corpus.passage_text(sources[-1])
        if number % 2:
            passage = T.swap_vocabulary(T.reorder_sentences(passage, rng), rng)
        else:
            passage = T.light_edit(passage, rng)
        page = web[rng.randrange(len(web))]
        cut = len(page) // 2
        texts.append(page[max(0, cut - 500) : cut] + "\n\n" + passage + "\n\n" + page[cut:][:500])
    return texts, sources


def windows(index: ReferenceIndex, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The static vectors of every window the tier cuts from ``texts``, and each one's text."""
    settings = ParaphraseSettings()
    space = StaticSpace(index, settings.min_static_cosine, settings.window_sizes)
    docs = [Document(t, index.manifest.settings, str(n)) for n, t in enumerate(texts)]
    cut = [w for n, d in enumerate(docs) for w in document_windows(n, d, settings.window_sizes, [])]
    vectors = np.ascontiguousarray(space.window_vectors(docs, cut))
    return vectors, np.asarray([w.doc for w in cut])


def sources_found(ids: np.ndarray, page_of: np.ndarray, sources: list[int]) -> int:
    """Pages with a window whose top k hold the passage planted in the page."""
    hit = (ids == np.asarray(sources)[page_of][:, None]).any(axis=1)
    return len(np.unique(page_of[hit]))


def exhaustive_codes(index: faiss.Index) -> faiss.Index:
    """A flat float index of the vectors the index's 8-bit codes decode to: the exact ranking
    up to their rounding."""
    if isinstance(index, faiss.IndexRefine):
        codes = faiss.downcast_index(index.refine_index)
    else:
        codes = faiss.extract_index_ivf(index)
        codes.make_direct_map()
    flat = faiss.IndexFlatIP(index.d)
    flat.add(codes.reconstruct_n(0, codes.ntotal))
    return flat


def other_codes(index: faiss.Index, exact: faiss.IndexFlatIP) -> tuple[faiss.Index, tuple]:
    """The library's IVF lists with the PQ codes it does not use, rescored on its own 8-bit
    codes (``index`` is the IVF-PQ kind with rescoring, ``exact`` its decoded codes), and the
    parts the result points to, to be kept alive with it."""
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    fast = isinstance(ivf, faiss.IndexIVFPQFastScan)
    settings = VectorSettings(pq_bytes=ivf.pq.M * ivf.pq.nbits // 8, pq_fast_scan=not fast)
    quantizer = faiss.IndexFlatIP(ivf.d)
    quantizer.add(ivf.quantizer.reconstruct_n(0, ivf.nlist))
    codes = product_quantized(quantizer, ivf.d, ivf.nlist, settings)
    vectors = flat_rows(exact)
    rows = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 200_000), replace=False)
    codes.train(np.ascontiguousarray(vectors[np.sort(rows)]))
    codes.add(vectors)
    codes.nprobe = ivf.nprobe
    refined = faiss.IndexRefine(codes, faiss.downcast_index(index.refine_index))
    refined.k_factor = index.k_factor
    return refined, (quantizer, codes)


def sweep(
    index: faiss.Index, queries: np.ndarray, truth, page_of: np.ndarray, sources: list[int]
) -> None:
    """One line per ``nprobe``: shares of the exact top k found, pages found, time."""
    ivf = faiss.extract_index_ivf(index)
    floor = ParaphraseSettings().min_static_cosine
    print(
        f"{'nprobe':>7}{'lists %':>9}{'top-k':>8}{'>=floor':>9}{'nearest':>9}{'planted':>9}"
        f"{'ms/window':>11}"
    )
    default = ivf.nprobe
    one_thread_search(index, queries[:512])  # first touches of the mapped files, not timed
    for probes in sorted({*PROBES, default, ivf.nlist // 32}):
        ivf.nprobe = probes
        ms, found = one_thread_search(index, queries)
        agree = top_k_agreement(truth, found, floor)
        mark = (
            "  (default)"
            if probes == default
            else "  (nlist/32)"
            if probes == ivf.nlist // 32
            else ""
        )
        print(
            f"{probes:>7}{100 * probes / ivf.nlist:>8.2f}%"
            + "".join(f"{a:>8.4f} " for a in agree)
            + f"{sources_found(found, page_of, sources):>8} "
            + f"{ms:>10.3f}{mark}",
            flush=True,
        )
    ivf.nprobe = default


def one_thread_search(index: faiss.Index, queries: np.ndarray) -> tuple[float, np.ndarray]:
    """Milliseconds per window and the ids found, searched as a scan does (small batches, one
    thread: ``indexer.vector_index.search``)."""
    found = []
    started = time.perf_counter()
    for start in range(0, len(queries), 128):
        found.append(search(index, queries[start : start + 128], K)[1])
    return 1000 * (time.perf_counter() - started) / len(queries), np.concatenate(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--other-codes", action="store_true")
    args = parser.parse_args()
    print(f"# ivf probes, revision {git_revision()}\n# machine: {machine()}")
    index = ReferenceIndex.open(index_dir(args.size))
    corpus = next(c for c in index.corpora if c.name == "library")
    ivf = faiss.extract_index_ivf(corpus.static_vectors)
    print(
        f"# {args.size}x library: {len(corpus.passages):,} passages, "
        f"{corpus.record.vector_index}; default nprobe {ivf.nprobe}"
    )
    texts, sources = planted_pages(index, args.pages, args.seed)
    queries, page_of = windows(index, texts)
    started = time.perf_counter()
    folder = corpus_dir(index.path, corpus.record.folder_name)
    exact = exhaustive_codes(faiss.read_index(str(folder / STATIC_VECTORS)))
    truth = exact.search(queries, K)
    seconds = time.perf_counter() - started
    print(f"# {len(queries):,} windows; exhaustive search of the codes {seconds:.1f} s")
    exact_pages = sources_found(truth[1], page_of, sources)
    print(f"# pages whose planted passage a window finds by exhaustive search: {exact_pages}")
    sweep(corpus.static_vectors, queries, truth, page_of, sources)
    if args.other_codes:
        if not isinstance(corpus.static_vectors, faiss.IndexRefine):
            raise SystemExit("--other-codes needs a library of the ivf-pq kind (10x and up)")
        started = time.perf_counter()
        other, _parts = other_codes(corpus.static_vectors, exact)
        print(
            f"\n# the other codes: {vector_index_kind(other)}; built in "
            f"{time.perf_counter() - started:.0f} s"
        )
        sweep(other, queries, truth, page_of, sources)


if __name__ == "__main__":
    main()
