"""Programs copied with their identifiers renamed: the same shape, found at n-gram cost.

A benchmark program copied with its variables renamed (``def f(x)`` as ``def item_42(val_7)``)
and its docstring reworded keeps nothing that a verbatim fingerprint or a bag of word vectors
holds on to: every identifier and most docstring words changed, and to a static embedding all
Python looks alike (the renamed HumanEval programs ``benchmarks/paraphrase.py`` missed were not
among the static candidates at all, the nearest being book passages). What such a copy keeps
is the program's shape (``service.code_shape``): 1.0 against its own item on every renamed page
of the suite, about 0.8 at best against another item on MBPP programs and C4 pages.

So each code item's shape is cut into grams of shape tokens; the grams of a page's shape pick
the items that share enough of theirs, and rapidfuzz aligns each such item's whole shape with
the page's. An alignment at ``min_similarity`` or above is evidence (method ``renamed``), with
the page characters it covers. No model runs: the cost is a tokenization, a hash per token and
a lookup per gram, and an alignment only for the few items a page picks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from indexer.normalize import TextMode, tokenize
from indexer.store import CorpusIndex, ReferenceIndex
from indexer.terms import distinct_mass
from service.code_shape import ShapeTokens, length_weight, shape_tokens
from service.document import Document
from service.results import Evidence, Method
from service.scoring import ItemEvidence, verbatim_confidence


@dataclass(frozen=True)
class RenamedCodeSettings:
    # Shape tokens per gram: "for ID in range ( len ( ID ) ) :" alone is in many programs.
    gram: int = 12
    # Least share of an item's distinct grams a page must hold for the item to be aligned: a
    # renamed copy holds all of them (a renaming never changes a shape), a light edit most.
    min_shared: float = 0.5
    # Least shape similarity (``code_shape.shape_similarity``, length-weighted) that is
    # evidence. Renamed copies score 1.0; the best other item 0.8 on the suite's MBPP pages
    # (``tests/service/test_verifier.py`` holds MBPP's 99th percentile under 0.9).
    min_similarity: float = 0.95


@dataclass(frozen=True)
class _CorpusShapes:
    """One code corpus's live items as shapes, and the grams that pick them."""

    shapes: dict[int, ShapeTokens]
    gram_hashes: np.ndarray  # sorted, one row per (gram, item) with the item's distinct grams
    gram_items: np.ndarray
    distinct_grams: np.ndarray  # per item


# Token numbers are mixed into a gram's hash with this odd multiplier (wrapping uint64).
_MIX = np.uint64(0x9E3779B97F4A7C15)


