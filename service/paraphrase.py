"""Paraphrase tier: static-embedding candidates, transformer vectors and a verifier.

Every window of every document is looked at by the cheap stage (``paraphrase_candidates``):
static vectors searched in FAISS against the passages' static vectors. Each (window, passage)
pair it returns gets the verifier's cheap signals first (numbers, rare words, alignment, code
shape); the verifier is monotone, so a pair that could not pass even with perfect embedding
similarity is dropped there. Only the pairs left are embedded by the transformer (window,
aligned span and passage, passages cached), and the verifier decides on them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from indexer.embedding import Embedder
from indexer.normalize import TextMode
from indexer.store import CorpusIndex, ReferenceIndex, posting_ranges, posting_rows
from service.allowlist import Allowlist
from service.document import Document
from service.paraphrase_candidates import (
    Candidate,
    CandidateFilter,
    StaticSpace,
    VectorSpace,
    Window,
    document_windows,
    find_candidates,
)
from service.paraphrase_rivals import SpanOwner, nearest_other_passages, rival_margin
from service.policy import Policy
from service.renamed_code import RenamedCodeMatcher, RenamedCodeSettings
from service.results import Decision, Evidence, Method, NearMiss
from service.scoring import ItemEvidence, allow, matches_by_item
from service.verifier import (
    PairVerifier,
    ReferenceView,
    Verifier,
    WindowSignals,
    WindowView,
    alignment_bound,
    aligns_whole_window,
    optimistic,
    pair_features,
    window_bounds,
    window_signals,
)


@dataclass(frozen=True)
class ParaphraseSettings:
    # Window sizes in prose tokens; a passage is looked for in the sizes that fit it
    # (``paraphrase_candidates.fits``).
    window_sizes: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128)
    # Static neighbours per window and corpus.
    top_k: int = 5
    # Static cosine below which a pair is not a candidate (and the floor of the margins).
    min_static_cosine: float = 0.5
    # Most candidates a document sends to the first (array-only) sieve, best static cosine
    # first, and most of those left it sends on to alignment and the transformer, largest
    # static margin first (``ParaphraseMatcher._window_sieve``).
    max_candidates_per_doc: int = 400
    max_pairs_per_doc: int = 12
    # Verifier training: the least share of a passage's rare-term mass the page must hold for
    # a candidate to be collected (``_collectable``).
    collect_min_term_fraction: float = 0.2
    # Skip text that strong verbatim evidence already explains. Verifier training turns this
    # off to see the pairs of lightly reworded items too.
    mask_verbatim: bool = True
    # Leave alone the items whose verbatim evidence already decides "remove" on a page
    # (``ParaphraseMatcher._explained``).
    skip_removed_items: bool = True
    # Programs copied with their identifiers renamed, found by their shape (``renamed_code``);
    # None looks for rewordings only.
    renamed_code: RenamedCodeSettings | None = field(default_factory=RenamedCodeSettings)


# Embedding-derived signals set to their best value to ask "could this pair pass at all?".
_OPTIMISTIC = {"cosine": 1.0, "span_cosine": 1.0, "rival_margin": 1.0}


@dataclass
class _Pair:
    candidate: Candidate
    reference: ReferenceView
    features: dict[str, float]
    span: tuple[int, int]  # document tokens the passage aligns to
    probability: float | None = None
    # The aligned span's transformer vector, and whether ``rival_margin`` is the real margin
    # or still its bound, the span's cosine.
    span_vector: np.ndarray | None = None
    rivals_known: bool = False

    @property
    def doc(self) -> int:
        return self.candidate.window.doc


Observer = Callable[[str, tuple[int, int], ReferenceView, dict[str, float]], None]


class ParaphraseMatcher:
    def __init__(
        self,
        index: ReferenceIndex,
        policy: Policy,
        embedder: Embedder,
        settings: ParaphraseSettings | None = None,
        verifier: Verifier | None = None,
        space: VectorSpace | None = None,
    ):
        self.index = index
        self.policy = policy
        self.embedder = embedder
        self.settings = settings or ParaphraseSettings()
        self.verifier: Verifier = verifier or PairVerifier.load_default(index.manifest.settings)
        self.space = space or StaticSpace(
            index, self.settings.min_static_cosine, self.settings.window_sizes
        )
        self.renamed = (
            RenamedCodeMatcher(index, self.settings.renamed_code)
            if self.settings.renamed_code is not None
            else None
        )
        self._references: OrderedDict[tuple[str, int], ReferenceView] = OrderedDict()
        self._passage_vectors: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        # Counters for benchmarks: windows the cheap stage looked at, pairs and texts the
        # transformer embedded.
        self.windows_seen = 0
        self.pairs_embedded = 0
        self.windows_embedded = 0
        # Called with (document text, aligned character span, reference, signals) for every
        # pair verified: how service.verifier_training collects its examples.
        self.observer: Observer | None = None

    # -- public -------------------------------------------------------------------------------

    def find_many(
        self,
        docs: list[Document],
        verbatim: list[list[ItemEvidence]],
        near_misses: int = 0,
        allowlist: Allowlist | None = None,
    ) -> tuple[list[list[ItemEvidence]], list[list[NearMiss]]]:
        """Paraphrase evidence per document and, when ``near_misses`` > 0, that many of the
        best pairs that were not accepted for each document where none was. ``allowlist`` is
        the one the scanner scores with: what it dismisses decides nothing here either."""
        windows = []
        for doc_no, (doc, found) in enumerate(zip(docs, verbatim, strict=True)):
            windows.extend(
                document_windows(doc_no, doc, self.settings.window_sizes, self._covered(found))
            )
        self.windows_seen += len(windows)
        collecting = self.observer is not None
        explained = [
            self._explained(doc, found, allowlist)
            if self.settings.mask_verbatim and self.settings.skip_removed_items
            else set()
            for doc, found in zip(docs, verbatim, strict=True)
        ]
        candidates = find_candidates(
            self.space,
            self.index,
            docs,
            windows,
            self.settings.top_k,
            self.settings.max_candidates_per_doc,
            keep=self._candidate_filter(docs, explained, hopeful_only=not collecting),
        )
        cap = self.settings.max_pairs_per_doc
        if collecting:
            chosen = [self._collectable(d, c)[:cap] for d, c in zip(docs, candidates, strict=True)]
        else:
            chosen = candidates
        flat = [c for per_doc in chosen for c in per_doc]
        facts = _WindowFacts(docs)
        signals = _LazySignals(lambda c: self._signals(facts, c), flat)
        # Three sieves, each exact because the verifier is monotone: the page's arrays (above),
        # the window's own signals and bounds, then alignment; the transformer runs last.
        if not collecting:
            kept = self._window_sieve(facts, flat, signals)
            pairs = self._aligned(docs, facts, [flat[n] for n in kept], [signals[n] for n in kept])
            pairs = self._could_pass(pairs)
        else:
            pairs = [self._pair(docs, c, signals[n]) for n, c in enumerate(flat)]
        self._add_transformer_cosines(docs, pairs, every_rival=collecting)
        results: list[list[ItemEvidence]] = [[] for _ in docs]
        if self.renamed is not None and not collecting:
            for bucket, doc, skip in zip(results, docs, explained, strict=True):
                bucket.extend(self.renamed.find(doc, skip))
        probabilities = self.verifier.probabilities([p.features for p in pairs])
        for pair, probability in zip(pairs, probabilities, strict=True):
            doc = docs[pair.doc]
            pair.probability = float(probability)
            if self.observer is not None:
                tokens = doc.tokens(TextMode.PROSE)
                self.observer(doc.text, tokens.char_span(*pair.span), pair.reference, pair.features)
            if self.verifier.accepts(pair.probability, pair.reference.mode):
                corpus = pair.candidate.corpus
                item = corpus.passage_item(pair.candidate.passage)
                evidence = self._evidence(doc, pair, pair.probability)
                results[pair.doc].append(ItemEvidence(corpus, item, evidence))
        misses: list[list[NearMiss]] = [[] for _ in docs]
        if near_misses:
            scored = {id(p.candidate): p for p in pairs}
            # From the first ``cap`` candidates of each document, as for the pairs verified.
            count = min(near_misses, cap)
            self._near_misses(docs, flat, signals, scored, results, misses, count)
        return results, misses

    def _covered(self, found: list[ItemEvidence]) -> list[tuple[int, int]]:
        """Text a long, near-exact verbatim copy explains; a weak or partial verbatim region
        may be the visible part of a paraphrase, so it is looked at."""
        if not self.settings.mask_verbatim:
            return []
        return [
            (e.evidence.doc_start, e.evidence.doc_end)
            for e in found
            if e.evidence.confidence >= 0.95 and e.evidence.ref_tokens >= 16
        ]

    def _explained(
        self, doc: Document, found: list[ItemEvidence], allowlist: Allowlist | None
    ) -> set[tuple[str, int]]:
        """The items whose verbatim evidence alone already decides "remove" for this page.

        A reworded copy of such an item adds nothing to the decision, and its evidence,
        averaged into the match, only lowered the verbatim copy's confidence: every pair of a
        planted GSM8K copy that reached the transformer was the copied item itself, the
        slowest pages of a 2 KB API load. A copy a reviewer allowed decides nothing, so its
        item is still looked for: a rewording of another part of it is not allowed.
        """
        matches = matches_by_item(doc, found, self.policy)
        return {
            key
            for key, match in matches.items()
            if allow(match, doc.id, allowlist).decision is Decision.REMOVE
        }

    def _candidate_filter(
        self, docs: list[Document], explained: list[set[tuple[str, int]]], hopeful_only: bool
    ) -> CandidateFilter:
        """What ``find_candidates`` keeps of a document's candidates: not an item its verbatim
        evidence already decides (``_explained``) and, unless verifier training collects them
        all, only those that could pass (``_hopeful``)."""

        def keep(
            doc_no: int,
            corpus_no: np.ndarray,
            passages: np.ndarray,
            items: np.ndarray,
            margins: np.ndarray,
        ) -> np.ndarray:
            mask = np.ones(len(passages), dtype=bool)
            skip = explained[doc_no]
            if skip:
                names = [self.index.corpora[n].name for n in corpus_no.tolist()]
                mask = np.asarray(
                    [(n, i) not in skip for n, i in zip(names, items.tolist(), strict=True)]
                )
            if hopeful_only and mask.any():
                rows = np.flatnonzero(mask)
                mask[rows] = self._hopeful(
                    docs[doc_no], corpus_no[rows], passages[rows], margins[rows]
                )
            return mask

        return keep

    def _hopeful(
        self, doc: Document, corpus_no: np.ndarray, passages: np.ndarray, margins: np.ndarray
    ) -> np.ndarray:
        """Which candidates could pass given how much of each passage's rare vocabulary the
        whole page holds (an upper bound of the window's share) and their static margin.

        This first sieve is arrays only, so every candidate of a page can go through it; the
        per-page cap on verified pairs then applies to the hopeful ones.
        """
        shares = np.empty(len(passages), dtype=np.float64)
        code = np.empty(len(passages), dtype=bool)
        ref_tokens = np.empty(len(passages), dtype=np.int64)
        for number in np.unique(corpus_no).tolist():
            rows = np.flatnonzero(corpus_no == number)
            corpus = self.index.corpora[number]
            shares[rows] = page_term_fractions(doc, corpus, passages[rows])
            code[rows] = corpus.record.mode is TextMode.CODE
            ref_tokens[rows] = corpus.passage_prose_tokens[passages[rows]]
        return self.verifier.page_sieve.hopeful(shares, ref_tokens, code, margins)

    def _window_sieve(
        self, facts: _WindowFacts, candidates: list[Candidate], signals: _LazySignals
    ) -> list[int]:
        """The candidates that could pass on their window's signals and bounds (every
        alignment and embedding signal at its best otherwise), at most ``max_pairs_per_doc``
        of each document, largest static margin first.

        A program's whole-item shape on the page costs an alignment against the whole page,
        so it is found only for code candidates that pass without it and would be within the
        cap. The cap takes the pairs that stand out most from other items first: by static
        cosine, long book passages (close to any long window of ordinary prose, and the
        costliest to align) took the places of the item a page rewords.

        Candidates are bounded a chunk at a time in that order, so a document's signals stop
        being computed once its cap is full: of about 100 hopeful candidates a C4 page has,
        the cap is full after about 18 (``benchmarks/paraphrase_cost.py``). The pairs kept
        are those a single pass over every candidate keeps.
        """
        cap = self.settings.max_pairs_per_doc
        order = sorted(range(len(candidates)), key=lambda n: -candidates[n].margin)
        kept: list[int] = []
        taken: dict[int, int] = {}
        for start in range(0, len(order), SIEVE_CHUNK):
            chunk = [
                n
                for n in order[start : start + SIEVE_CHUNK]
                if taken.get(candidates[n].window.doc, 0) < cap
            ]
            references = [
                self._reference(candidates[n].corpus, candidates[n].passage) for n in chunk
            ]
            rows = [
                optimistic(
                    signals[n],
                    candidates[n].margin,
                    **window_bounds(facts.view(candidates[n].window), reference),
                )
                for n, reference in zip(chunk, references, strict=True)
            ]
            bound = self.verifier.probabilities(rows) if rows else []
            for n, reference, probability in zip(chunk, references, bound, strict=True):
                candidate = candidates[n]
                doc = candidate.window.doc
                if taken.get(doc, 0) >= cap:
                    continue
                passable = self._passable(probability, candidate)
                if passable and candidate.corpus.record.mode is TextMode.CODE:
                    view, page = facts.view(candidate.window), facts.docs[doc].text
                    known = window_bounds(view, reference, page)
                    row = optimistic(signals[n], candidate.margin, **known)
                    passable = self._passable(self.verifier.probability(row), candidate)
                if passable:
                    taken[doc] = taken.get(doc, 0) + 1
                    kept.append(n)
        return sorted(kept)

    def _aligned(
        self,
        docs: list[Document],
        facts: _WindowFacts,
        candidates: list[Candidate],
        signals: list[WindowSignals],
    ) -> list[_Pair]:
        """The pairs that could pass with their alignment at ``alignment_bound`` (embedding
        signals at their best), aligned: most pairs the cap keeps fail after alignment, and
        the bound costs a hundredth of it.

        A window shorter than its passage is aligned whole (``aligns_whole_window``), so its
        other alignment signals are exact before aligning; a longer one's are bounded by the
        window's (``window_bounds``). On 2 KB web pages, 650 of the 659 pairs the bound alone
        let through failed once aligned, half of them on ``token_set``, which a whole window's
        exact signals decide before aligning.
        """
        rows = []
        for candidate, signal in zip(candidates, signals, strict=True):
            view = facts.view(candidate.window)
            reference = self._reference(candidate.corpus, candidate.passage)
            bound = alignment_bound(view, reference)
            if aligns_whole_window(view.joined, reference):
                staged = self._pair(docs, candidate, signal, alignment_score=bound)
                rows.append({**staged.features, **_OPTIMISTIC})
            else:
                known = {**window_bounds(view, reference), "alignment": bound}
                rows.append(optimistic(signal, candidate.margin, **known))
        bounds = self.verifier.probabilities(rows) if rows else []
        return [
            self._pair(docs, candidate, signal)
            for candidate, signal, probability in zip(candidates, signals, bounds, strict=True)
            if self._passable(probability, candidate)
        ]

    def _collectable(self, doc: Document, candidates: list[Candidate]) -> list[Candidate]:
        """What verifier training collects: without a model yet to bound probabilities, the
        candidates whose passage has a fair share of its rare vocabulary in the page."""
        shares = _page_shares(doc, candidates)
        floor = self.settings.collect_min_term_fraction
        return [c for c, share in zip(candidates, shares, strict=True) if share >= floor]

    def _signals(self, facts: _WindowFacts, candidate: Candidate) -> WindowSignals:
        window = candidate.window
        reference = self._reference(candidate.corpus, candidate.passage)
        return window_signals(facts.view(window), reference)

    def _passable(self, probability: float, candidate: Candidate) -> bool:
        return self.verifier.accepts(probability, candidate.corpus.record.mode)

    def _pair(
        self,
        docs: list[Document],
        candidate: Candidate,
        signals: WindowSignals,
        alignment_score: float | None = None,
    ) -> _Pair:
        """The candidate aligned, with every signal that needs no transformer (for a window
        aligned whole, ``alignment_score`` stands in for the alignment: ``pair_features``)."""
        window = candidate.window
        doc = docs[window.doc]
        reference = self._reference(candidate.corpus, candidate.passage)
        features, span = pair_features(
            doc.tokens(TextMode.PROSE),
            doc.text,
            window.token_start,
            window.token_end,
            reference,
            candidate.cosine,
            self.index.manifest.settings.terms,
            cosine_margin=candidate.margin,
            signals=signals,
            alignment_score=alignment_score,
        )
        return _Pair(candidate, reference, features, span)

    def _could_pass(self, pairs: list[_Pair]) -> list[_Pair]:
        """The pairs that could be accepted with the best transformer cosines there are.

        Most candidates are other items of the same style or topic, whose numbers, rare words
        and alignment do not agree: they never reach the transformer.
        """
        bound = self.verifier.probabilities([{**p.features, **_OPTIMISTIC} for p in pairs])
        return [p for p, b in zip(pairs, bound, strict=True) if self._passable(b, p.candidate)]

    def _add_transformer_cosines(
        self, docs: list[Document], pairs: list[_Pair], every_rival: bool = False
    ) -> None:
        """The window's and the aligned span's transformer cosine to the passage, then, for
        the pairs that could still pass, how much closer the span is to it than to the nearest
        other items (``paraphrase_rivals``; all pairs when ``every_rival``).

        The window's is diluted by the page around a short reworded item; the span's is not.
        The margin is at most the span's cosine (a rival counts from 0 up), so a pair that
        fails with that bound fails with the margin too: its four rivals are never embedded.
        """
        if not pairs:
            return
        texts: dict[str, int] = {}
        rows = []
        for pair in pairs:
            doc = docs[pair.doc]
            window = pair.candidate.window
            start, end = doc.tokens(TextMode.PROSE).char_span(*pair.span)
            for text in (doc.text[window.char_start : window.char_end], doc.text[start:end]):
                rows.append(texts.setdefault(text, len(texts)))
        vectors = self.embedder.encode(list(texts))
        self.windows_embedded += len(texts)
        self.pairs_embedded += len(pairs)
        own = self._vectors_of([(p.candidate.corpus, p.candidate.passage) for p in pairs])
        for n, pair in enumerate(pairs):
            pair.features["cosine"] = float(vectors[rows[2 * n]] @ own[n])
            pair.span_vector = vectors[rows[2 * n + 1]]
            pair.features["span_cosine"] = float(pair.span_vector @ own[n])
            pair.features["rival_margin"] = pair.features["span_cosine"]
        if every_rival:
            hopeful = pairs
        else:
            bound = self.verifier.probabilities([p.features for p in pairs])
            hopeful = [
                p for p, b in zip(pairs, bound, strict=True) if self._passable(b, p.candidate)
            ]
        self._add_rival_margins(docs, hopeful)

    def _add_rival_margins(self, docs: list[Document], pairs: list[_Pair]) -> None:
        """``rival_margin`` of each pair (its span's vector and cosine are known already)."""
        pairs = [p for p in pairs if not p.rivals_known]
        if not pairs:
            return
        owners = []
        for pair in pairs:
            doc = docs[pair.doc]
            start, end = doc.tokens(TextMode.PROSE).char_span(*pair.span)
            corpus = pair.candidate.corpus
            item = corpus.passage_item(pair.candidate.passage)
            owners.append(SpanOwner(doc.text, start, end, corpus.name, item))
        rivals = nearest_other_passages(self.index, owners)
        rival_vectors = self._vectors_of([key for per_pair in rivals for key in per_pair])
        at = 0
        for n, pair in enumerate(pairs):
            theirs = rival_vectors[at : at + len(rivals[n])]
            at += len(rivals[n])
            cosines = np.asarray([float(vector @ pair.span_vector) for vector in theirs])
            pair.features["rival_margin"] = rival_margin(pair.features["span_cosine"], cosines)
            pair.rivals_known = True

    def _vectors_of(self, keys: list[tuple[CorpusIndex, int]]) -> list[np.ndarray]:
        """Transformer vectors of these passages, embedded on first use and kept (LRU)."""
        missing: dict[tuple[str, int], str] = {}
        for corpus, passage in keys:
            key = (corpus.name, passage)
            if key not in self._passage_vectors and key not in missing:
                missing[key] = corpus.passage_text(passage)
        if missing:
            for key, vector in zip(
                missing, self.embedder.encode(list(missing.values())), strict=True
            ):
                self._passage_vectors[key] = vector
        out = []
        for corpus, passage in keys:
            key = (corpus.name, passage)
            self._passage_vectors.move_to_end(key)
            out.append(self._passage_vectors[key])
        while len(self._passage_vectors) > PASSAGE_CACHE:
            self._passage_vectors.popitem(last=False)
        return out

    def _near_misses(
        self,
        docs: list[Document],
        candidates: list[Candidate],
        signals: _LazySignals,
        scored: dict[int, _Pair],
        results: list[list[ItemEvidence]],
        misses: list[list[NearMiss]],
        count: int,
    ) -> None:
        """The best unaccepted pairs of each document with no accepted one, for people.

        The pairs the verifier already scored come first, highest probability first: on a long
        page the first candidates by static cosine are often a book's passages the transformer
        ruled out, while the item that fell just short sits further down. ``candidates``
        (with their window signals) are best static cosine first per document; ``scored``
        holds the verified pairs by candidate. Places left are filled from the candidates
        ruled out before the transformer ran, aligned and embedded now, only for these few, so
        a reviewer sees real cosines and the probability that fell short.
        """
        chosen: dict[int, list[_Pair]] = {}
        for pair in sorted(scored.values(), key=lambda p: -(p.probability or 0.0)):
            if not results[pair.doc] and len(chosen.setdefault(pair.doc, [])) < count:
                chosen[pair.doc].append(pair)
        # Shown pairs get their real margin (the verifier ranked them on its bound).
        shown = [p for per_doc in chosen.values() for p in per_doc if not p.rivals_known]
        self._add_rival_margins(docs, shown)
        for pair in shown:
            pair.probability = self.verifier.probability(pair.features)
        for n, candidate in enumerate(candidates):
            doc = candidate.window.doc
            if results[doc] or len(chosen.setdefault(doc, [])) >= count:
                continue
            if id(candidate) in scored:
                continue
            pair = self._pair(docs, candidate, signals[n])
            self._add_transformer_cosines(docs, [pair], every_rival=True)
            pair.probability = self.verifier.probability(pair.features)
            chosen[doc].append(pair)
        for doc, pairs in chosen.items():
            for pair in sorted(pairs, key=lambda p: -(p.probability or 0.0)):
                misses[doc].append(self._near_miss(docs[doc], pair))

    def _near_miss(self, doc: Document, pair: _Pair) -> NearMiss:
        corpus, passage = pair.candidate.corpus, pair.candidate.passage
        item = corpus.passage_item(passage)
        mode = pair.reference.mode
        threshold = getattr(self.verifier, "accept_at", {}).get(TextMode(mode).value, 1.0)
        return NearMiss(
            ref_id=corpus.ids[item],
            corpus=corpus.name,
            kind=corpus.record.kind.value,
            doc_span=doc.tokens(TextMode.PROSE).char_span(*pair.span),
            ref_span=(pair.reference.char_start, pair.reference.char_end),
            static_cosine=pair.candidate.cosine,
            cosine=pair.features["cosine"],
            span_cosine=pair.features["span_cosine"],
            probability=pair.probability,
            threshold=threshold,
            signals=dict(pair.features),
        )

    # -- verification -------------------------------------------------------------------------

    @staticmethod
    def _evidence(doc: Document, pair: _Pair, probability: float) -> Evidence:
        tokens = doc.tokens(TextMode.PROSE)
        doc_start, doc_end = tokens.char_span(*pair.span)
        corpus, passage, reference = pair.candidate.corpus, pair.candidate.passage, pair.reference
        item_token_start = int(corpus.passages[passage, 1])
        item = corpus.passage_item(passage)
        in_key = item_token_start < corpus.key_tokens[item]
        in_stem = item_token_start < corpus.stem_tokens[item]
        return Evidence(
            method=Method.PARAPHRASE,
            doc_start=doc_start,
            doc_end=doc_end,
            ref_start=reference.char_start,
            ref_end=reference.char_end,
            similarity=pair.features["alignment"],
            confidence=probability,
            ref_token_start=item_token_start,
            ref_token_end=int(corpus.passages[passage, 2]),
            ref_mass=reference.terms.mass,
            ref_terms=frozenset(reference.prose.tokens),
            key_terms=frozenset(reference.prose.tokens) if in_key else frozenset(),
            stem_terms=frozenset(reference.prose.tokens) if in_stem else frozenset(),
            signals={**pair.features, "probability": probability},
        )

    def _reference(self, corpus: CorpusIndex, passage: int) -> ReferenceView:
        key = (corpus.name, passage)
        view = self._references.get(key)
        if view is None:
            item, _, _, char_start, char_end = (int(v) for v in corpus.passages[passage])
            # A program's whole item is read (its shape and examples); prose needs only its
            # passage and the item's length, which a long book gives without decoding it.
            if corpus.record.mode is TextMode.CODE:
                item_text: str | None = corpus.item_text(item)
                text, item_chars = item_text[char_start:char_end], None
            else:
                item_text = None
                text = corpus.item_slice(item, char_start, char_end)
                item_chars = corpus.item_length(item)
            view = ReferenceView.of(
                text,
                corpus.record.mode,
                self.index.manifest.settings,
                char_start,
                item_text=item_text,
                item_chars=item_chars,
            )
            self._references[key] = view
            if len(self._references) > 8192:
                self._references.popitem(last=False)
        else:
            self._references.move_to_end(key)
        return view


# Transformer vectors of passages kept per scanner: about 12 MB of 384-d float32.
PASSAGE_CACHE = 8192


def _page_shares(doc: Document, candidates: list[Candidate]) -> np.ndarray:
    """``page_term_fractions`` of each candidate's passage (one lookup per corpus)."""
    shares = np.empty(len(candidates), dtype=np.float64)
    by_corpus: dict[str, list[int]] = {}
    for n, candidate in enumerate(candidates):
        by_corpus.setdefault(candidate.corpus.name, []).append(n)
    for rows in by_corpus.values():
        corpus = candidates[rows[0]].corpus
        passages = np.asarray([candidates[n].passage for n in rows], dtype=np.int64)
        shares[rows] = page_term_fractions(doc, corpus, passages)
    return shares


def page_term_fractions(
    doc: Document, corpus: CorpusIndex, passages: np.ndarray | None = None
) -> np.ndarray:
    """Per passage of ``corpus`` (or of ``passages``), the share of its rare-term mass that
    occurs anywhere in the page: at least the share in any window of it, so it bounds the
    window's ``term_recall``.

    The work follows the page's posting rows and the passages asked for, not the corpus's
    size: an array per passage of the index for every page cost a scan time that grew with
    the index (``benchmarks/index_scale.py``).
    """
    wanted = np.arange(len(corpus.passages)) if passages is None else np.asarray(passages, np.int64)
    out = np.zeros(len(wanted), dtype=np.float64)
    table = corpus.term_hashes
    tokens = doc.tokens(TextMode.PROSE)
    if len(table) == 0 or len(tokens) == 0 or len(wanted) == 0:
        return out
    weights = doc.term_weights()
    present = weights > 0
    terms, first = np.unique(doc.token_hashes(TextMode.PROSE)[present], return_index=True)
    low, counts = posting_ranges(table, terms)
    term_weights = weights[present][first]
    asked = np.unique(wanted)
    # A term held by many more passages than are asked about is looked up per asked passage
    # (``_held_by``); the rest by reading its posting rows.
    wide = counts > WIDE_TERM_FACTOR * len(asked)
    mass = _held_by(corpus, low[wide], counts[wide], term_weights[wide], asked)
    counts = np.where(wide, 0, counts)
    rows = posting_rows(low, counts)
    if len(rows):
        # A term's weight depends on the word alone, so the page's weight is the passage's. A
        # passage taken down holds nothing (its postings count for no passage).
        owners = np.asarray(corpus.term_passages[rows], dtype=np.int64)
        held = np.repeat(term_weights, counts) * corpus.removals.live_mask(owners)
        # Rows are matched to the few passages asked for by a binary search in them: sorting
        # the rows instead (np.unique) cost most of a page's time on a large index, whose
        # common rare terms have postings in thousands of passages.
        at = np.minimum(np.searchsorted(asked, owners), len(asked) - 1)
        hit = asked[at] == owners
        mass += np.bincount(at[hit], weights=held[hit], minlength=len(asked))
    out = mass[np.searchsorted(asked, wanted)]
    return out / np.maximum(corpus.passage_term_mass[wanted], 1e-6)


# A term is looked up per asked passage when it has more postings than this many per passage
# asked: its rows would cost more to read than a binary search per passage.
WIDE_TERM_FACTOR = 16


def _held_by(
    corpus: CorpusIndex,
    low: np.ndarray,
    counts: np.ndarray,
    weights: np.ndarray,
    asked: np.ndarray,
) -> np.ndarray:
    """Per passage of ``asked`` (sorted), the weight of the terms (posting ranges ``low``,
    ``counts``) it holds, found by a binary search for the asked passages in each term's range.

    A term's postings are sorted by passage and name each passage once (a passage's terms are
    distinct), so one search per (term, passage) says whether it holds it. In an index that
    holds a work many times, a page's rare terms have postings in every copy: reading them all
    cost most of a both-tier scan at 100x the books (``benchmarks/index_scale.py``). The terms
    searched are the few with many postings, so a loop over them is short.
    """
    mass = np.zeros(len(asked), dtype=np.float64)
    passages = np.asarray(corpus.term_passages)
    for start, count, weight in zip(low.tolist(), counts.tolist(), weights.tolist(), strict=True):
        holders = passages[start : start + count]
        at = np.minimum(np.searchsorted(holders, asked), count - 1)
        mass += weight * (holders[at] == asked)
    # A passage taken down holds nothing (its postings count for no passage).
    return mass * corpus.removals.live_mask(asked)


# Candidates the window sieve bounds at a time (one call of the verifier each).
SIEVE_CHUNK = 32


class _LazySignals:
    """Each candidate's window signals, computed when first asked for: the window sieve
    stops at a document's cap, and near misses look at a page's first few candidates only."""

    def __init__(self, compute: Callable[[Candidate], WindowSignals], candidates: list[Candidate]):
        self._compute = compute
        self._candidates = candidates
        self._known: dict[int, WindowSignals] = {}

    def __getitem__(self, n: int) -> WindowSignals:
        if n not in self._known:
            self._known[n] = self._compute(self._candidates[n])
        return self._known[n]


class _WindowFacts:
    """The windows of one batch as ``WindowView``s, each made once however many passages a
    window is a candidate for, from the page's token hashes and weights."""

    def __init__(self, docs: list[Document]):
        self.docs = docs
        self._views: dict[tuple[int, int, int], WindowView] = {}

    def view(self, window: Window) -> WindowView:
        key = (window.doc, window.token_start, window.token_end)
        if key not in self._views:
            doc = self.docs[window.doc]
            start, end = window.token_start, window.token_end
            weights = doc.term_weights()[start:end]
            hashes = doc.token_hashes(TextMode.PROSE)[start:end]
            tokens = doc.tokens(TextMode.PROSE).tokens[start:end]
            self._views[key] = WindowView(tokens, np.unique(hashes[weights > 0]))
        return self._views[key]
