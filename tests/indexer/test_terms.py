"""Rare-term weights: the direct word-list lookup gives exactly wordfreq's Zipf values."""

from __future__ import annotations

import json
from pathlib import Path

from wordfreq import get_frequency_dict, zipf_frequency

from indexer.normalize import TextMode, tokenize
from indexer.terms import TermSettings, _zipf, term_weight

_uncached = _zipf.__wrapped__


def test_every_plain_word_of_the_list_gets_wordfreqs_value() -> None:
    words = [w for w in get_frequency_dict("en", "best") if w.isascii() and w.isalpha()]
    assert len(words) > 100_000
    differing = [w for w in words if w.islower() and _uncached(w) != zipf_frequency(w, "en")]
    assert differing == []


def test_real_page_and_book_tokens_get_wordfreqs_value(data_root: Path) -> None:
    """Words not in the list (Zipf 0), numbers, apostrophes and accents included: the
    tokens the scanner and indexer actually weigh."""
    with (data_root / "web" / "c4_sample_1000.jsonl").open(encoding="utf-8") as handle:
        text = "\n".join(json.loads(line)["text"] for line in handle)
    text += (data_root / "books" / "books_11-0.txt").read_text(encoding="utf-8")
    tokens = set(tokenize(text, TextMode.PROSE).tokens)
    listed = get_frequency_dict("en", "best")
    plain = [t for t in tokens if t.isalpha() and t.isascii() and t.islower()]
    unlisted = [t for t in plain if t not in listed]
    assert len(tokens) > 20_000 and unlisted  # both paths are exercised
    differing = [t for t in tokens if _uncached(t) != zipf_frequency(t, "en")]
    assert differing == []


def test_weights_follow_rarity() -> None:
    settings = TermSettings()
    assert term_weight("the", settings) == 0.0
    assert 0.0 < term_weight("kitchen", settings) < term_weight("muffins", settings)
    assert term_weight("qwxzvtrk", settings) == settings.max_weight
