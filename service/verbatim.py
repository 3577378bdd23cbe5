"""Verbatim tier: n-gram candidates, then token alignment verified with rapidfuzz.

Candidates are reference passages sharing at least a few hashed n-grams with the document
(looked up for a whole batch at once, ``service.verbatim_candidates``). A candidate only becomes
evidence after its hits are chained into an aligned region on both sides and that region's
normalized text passes a rapidfuzz similarity check, so one stock phrase shared with a
reference never flags a document on its own.
"""

from __future__ import annotations

import re
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Indel

from indexer.fingerprints import ngram_hashes, tokenized_hashes
from indexer.normalize import TextMode, TokenizedText, tokenize
from indexer.store import CorpusIndex, ReferenceIndex
from indexer.terms import distinct_mass, numbers_in
from service.document import Document
from service.policy import KindPolicy, Policy
from service.results import Evidence, Method
from service.scoring import ItemEvidence, verbatim_confidence
from service.verbatim_candidates import (
    BatchGrams,
    CandidateLimits,
    PresenceFilter,
    find_candidates,
)

# An edge segment (at most 2n tokens) is taken into a region above this similarity: one
# dropped or changed word in a few keeps it above, unrelated text falls well below.
EDGE_SIMILARITY = 0.6
# An edge's length in the document may differ from the reference's by this many tokens: a word
# dropped or added near the edge moves where the copy ends.
EDGE_SLACK = 2


@dataclass(frozen=True)
class VerbatimSettings:
    # A gram found in more passages than this is a stock phrase of the references (templated
    # benchmark wording, "said the old man"); it is skipped as a candidate source but still
    # counts during alignment.
    max_postings: int = 2000
    # Tokens between two hits that still belong to one aligned region: one edited word kills
    # n grams, so the gap must exceed n.
    max_gap: int = 12
    # A region must cover this many reference tokens (or the whole passage if shorter) ...
    min_region_tokens: int = 6
    # ... and this much rare-term mass, unless it covers the whole passage.
    min_region_mass: float = 1.0
    # Upper bound on passages aligned per corpus and document, highest hit counts first.
    max_candidates: int = 2000


# Text in quotation marks inside an item: a saying, a statute or a passage the item quotes.
_QUOTED = re.compile(r'"[^"\n]+"|\u201c[^\u201d\n]+\u201d')


@dataclass(frozen=True)
class _PassageText:
    tokens: TokenizedText  # offsets relative to the item text
    grams: np.ndarray
    gram_length: int
    # Character spans (relative to the item text) of the passage's quotations.
    quoted: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class _Aligned:
    """A verified region: token ranges on both sides, similarity and rare-term mass."""

    doc_first: int
    doc_end: int
    ref_first: int
    ref_end: int
    similarity: float
    mass: float


@dataclass
class _Region:
    doc_first: int
    ref_first: int
    doc_last: int
    ref_last: int


