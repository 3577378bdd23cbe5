"""Turning verified evidence into matches, a risk and a decision.

A match's risk is how much of the reference the document holds times how sure the evidence is.
"How much" is measured on the item's key (``key_strength``): a share of its tokens and of its
rare-term mass, so a shared stock phrase counts for nothing however long. Evidence from
overlapping passages of one item is merged first, so a long copied excerpt counts once, not
once per passage.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from indexer.store import CorpusIndex
from indexer.terms import TermSettings, distinct_mass
from service.allowlist import Allowlist
from service.document import Document
from service.policy import KindPolicy, Policy
from service.results import Decision, Evidence, Match, Method, ScanResult

# Rare-term mass below which a key cannot be attributed (about one uncommon word).
MIN_ATTRIBUTABLE_MASS = 1.5


@dataclass(frozen=True)
class ItemEvidence:
    """Evidence that one tier found for one reference item."""

    corpus: CorpusIndex
    item: int
    evidence: Evidence


def verbatim_confidence(similarity: float) -> float:
    """Alignment similarity rescaled: 0.9 and above is a copy; 0.5 or below is unrelated text."""
    return min(1.0, max(0.0, (similarity - 0.5) / 0.4))


def merge_evidence(pieces: list[Evidence]) -> list[Evidence]:
    """Merge same-method pieces that overlap on both sides (overlapping reference passages)."""
    merged: list[Evidence] = []
    for piece in sorted(pieces, key=lambda e: (e.method.value, e.doc_start, e.ref_start)):
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.method == piece.method
            and piece.doc_start <= last.doc_end
            and piece.ref_start <= last.ref_end
            and piece.ref_end >= last.ref_start
        ):
            merged[-1] = _union(last, piece)
        else:
            merged.append(piece)
    return merged


def _union(a: Evidence, b: Evidence) -> Evidence:
    weight_a, weight_b = max(a.ref_tokens, 1), max(b.ref_tokens, 1)
    total = weight_a + weight_b
    return replace(
        a,
        doc_start=min(a.doc_start, b.doc_start),
        doc_end=max(a.doc_end, b.doc_end),
        ref_start=min(a.ref_start, b.ref_start),
        ref_end=max(a.ref_end, b.ref_end),
        ref_token_start=min(a.ref_token_start, b.ref_token_start),
        ref_token_end=max(a.ref_token_end, b.ref_token_end),
        similarity=(a.similarity * weight_a + b.similarity * weight_b) / total,
        ref_mass=a.ref_mass + b.ref_mass if not _overlap(a, b) else max(a.ref_mass, b.ref_mass),
        confidence=(a.confidence * weight_a + b.confidence * weight_b) / total,
        signals=a.signals or b.signals,
        ref_terms=a.ref_terms | b.ref_terms,
        key_terms=a.key_terms | b.key_terms,
        stem_terms=a.stem_terms | b.stem_terms,
        ref_numbers=a.ref_numbers | b.ref_numbers,
        doc_numbers=a.doc_numbers | b.doc_numbers,
    )


def _overlap(a: Evidence, b: Evidence) -> bool:
    return a.ref_token_start < b.ref_token_end and b.ref_token_start < a.ref_token_end


def _covered_tokens(pieces: list[Evidence], limit: int | None = None) -> int:
    """Reference tokens covered by the union of the pieces (only those before ``limit``)."""
    intervals = sorted(
        (e.ref_token_start, e.ref_token_end if limit is None else min(e.ref_token_end, limit))
        for e in pieces
    )
    covered, reach = 0, -1
    for start, end in intervals:
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered


def number_agreement(pieces: list[Evidence]) -> float:
    """Jaccard agreement of the numbers on both sides of the verbatim evidence (1 if none).

    GSM8K train and test share templated problems word for word; only the numbers differ.
    A copy keeps its numbers ("five" and "5" agree: ``indexer.terms.numbers_in``).
    """
    ref = frozenset().union(*(e.ref_numbers for e in pieces))
    doc = frozenset().union(*(e.doc_numbers for e in pieces))
    if not ref and not doc:
        return 1.0
    return len(ref & doc) / len(ref | doc)


def key_strength(
    corpus: CorpusIndex,
    item: int,
    pieces: list[Evidence],
    kind_policy: KindPolicy,
    terms: TermSettings,
) -> float:
    """How much of the item's key (its question or prompt; a work's whole text) is matched.

    The smallest of the token share, the rare-term-mass share and, for multiple-choice items,
    the stem's token share; each counts in full at ``required_share`` of its part or at the
    policy's saturation, whichever is less.
    """
    key_tokens, key_mass = float(corpus.key_tokens[item]), float(corpus.key_mass[item])
    share = kind_policy.required_share
    saturation = kind_policy.saturation_tokens
    matched = _covered_tokens(pieces, limit=int(key_tokens))
    strength = min(1.0, matched / max(1.0, min(share * key_tokens, saturation)))
    stem_tokens = int(corpus.stem_tokens[item])
    if stem_tokens < key_tokens:
        # A multiple-choice stem must itself be there: same options, other question = other item.
        stem_matched = _covered_tokens(pieces, limit=stem_tokens)
        strength = min(strength, stem_matched / max(1.0, min(share * stem_tokens, saturation)))
        # ... and its own words, not only "Which of the following is" glued by the alignment
        # to the subject's stock terms in an option. A stem with no rare words ("Which of the
        # following is true?") is attributed by its options alone.
        stem_mass = corpus.stem_mass(item)
        if stem_mass >= MIN_ATTRIBUTABLE_MASS:
            matched_stem = distinct_mass(
                list(frozenset().union(*(e.stem_terms for e in pieces))), terms
            )
            strength = min(
                strength, matched_stem / min(share * stem_mass, kind_policy.saturation_mass)
            )
    # An item with almost no rare vocabulary ("What do you do?") can never count in full: it
    # is an everyday phrase, whatever benchmark it also belongs to.
    needed_mass = max(min(share * key_mass, kind_policy.saturation_mass), MIN_ATTRIBUTABLE_MASS)
    matched_mass = distinct_mass(list(frozenset().union(*(e.key_terms for e in pieces))), terms)
    strength = min(strength, matched_mass / needed_mass)
    return strength


def build_match(
    doc: Document,
    corpus: CorpusIndex,
    item: int,
    pieces: list[Evidence],
    policy: Policy,
    terms: TermSettings,
) -> Match:
    pieces = merge_evidence(pieces)
    kind_policy = policy.for_kind(corpus.record.kind.value)
    item_tokens = max(int(corpus.item_tokens[item]), 1)
    matched = min(_covered_tokens(pieces), item_tokens)
    weights = [max(e.ref_tokens, 1) for e in pieces]
    total = sum(weights)
    similarity = sum(e.similarity * w for e, w in zip(pieces, weights, strict=True)) / total
    # Numbers that disagree discount the verbatim pieces only: the verifier weighed the
    # numbers of a paraphrase piece itself, and GSM8K rewordings that said "fifty percent"
    # for "half" lost their accepted paraphrase to the words the copy shared (risk 0.47-0.50).
    verbatim = [e for e in pieces if e.method is Method.VERBATIM]
    agreement = number_agreement(verbatim) if verbatim and kind_policy.check_numbers else 1.0
    confidence = (
        sum(
            e.confidence * w * (agreement if e.method is Method.VERBATIM else 1.0)
            for e, w in zip(pieces, weights, strict=True)
        )
        / total
    )
    strength = key_strength(corpus, item, pieces, kind_policy, terms)
    risk = strength * confidence
    best = max(pieces, key=lambda e: (e.ref_tokens * e.confidence, e.similarity))
    methods = tuple(sorted({e.method.value for e in pieces}))
    return Match(
        ref_id=corpus.ids[item],
        corpus=corpus.name,
        kind=corpus.record.kind.value,
        methods=methods,
        risk=risk,
        decision=kind_policy.decide(risk),
        similarity=similarity,
        coverage=matched / item_tokens,
        matched_tokens=matched,
        doc_span=(best.doc_start, best.doc_end),
        ref_span=(best.ref_start, best.ref_end),
        snippet=doc.snippet(best.doc_start, best.doc_end),
        evidence=tuple(sorted(pieces, key=lambda e: e.doc_start)),
    )


def matches_by_item(
    doc: Document, found: list[ItemEvidence], policy: Policy
) -> dict[tuple[str, int], Match]:
    """One match per reference item (corpus name, item) from all of its evidence."""
    grouped: dict[tuple[str, int], list[ItemEvidence]] = defaultdict(list)
    for entry in found:
        grouped[(entry.corpus.name, entry.item)].append(entry)
    return {
        key: build_match(
            doc,
            entries[0].corpus,
            entries[0].item,
            [e.evidence for e in entries],
            policy,
            doc.settings.terms,
        )
        for key, entries in grouped.items()
    }


def score_document(
    doc: Document,
    found: list[ItemEvidence],
    policy: Policy,
    min_report_risk: float,
    allowlist: Allowlist | None = None,
) -> ScanResult:
    """Group evidence by reference item, score each item, and decide for the document.

    A match the ``allowlist`` covers is still reported (marked ``allowed``, decision keep),
    so a reviewer sees it, but the document's risk and decision come from the others.
    """
    matches = []
    for match in matches_by_item(doc, found, policy).values():
        if match.risk >= min_report_risk:
            matches.append(allow(match, doc.id, allowlist))
    matches.sort(key=lambda m: (-m.risk, m.doc_span[0]))
    counted = [m for m in matches if not m.allowed]
    decision = max((m.decision for m in counted), key=lambda d: d.severity, default=Decision.KEEP)
    risk = max((m.risk for m in counted), default=0.0)
    return ScanResult(
        id=doc.id, risk=risk, decision=decision, matches=tuple(matches), chars=len(doc.text)
    )


def allow(match: Match, doc_id: str | None, allowlist: Allowlist | None) -> Match:
    """The match marked allowed (and kept) when an allowlist entry covers all its evidence."""
    if not allowlist:
        return match
    spans = [(e.ref_start, e.ref_end) for e in match.evidence]
    entry = allowlist.allows(doc_id, match.corpus, match.ref_id, spans)
    if entry is None:
        return match
    return replace(match, decision=Decision.KEEP, allowed=entry.level)
