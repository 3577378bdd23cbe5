"""Deciding whether a (document window, reference passage) pair is the same item reworded.

Embedding similarity alone cannot tell "the same GSM8K problem in new words" from "another
GSM8K problem about eggs": both are close. What separates them are signals a rewording keeps
and a different item does not: the same numbers, the same rare words and names, the same code
structure once identifiers are renamed, a rapidfuzz alignment. A small model combines them
into one calibrated probability. The model (boosted trees, monotone in every signal) is fitted
by ``service.verifier_training`` on ``../shared/data`` and shipped in
``service/models/paraphrase_verifier.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from indexer.compiled import compiled_on_first_use
from indexer.manifest import IndexSettings
from indexer.normalize import TextMode, TokenizedText, tokenize
from indexer.terms import TermBag, TermSettings, numbers_in, term_bag, term_weight
from service.code_shape import code_shape, item_shape, shape_similarity

MODEL_RESOURCE = "paraphrase_verifier.json"

_DOCSTRING = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'')
# Inside a docstring: a quoted value (an opening quote not after a letter, so "don't" is no
# quotation) or a number.
_EXAMPLE_VALUE = re.compile(r"(?<![A-Za-z])(['\"])([^'\"\n]*)\1(?![A-Za-z])|\d+(?:\.\d+)?")
_WORD = re.compile(r"[a-z0-9]+")
# Rare-term mass of example values at which they count in full (about three distinctive ones:
# `15`, `"db1111db"`, `"clii"`); single digits and `True` weigh next to nothing.
EXAMPLE_MASS_CAP = 6.0
# Beyond this many words a reference is long enough that its length adds no evidence.
REF_TOKENS_CAP = 64
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b", re.M)

FEATURES = (
    "cosine",
    "span_cosine",
    "cosine_margin",
    "term_recall",
    "number_recall",
    "number_extra",
    "has_numbers",
    "alignment",
    "token_set",
    "bigram_overlap",
    "length_ratio",
    "ref_tokens",
    "code_structure",
    "item_structure",
    "example_mass",
    "is_code",
    "entity_recall",
    "has_entities",
    "rival_margin",
)


@dataclass(frozen=True)
class ReferenceView:
    """A reference passage prepared for verification (cached by the paraphrase matcher)."""

    text: str
    prose: TokenizedText
    terms: TermBag
    char_start: int
    char_end: int
    mode: TextMode
    # Code only: the whole item's shape without strings and comments (``item_shape``) ...
    item_shape: str = ""
    # ... and the values in its docstrings' examples, with their rare-term weights.
    examples: tuple[tuple[str, float], ...] = ()
    # Length of the whole item: how far from the aligned span its examples can be.
    item_chars: int = 0

    @classmethod
    def of(
        cls,
        text: str,
        mode: TextMode,
        settings: IndexSettings,
        char_start: int = 0,
        item_text: str | None = None,
        item_chars: int | None = None,
    ) -> ReferenceView:
        """``item_text``: the whole item the passage belongs to (used for code); else
        ``item_chars``, its length (the passage's when neither is given)."""
        prose = tokenize(text, TextMode.PROSE, settings.normalization)
        mode = TextMode(mode)
        code = mode is TextMode.CODE
        item_text = item_text or text
        values = example_values(item_text) if code else frozenset()
        return cls(
            text,
            prose,
            term_bag(prose.tokens, settings.terms, settings.ngrams.seed),
            char_start,
            char_start + len(text),
            mode,
            item_shape(item_text) if code else "",
            tuple((v, term_weight(v, settings.terms)) for v in sorted(values)),
            len(item_text) if item_chars is None else item_chars,
        )

    @property
    def prose_tokens(self) -> int:
        return len(self.prose)

    @cached_property
    def numbers(self) -> frozenset[str]:
        return numbers_in(self.prose.tokens)

    @cached_property
    def entities(self) -> frozenset[str]:
        return frozenset(_entities(self.text))

    @cached_property
    def bigrams(self) -> frozenset[tuple[str, str]]:
        return frozenset(pairwise(self.prose.tokens))

    @cached_property
    def joined(self) -> str:
        """Its prose tokens as the one string alignment compares."""
        return " ".join(self.prose.tokens)

    @cached_property
    def term_weights(self) -> dict[int, float]:
        """Weight of each rare term by hash: a window's share is a few dict lookups."""
        return dict(zip(self.terms.hashes.tolist(), self.terms.weights.tolist(), strict=True))

    @cached_property
    def has_numbers(self) -> float:
        return float(bool(self.numbers))

    @cached_property
    def has_entities(self) -> float:
        return float(bool(self.entities))


def _entities(text: str) -> set[str]:
    return {m.group().casefold() for m in _CAPITALIZED.finditer(text)}


def _bigram_overlap(
    ref_pairs: frozenset[tuple[str, str]], doc_pairs: frozenset[tuple[str, str]]
) -> float:
    """Share of the reference's word pairs found in the document span: word order, which a
    bag of words (and much of an embedding) ignores, and which swapped-role sentences break."""
    if not ref_pairs:
        return 1.0
    return len(ref_pairs & doc_pairs) / len(ref_pairs)


def item_structure(ref: ReferenceView, doc_text: str) -> float:
    """How closely some stretch of the document has the whole reference program's shape.

    Passages cut a program into pieces and a window holds only part of one, so this looks at
    the whole item against the whole document (rapidfuzz's best partial alignment), scaled
    down for programs too short for their shape to say much.
    """
    if not ref.item_shape:
        return 0.0
    return shape_similarity(ref.item_shape, doc_text)


def example_values(code: str) -> frozenset[str]:
    """The numbers and quoted values in a program's docstrings, as lower-case words.

    They are the item's examples (``decimal_to_binary(15)  # returns "db1111db"``): a
    rewording keeps them, since they are the specification, and a different program for the
    same task (MBPP's own decimal-to-binary) has examples of its own.
    """
    values: set[str] = set()
    for docstring in _DOCSTRING.finditer(code):
        for match in _EXAMPLE_VALUE.finditer(docstring.group()[3:-3]):
            value = match.group(2) if match.group(1) else match.group()
            values.update(_WORD.findall(value.casefold()))
    return frozenset(values)


@lru_cache(maxsize=32)
def _document_words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.casefold()))


