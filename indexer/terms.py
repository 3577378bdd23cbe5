"""Rare-term weights: the paraphrase tier's cheap lexical signal, shared by indexer and scanner.

A reworded test item keeps its numbers, its technical terms and usually some of its names;
it rarely keeps its function words. Weighting each token by how rare it is in English
(``wordfreq``'s Zipf scale: 7 = "the", 3 = "muffins", 0 = unseen) lets the scanner find, for a
fraction of the cost of embedding, the windows of a document that share a reference passage's
rare vocabulary, and then embed only those windows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from indexer.fingerprints import token_hashes

_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class TermSettings:
    """How term weights are computed; recorded in the index manifest."""

    weighting: str = "wordfreq-zipf-v2"
    # Words at or above this Zipf frequency ("the", "and", "said") carry no weight at all.
    stop_zipf: float = 5.5
    # Weight = ceiling - zipf, capped: an unseen word is worth about four common content words.
    ceiling_zipf: float = 6.5
    max_weight: float = 5.0
    # Numbers decide whether two math problems are the same problem; one digit is weak evidence.
    number_weight: float = 1.5
    digit_weight: float = 0.3


@lru_cache(maxsize=1 << 18)
def _zipf(token: str) -> float:
    """``wordfreq.zipf_frequency(token, "en")``, looked up directly for plain lower-case
    words: wordfreq tokenizes every word it is asked about, about 60 microseconds for each
    new one, which a freshly started server paid for most of a page's words and passages
    (its slowest 2 KB pages spent more time here than scanning). The value is the same to the
    last bit (tests/indexer/test_terms.py compares them on every plain word of wordfreq's list
    and every token of the C4 sample and a book)."""
    from wordfreq import get_frequency_dict, zipf_frequency

    if token.isascii() and token.isalpha() and token.islower():
        # wordfreq caches the list it reads (``get_frequency_dict`` is an lru_cache).
        return _zipf_of(get_frequency_dict("en", "best").get(token, 0.0))
    return zipf_frequency(token, "en")


def _zipf_of(listed: float) -> float:
    """wordfreq's arithmetic for a one-token word with frequency ``listed`` (0 when not in
    its list): the frequency combined over tokens, floored at Zipf 0, rounded to three
    significant digits, then to a hundredth on the Zipf scale."""
    from wordfreq import zipf_to_freq

    freq = 1.0 / (1.0 / listed) if listed else 0.0
    unrounded = max(freq, zipf_to_freq(0.0))  # the floor of zipf_frequency
    rounded = round(unrounded, math.floor(-math.log(unrounded, 10)) + 3)
    return round(math.log(rounded, 10) + 9, 2)


def term_weight(token: str, settings: TermSettings) -> float:
    if not token[:1].isalnum():
        return 0.0  # brackets and operators of code-mode tokens
    if _NUMBER.fullmatch(token):
        return settings.digit_weight if len(token) == 1 else settings.number_weight
    zipf = _zipf(token)
    if zipf >= settings.stop_zipf or len(token) < 2:
        return 0.0
    return min(settings.max_weight, settings.ceiling_zipf - zipf)


# Weights by token, per settings: a page repeats its words, and wordfreq's lookup plus the
# checks above cost microseconds a token, which pages of 500 tokens times every corpus add up.
_WEIGHT_TABLES: dict[TermSettings, dict[str, float]] = {}
_WEIGHT_TABLE_LIMIT = 1 << 20


def _weight_table(settings: TermSettings) -> dict[str, float]:
    table = _WEIGHT_TABLES.get(settings)
    if table is None or len(table) > _WEIGHT_TABLE_LIMIT:
        table = _WEIGHT_TABLES[settings] = {}
    return table


def term_weights(tokens: list[str], settings: TermSettings) -> np.ndarray:
    table = _weight_table(settings)
    out = np.empty(len(tokens), dtype=np.float32)
    for n, token in enumerate(tokens):
        weight = table.get(token)
        if weight is None:
            weight = table[token] = term_weight(token, settings)
        out[n] = weight
    return out


def distinct_mass(tokens: list[str], settings: TermSettings) -> float:
    """Rare-term mass of a token sequence, each distinct token counted once.

    This is how much a matched region says: "at the end of the first" weighs nothing, a test
    question's numbers and nouns weigh a lot. Summed in sorted order: a set's order changes
    with each process's string hashing, and float32 sums with it, so two builds of the same
    corpus would write different ``item_stats.npy``.
    """
    distinct = sorted(set(tokens))
    return float(term_weights(distinct, settings).sum()) if distinct else 0.0


_SMALL = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_TENS = {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
}
# Words that rewordings and renderings use for numbers ("eight dozen", "twice", "ten:twenty").
# "one" is left out: as a pronoun ("a very large one") it is too common to count as a number.
NUMBER_WORDS = (
    {word: str(value) for value, word in enumerate(_SMALL) if word != "one"}
    | {word: str(value) for word, value in _TENS.items()}
    | {"half": "2", "twice": "2", "double": "2", "triple": "3", "dozen": "12"}
)


def numbers_in(tokens: list[str]) -> frozenset[str]:
    """The numbers a token sequence states, digits or words ("five" and "5" agree)."""
    found = set()
    for token in tokens:
        if token.isdigit():
            found.add(token.lstrip("0") or "0")
        elif token in NUMBER_WORDS:
            found.add(NUMBER_WORDS[token])
    return frozenset(found)


@dataclass(frozen=True)
class TermBag:
    """Distinct weighted terms of a text: hashes (sorted) and their weights."""

    hashes: np.ndarray
    weights: np.ndarray

    @property
    def mass(self) -> float:
        return float(self.weights.sum())


def term_bag(tokens: list[str], settings: TermSettings, seed: int = 0) -> TermBag:
    """The distinct weighted terms of ``tokens`` (prose-mode tokens)."""
    weights = term_weights(tokens, settings)
    keep = weights > 0
    hashes = token_hashes([t for t, k in zip(tokens, keep, strict=True) if k], seed)
    unique, first = np.unique(hashes, return_index=True)
    return TermBag(unique, weights[keep][first])