class VerbatimMatcher:
    """Finds reference passages copied (possibly re-wrapped, re-cased or lightly edited)."""

    def __init__(
        self,
        index: ReferenceIndex,
        policy: Policy,
        settings: VerbatimSettings | None = None,
        cache_size: int = 4096,
    ):
        self.index = index
        self.policy = policy
        self.settings = settings or VerbatimSettings()
        self._passage_cache: OrderedDict[tuple[str, int], _PassageText] = OrderedDict()
        self._cache_size = cache_size
        self._presence_filters: dict[str, PresenceFilter] = {}
        self.term_settings = index.manifest.settings.terms

    def find(self, doc: Document) -> list[ItemEvidence]:
        return self.find_many([doc])[0]

    def find_many(self, docs: Sequence[Document]) -> list[list[ItemEvidence]]:
        """Evidence per document; the candidates of a whole batch are looked up together
        (``service.verbatim_candidates``)."""
        found: list[list[ItemEvidence]] = [[] for _ in docs]
        grams: dict[tuple[TextMode, int], BatchGrams] = {}
        for corpus in self.index.corpora:
            if len(corpus.ngram_hashes) == 0:
                continue
            kind_policy = self.policy.for_kind(corpus.record.kind.value)
            mode = corpus.record.mode
            for length in corpus.record.gram_lengths:
                if (mode, length) not in grams:
                    grams[mode, length] = BatchGrams.of(docs, mode, length)
            candidates = find_candidates(
                [grams[mode, n] for n in corpus.record.gram_lengths],
                corpus,
                self._presence(corpus),
                CandidateLimits(
                    self.settings.max_postings,
                    self.settings.max_candidates,
                    kind_policy.candidate_min_hits,
                ),
                len(docs),
            )
            for doc, evidence, passages in zip(docs, found, candidates, strict=True):
                for passage in passages:
                    item = corpus.passage_item(passage)
                    for one in self._align(doc, corpus, passage, kind_policy):
                        evidence.append(ItemEvidence(corpus, item, one))
        return found

    def _presence(self, corpus: CorpusIndex) -> PresenceFilter:
        if corpus.name not in self._presence_filters:
            words = corpus.presence_words
            self._presence_filters[corpus.name] = (
                PresenceFilter(words)
                if words is not None
                else PresenceFilter.from_postings(corpus.ngram_hashes)
            )
        return self._presence_filters[corpus.name]

    def _align(
        self, doc: Document, corpus: CorpusIndex, passage: int, kind_policy: KindPolicy
    ) -> list[Evidence]:
        ref = self._passage_text(corpus, passage)
        if ref.gram_length == 0:
            return []
        doc_tokens = doc.tokens(corpus.record.mode)
        doc_grams = doc.grams(corpus.record.mode, ref.gram_length)
        positions: dict[int, list[int]] = defaultdict(list)
        for j, gram in enumerate(ref.grams.tolist()):
            positions[gram].append(j)
        hit_rows = np.nonzero(np.isin(doc_grams, ref.grams))[0]
        pairs = [(int(i), j) for i in hit_rows for j in positions[int(doc_grams[i])]]
        item_token_start = int(corpus.passages[passage, 1])
        item = corpus.passage_item(passage)
        key_tokens, stem_tokens = int(corpus.key_tokens[item]), int(corpus.stem_tokens[item])
        evidence = []
        for region in self._chain(pairs):
            aligned = self._verify(doc_tokens, ref, region, kind_policy)
            if aligned is None or not _has_words(
                ref.tokens.tokens[aligned.ref_first : aligned.ref_end]
            ):
                continue
            whole = aligned.ref_first == 0 and aligned.ref_end == len(ref.tokens)
            if (
                kind_policy.require_own_text
                and not whole
                and not _holds_own_text(corpus, item, ref, doc_grams, aligned)
            ):
                continue
            evidence.append(
                self._evidence(doc_tokens, ref, aligned, item_token_start, key_tokens, stem_tokens)
            )
        return evidence

    @staticmethod
    def _evidence(
        doc: TokenizedText,
        ref: _PassageText,
        aligned: _Aligned,
        item_token_start: int,
        key_tokens: int,
        stem_tokens: int,
    ) -> Evidence:
        doc_words = doc.tokens[aligned.doc_first : aligned.doc_end]
        ref_words = ref.tokens.tokens[aligned.ref_first : aligned.ref_end]
        # The stem's words the page lacks are not there, however the alignment bridged them: a
        # stock "Which of the following is" glued to an option's terms is not the question.
        found = set(doc_words)
        in_key = max(0, min(aligned.ref_end, key_tokens - item_token_start) - aligned.ref_first)
        in_stem = max(0, min(aligned.ref_end, stem_tokens - item_token_start) - aligned.ref_first)
        doc_start, doc_end = doc.char_span(aligned.doc_first, aligned.doc_end)
        ref_start, ref_end = ref.tokens.char_span(aligned.ref_first, aligned.ref_end)
        return Evidence(
            method=Method.VERBATIM,
            doc_start=doc_start,
            doc_end=doc_end,
            ref_start=ref_start,
            ref_end=ref_end,
            similarity=aligned.similarity,
            confidence=verbatim_confidence(aligned.similarity),
            ref_token_start=item_token_start + aligned.ref_first,
            ref_token_end=item_token_start + aligned.ref_end,
            ref_mass=aligned.mass,
            ref_terms=frozenset(ref_words),
            key_terms=frozenset(ref_words[:in_key]),
            stem_terms=frozenset(ref_words[:in_stem]) & found,
            ref_numbers=numbers_in(ref_words),
            doc_numbers=numbers_in(doc_words),
        )

    def _chain(self, pairs: list[tuple[int, int]]) -> list[_Region]:
        """Group (doc, ref) gram hits into regions that advance together on both sides."""
        gap = self.settings.max_gap
        regions: list[_Region] = []
        for i, j in sorted(pairs):
            best = None
            for region in regions:
                step_doc, step_ref = i - region.doc_last, j - region.ref_last
                if 0 < step_doc <= gap and 0 < step_ref <= gap:
                    drift = abs(step_doc - step_ref)
                    if best is None or drift < best[0]:
                        best = (drift, region)
            if best is not None:
                best[1].doc_last, best[1].ref_last = i, j
            else:
                regions.append(_Region(i, j, i, j))
        return regions

    def _verify(
        self, doc: TokenizedText, ref: _PassageText, region: _Region, kind_policy: KindPolicy
    ) -> _Aligned | None:
        length = ref.gram_length
        doc_first, ref_first = region.doc_first, region.ref_first
        doc_end, ref_end = region.doc_last + length, region.ref_last + length
        # Grow exact matches at both ends: the last edit before an item's edge leaves up to
        # n - 1 identical tokens that no gram covers.
        while (
            doc_first > 0
            and ref_first > 0
            and doc.tokens[doc_first - 1] == ref.tokens.tokens[ref_first - 1]
        ):
            doc_first, ref_first = doc_first - 1, ref_first - 1
        while (
            doc_end < len(doc)
            and ref_end < len(ref.tokens)
            and doc.tokens[doc_end] == ref.tokens.tokens[ref_end]
        ):
            doc_end, ref_end = doc_end + 1, ref_end + 1
        # An edit near the passage's edge leaves up to 2n tokens that no surviving gram covers
        # (a short stem, "Bentham claims that utilitarian calculations:"): take each edge in
        # when that edge itself still aligns, so a page's own text after a copy stays out.
        reach = 2 * length
        if 0 < ref_first <= reach:
            doc_taken, ref_taken = _edge(doc, ref.tokens, doc_first, ref_first, before=True)
            doc_first, ref_first = doc_first - doc_taken, ref_first - ref_taken
        if 0 < len(ref.tokens) - ref_end <= reach:
            doc_taken, ref_taken = _edge(doc, ref.tokens, doc_end, ref_end, before=False)
            doc_end, ref_end = doc_end + doc_taken, ref_end + ref_taken
        similarity = _similarity(doc, ref.tokens, doc_first, doc_end, ref_first, ref_end)
        needed = min(self.settings.min_region_tokens, len(ref.tokens))
        if ref_end - ref_first < needed or similarity < kind_policy.min_similarity:
            return None
        mass = distinct_mass(ref.tokens.tokens[ref_first:ref_end], self.term_settings)
        whole = ref_first == 0 and ref_end == len(ref.tokens)
        if mass < self.settings.min_region_mass and not whole:
            return None
        return _Aligned(doc_first, doc_end, ref_first, ref_end, similarity, mass)

    def _passage_text(self, corpus: CorpusIndex, passage: int) -> _PassageText:
        key = (corpus.name, passage)
        cached = self._passage_cache.get(key)
        if cached is not None:
            self._passage_cache.move_to_end(key)
            return cached
        item, _, _, char_start, char_end = (int(v) for v in corpus.passages[passage])
        text = corpus.item_slice(item, char_start, char_end)
        settings = self.index.manifest.settings
        tokens = tokenize(text, corpus.record.mode, settings.normalization)
        tokens = tokens.shifted(char_start)
        gram_length = _passage_gram_length(corpus, len(tokens))
        grams = (
            ngram_hashes(tokenized_hashes(tokens, settings.ngrams.seed), gram_length)
            if gram_length
            else np.empty(0, dtype=np.uint64)
        )
        quoted = tuple(
            (char_start + m.start(), char_start + m.end()) for m in _QUOTED.finditer(text)
        )
        entry = _PassageText(tokens, grams, gram_length, quoted)
        self._passage_cache[key] = entry
        if len(self._passage_cache) > self._cache_size:
            self._passage_cache.popitem(last=False)
        return entry