def example_mass(
    ref: ReferenceView, doc_text: str, start: int = 0, end: int | None = None
) -> float:
    """Rare-term mass of the program's example values found near the aligned text
    (``doc_text[start:end]``, widened by the item's length on each side: a page's other
    numbers, a "15" and a "32", are no example), up to ``EXAMPLE_MASS_CAP`` (1.0 for prose and
    for a program without examples).

    Mass, not a share: `[1, 2, 3]` and `True` are in any page of code, so examples made only
    of them say nothing either way, and the model leans on the program's shape instead.
    """
    if not ref.examples:
        return 1.0
    end = len(doc_text) if end is None else end
    near = doc_text[max(0, start - ref.item_chars) : end + ref.item_chars]
    words = _document_words(near)
    found = sum(weight for value, weight in ref.examples if value in words)
    return min(found, EXAMPLE_MASS_CAP) / EXAMPLE_MASS_CAP


def _token_index(offsets: np.ndarray, char: int) -> int:
    return int(np.searchsorted(offsets, char, side="right") - 1)


@dataclass(frozen=True)
class WindowSignals:
    """The signals of a (window, passage) pair that need neither alignment nor embeddings.

    They are cheap (set lookups), so every candidate gets them; with the others at their best
    value they bound the verifier's probability from above (``optimistic``).
    """

    term_recall: float
    number_recall: float
    entity_recall: float
    has_numbers: float
    has_entities: float
    ref_tokens: float
    is_code: float

    def as_dict(self) -> dict[str, float]:
        return {
            "term_recall": self.term_recall,
            "number_recall": self.number_recall,
            "entity_recall": self.entity_recall,
            "has_numbers": self.has_numbers,
            "has_entities": self.has_entities,
            "ref_tokens": self.ref_tokens,
            "is_code": self.is_code,
        }


