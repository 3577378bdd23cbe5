"""The paraphrase tier's candidate stage: every window of a page against every passage.

Each window of each size the tier uses, and each sentence and paragraph of the page, is
embedded with the index's static model (prefix sums over one tokenization of the page:
microseconds per window) and searched in FAISS against the static vectors of the reference
passages. What comes back is, per document, the (window, passage) pairs worth verifying: for
each passage its best fixed-size window and its best sentence or paragraph, of sizes that fit
it, with how far their cosine stands above the best other item's. Nothing here runs the
transformer.

The same stage can run with transformer vectors instead (``TransformerSpace``): that is the
exhaustive baseline ``benchmarks/paraphrase.py`` measures the static stage against.
"""

from __future__ import annotations

import re
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import faiss
import numpy as np

from indexer.embedding import Embedder
from indexer.normalize import TextMode
from indexer.store import CorpusIndex, ReferenceIndex
from indexer.vector_index import build_vector_index, flat_rows, is_exact, search
from service.document import Document


@dataclass(frozen=True)
class Window:
    doc: int
    token_start: int
    token_end: int
    char_start: int
    char_end: int
    # The window size it was cut at (a page shorter than that gives a shorter window).
    size: int
    # A sentence or paragraph of the page, not a fixed-size window.
    unit: bool = False


@dataclass(frozen=True)
class Candidate:
    """A window and a passage it may be a rewording of, before any verification."""

    window: Window
    corpus: CorpusIndex
    passage: int
    cosine: float
    # This item's cosine less the best other item's for the same window (``cosine_margins``).
    margin: float


Neighbours = tuple[np.ndarray, np.ndarray, np.ndarray]  # window rows, passages, cosines


class VectorSpace(ABC):
    """Where windows and passages are compared: static vectors, or the transformer's."""

    floor: float
    sizes: tuple[int, ...]

    @abstractmethod
    def window_vectors(self, docs: Sequence[Document], windows: list[Window]) -> np.ndarray:
        """One vector per window, rows in the order of ``windows``."""

    @abstractmethod
    def passage_index(self, corpus: CorpusIndex) -> faiss.Index:
        """The corpus's passage vectors, row i = passage i."""

    def neighbours(
        self, corpus: CorpusIndex, vectors: np.ndarray, sizes: np.ndarray, k: int
    ) -> Neighbours:
        """Each row's ``k`` nearest passages that fit its window size, above the floor.

        Rows whose window size no passage of the corpus fits are not searched: every passage
        they would find is dropped after the search. A book's passages fit windows of 64 to
        128 tokens only, and the smaller sizes are most of a page's windows (154 of 186 on a
        page of 500 tokens), each a search of the corpus's IVF index.
        """
        searched = np.flatnonzero(np.isin(sizes, fitting_sizes(corpus, self.sizes)))
        if len(searched) == len(sizes):
            return self.searched_neighbours(corpus, vectors, sizes, k)
        rows, passages, scores = self.searched_neighbours(
            corpus, vectors[searched], sizes[searched], k
        )
        return searched[rows], passages, scores

    def searched_neighbours(
        self, corpus: CorpusIndex, vectors: np.ndarray, sizes: np.ndarray, k: int
    ) -> Neighbours:
        """``neighbours``, every row searched."""
        index = self.passage_index(corpus)
        if index.ntotal == 0 or len(vectors) == 0:
            return _no_neighbours()
        # Passages that do not fit a window are dropped after the search, so ask for more.
        scores, ids = search(
            index, vectors, min(3 * k, index.ntotal), exclude=corpus.removals.dead_passages
        )
        rows, cols = np.nonzero((ids >= 0) & (scores >= self.floor))
        passages = ids[rows, cols]
        lengths = corpus.passage_prose_tokens[passages]
        low, high = fit_range(lengths, self.sizes)
        ok = (sizes[rows] >= low) & (sizes[rows] <= high)
        return rows[ok], passages[ok], scores[rows, cols][ok]


def _no_neighbours() -> Neighbours:
    return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)