def _passage_gram_length(corpus: CorpusIndex, n_tokens: int) -> int:
    """The gram length the indexer used for a passage of ``n_tokens`` tokens (0: none)."""
    lengths = corpus.record.gram_lengths
    if not lengths:
        return 0
    longest = max(lengths)
    if n_tokens >= longest:
        return longest
    return n_tokens if n_tokens in lengths else 0


def _holds_own_text(
    corpus: CorpusIndex, item: int, ref: _PassageText, doc_grams: np.ndarray, aligned: _Aligned
) -> bool:
    """Whether the region's shared grams include one that is this item's own: outside its
    quotation marks and held by no other item's passage. A copy of an item always has one; a
    page that only shares a subject's stock wording or a famous saying with it does not."""
    length = ref.gram_length
    ref_last = max(aligned.ref_first, aligned.ref_end - length + 1)
    doc_last = max(aligned.doc_first, aligned.doc_end - length + 1)
    positions = np.arange(aligned.ref_first, ref_last)
    positions = positions[np.isin(ref.grams[positions], doc_grams[aligned.doc_first : doc_last])]
    if ref.quoted and len(positions):
        starts = ref.tokens.starts[positions]
        ends = ref.tokens.ends[positions + length - 1]
        inside = np.zeros(len(positions), dtype=bool)
        for quote_start, quote_end in ref.quoted:
            inside |= (starts >= quote_start) & (ends <= quote_end)
        positions = positions[~inside]
    if not len(positions):
        return False
    return not bool(corpus.grams_elsewhere(np.unique(ref.grams[positions]), item).all())


