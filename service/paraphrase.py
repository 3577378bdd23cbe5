"""Paraphrase tier: rare-term candidates, window embeddings, FAISS neighbours, verification.

Embedding is the cost (about 60 windows/s on 2 cores), so the tier first asks a cheap question:
which windows of the document share enough of a reference passage's rare vocabulary (numbers,
technical terms, names) to be worth embedding? Only those windows are embedded, sized like the
passage they resemble, and searched in FAISS; every (window, passage) pair FAISS returns is then
verified by ``service.verifier`` before it becomes evidence.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from indexer.embedding import Embedder
from indexer.normalize import TextMode
from indexer.store import CorpusIndex, ReferenceIndex, posting_ranges, posting_rows
from indexer.terms import TermBag, term_weights
from indexer.vector_index import search
from service.document import Document
from service.policy import Policy
from service.results import Evidence, Method
from service.scoring import ItemEvidence
from service.verifier import PairVerifier, ReferenceView, Verifier, pair_features


@dataclass(frozen=True)
class ParaphraseSettings:
    # A passage is a candidate when a window holds this share of its rare-term mass ...
    min_term_fraction: float = 0.3
    # ... and at least this much of it in absolute terms (about two uncommon words).
    min_term_mass: float = 3.0
    # Terms in more passages than this are too common in the references to select windows.
    max_term_postings: int = 5000
    # Window sizes in prose tokens; a passage is looked for in the smallest size >= 1.25x it.
    window_sizes: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128)
    max_windows_per_doc: int = 48
    max_candidates_per_corpus: int = 400
    top_k: int = 5
    # Pairs below this cosine are not verified at all.
    min_cosine: float = 0.55
    # Embed every window of every size instead of the rare-term selection (the baseline that
    # benchmarks/paraphrase.py compares against).
    exhaustive: bool = False
    # Skip text that strong verbatim evidence already explains. Verifier training turns this
    # off to see the pairs of lightly reworded items too.
    mask_verbatim: bool = True


@dataclass(frozen=True)
class _Window:
    doc: int
    token_start: int
    token_end: int


@dataclass
class _Pair:
    window: _Window
    corpus: CorpusIndex
    passage: int
    reference: ReferenceView
    features: dict[str, float]
    span: tuple[int, int]  # document tokens the passage aligns to


Observer = Callable[[str, tuple[int, int], ReferenceView, dict[str, float]], None]


class ParaphraseMatcher:
    def __init__(
        self,
        index: ReferenceIndex,
        policy: Policy,
        embedder: Embedder,
        settings: ParaphraseSettings | None = None,
        verifier: Verifier | None = None,
    ):
        self.index = index
        self.policy = policy
        self.embedder = embedder
        self.settings = settings or ParaphraseSettings()
        self.verifier: Verifier = verifier or PairVerifier.load_default(index.manifest.settings)
        self._references: OrderedDict[tuple[str, int], ReferenceView] = OrderedDict()
        self._passage_vectors: dict[tuple[str, int], np.ndarray] = {}
        self.windows_embedded = 0
        # Called with (document text, aligned character span, reference, signals) for every
        # pair verified: how service.verifier_training collects its examples.
        self.observer: Observer | None = None

    # -- public -------------------------------------------------------------------------------

    def find_many(
        self, docs: list[Document], verbatim: list[list[ItemEvidence]]
    ) -> list[list[ItemEvidence]]:
        windows: list[_Window] = []
        for doc_no, (doc, found) in enumerate(zip(docs, verbatim, strict=True)):
            # Windows a long, near-exact verbatim copy already explains need no embedding; a
            # weak or partial verbatim region may be the visible part of a paraphrase.
            covered = [
                (e.evidence.doc_start, e.evidence.doc_end)
                for e in found
                if self.settings.mask_verbatim
                and e.evidence.confidence >= 0.95
                and e.evidence.ref_tokens >= 16
            ]
            windows.extend(self._windows(doc_no, doc, covered))
        results: list[list[ItemEvidence]] = [[] for _ in docs]
        if not windows:
            return results
        texts = [self._window_text(docs[w.doc], w) for w in windows]
        vectors = self.embedder.encode(texts)
        self.windows_embedded += len(windows)
        pairs = self._candidate_pairs(docs, windows, vectors)
        if self.observer is None:
            pairs = [pair for pair in pairs if self._may_pass(pair)]
        self._add_span_cosines(docs, pairs)
        for pair in pairs:
            doc = docs[pair.window.doc]
            probability = self.verifier.probability(pair.features)
            if self.observer is not None:
                tokens = doc.tokens(TextMode.PROSE)
                self.observer(doc.text, tokens.char_span(*pair.span), pair.reference, pair.features)
            if self.verifier.accepts(probability, pair.reference.mode):
                item = pair.corpus.passage_item(pair.passage)
                results[pair.window.doc].append(
                    ItemEvidence(pair.corpus, item, self._evidence(doc, pair, probability))
                )
        return results

    def _candidate_pairs(
        self, docs: list[Document], windows: list[_Window], vectors: np.ndarray
    ) -> list[_Pair]:
        """(window, passage) pairs FAISS returns above ``min_cosine``, with their signals."""
        terms = self.index.manifest.settings.terms
        found = []  # (row, corpus, passage, item, score) above min_cosine, over every corpus
        for corpus in self.index.corpora:
            if corpus.vectors.ntotal == 0:
                continue
            k = min(self.settings.top_k, corpus.vectors.ntotal)
            scores, neighbours = search(corpus.vectors, vectors, k)
            for row in range(len(windows)):
                for score, passage in zip(scores[row], neighbours[row], strict=True):
                    if passage >= 0 and score >= self.settings.min_cosine:
                        item = (corpus.name, corpus.passage_item(int(passage)))
                        found.append((row, corpus, int(passage), item, float(score)))
        margins = _cosine_margins(found, self.settings.min_cosine)
        pairs = []
        for (row, corpus, passage, _, score), margin in zip(found, margins, strict=True):
            window = windows[row]
            doc = docs[window.doc]
            reference = self._reference(corpus, passage)
            features, span = pair_features(
                doc.tokens(TextMode.PROSE),
                doc.text,
                window.token_start,
                window.token_end,
                reference,
                score,
                terms,
                cosine_margin=margin,
            )
            pairs.append(_Pair(window, corpus, passage, reference, features, span))
        return pairs

    def _may_pass(self, pair: _Pair) -> bool:
        """Whether the pair could be accepted with the best span cosine there is.

        The verifier is monotone in ``span_cosine``, so a pair that fails with it at 1.0 fails
        whatever its span embeds to: embedding that span would only cost time (most pairs are
        the other neighbours FAISS returns for a window, far from passing).
        """
        optimistic = {**pair.features, "span_cosine": 1.0}
        return self.verifier.accepts(self.verifier.probability(optimistic), pair.reference.mode)

    def _add_span_cosines(self, docs: list[Document], pairs: list[_Pair]) -> None:
        """Cosine of the aligned span alone with the passage: the window's own cosine is
        diluted by the page around a short reworded item; the span's is not."""
        if not pairs:
            return
        texts: dict[str, int] = {}
        rows = []
        for pair in pairs:
            tokens = docs[pair.window.doc].tokens(TextMode.PROSE)
            start, end = tokens.char_span(*pair.span)
            rows.append(texts.setdefault(docs[pair.window.doc].text[start:end], len(texts)))
        span_vectors = self.embedder.encode(list(texts))
        for pair, row in zip(pairs, rows, strict=True):
            passage_vector = self._passage_vector(pair.corpus, pair.passage, pair.reference)
            pair.features["span_cosine"] = float(span_vectors[row] @ passage_vector)

    def _passage_vector(self, corpus: CorpusIndex, passage: int, reference: ReferenceView):
        try:
            return corpus.vectors.reconstruct(passage)
        except RuntimeError:  # an IVF index without a direct map: embed the text again
            key = (corpus.name, passage)
            if key not in self._passage_vectors:
                self._passage_vectors[key] = self.embedder.encode([reference.text])[0]
            return self._passage_vectors[key]

    # -- window selection ---------------------------------------------------------------------

    def _windows(self, doc_no: int, doc: Document, covered: list[tuple[int, int]]) -> list[_Window]:
        tokens = doc.tokens(TextMode.PROSE)
        if len(tokens) == 0:
            return []
        if self.settings.exhaustive:
            spans = self._all_windows(len(tokens))
        else:
            spans = self._rare_term_windows(doc, _covered_tokens(tokens, covered))
        chosen = []
        for start, end in spans:
            char_start, char_end = tokens.char_span(start, end)
            if not _mostly_covered(char_start, char_end, covered):
                chosen.append(_Window(doc_no, start, end))
        return chosen

    def _all_windows(self, n_tokens: int) -> list[tuple[int, int]]:
        spans: set[tuple[int, int]] = set()
        for size in self.settings.window_sizes:
            stride = max(1, size // 2)
            for start in range(0, max(n_tokens - size, 0) + 1, stride):
                spans.add((start, min(start + size, n_tokens)))
            if n_tokens > size:
                spans.add((n_tokens - size, n_tokens))
            else:
                break
        return sorted(spans)

    def _rare_term_windows(self, doc: Document, covered: np.ndarray) -> list[tuple[int, int]]:
        """Windows rich in some passage's rare terms; text a verbatim copy explains is ignored."""
        tokens = doc.tokens(TextMode.PROSE)
        hashes = doc.token_hashes(TextMode.PROSE)
        weights = term_weights(tokens.tokens, self.index.manifest.settings.terms)
        weights[covered] = 0.0
        scored: dict[tuple[int, int], float] = {}
        for corpus in self.index.corpora:
            for passage in self._term_candidates(corpus, hashes, weights):
                reference = self._reference(corpus, passage)
                span = _best_window(
                    hashes,
                    weights,
                    reference.terms,
                    reference.prose_tokens,
                    self.settings.window_sizes,
                    len(tokens),
                )
                if span is None:
                    continue
                (start, end), window_mass = span
                fraction = window_mass / max(reference.terms.mass, 1e-6)
                if fraction >= self.settings.min_term_fraction and window_mass >= min(
                    self.settings.min_term_mass, reference.terms.mass
                ):
                    scored[(start, end)] = max(scored.get((start, end), 0.0), fraction)
        best = sorted(scored, key=lambda s: -scored[s])[: self.settings.max_windows_per_doc]
        return sorted(best)

    def _term_candidates(
        self, corpus: CorpusIndex, hashes: np.ndarray, weights: np.ndarray
    ) -> list[int]:
        """Passages whose rare terms the whole document covers enough of to look closer."""
        table = corpus.term_hashes
        if len(table) == 0:
            return []
        present = weights > 0
        terms, first = np.unique(hashes[present], return_index=True)
        term_weight = weights[present][first]
        low, counts = posting_ranges(table, terms)
        keep = (counts > 0) & (counts <= self.settings.max_term_postings)
        low, counts, term_weight = low[keep], counts[keep], term_weight[keep]
        if len(low) == 0:
            return []
        owners = np.asarray(corpus.term_passages[posting_rows(low, counts)])
        mass = np.bincount(
            owners, weights=np.repeat(term_weight, counts), minlength=len(corpus.passages)
        )
        total = corpus.passage_term_mass
        fraction = mass / np.maximum(total, 1e-6)
        chosen = np.nonzero(
            (fraction >= self.settings.min_term_fraction)
            & (mass >= np.minimum(self.settings.min_term_mass, total))
            & (total > 0)
        )[0]
        order = np.argsort(-mass[chosen], kind="stable")[: self.settings.max_candidates_per_corpus]
        return [int(p) for p in chosen[order]]

    # -- verification -------------------------------------------------------------------------

    @staticmethod
    def _evidence(doc: Document, pair: _Pair, probability: float) -> Evidence:
        tokens = doc.tokens(TextMode.PROSE)
        doc_start, doc_end = tokens.char_span(*pair.span)
        corpus, reference = pair.corpus, pair.reference
        item_token_start = int(corpus.passages[pair.passage, 1])
        item = corpus.passage_item(pair.passage)
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
            ref_token_end=int(corpus.passages[pair.passage, 2]),
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
            item_text = corpus.item_text(item)
            view = ReferenceView.of(
                item_text[char_start:char_end],
                corpus.record.mode,
                self.index.manifest.settings,
                char_start,
                item_text=item_text,
            )
            self._references[key] = view
            if len(self._references) > 8192:
                self._references.popitem(last=False)
        else:
            self._references.move_to_end(key)
        return view

    @staticmethod
    def _window_text(doc: Document, window: _Window) -> str:
        tokens = doc.tokens(TextMode.PROSE)
        start, end = tokens.char_span(window.token_start, window.token_end)
        return doc.text[start:end]


def _cosine_margins(found: list[tuple], floor: float) -> list[float]:
    """How far each neighbour's cosine stands above the best *other* item's for the same window.

    A reworded test item is far closer to its own item than to any other; an item of the same
    style (a GSM8K train problem) sits about as close to several test items at once. Passages
    of the same item do not compete with each other; with no other item above ``floor`` the
    floor stands in for it (so neighbours below the floor need not be passed in).
    """
    per_row: dict[int, dict[tuple, float]] = {}
    for row, _, _, item, score in found:
        items = per_row.setdefault(row, {})
        items[item] = max(items.get(item, -1.0), score)
    margins = []
    for row, _, _, item, _ in found:
        rival = max((s for other, s in per_row[row].items() if other != item), default=floor)
        margins.append(per_row[row][item] - max(rival, floor))
    return margins


def _mostly_covered(start: int, end: int, covered: list[tuple[int, int]]) -> bool:
    """True when verbatim evidence already explains nearly all of this window."""
    length = max(end - start, 1)
    overlap = sum(max(0, min(end, b) - max(start, a)) for a, b in covered)
    return overlap / length >= 0.8


def _covered_tokens(tokens, covered: list[tuple[int, int]]) -> np.ndarray:
    """Mask of the document tokens inside any of the ``covered`` character spans."""
    mask = np.zeros(len(tokens), dtype=bool)
    for start, end in covered:
        mask |= (tokens.starts >= start) & (tokens.ends <= end)
    return mask


def _best_window(
    hashes: np.ndarray,
    weights: np.ndarray,
    terms: TermBag,
    passage_tokens: int,
    sizes: tuple[int, ...],
    n_tokens: int,
) -> tuple[tuple[int, int], float] | None:
    """The tightest window (snapped to a grid, so nearby candidates share it) holding most of
    the passage's rare terms that the document has.

    The largest size considered is about 1.25x the passage; a smaller one wins when it holds
    at least 80% of what that largest window holds, because a reworded question is often
    shorter than its passage (which may include a solution) and a wide window dilutes the
    embedding with unrelated text.
    """
    hit = np.isin(hashes, terms.hashes) & (weights > 0)
    if not hit.any():
        return None
    sums = np.concatenate([[0.0], np.cumsum(np.where(hit, weights, 0.0))])
    largest = next((s for s in sizes if s >= 1.25 * passage_tokens), sizes[-1])
    candidates = []
    for size in sorted({min(s, n_tokens) for s in sizes if s <= largest}):
        mass = sums[size:] - sums[:-size] if n_tokens > size else sums[-1:]
        grid = max(1, size // 4)
        starts = np.arange(0, len(mass), grid)
        if starts[-1] != len(mass) - 1:
            starts = np.append(starts, len(mass) - 1)
        best = int(starts[np.argmax(mass[starts])])
        candidates.append((size, best, float(min(mass[best], terms.mass))))
    top = max(mass for _, _, mass in candidates)
    size, start, mass = next(c for c in candidates if c[2] >= 0.8 * top)
    return (start, start + size), mass