class StaticSpace(VectorSpace):
    """The index's static model: the tier's candidate stage.

    An exact (flat) corpus index is split in memory by window size, so that a window is
    compared only with the passages it fits: a page's many small windows meet only short
    passages. Each bucket is searched on the leading ``search_dims`` principal components
    (the static model is a PCA, strongest first), and the best ``rescore_k`` are rescored on
    every dimension: a quarter of the arithmetic, measured at the same candidate recall.
    """

    def __init__(
        self,
        index: ReferenceIndex,
        floor: float,
        sizes: tuple[int, ...],
        search_dims: int = 64,
        rescore_k: int = 16,
    ):
        self.static = index.static_embedder
        self.floor = floor
        self.sizes = sizes
        self.search_dims = min(search_dims, self.static.dimension)
        self.rescore_k = rescore_k
        self._buckets: dict[str, dict[int, _SizeBucket]] = {}

    def window_vectors(self, docs: Sequence[Document], windows: list[Window]) -> np.ndarray:
        out = np.empty((len(windows), self.static.dimension), dtype=np.float32)
        rows_by_doc: dict[int, list[int]] = {}
        for row, window in enumerate(windows):
            rows_by_doc.setdefault(window.doc, []).append(row)
        for doc_no, rows in rows_by_doc.items():
            spans = np.asarray([(windows[r].char_start, windows[r].char_end) for r in rows])
            out[rows] = self.static.encode_spans(docs[doc_no].text, spans)
        return out

    def passage_index(self, corpus: CorpusIndex) -> faiss.Index:
        return corpus.static_vectors

    def neighbours(
        self, corpus: CorpusIndex, vectors: np.ndarray, sizes: np.ndarray, k: int
    ) -> Neighbours:
        if not is_exact(corpus.static_vectors):  # large: one approximate search
            return super().neighbours(corpus, vectors, sizes, k)
        out_rows, out_passages, out_scores = [], [], []
        for size, bucket in self._bucketed(corpus).items():
            rows = np.nonzero(sizes == size)[0]
            if len(rows) == 0 or bucket.size == 0:
                continue
            scores, passages = bucket.search(vectors[rows], k, self.rescore_k)
            r, c = np.nonzero((passages >= 0) & (scores >= self.floor))
            out_rows.append(rows[r])
            out_passages.append(passages[r, c])
            out_scores.append(scores[r, c])
        if not out_rows:
            return _no_neighbours()
        return np.concatenate(out_rows), np.concatenate(out_passages), np.concatenate(out_scores)

    def _bucketed(self, corpus: CorpusIndex) -> dict[int, _SizeBucket]:
        """Per window size, the passages that fit it (built on first use)."""
        if corpus.name not in self._buckets:
            low, high = fit_range(corpus.passage_prose_tokens, self.sizes)
            self._buckets[corpus.name] = {
                size: _SizeBucket(
                    corpus.static_vectors,
                    corpus.removals.live(np.nonzero((low <= size) & (size <= high))[0]),
                    self.search_dims,
                )
                for size in self.sizes
            }
        return self._buckets[corpus.name]


class _SizeBucket:
    """The passages of an exact corpus index that fit one window size, searched on their
    leading ``dims`` components and rescored on all of them, in one FAISS call.

    The coarse index keeps only those components (a 64-d copy of the passages that fit);
    rescoring reads the full vectors from the corpus's own flat index, which is
    memory-mapped: the buckets used to keep a copy of them per window size as well, 1 KB a
    passage for each size it fits (about 4 KB a passage of GSM8K). ``faiss.IndexRefine`` does
    the rescoring where numpy used to (gathering each window's rows, a product, a sort): the
    candidate search of a 2 KB page against six benchmark corpora fell from 7.5 to 5.5 ms.
    """

    def __init__(self, full: faiss.Index, passages: np.ndarray, dims: int):
        self.size = len(passages)
        remap = faiss.RemapDimensionsTransform(full.d, dims, False)  # the first ``dims``
        flat = faiss.IndexFlatIP(dims)
        reduced = faiss.IndexPreTransform(remap, flat)
        self._coarse = faiss.IndexIDMap(reduced)
        self._parts = (remap, flat, reduced)  # FAISS's wrappers hold bare pointers to them
        # An empty refinement index to construct it (FAISS asks both to hold as many vectors),
        # then the corpus's own: the coarse index answers with corpus passage numbers, which
        # the refinement looks up in it; only ``search`` is ever called.
        self._refined = faiss.IndexRefine(self._coarse, faiss.IndexFlatIP(full.d))
        if self.size:
            self._coarse.add_with_ids(np.ascontiguousarray(flat_rows(full)[passages]), passages)
        self._full = full  # kept alive with the bucket: FAISS holds a bare pointer to it
        self._refined.refine_index = full
        self._refined.ntotal = full.ntotal  # labels are checked against it

    def search(self, queries: np.ndarray, k: int, rescore: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosines, passage numbers) of the ``k`` best of the ``rescore`` nearest on the
        leading components, each row best first; -1 past the bucket's size."""
        k = min(k, self.size)
        # Half a candidate more: k * k_factor is truncated to an integer inside FAISS.
        self._refined.k_factor = (min(max(rescore, k), self.size) + 0.5) / k
        return search(self._refined, np.ascontiguousarray(queries), k)