def _ref_tokens(ref: ReferenceView) -> float:
    # A short reference ("Can you teach an old dog new tricks?") is alluded to by ordinary
    # pages; the same similarity to a long one is stronger evidence.
    return float(min(len(ref.prose), REF_TOKENS_CAP))


@dataclass
class WindowView:
    """A document window's tokens with what its signals need, each worked out once however
    many passages the window is a candidate for."""

    tokens: list[str]
    terms: np.ndarray  # hashes of its weighted tokens, sorted

    @classmethod
    def of(cls, tokens: list[str], term_settings: TermSettings) -> WindowView:
        return cls(tokens, term_bag(tokens, term_settings).hashes)

    @cached_property
    def numbers(self) -> frozenset[str]:
        return numbers_in(self.tokens)

    @cached_property
    def term_set(self) -> frozenset[int]:
        return frozenset(self.terms.tolist())

    @cached_property
    def words(self) -> frozenset[str]:
        return frozenset(self.tokens)

    @cached_property
    def bigrams(self) -> frozenset[tuple[str, str]]:
        return frozenset(pairwise(self.tokens))

    @cached_property
    def joined(self) -> str:
        return " ".join(self.tokens)


def alignment_bound(window: WindowView, ref: ReferenceView) -> float:
    """At least the ``alignment`` of this passage with any span of the window, for a few
    microseconds instead of the alignment's half millisecond.

    ``fuzz.partial_ratio_alignment`` scores the shorter string (length L) against substrings
    of the longer of length l <= L: 2 * LCS / (L + l). A substring's LCS with the shorter one
    is at most C, the LCS of the two whole strings (one bit-parallel Indel pass), and at most
    l, so the score is at most 2 * min(C, l) / (L + l) <= 2C / (L + C). On 2 KB web pages 999
    of 1,000 pairs aligned failed afterwards; this bound rules out about three in four of them
    before (``benchmarks/api_load.py`` pages, BENCHMARKS.md).

    It is checked after the per-page cap, not within it: with it there, few candidates pass,
    the cap is seldom reached, and every program candidate left pays for its whole-item shape
    on the page (an alignment against the page), which cost more than the bound saved.
    """
    a, b = ref.joined, window.joined
    shorter = min(len(a), len(b))
    if shorter == 0:
        return 1.0
    lcs = Indel.similarity(a, b) / 2  # Indel similarity is len(a) + len(b) - distance = 2 LCS
    return min(1.0, 2 * lcs / (shorter + lcs))


def window_signals(window: WindowView, ref: ReferenceView) -> WindowSignals:
    mass = ref.terms.mass
    shared = sum(w for h, w in ref.term_weights.items() if h in window.term_set)
    term_recall = shared / mass if mass else 0.0
    ref_numbers = ref.numbers
    number_recall = len(ref_numbers & window.numbers) / len(ref_numbers) if ref_numbers else 1.0
    ref_entities = ref.entities
    entity_recall = len(ref_entities & window.words) / len(ref_entities) if ref_entities else 1.0
    return WindowSignals(
        term_recall=term_recall,
        number_recall=number_recall,
        entity_recall=entity_recall,
        has_numbers=ref.has_numbers,
        has_entities=ref.has_entities,
        ref_tokens=_ref_tokens(ref),
        is_code=float(ref.mode is TextMode.CODE),
    )


# The best value of each signal that needs alignment or embeddings: with these, a pair's
# probability is the most it could be (the verifier is monotone in each of them).
BEST_POSSIBLE = {
    "cosine": 1.0,
    "span_cosine": 1.0,
    "number_extra": 0.0,
    "alignment": 1.0,
    "token_set": 1.0,
    "bigram_overlap": 1.0,
    "length_ratio": 1.0,
    "code_structure": 1.0,
    "item_structure": 1.0,
    "example_mass": 1.0,
    "rival_margin": 1.0,
}
# A prose passage's code signals are known before alignment: it has no code shape.
_PROSE_KNOWN = {"code_structure": 0.0, "item_structure": 0.0}