class RenamedCodeMatcher:
    """Finds renamed copies of an index's code items; built per index, shapes on first use."""

    def __init__(self, index: ReferenceIndex, settings: RenamedCodeSettings | None = None):
        self.index = index
        self.settings = settings or RenamedCodeSettings()
        self._code = [c for c in index.corpora if c.record.mode is TextMode.CODE]
        self._vocabulary: dict[str, int] = {}
        self._corpora: dict[str, _CorpusShapes] = {}

    def find(self, doc: Document, skip: set[tuple[str, int]]) -> list[ItemEvidence]:
        """Evidence of each code item the page holds a renamed copy of, except ``skip``'s
        (corpus name, item): those the verbatim tier already decides."""
        if not self._code:
            return []
        shapes = [self._shapes(corpus) for corpus in self._code]  # the vocabulary first
        page = shape_tokens(doc.text)
        grams = self._grams(page.tokens)
        found = []
        for corpus, known in zip(self._code, shapes, strict=True):
            for item in self._picked(known, grams):
                if (corpus.name, item) in skip:
                    continue
                evidence = self._aligned(page, corpus, item, known.shapes[item])
                if evidence is not None:
                    found.append(ItemEvidence(corpus, item, evidence))
        return found

    def _shapes(self, corpus: CorpusIndex) -> _CorpusShapes:
        """The corpus's items as shapes and grams, worked out once (a code corpus is read
        whole: HumanEval's 164 programs take about 30 ms). Items taken down are left out;
        items too short ever to reach ``min_similarity`` too."""
        known = self._corpora.get(corpus.name)
        if known is not None:
            return known
        removed = corpus.removals.ids
        shapes: dict[int, ShapeTokens] = {}
        rows: list[tuple[np.ndarray, int]] = []
        for item, ref_id in enumerate(corpus.ids):
            if ref_id in removed:
                continue
            shape = shape_tokens(corpus.item_text(item))
            if length_weight(shape.joined) < self.settings.min_similarity:
                continue
            for token in shape.tokens:
                self._vocabulary.setdefault(token, len(self._vocabulary))
            grams = np.unique(self._grams(shape.tokens))
            if len(grams):
                shapes[item] = shape
                rows.append((grams, item))
        hashes = np.concatenate([g for g, _ in rows]) if rows else np.empty(0, np.uint64)
        items = np.concatenate([np.full(len(g), i) for g, i in rows]) if rows else hashes
        order = np.argsort(hashes, kind="stable")
        distinct = np.zeros(len(corpus.ids), dtype=np.int64)
        for grams, item in rows:
            distinct[item] = len(grams)
        known = _CorpusShapes(shapes, hashes[order], items[order].astype(np.int64), distinct)
        self._corpora[corpus.name] = known
        return known

    def _grams(self, tokens: list[str]) -> np.ndarray:
        """A hash of every ``gram`` consecutive shape tokens. A token no item has gets a number
        of its own per position, so a gram holding one matches nothing."""
        size = self.settings.gram
        if len(tokens) < size:
            return np.empty(0, dtype=np.uint64)
        unknown = len(self._vocabulary)
        numbers = np.fromiter(
            (self._vocabulary.get(t, unknown + n) for n, t in enumerate(tokens)),
            dtype=np.uint64,
            count=len(tokens),
        )
        hashes = np.zeros(len(tokens) - size + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(size):
                hashes = hashes * _MIX + numbers[k : len(numbers) - size + 1 + k]
        return hashes

    def _picked(self, known: _CorpusShapes, grams: np.ndarray) -> list[int]:
        """Items whose distinct grams the page holds at least ``min_shared`` of."""
        if len(grams) == 0 or len(known.gram_hashes) == 0:
            return []
        grams = np.unique(grams)
        low = np.searchsorted(known.gram_hashes, grams, side="left")
        high = np.searchsorted(known.gram_hashes, grams, side="right")
        hit = np.flatnonzero(high > low)
        if len(hit) == 0:
            return []
        rows = np.concatenate([np.arange(a, b) for a, b in zip(low[hit], high[hit], strict=True)])
        shared = np.bincount(known.gram_items[rows], minlength=len(known.distinct_grams))
        enough = shared >= self.settings.min_shared * np.maximum(known.distinct_grams, 1)
        return np.flatnonzero(enough & (known.distinct_grams > 0)).tolist()

    def _aligned(
        self, page: ShapeTokens, corpus: CorpusIndex, item: int, shape: ShapeTokens
    ) -> Evidence | None:
        """The item's whole shape aligned with the page's; evidence if it is close enough."""
        joined = shape.joined
        alignment = fuzz.partial_ratio_alignment(joined, page.joined)
        if alignment is None:
            return None
        similarity = alignment.score / 100.0 * length_weight(joined)
        if similarity < self.settings.min_similarity:
            return None
        doc_start, doc_end = page.char_span(
            *page.token_range(alignment.dest_start, alignment.dest_end)
        )
        ref_start, ref_end = shape.char_span(
            *shape.token_range(alignment.src_start, alignment.src_end)
        )
        return self._evidence(corpus, item, (doc_start, doc_end), (ref_start, ref_end), similarity)

    def _evidence(
        self,
        corpus: CorpusIndex,
        item: int,
        doc_span: tuple[int, int],
        ref_span: tuple[int, int],
        similarity: float,
    ) -> Evidence:
        """The program's words (in the corpus's code tokens) stand for what was matched: a
        renamed copy holds the item itself, as a paraphrase holds its passage's meaning."""
        settings = self.index.manifest.settings
        tokens = tokenize(corpus.item_text(item), TextMode.CODE, settings.normalization)
        first = int(np.searchsorted(tokens.ends, ref_span[0], side="right"))
        end = max(int(np.searchsorted(tokens.starts, ref_span[1], side="left")), first + 1)
        words = tokens.tokens[first:end]
        in_key = max(0, int(corpus.key_tokens[item]) - first)
        in_stem = max(0, int(corpus.stem_tokens[item]) - first)
        return Evidence(
            method=Method.RENAMED,
            doc_start=doc_span[0],
            doc_end=doc_span[1],
            ref_start=ref_span[0],
            ref_end=ref_span[1],
            similarity=similarity,
            confidence=verbatim_confidence(similarity),
            ref_token_start=first,
            ref_token_end=end,
            ref_mass=distinct_mass(words, settings.terms),
            ref_terms=frozenset(words),
            key_terms=frozenset(words[:in_key]),
            stem_terms=frozenset(words[:in_stem]),
            signals={"shape_similarity": round(similarity, 4)},
        )
