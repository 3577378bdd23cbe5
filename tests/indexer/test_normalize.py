from __future__ import annotations

from indexer.normalize import NormalizationSettings, TextMode, tokenize


def test_rewrapped_recased_and_markdown_text_gives_the_same_tokens():
    original = "Janet’s ducks lay 16 eggs per day. How much does she make?"
    variant = "**JANET'S ducks**\nlay 16   eggs\nper day!\n\n_How much_ does she make"
    assert tokenize(original).tokens == tokenize(variant).tokens


def test_digits_are_kept_and_separate_numbers_stay_separate():
    assert tokenize("costs $1,250 or 3.5%").tokens == ["costs", "1", "250", "or", "3", "5"]


def test_spans_point_at_the_original_characters():
    text = "  Ünïcode\tTEXT, café  "
    tokens = tokenize(text)
    assert tokens.tokens == ["unicode", "text", "cafe"]
    assert [text[s:e] for s, e in zip(tokens.starts, tokens.ends, strict=True)] == [
        "Ünïcode",
        "TEXT",
        "café",
    ]
    assert tokens.char_span(0, 3) == (2, len(text) - 2)


def test_nfkc_folds_ligatures_and_fullwidth_forms():
    assert tokenize("ﬁnal ＡＢＣ ²").tokens == ["final", "abc", "2"]


def test_accent_folding_can_be_switched_off():
    keep = NormalizationSettings(fold_accents=False)
    assert tokenize("élève", settings=keep).tokens == ["élève"]
    assert tokenize("élève").tokens == ["eleve"]


def test_code_mode_keeps_operators_and_identifiers():
    tokens = tokenize("def add_one(x):\n    return x + 1", TextMode.CODE).tokens
    assert tokens == ["def", "add_one", "(", "x", ")", ":", "return", "x", "+", "1"]
    assert tokenize("a - b", TextMode.CODE).tokens != tokenize("a + b", TextMode.CODE).tokens


def test_empty_and_punctuation_only_text_has_no_tokens():
    assert len(tokenize("")) == 0
    assert len(tokenize(" ... --- !!! ")) == 0