def optimistic(signals: WindowSignals, cosine_margin: float, **known: float) -> dict[str, float]:
    """Every feature, those that need alignment or embeddings at their best value unless
    ``known`` (an exact value or a bound on it) says otherwise."""
    prose = _PROSE_KNOWN if not signals.is_code else {}
    return {
        **BEST_POSSIBLE,
        **prose,
        **known,
        **signals.as_dict(),
        "cosine_margin": cosine_margin,
    }


def window_bounds(
    window: WindowView, ref: ReferenceView, doc_text: str | None = None
) -> dict[str, float]:
    """Bounds on alignment signals that the window alone gives: the aligned span lies inside
    it, so it holds no more of the reference's word pairs than the window does and is no
    longer than it. With ``doc_text``, a program's whole-item shape on the page too (exact,
    but an alignment of the program against the whole page: left at its best without it).
    ``alignment_bound`` is not among them: it is checked on the pairs the cap keeps only."""
    bounds = {
        "bigram_overlap": _bigram_overlap(ref.bigrams, window.bigrams),
        "length_ratio": min(len(window.tokens), len(ref.prose)) / max(len(ref.prose), 1),
    }
    if ref.mode is TextMode.CODE and doc_text is not None:
        bounds["item_structure"] = item_structure(ref, doc_text)
    return bounds


def page_bound_rows(
    term_share: np.ndarray,
    ref_tokens: np.ndarray,
    is_code: np.ndarray,
    cosine_margin: np.ndarray,
) -> np.ndarray:
    """Feature rows bounding what any window of a page could score against each passage,
    from arrays alone (no passage text): the window's share of the passage's rare-term mass is
    at most the page's, its numbers and names may all be there, and the two facts about the
    passage that need its text (does it state numbers, names) are tried both ways.

    Shape (4, n, features): the bound is the largest of the four probabilities.
    """
    n = len(term_share)
    code = np.asarray(is_code, dtype=np.float64)
    columns: dict[str, np.ndarray | float] = {
        **BEST_POSSIBLE,
        **{name: np.where(code, BEST_POSSIBLE[name], v) for name, v in _PROSE_KNOWN.items()},
        "term_recall": term_share,
        "number_recall": 1.0,
        "entity_recall": 1.0,
        "ref_tokens": np.minimum(ref_tokens, REF_TOKENS_CAP),
        "is_code": code,
        "cosine_margin": cosine_margin,
    }
    return np.stack(
        [
            feature_matrix({**columns, "has_numbers": numbers, "has_entities": names}, n)
            for numbers in (0.0, 1.0)
            for names in (0.0, 1.0)
        ]
    )


class PageSieve:
    """``page_bound_rows`` for a whole page at the cost of three ``searchsorted`` calls.

    Trees decide on split points only, so the bound is a step function of the three numbers
    that vary (the page's term share, the static margin, the passage's length): one grid cell
    per interval between split points gives every value it can take. Whether each cell could
    pass is worked out once per verifier; a page's candidates only look their cells up.
    """

    VARYING = ("term_recall", "cosine_margin", "ref_tokens")

    def __init__(self, verifier: PairVerifier):
        self.cuts = [verifier.split_points(name) for name in self.VARYING]
        share, margin, tokens = (_cell_values(c) for c in self.cuts)
        grid = np.meshgrid(share, margin, tokens, indexing="ij")
        flat = [g.reshape(-1) for g in grid]
        tables = []
        for code, mode in ((0.0, TextMode.PROSE), (1.0, TextMode.CODE)):
            rows = page_bound_rows(flat[0], flat[2], np.full(len(flat[0]), code), flat[1])
            bound = verifier.probabilities_of(rows.reshape(-1, rows.shape[-1]))
            best = bound.reshape(rows.shape[:2]).max(axis=0)
            tables.append((best >= verifier.accept_at[mode.value]).reshape(grid[0].shape))
        self.table = np.stack(tables)

    def hopeful(
        self,
        term_share: np.ndarray,
        ref_tokens: np.ndarray,
        is_code: np.ndarray,
        cosine_margin: np.ndarray,
    ) -> np.ndarray:
        """Per candidate, whether some window of the page could be accepted."""
        values = (term_share, cosine_margin, np.minimum(ref_tokens, REF_TOKENS_CAP))
        cells = [
            np.searchsorted(cuts, np.asarray(v, dtype=np.float64), side="left")
            for cuts, v in zip(self.cuts, values, strict=True)
        ]
        return self.table[np.asarray(is_code, dtype=np.int64), cells[0], cells[1], cells[2]]


