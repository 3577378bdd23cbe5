from __future__ import annotations

import json

import pytest

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


def _regex_tokens(text: str, mode: TextMode, settings: NormalizationSettings) -> list[tuple]:
    """The tokenizer's definition, read literally: the mode's regex over the text, each match
    folded (NFKC, accents, case) and split again by the regex when folding made several."""
    import re
    import unicodedata

    pattern = re.compile(r"[^\W_]+" if mode is TextMode.PROSE else r"\w+|[^\w\s]")
    out = []
    for match in pattern.finditer(text):
        token = unicodedata.normalize(settings.unicode_form, match.group())
        if settings.fold_accents:
            kept = (c for c in unicodedata.normalize("NFD", token) if not unicodedata.combining(c))
            token = unicodedata.normalize("NFC", "".join(kept))
        if settings.casefold:
            token = token.casefold()
        out.extend((piece, match.start(), match.end()) for piece in pattern.findall(token))
    return out


@pytest.mark.parametrize("mode", list(TextMode))
@pytest.mark.parametrize(
    "settings",
    [NormalizationSettings(), NormalizationSettings(casefold=False, fold_accents=False)],
    ids=["default", "no-folding"],
)
def test_tokens_and_spans_are_the_regex_definition_on_real_text(data_root, mode, settings):
    """The compiled tokenizer against the regex it implements, on real pages (curly quotes,
    dashes, accents), book text in French and English, and characters whose folding changes
    their length or splits them."""
    texts = [
        json.loads(line)["text"]
        for line in (data_root / "web" / "c4_sample_1000.jsonl").read_text("utf-8").splitlines()
    ][:400]
    french = "books_French_20000-Lieues-sous-les-mers.txt"
    for name in ("books_11-0.txt", french, "books_2600-0.txt"):
        path = data_root / "books" / name
        if path.exists():
            book = path.read_text("utf-8")
            texts += [book[i : i + 5000] for i in range(0, 100_000, 5000)]
    texts += ["", "½ ﬁne Straße İstanbul x\u0301y ①② _a_ __init__ a+b→c … ǅ Ⅻ ㎏", "\ud800 x"]
    assert sum(not t.isascii() for t in texts) > 100
    for text in texts:
        tokenized = tokenize(text, mode, settings)
        spans = zip(tokenized.starts.tolist(), tokenized.ends.tolist(), strict=True)
        got = [(token, a, b) for token, (a, b) in zip(tokenized.tokens, spans, strict=True)]
        assert got == _regex_tokens(text, mode, settings), text[:80]