class TransformerSpace(VectorSpace):
    """Every window and every passage embedded by the transformer: the costly baseline.

    Passage vectors are computed for a whole corpus on first use (``passage_vectors`` may supply
    them from a cache), which is what building an index used to cost.
    """

    def __init__(
        self,
        embedder: Embedder,
        floor: float,
        sizes: tuple[int, ...],
        passage_vectors: Callable[[CorpusIndex], np.ndarray] | None = None,
    ):
        self.embedder = embedder
        self.floor = floor
        self.sizes = sizes
        self._passage_vectors = passage_vectors or self._embed_passages
        self._indexes: dict[str, faiss.Index] = {}

    def _embed_passages(self, corpus: CorpusIndex) -> np.ndarray:
        return self.embedder.encode([corpus.passage_text(p) for p in range(len(corpus.passages))])

    def window_vectors(self, docs: Sequence[Document], windows: list[Window]) -> np.ndarray:
        texts = [docs[w.doc].text[w.char_start : w.char_end] for w in windows]
        return self.embedder.encode(texts)

    def passage_index(self, corpus: CorpusIndex) -> faiss.Index:
        if corpus.name not in self._indexes:
            vectors = self._passage_vectors(corpus)
            self._indexes[corpus.name] = build_vector_index(vectors, corpus.settings.vectors)
        return self._indexes[corpus.name]


