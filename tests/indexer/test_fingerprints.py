from __future__ import annotations

import numpy as np

from indexer.fingerprints import (
    NgramSettings,
    gram_length_for,
    ngram_hashes,
    token_hashes,
    tokenized_hashes,
)
from indexer.normalize import TextMode, tokenize


def _grams(text: str, n: int = 5) -> np.ndarray:
    return ngram_hashes(token_hashes(tokenize(text).tokens), n)


def test_same_words_give_same_grams_whatever_the_formatting():
    a = _grams("The quick brown fox jumps over the lazy dog")
    b = _grams("THE QUICK\nbrown fox -- jumps over the *lazy* dog!")
    assert a.dtype == np.uint64 and len(a) == 5
    assert np.array_equal(a, b)


def test_gram_i_covers_tokens_i_to_i_plus_n():
    words = ["one", "two", "three", "four", "five", "six", "seven"]
    grams = ngram_hashes(token_hashes(words), 5)
    shifted = ngram_hashes(token_hashes(words[1:]), 5)
    assert np.array_equal(grams[1:], shifted)


def test_changed_word_changes_only_the_grams_that_cover_it():
    a = _grams("a b c d e f g h i j k l")
    b = _grams("a b c d e f X h i j k l")
    differ = np.nonzero(a != b)[0].tolist()
    assert differ == [2, 3, 4, 5, 6]


def test_grams_of_different_lengths_do_not_collide():
    hashes = token_hashes(["a", "b", "c", "d", "e"])
    assert ngram_hashes(hashes, 5)[0] != ngram_hashes(hashes[:4], 4)[0]


def test_short_items_get_one_gram_of_their_length_and_code_uses_longer_grams():
    settings = NgramSettings()
    assert gram_length_for(30, TextMode.PROSE, settings) == 5
    assert gram_length_for(4, TextMode.PROSE, settings) == 4
    assert gram_length_for(3, TextMode.PROSE, settings) is None
    assert gram_length_for(30, TextMode.CODE, settings) == 10
    assert len(ngram_hashes(token_hashes(["a"] * 3), 5)) == 0


def test_hashes_from_the_folded_text_equal_the_hashes_of_the_token_strings(web_docs):
    """Documents hash from code points, the references' term lists from strings: the two must
    agree token for token, also on folded and split tokens and on a slice's shifted spans."""
    texts = [*web_docs[:200], "½ ﬁne Straße İstanbul x\u0301y Ⅻ … a+b→c"]
    for mode in TextMode:
        for text in texts:
            tokenized = tokenize(text, mode)
            expected = token_hashes(tokenized.tokens, seed=7)
            assert np.array_equal(tokenized_hashes(tokenized, seed=7), expected)
            assert np.array_equal(tokenized_hashes(tokenized.shifted(11), seed=7), expected)
    assert len(set(token_hashes(["a", "b", "ab", "ba", "é", "e"]).tolist())) == 6
    assert token_hashes(["a"], seed=1)[0] != token_hashes(["a"], seed=2)[0]