def _cell_values(cuts: np.ndarray) -> np.ndarray:
    """A value in each interval the split points make: cell i holds the values with i split
    points below them (a tree sends ``x <= t`` left), so cell 0 is the lowest split point
    itself and cell i the smallest float above split point i-1."""
    if not len(cuts):
        return np.zeros(1)
    return np.concatenate([cuts[:1], np.nextafter(cuts, np.inf)])


def feature_matrix(columns: dict[str, np.ndarray | float], rows: int) -> np.ndarray:
    x = np.empty((rows, len(FEATURES)), dtype=np.float64)
    for n, name in enumerate(FEATURES):
        x[:, n] = columns[name]
    return x


def aligns_whole_window(window_text: str, ref: ReferenceView) -> bool:
    """Whether the alignment's document span is the whole window, known before aligning.

    ``fuzz.partial_ratio_alignment`` slides the shorter string along the longer one and
    aligns all of it: a window whose text is shorter than its passage's is aligned whole (on
    2 KB web pages, about half the pairs the sieves leave). Every signal but the alignment's
    score is then known without the alignment, which costs about a millisecond a pair.
    """
    return 0 < len(window_text) < len(ref.joined)


def pair_features(
    doc: TokenizedText,
    doc_text: str,
    start: int,
    end: int,
    ref: ReferenceView,
    cosine: float,
    term_settings: TermSettings,
    cosine_margin: float = 0.0,
    signals: WindowSignals | None = None,
    alignment_score: float | None = None,
) -> tuple[dict[str, float], tuple[int, int]]:
    """Signals for one pair, and the document tokens the reference aligns to.

    ``cosine_margin`` is the window's cosine to this item less its cosine to the best other
    item (the paraphrase tier knows it from its candidate search; a lone sentence pair has no
    other items). ``signals``: the pair's ``window_signals`` when already computed.
    ``alignment_score``, for a window whose text ``aligns_whole_window`` says is aligned whole:
    taken as the alignment's score instead of aligning (the paraphrase tier passes its bound,
    to ask whether the pair could pass at all before paying for the alignment).
    """
    window_tokens = doc.tokens[start:end]
    signals = signals or window_signals(WindowView.of(window_tokens, term_settings), ref)
    ref_norm = ref.joined
    window_norm = " ".join(window_tokens)
    if alignment_score is not None and aligns_whole_window(window_norm, ref):
        score, span = alignment_score, (start, end)
    else:
        alignment = fuzz.partial_ratio_alignment(ref_norm, window_norm)
        score = (alignment.score / 100.0) if alignment else 0.0
        if alignment is None or not window_tokens:
            span = (start, end)
        else:
            offsets = np.cumsum([0] + [len(t) + 1 for t in window_tokens[:-1]])
            first = _token_index(offsets, alignment.dest_start)
            last = _token_index(offsets, max(alignment.dest_end - 1, alignment.dest_start))
            span = (start + first, start + last + 1)
    aligned_tokens = doc.tokens[span[0] : span[1]]
    aligned_norm = " ".join(aligned_tokens)

    ref_numbers = ref.numbers
    doc_numbers = numbers_in(aligned_tokens)
    number_extra = len(doc_numbers - ref_numbers) / max(len(doc_numbers), 1) if doc_numbers else 0.0

    aligned_chars = (
        (int(doc.starts[span[0]]), int(doc.ends[span[1] - 1])) if aligned_tokens else (0, 0)
    )
    if ref.mode is TextMode.CODE:
        doc_chars = doc_text[aligned_chars[0] : aligned_chars[1]]
        code_structure = float(
            Indel.normalized_similarity(code_shape(ref.text), code_shape(doc_chars))
        )
    else:
        code_structure = 0.0
    length_ratio = min(len(aligned_tokens), len(ref.prose)) / max(
        len(aligned_tokens), len(ref.prose), 1
    )
    features = {
        "cosine": cosine,
        # Filled in by the paraphrase tier, which embeds the aligned span (in batches), and
        # compares it with the nearest other items (``paraphrase_rivals``; none here).
        "span_cosine": cosine,
        "rival_margin": cosine,
        "cosine_margin": cosine_margin,
        **signals.as_dict(),
        "number_extra": number_extra,
        "alignment": score,
        "token_set": fuzz.token_set_ratio(ref_norm, aligned_norm) / 100.0,
        "bigram_overlap": _bigram_overlap(ref.bigrams, frozenset(pairwise(aligned_tokens))),
        "length_ratio": length_ratio,
        "code_structure": code_structure,
        "item_structure": item_structure(ref, doc_text),
        "example_mass": example_mass(ref, doc_text, *aligned_chars),
    }
    return features, span


