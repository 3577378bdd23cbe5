"""Compressed static vectors against exact search: what each vector-index kind loses.

(a) Every book in ``../shared/data/books`` as passages (one corpus, about 127,000 passages)
plus the paraphrase suite's corpora, each searched with the real query windows of the suite's
positive documents and of C4 pages: the share of the exact (flat) top-k each kind finds, over
all neighbours and over those above the tier's static floor, and the share of windows whose
exact nearest passage it finds among its top k. (b) The paraphrase suite's static candidate
recall (``benchmarks.candidate_recall``) with each corpus's exact vectors swapped for each
compressed kind built from the same vectors: the loss in points the issue bounds at 0.5.

    python -m benchmarks.vector_compression --per-category 50 --pages 200
    python -m benchmarks.vector_compression --per-category 30 --pages 100 --sweep 15000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from benchmarks._common import CACHE, cached_index, git_revision, machine
from benchmarks.candidate_recall import stage_hits
from indexer.build import ensure_index
from indexer.corpus import Corpus, CorpusKind, read_text_works
from indexer.manifest import IndexSettings
from indexer.store import CorpusIndex, ReferenceIndex
from indexer.vector_index import (
    VectorSettings,
    build_vector_index,
    search,
    vector_index_kind,
    write_vector_index,
)
from reference_corpora.catalog import data_dir
from reference_corpora.suite import Case, SuiteData, handwritten_suite, paraphrase_suite, read_web
from service.document import Document
from service.paraphrase import ParaphraseSettings
from service.paraphrase_candidates import StaticSpace, document_windows

# Flat at every size: the exact vectors every kind is built from and compared with.
EXACT = IndexSettings(vectors=VectorSettings(exact_max=1 << 40))


def all_books_index() -> ReferenceIndex:
    """Every book of the data folder as one corpus, with exact vectors (built once, cached)."""
    files = sorted((data_dir() / "books").glob("books_*.txt"))
    items = [read_text_works(f, name="books-all").items[0] for f in files]
    corpus = Corpus("books-all", CorpusKind.COPYRIGHT, items, source=str(data_dir() / "books"))
    from service.cli import _progress_factory

    path = ensure_index(
        CACHE / "vector-books", [corpus], settings=EXACT, progress=_progress_factory(True)
    )
    return ReferenceIndex.open(path)


# Each compressed kind, forced at any size by its thresholds (the defaults pick them by size).
KINDS = {
    "ivf-sq8": VectorSettings(exact_max=0),
    "ivf-pq, rescored": VectorSettings(exact_max=0, pq_min=0),
    "ivf-pq, not rescored": VectorSettings(exact_max=0, pq_min=0, pq_rescore=1),
}
# ``--sweep``: lists probed (a share of nlist) and PQ rescoring factors tried on the books.
PROBE_SHARES = (1 / 32, 1 / 16, 1 / 8, 1 / 4)
RESCORE_FACTORS = (1, 4, 16)


@dataclass(frozen=True)
class KindCost:
    build_seconds: float
    bytes_per_passage: float
    search_ms_per_window: float


def exact_vectors(corpus: CorpusIndex) -> np.ndarray:
    return corpus.static_vectors.reconstruct_n(0, corpus.static_vectors.ntotal)


def query_windows(index: ReferenceIndex, texts: list[str]) -> np.ndarray:
    """The static vectors of every window the tier would cut from ``texts``."""
    settings = ParaphraseSettings()
    space = StaticSpace(index, settings.min_static_cosine, settings.window_sizes)
    docs = [Document(t, index.manifest.settings, str(n)) for n, t in enumerate(texts)]
    windows = [
        w for n, doc in enumerate(docs) for w in document_windows(n, doc, settings.window_sizes, [])
    ]
    return np.ascontiguousarray(space.window_vectors(docs, windows))


def build_cost(vectors: np.ndarray, settings: VectorSettings, folder: Path):
    started = time.perf_counter()
    built = build_vector_index(vectors, settings)
    seconds = time.perf_counter() - started
    path = folder / "v.faiss"
    write_vector_index(built, path)
    return built, seconds, path.stat().st_size / len(vectors)


def top_k_agreement(
    exact: tuple[np.ndarray, np.ndarray], found: np.ndarray, floor: float
) -> tuple[float, float, float]:
    """Share of the exact top-k found, of those above ``floor``, and of exact nearest passages
    (above the floor) found among the top k."""
    scores, ids = exact
    hit = np.zeros(ids.shape, dtype=bool)
    for row in range(len(ids)):
        hit[row] = np.isin(ids[row], found[row])
    above = scores >= floor
    first = above[:, 0]
    return (
        float(hit.mean()),
        float(hit[above].mean()) if above.any() else float("nan"),
        float(hit[first, 0].mean()) if first.any() else float("nan"),
    )


def sample_recall(index: ReferenceIndex, queries: np.ndarray, k: int, floor: float) -> None:
    """(a): every corpus of ``index`` searched with ``queries`` by each kind and exactly."""
    print(
        f"{'corpus':<12}{'passages':>9}  {'kind':<48}{'top-k':>7}{'>=floor':>8}{'top-1':>7}"
        f"{'build s':>9}{'B/passage':>10}{'ms/window':>10}"
    )
    for corpus in index.corpora:
        vectors = exact_vectors(corpus)
        exact = search(corpus.static_vectors, queries, k)
        for name, settings in KINDS.items():
            with tempfile.TemporaryDirectory() as folder:
                built, seconds, size = build_cost(vectors, settings, Path(folder))
                started = time.perf_counter()
                _, found = search(built, queries, k)
                ms = 1000 * (time.perf_counter() - started) / len(queries)
            agree = top_k_agreement(exact, found, floor)
            kind = f"{name}: {vector_index_kind(built)}"
            print(
                f"{corpus.name:<12}{len(vectors):>9}  {kind:<48}"
                + "".join(f"{a:>7.4f} " for a in agree)
                + f"{seconds:>8.1f}{size:>10.1f}{ms:>10.3f}",
                flush=True,
            )


def probe_sweep(index: ReferenceIndex, queries: np.ndarray, k: int, floor: float) -> None:
    """The first corpus's IVF kinds again, probing more lists and rescoring more candidates:
    what each costs per window and what it finds of the exact top-k."""
    corpus = index.corpora[0]
    vectors = exact_vectors(corpus)
    exact = search(corpus.static_vectors, queries, k)
    print(f"{'kind':<60}{'top-k':>7}{'>=floor':>8}{'top-1':>7}{'ms/window':>10}")
    for name in ("ivf-sq8", "ivf-pq, rescored"):
        built = build_vector_index(vectors, KINDS[name])
        ivf = faiss.extract_index_ivf(built)
        factors = RESCORE_FACTORS if isinstance(built, faiss.IndexRefine) else (None,)
        for share, factor in ((s, f) for s in PROBE_SHARES for f in factors):
            ivf.nprobe = int(ivf.nlist * share)
            if factor is not None:
                built.k_factor = factor
            started = time.perf_counter()
            _, found = search(built, queries, k)
            ms = 1000 * (time.perf_counter() - started) / len(queries)
            agree = top_k_agreement(exact, found, floor)
            print(
                f"{vector_index_kind(built):<60}"
                + "".join(f"{a:>7.4f} " for a in agree)
                + f"{ms:>9.3f}",
                flush=True,
            )


def one_full_search(vectors: np.ndarray) -> faiss.Index:
    """Exact vectors that the candidate stage searches as it does a compressed index (one
    search of every dimension, not per window size on the leading ones): the baseline that
    leaves the codes as the only difference."""
    index = faiss.IndexIDMap(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    return index


def suite_loss(index: ReferenceIndex, cases: list[Case]) -> None:
    """(b): the paraphrase suite's static candidate recall, exact and with each kind; the
    loss in points against the exact index and against the exact vectors searched alike."""
    settings = ParaphraseSettings()
    per_doc = settings.max_candidates_per_doc
    exact = {c.name: c.static_vectors for c in index.corpora}
    vectors = {c.name: exact_vectors(c) for c in index.corpora}
    rates = {}
    rows = [("exact (flat-ip)", None), ("exact, one full search", "one-search"), *KINDS.items()]
    for name, kind in rows:
        for corpus in index.corpora:
            corpus.static_vectors = (
                exact[corpus.name]
                if kind is None
                else one_full_search(vectors[corpus.name])
                if kind == "one-search"
                else build_vector_index(vectors[corpus.name], kind)
            )
        space = StaticSpace(index, settings.min_static_cosine, settings.window_sizes)
        hits, seconds, _ = stage_hits(space, index, cases, settings, per_doc)
        rates[name] = 100 * float(np.mean(hits))
        losses = [rates[base] - rates[name] for base in list(rates)[:2]]
        print(
            f"{name:<28}{sum(hits):>5}/{len(hits):<5}{rates[name]:>7.2f}%  loss "
            + " / ".join(f"{loss:>5.2f}" for loss in losses)
            + f" points  ({seconds:.1f} s)",
            flush=True,
        )
    for corpus in index.corpora:
        corpus.static_vectors = exact[corpus.name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=50)
    parser.add_argument("--pages", type=int, default=200, help="C4 pages cut into query windows")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--suite-only", action="store_true", help="(b) alone")
    parser.add_argument(
        "--sweep",
        type=int,
        metavar="WINDOWS",
        help="only the nprobe / rescoring sweep on the "
        "books, on this many of the query windows (drawn at random)",
    )
    args = parser.parse_args()
    settings = ParaphraseSettings()
    k = 3 * settings.top_k  # what the tier asks of FAISS (``VectorSpace.neighbours``)
    print(f"# vector compression, revision {git_revision()}")
    print(f"# machine: {machine()}")
    data = SuiteData.load()
    suite = ReferenceIndex.open(cached_index("quality-index", data.index_corpora()))
    positives = [
        c for c in paraphrase_suite(data, args.per_category, 1, seed=args.seed) if c.positive
    ] + [c for c in handwritten_suite(data) if c.positive]
    pages = read_web(data_dir() / "web" / "c4_sample_1000.jsonl")[: args.pages]
    if args.sweep:
        books = all_books_index()
        queries = query_windows(books, [c.text for c in positives] + pages)
        drawn = np.random.default_rng(0).choice(len(queries), args.sweep, replace=False)
        print(f"# nprobe / rescoring sweep: top-{k} of {args.sweep} of {len(queries)} windows")
        probe_sweep(books, queries[drawn], k, settings.min_static_cosine)
        return
    if not args.suite_only:
        sample(suite, positives, pages, k)
    print(f"# (b) paraphrase suite, static candidate recall: {len(positives)} positive documents")
    suite_loss(suite, positives)


def sample(suite: ReferenceIndex, positives: list[Case], pages: list[str], k: int) -> None:
    settings = ParaphraseSettings()
    books = all_books_index()
    queries = query_windows(books, [c.text for c in positives] + pages)
    print(
        f"# (a) top-{k} of {len(queries)} query windows ({len(positives)} suite documents, "
        f"{len(pages)} C4 pages) against exact search; floor {settings.min_static_cosine}"
    )
    sample_recall(books, queries, k, settings.min_static_cosine)
    sample_recall(suite, queries, k, settings.min_static_cosine)


if __name__ == "__main__":
    main()