def _edge(
    doc: TokenizedText, ref: TokenizedText, doc_at: int, ref_at: int, *, before: bool
) -> tuple[int, int]:
    """How many tokens (document, reference) to take in beside an aligned region: the rest of
    the reference on that side, and the run of document tokens that aligns with it best, if
    that reaches ``EDGE_SIMILARITY``; (0, 0) otherwise.

    The document's run is sized by alignment, not copied from the reference's count: after a
    word dropped near the edge, a run of the reference's length takes in the page's next
    token, and a number there ("...Answer: A" then "1970 deaths") made the copy's numbers
    disagree with the item's and zeroed its risk.
    """
    doc_room = doc_at if before else len(doc) - doc_at
    ref_size = min(ref_at if before else len(ref) - ref_at, doc_room)
    ref0, ref1 = (ref_at - ref_size, ref_at) if before else (ref_at, ref_at + ref_size)
    best, taken = EDGE_SIMILARITY, 0
    # Shortest first, and only a strictly better run replaces it: no page text on a tie.
    for size in range(max(1, ref_size - EDGE_SLACK), min(doc_room, ref_size + EDGE_SLACK) + 1):
        doc0, doc1 = (doc_at - size, doc_at) if before else (doc_at, doc_at + size)
        similarity = _similarity(doc, ref, doc0, doc1, ref0, ref1)
        if similarity > best or (similarity == best and not taken):
            best, taken = similarity, size
    return (taken, ref_size) if taken else (0, 0)


def _similarity(
    doc: TokenizedText, ref: TokenizedText, d0: int, d1: int, r0: int, r1: int
) -> float:
    return float(Indel.normalized_similarity(doc.joined(d0, d1), ref.joined(r0, r1)))


def _has_words(tokens: list[str]) -> bool:
    """Whether a region holds any word: numbers and punctuation alone (a list of primes, a
    times table) are common knowledge that many items and pages share, and cannot attribute a
    page to one item."""
    return any(any(ch.isalpha() for ch in token) for token in tokens)