class Verifier(Protocol):
    """What the paraphrase tier asks of a verifier (the model below, or a training stand-in)."""

    def probabilities(self, rows: list[dict[str, float]]) -> np.ndarray: ...

    def probabilities_of(self, x: np.ndarray) -> np.ndarray:
        """Rows of ``FEATURES`` as a matrix."""
        ...

    def accepts(self, probability: float, mode: TextMode) -> bool: ...

    @property
    def page_sieve(self) -> PageSieve:
        """The first sieve's table (``PairVerifier.page_sieve``)."""
        ...


# Each feature's required effect on the probability (+1 up, -1 down, 0 free). Monotone trees
# cannot learn a generator's quirk such as "more cosine is less likely a copy", which is what
# lets them carry over to rewordings they were not trained on.
MONOTONE = {
    "cosine": 1,
    "span_cosine": 1,
    "cosine_margin": 1,
    "term_recall": 1,
    "number_recall": 1,
    "number_extra": -1,
    "alignment": 1,
    "token_set": 1,
    "bigram_overlap": 1,
    # Constrained so that a pair's best possible probability is known before it is aligned
    # (``BEST_POSSIBLE``): a rewording close to the item's length is the likelier copy.
    "length_ratio": 1,
    "ref_tokens": 1,
    "code_structure": 1,
    "item_structure": 1,
    "example_mass": 1,
    "entity_recall": 1,
    "rival_margin": 1,
}


@dataclass(frozen=True)
class Tree:
    """One regression tree of the boosted model, as flat node arrays."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]
    leaf: tuple[bool, ...]


@dataclass(frozen=True)
class _FlatTrees:
    """Every tree's nodes in one array, addressed globally, with leaves that point at
    themselves (threshold +inf): ``depth`` steps from a root end on the row's leaf."""

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int

    @classmethod
    def of(cls, trees: tuple[Tree, ...]) -> _FlatTrees:
        sizes = np.asarray([len(t.leaf) for t in trees], dtype=np.int64)
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        feature, threshold, left, right, value = [], [], [], [], []
        for root, tree in zip(roots.tolist(), trees, strict=True):
            for node, leaf in enumerate(tree.leaf):
                feature.append(0 if leaf else tree.feature[node])
                threshold.append(np.inf if leaf else tree.threshold[node])
                left.append(root + node if leaf else root + tree.left[node])
                right.append(root + node if leaf else root + tree.right[node])
                value.append(tree.value[node])
        return cls(
            roots=roots,
            feature=np.asarray(feature, dtype=np.int64),
            threshold=np.asarray(threshold, dtype=np.float64),
            left=np.asarray(left, dtype=np.int64),
            right=np.asarray(right, dtype=np.int64),
            value=np.asarray(value, dtype=np.float64),
            depth=max((_depth(t) for t in trees), default=0),
        )

    def raw(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(x), dtype=np.float64)
        _walk(
            np.ascontiguousarray(x, dtype=np.float64),
            self.roots,
            self.feature,
            self.threshold,
            self.left,
            self.right,
            self.value,
            self.depth,
            out,
        )
        return out


