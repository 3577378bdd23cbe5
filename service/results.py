"""What a scan returns: a risk, a decision, and evidence a person can review."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Decision(str, Enum):
    KEEP = "keep"
    REVIEW = "review"
    REMOVE = "remove"

    @property
    def severity(self) -> int:
        return {"keep": 0, "review": 1, "remove": 2}[self.value]


class Method(str, Enum):
    VERBATIM = "verbatim"
    PARAPHRASE = "paraphrase"
    # A program with its identifiers renamed (``service.renamed_code``).
    RENAMED = "renamed"


@dataclass(frozen=True)
class Evidence:
    """One aligned region: characters in the document and in the reference item's text.

    Spans are ``[start, end)`` offsets into the original (un-normalized) texts.
    """

    method: Method
    doc_start: int
    doc_end: int
    ref_start: int
    ref_end: int
    similarity: float
    # How sure this region is a copy, 0..1: rescaled alignment similarity for verbatim regions,
    # the calibrated probability for paraphrases. Risk is coverage times confidence.
    confidence: float
    # Reference tokens covered, as positions in the item: coverage is computed from their union.
    ref_token_start: int
    ref_token_end: int
    # Rare-term mass of the matched reference text (indexer.terms.distinct_mass): a stock
    # phrase weighs about nothing, a test question's numbers and nouns a lot.
    ref_mass: float
    # Distinct weighted words and the numbers of the matched text, for match-level scoring
    # (internal: not part of the JSON result).
    ref_terms: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    key_terms: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    stem_terms: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    ref_numbers: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    doc_numbers: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    # What decided a paraphrase match (embedding cosine, number agreement, ...); empty otherwise.
    signals: dict[str, float] = field(default_factory=dict)

    @property
    def ref_tokens(self) -> int:
        return self.ref_token_end - self.ref_token_start


@dataclass(frozen=True)
class Match:
    """One reference item (or whole work) found in the document, with all its evidence."""

    ref_id: str
    corpus: str
    kind: str
    methods: tuple[str, ...]
    risk: float
    decision: Decision
    similarity: float
    coverage: float  # share of the reference item's tokens found in the document
    matched_tokens: int
    doc_span: tuple[int, int]  # the strongest evidence's span in the document
    ref_span: tuple[int, int]  # ... and in the reference item's text
    snippet: str  # the document text of that span, shortened
    evidence: tuple[Evidence, ...]
    # Set when a reviewer's allowlist entry covers the match ("document" or "span"): its
    # decision is then keep and it does not count in the document's risk.
    allowed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref_id": self.ref_id,
            "corpus": self.corpus,
            "kind": self.kind,
            "methods": list(self.methods),
            "risk": round(self.risk, 4),
            "decision": self.decision.value,
            "similarity": round(self.similarity, 4),
            "coverage": round(self.coverage, 4),
            "matched_tokens": self.matched_tokens,
            "doc_span": list(self.doc_span),
            "ref_span": list(self.ref_span),
            "snippet": self.snippet,
            "evidence": [_evidence_dict(e) for e in self.evidence],
            **({"allowed": self.allowed} if self.allowed else {}),
        }


_INTERNAL = ("ref_terms", "key_terms", "stem_terms", "ref_numbers", "doc_numbers")


def _evidence_dict(evidence: Evidence) -> dict[str, Any]:
    data = {k: v for k, v in asdict(evidence).items() if k not in _INTERNAL}
    data["method"] = evidence.method.value
    data["similarity"] = round(evidence.similarity, 4)
    data["confidence"] = round(evidence.confidence, 4)
    data["ref_mass"] = round(evidence.ref_mass, 2)
    data["signals"] = {k: round(v, 4) for k, v in evidence.signals.items()}
    return data


@dataclass(frozen=True)
class NearMiss:
    """A paraphrase candidate the verifier did not accept, and by how much it fell short.

    ``probability`` is None when the pair was ruled out before the transformer ran: even with
    perfect embedding similarity its other signals (numbers, rare words, alignment) could not
    reach the threshold; ``cosine`` and ``span_cosine`` are then None too.
    """

    ref_id: str
    corpus: str
    kind: str
    doc_span: tuple[int, int]
    ref_span: tuple[int, int]
    static_cosine: float
    cosine: float | None
    span_cosine: float | None
    probability: float | None
    threshold: float
    signals: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "ref_id": self.ref_id,
            "corpus": self.corpus,
            "kind": self.kind,
            "doc_span": list(self.doc_span),
            "ref_span": list(self.ref_span),
            "static_cosine": rounded(self.static_cosine),
            "cosine": rounded(self.cosine),
            "span_cosine": rounded(self.span_cosine),
            "probability": rounded(self.probability),
            "threshold": rounded(self.threshold),
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
        }


@dataclass(frozen=True)
class ScanResult:
    """The verdict on one document."""

    id: str | None
    risk: float
    decision: Decision
    matches: tuple[Match, ...]
    chars: int
    # Only when asked for (``ScanSettings.near_misses``): None means "not asked", () "none".
    near_misses: tuple[NearMiss, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "risk": round(self.risk, 4),
            "decision": self.decision.value,
            "chars": self.chars,
            "matches": [m.to_dict() for m in self.matches],
        }
        if self.near_misses is not None:
            data["near_misses"] = [n.to_dict() for n in self.near_misses]
        return data