def document_windows(
    doc_no: int, doc: Document, sizes: tuple[int, ...], covered: list[tuple[int, int]]
) -> list[Window]:
    """Every window of every size (half-size stride, plus one flush with the end), and every
    sentence and paragraph of the page that fits the largest size (cut at the smallest size
    that holds it), except those that verbatim evidence already explains.

    A short question put in a page is a sentence or a paragraph of its own, and a fixed-size
    window around it holds as much of the page as of the question: its static vector sits
    nearer the page's topic than the item. Of 13 hidden rewordings the fixed windows did not
    make candidates, 9 were their item's nearest passage when their own text was the window.
    """
    tokens = doc.tokens(TextMode.PROSE)
    n_tokens = len(tokens)
    spans: dict[tuple[int, int], tuple[int, bool]] = {}
    for size in sizes:
        stride = max(1, size // 2)
        for start in range(0, max(n_tokens - size, 0) + 1, stride):
            spans.setdefault((start, min(start + size, n_tokens)), (size, False))
        if n_tokens > size:
            spans.setdefault((n_tokens - size, n_tokens), (size, False))
        else:
            break
    for start, end in text_units(doc.text, tokens.starts):
        size = next((s for s in sizes if s >= end - start), None)
        if size is not None:
            spans.setdefault((start, end), (size, True))
    windows = []
    for (start, end), (size, unit) in sorted(spans.items()):
        if end <= start:
            continue
        char_start, char_end = tokens.char_span(start, end)
        if not covered or not mostly_covered(char_start, char_end, covered):
            windows.append(Window(doc_no, start, end, char_start, char_end, size, unit))
    return windows


# A sentence ends at a full stop, question or exclamation mark (and any closing quote or
# bracket) before white space and a capital or digit ("What U.S. state ..." is one); a
# paragraph at a line break.
_SENTENCE_BREAK = re.compile(r"(?<=[.?!])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_PARAGRAPH_BREAK = re.compile(r"\n+")


def text_units(text: str, token_starts: np.ndarray) -> list[tuple[int, int]]:
    """Token ranges of the page's sentences and paragraphs.

    Pairs of neighbouring sentences were windows too at first: they found no rewording on the
    paraphrase suite or either hand-written set that sentences and paragraphs missed, and cost
    a tenth more windows (``BENCHMARKS.md``).
    """
    n_tokens = len(token_starts)
    units: list[tuple[int, int]] = []
    for pattern in (_SENTENCE_BREAK, _PARAGRAPH_BREAK):
        cuts = [m.end() for m in pattern.finditer(text)]
        bounds = np.union1d(np.searchsorted(token_starts, cuts, side="left"), [0, n_tokens])
        units.extend(pairwise(bounds.tolist()))
    # Bounds are unique and sorted, so every range is non-empty; a one-sentence paragraph is
    # listed once.
    return list(dict.fromkeys(units))


_FITTING: weakref.WeakKeyDictionary[CorpusIndex, dict[tuple[int, ...], np.ndarray]] = (
    weakref.WeakKeyDictionary()
)


def fitting_sizes(corpus: CorpusIndex, sizes: tuple[int, ...]) -> np.ndarray:
    """The window sizes at least one passage of the corpus fits (worked out once a corpus)."""
    known = _FITTING.setdefault(corpus, {})
    if sizes not in known:
        low, high = fit_range(np.unique(corpus.passage_prose_tokens), sizes)
        grid = np.asarray(sizes)
        fits = [bool(((low <= size) & (size <= high)).any()) for size in grid]
        known[sizes] = grid[np.asarray(fits, dtype=bool)]
    return known[sizes]


def fit_range(passage_tokens: np.ndarray, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The window sizes each passage is looked for in, as ``[low, high]`` per passage.

    The highest is the smallest size at least 1.25x the passage (its words plus some
    rewording); the lowest is 0.6x of it, since a reworded question is often shorter than
    its passage (a question without its solution), while a window far wider than the text
    dilutes its vector with the page around it.
    """
    lengths = np.asarray(passage_tokens, dtype=np.float64)
    grid = np.asarray(sizes, dtype=np.float64)
    at = np.searchsorted(grid, 1.25 * lengths, side="left")
    high = grid[np.minimum(at, len(grid) - 1)]
    return np.minimum(0.6 * lengths, high), high


# Which of a document's candidates to keep, from arrays: (document number, corpus numbers,
# passages, items, margins) -> a mask.
CandidateFilter = Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def find_candidates(
    space: VectorSpace,
    index: ReferenceIndex,
    docs: Sequence[Document],
    windows: list[Window],
    top_k: int,
    per_doc: int,
    keep: CandidateFilter | None = None,
) -> list[list[Candidate]]:
    """Per document, its best (window, passage) pairs above the space's floor, best first.

    A passage is paired with its best fixed-size window and its best sentence or paragraph;
    the margin is taken over every window's neighbours, so a page that sits about as close to
    several items gets small ones.
    Pages send thousands of neighbours here, so it is all array work until the last few:
    ``keep`` filters a document's ``per_doc`` best before any ``Candidate`` is made (the
    paraphrase tier's page sieve keeps about a quarter of them).
    """
    results: list[list[Candidate]] = [[] for _ in docs]
    if not windows:
        return results
    vectors = space.window_vectors(docs, windows)
    window_sizes = np.asarray([w.size for w in windows], dtype=np.int64)
    parts = []  # (corpus number, row, passage, item, cosine) per neighbour
    for number, corpus in enumerate(index.corpora):
        rows, passages, scores = space.neighbours(corpus, vectors, window_sizes, top_k)
        items = corpus.passages[passages, 0] if len(passages) else passages
        parts.append((np.full(len(rows), number), rows, passages, items, scores))
    corpus_no, rows, passages, items, scores = (np.concatenate(p) for p in zip(*parts, strict=True))
    if len(rows) == 0:
        return results
    margins = cosine_margins(rows, corpus_no * (1 << 40) + items, scores, space.floor)
    docs_of = np.asarray([w.doc for w in windows], dtype=np.int64)[rows]
    units = np.asarray([w.unit for w in windows], dtype=np.int64)[rows]
    # Best window of each kind per (document, corpus, passage), then the best pairs of each
    # document. A passage keeps its best fixed-size window too: the sentence or paragraph
    # nearest it in static space is not always the text the verifier accepts (two
    # hand-written GSM8K rewordings hidden in pages were accepted in a fixed window and not
    # as their own paragraph).
    order = np.lexsort((-scores, units, passages, corpus_no, docs_of))
    key = np.stack([docs_of[order], corpus_no[order], passages[order], units[order]])
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(key[:, 1:] != key[:, :-1], axis=0)
    best = order[first]
    best = best[np.lexsort((-scores[best], docs_of[best]))]
    rank = np.arange(len(best)) - np.searchsorted(docs_of[best], docs_of[best], side="left")
    chosen = best[rank < per_doc]
    if keep is not None and len(chosen):
        chosen = _kept(chosen, docs_of, corpus_no, passages, items, margins, keep)
    # As Python numbers first: a page sends hundreds of candidates, and converting each
    # array element on its own cost more than the rest of this function.
    for row, number, passage, cosine, margin in zip(
        rows[chosen].tolist(),
        corpus_no[chosen].tolist(),
        passages[chosen].tolist(),
        scores[chosen].tolist(),
        margins[chosen].tolist(),
        strict=True,
    ):
        window = windows[row]
        results[window.doc].append(
            Candidate(window, index.corpora[number], passage, cosine, margin)
        )
    return results


def _kept(
    chosen: np.ndarray,
    docs_of: np.ndarray,
    corpus_no: np.ndarray,
    passages: np.ndarray,
    items: np.ndarray,
    margins: np.ndarray,
    keep: CandidateFilter,
) -> np.ndarray:
    """The rows of ``chosen`` (sorted by document) that ``keep`` keeps, in the same order."""
    doc_numbers, starts = np.unique(docs_of[chosen], return_index=True)
    ends = np.append(starts[1:], len(chosen))
    parts = []
    for doc, start, end in zip(doc_numbers.tolist(), starts.tolist(), ends.tolist(), strict=True):
        rows = chosen[start:end]
        mask = keep(doc, corpus_no[rows], passages[rows], items[rows], margins[rows])
        parts.append(rows[np.asarray(mask, dtype=bool)])
    return np.concatenate(parts)


def cosine_margins(
    rows: np.ndarray, items: np.ndarray, scores: np.ndarray, floor: float
) -> np.ndarray:
    """How far each neighbour's item stands above the best *other* item for the same window.

    A reworded test item is far closer to its own item than to any other; an item of the same
    style (a GSM8K train problem) sits about as close to several test items at once. Passages
    of the same item do not compete with each other (an item counts with its best passage);
    with no other item above ``floor`` the floor stands in for it, so neighbours below the
    floor need not be passed in.
    """
    if len(rows) == 0:
        return np.empty(0, dtype=np.float64)
    # One int64 key per (window, item), sorted as the pairs would be: a 1-D unique is many
    # times faster than a unique over rows.
    items = np.asarray(items, dtype=np.int64)
    span = int(items.max()) + 1
    if int(rows.max()) >= (np.iinfo(np.int64).max // span):
        raise OverflowError("too many windows and items for one int64 key")
    keys, pair_of = np.unique(np.asarray(rows, dtype=np.int64) * span + items, return_inverse=True)
    pair_of = pair_of.reshape(-1)
    pairs = np.stack([keys // span, keys % span], axis=1)
    best = np.full(len(pairs), -np.inf)
    np.maximum.at(best, pair_of, scores)
    # Per window, its best and second-best item (pairs are sorted by window already).
    order = np.lexsort((-best, pairs[:, 0]))
    window_of = pairs[order, 0]
    first = np.searchsorted(window_of, window_of, side="left")
    last = len(order) - 1
    second_at = np.minimum(first + 1, last)
    has_second = (first + 1 <= last) & (window_of[second_at] == window_of)
    top = best[order][first]
    second = np.where(has_second, best[order][second_at], floor)
    is_top = np.arange(len(order)) == first
    rival = np.empty(len(pairs))
    rival[order] = np.maximum(np.where(is_top, second, top), floor)
    return (best - rival)[pair_of]


def mostly_covered(start: int, end: int, covered: list[tuple[int, int]]) -> bool:
    """True when verbatim evidence already explains nearly all of this window."""
    length = max(end - start, 1)
    overlap = sum(max(0, min(end, b) - max(start, a)) for a, b in covered)
    return overlap / length >= 0.8