@compiled_on_first_use
def _walk(x, roots, feature, threshold, left, right, value, depth, out):
    # Compiled: a page's sieve asks for thousands of rows times 150 trees, which array code
    # could only do with gathers that cost more than the walk itself.
    for row in range(x.shape[0]):
        total = 0.0
        for root in roots:
            at = root
            for _ in range(depth):
                go_right = np.int64(x[row, feature[at]] > threshold[at])
                at = left[at] + go_right * (right[at] - left[at])
            total += value[at]
        out[row] = total


def _depth(tree: Tree, node: int = 0) -> int:
    if tree.leaf[node]:
        return 0
    return 1 + max(_depth(tree, tree.left[node]), _depth(tree, tree.right[node]))


@dataclass(frozen=True)
class PairVerifier:
    """Gradient-boosted trees over ``FEATURES`` with a threshold on their probability.

    Fitted with scikit-learn's HistGradientBoostingClassifier (monotone constraints above) by
    ``service.verifier_training`` and stored as plain JSON: no pickles, no version coupling.
    """

    baseline: float
    trees: tuple[Tree, ...]
    # Acceptance threshold per reference mode: code pairs (MBPP against HumanEval) and prose
    # pairs have different negatives, so each gets the threshold its own negatives allow.
    accept_at: dict[str, float]
    term_settings: TermSettings
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], term_settings: TermSettings) -> PairVerifier:
        if tuple(data["features"]) != FEATURES:
            raise ValueError(
                "the verifier model was trained on other features; retrain it with "
                "`python -m service.verifier_training`"
            )
        trees = tuple(
            Tree(
                tuple(t["feature"]),
                tuple(t["threshold"]),
                tuple(t["left"]),
                tuple(t["right"]),
                tuple(t["value"]),
                tuple(bool(v) for v in t["leaf"]),
            )
            for t in data["trees"]
        )
        return cls(
            baseline=float(data["baseline"]),
            trees=trees,
            accept_at={mode: float(value) for mode, value in data["accept_at"].items()},
            term_settings=term_settings,
            info=data.get("info", {}),
        )

    @classmethod
    def load_default(cls, settings: IndexSettings) -> PairVerifier:
        text = resources.files("service.models").joinpath(MODEL_RESOURCE).read_text("utf-8")
        return cls.from_dict(json.loads(text), settings.terms)

    def accepts(self, probability: float, mode: TextMode) -> bool:
        return probability >= self.accept_at[TextMode(mode).value]

    def split_points(self, feature: str) -> np.ndarray:
        """Every threshold the trees split ``feature`` on, sorted."""
        number = FEATURES.index(feature)
        points = {
            t.threshold[n]
            for t in self.trees
            for n, leaf in enumerate(t.leaf)
            if not leaf and t.feature[n] == number
        }
        return np.asarray(sorted(points), dtype=np.float64)

    @cached_property
    def page_sieve(self) -> PageSieve:
        return PageSieve(self)

    def probability(self, features: dict[str, float]) -> float:
        return float(self.probabilities([features])[0])

    def probabilities(self, rows: list[dict[str, float]]) -> np.ndarray:
        """The probability of each row of features, every tree walked at once in numpy: a
        page's candidates cost one pass, not one Python loop over 150 trees each."""
        x = np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)
        return self.probabilities_of(x.reshape(len(rows), len(FEATURES)))

    def probabilities_of(self, x: np.ndarray) -> np.ndarray:
        rows = np.arange(len(x))
        if not len(rows):
            return np.empty(0, dtype=np.float64)
        raw = self.baseline + self._nodes.raw(x)
        return 1.0 / (1.0 + np.exp(-raw))

    @cached_property
    def _nodes(self) -> _FlatTrees:
        return _FlatTrees.of(self.trees)
