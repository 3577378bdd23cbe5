"""Turning evidence into a match's risk: numbers that disagree discount the verbatim pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.normalize import TextMode, tokenize
from indexer.store import CorpusIndex, ReferenceIndex
from service.document import Document
from service.policy import Policy
from service.results import Decision, Evidence, Method
from service.scoring import build_match

# A GSM8K test item said "half", a rewording "fifty percent": "2" (the words' number for
# half) against "50", the other numbers kept. Jaccard 2/4.
REF_NUMBERS = frozenset({"2", "21", "100"})
DOC_NUMBERS = frozenset({"50", "21", "100"})


@pytest.fixture(scope="module")
def index(small_index: Path) -> ReferenceIndex:
    return ReferenceIndex.open(small_index)


@pytest.fixture(scope="module")
def gsm8k(index: ReferenceIndex) -> CorpusIndex:
    return next(c for c in index.corpora if c.name == "gsm8k-test")


def _piece(corpus: CorpusIndex, item: int, method: Method, tokens: int, confidence: float):
    text = corpus.item_text(item)
    words = tokenize(text, TextMode.PROSE).tokens
    return Evidence(
        method=method,
        doc_start=0,
        doc_end=len(text),
        ref_start=0,
        ref_end=len(text),
        similarity=confidence,
        confidence=confidence,
        ref_token_start=0,
        ref_token_end=tokens,
        ref_mass=10.0,
        ref_terms=frozenset(words),
        key_terms=frozenset(words[:tokens]),
        stem_terms=frozenset(words[:tokens]),
        ref_numbers=REF_NUMBERS if method is Method.VERBATIM else frozenset(),
        doc_numbers=DOC_NUMBERS if method is Method.VERBATIM else frozenset(),
    )


def test_disagreeing_numbers_discount_a_copy_but_not_an_accepted_paraphrase(
    index: ReferenceIndex, gsm8k: CorpusIndex
) -> None:
    item = 0
    key = int(gsm8k.key_tokens[item])
    doc = Document(gsm8k.item_text(item), index.manifest.settings, None)
    policy, terms = Policy(), index.manifest.settings.terms
    copy = _piece(gsm8k, item, Method.VERBATIM, key // 2, 0.85)
    paraphrase = _piece(gsm8k, item, Method.PARAPHRASE, key, 0.99)

    alone = build_match(doc, gsm8k, item, [copy], policy, terms)
    both = build_match(doc, gsm8k, item, [copy, paraphrase], policy, terms)

    assert alone.risk <= 0.5 * 0.85 + 1e-9  # the copy's numbers halve its confidence
    # The paraphrase keeps its own confidence: (0.99 * key + 0.85 * 0.5 * key / 2) / 1.5 key.
    assert both.risk == pytest.approx((0.99 + 0.85 * 0.5 / 2) / 1.5, abs=0.02)
    assert both.decision is not Decision.KEEP
