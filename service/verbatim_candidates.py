"""The verbatim tier's candidate stage: which reference passages share enough grams with each
document of a batch to be worth aligning.

Two things keep it cheap. A batch's grams are computed and looked up together, so numpy works
on arrays of thousands of grams instead of one call per document, corpus and gram length
(whose overhead cost more than the lookups). And most grams of a page are in no reference: a
bit set of the postings' hashes (``indexer.presence``, written by the build) answers
"certainly absent" for them with one gather, so only the rest are searched in the sorted
postings. The filter never drops a gram that is there, so the candidates are exactly those of
a full search.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexer.fingerprints import ngram_hashes
from indexer.normalize import TextMode
from indexer.presence import PresenceFilter
from indexer.store import CorpusIndex, posting_ranges, posting_rows
from service.document import Document


@dataclass(frozen=True)
class BatchGrams:
    """Every gram of a batch of documents in one mode and length, and which document holds it.

    The grams come from one pass over the batch's token hashes laid end to end, dropping the
    grams that straddle two documents.
    """

    grams: np.ndarray
    doc_of_gram: np.ndarray

    @classmethod
    def of(cls, docs: Sequence[Document], mode: TextMode, length: int) -> BatchGrams:
        hashes = [doc.token_hashes(mode) for doc in docs]
        sizes = np.array([len(h) for h in hashes], dtype=np.int64)
        grams = ngram_hashes(np.concatenate(hashes) if hashes else np.empty(0, np.uint64), length)
        doc_of_gram = np.repeat(np.arange(len(docs)), sizes)[: len(grams)]
        whole = np.arange(len(grams)) + length <= np.cumsum(sizes)[doc_of_gram]
        return cls(grams[whole], doc_of_gram[whole])


@dataclass(frozen=True)
class CandidateLimits:
    """``VerbatimSettings``' limits, and the kind policy's hits a passage needs (or all its
    grams, if it has fewer)."""

    max_postings: int
    max_candidates: int
    min_hits: int


def find_candidates(
    batch: Sequence[BatchGrams],
    corpus: CorpusIndex,
    presence: PresenceFilter,
    limits: CandidateLimits,
    size: int,
) -> list[list[int]]:
    """Per document of the batch (``size`` of them), the passages with enough gram hits, most
    hits first, ties by passage number; ``batch`` holds the grams of each of the corpus's
    gram lengths (a passage's hits at every length add up)."""
    table = corpus.ngram_hashes
    hits = []
    for grams in batch:
        maybe = np.flatnonzero(presence.may_hold(grams.grams))
        low, counts = posting_ranges(table, grams.grams[maybe])
        # A stock phrase is one that many passages still in the index hold.
        live = corpus.removals.live_counts(low, counts)
        present = (live > 0) & (live <= limits.max_postings)
        low, counts = low[present], counts[present]
        # One hit per (document, posting): a gram a page repeats counts once.
        rows = posting_rows(low, counts)
        doc_of_row = np.repeat(grams.doc_of_gram[maybe[present]], counts)
        hits.append(np.unique(doc_of_row * len(table) + rows))
    pairs = np.concatenate(hits) if hits else np.empty(0, dtype=np.int64)
    if len(pairs) == 0:
        return [[] for _ in range(size)]
    docs, rows = np.divmod(pairs, len(table))
    passage_count = len(corpus.passage_grams)
    # np.asarray: a memmap's slices stay memmaps, whose every operation goes through Python.
    passages = np.asarray(corpus.ngram_passages[rows], dtype=np.int64)
    live = corpus.removals.live_mask(passages)
    if live is not True:  # items taken down (indexer.removals) are never candidates
        docs, passages = docs[live], passages[live]
    pairs = docs * passage_count + passages
    pairs, hit_counts = np.unique(pairs, return_counts=True)
    docs, passages = np.divmod(pairs, passage_count)
    needed = np.minimum(np.asarray(corpus.passage_grams[passages]), limits.min_hits)
    chosen = hit_counts >= np.maximum(needed, 1)
    docs, passages, hit_counts = docs[chosen], passages[chosen], hit_counts[chosen]
    order = np.lexsort((-hit_counts, docs))  # stable: ties keep passage order
    docs, passages = docs[order], passages[order]
    firsts = np.searchsorted(docs, np.arange(size + 1))
    return [
        passages[a : min(b, a + limits.max_candidates)].tolist()
        for a, b in itertools.pairwise(firsts.tolist())
    ]
