"""Text normalization shared by the indexer and the scanner.

Both sides must turn text into exactly the same tokens, or a verbatim copy would not match
its reference. This module is the single place where that happens; the index manifest records
``NORMALIZATION_VERSION`` and the settings, and the scanner refuses an index whose
normalization differs from its own.

Every token keeps the character offsets of the original, un-normalized text, so evidence can
point at what a reviewer will actually see (re-wrapped lines, markdown and odd casing included).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

import numpy as np

# Bump whenever tokenization output can change for some input: indexes built with another
# version are refused, because their fingerprints no longer match what the scanner computes.
NORMALIZATION_VERSION = 1


class TextMode(str, Enum):
    """How a corpus is tokenized.

    ``prose`` keeps letters and digits only, so punctuation, markdown, quotes and line breaks
    never break a match. ``code`` also keeps operators and brackets as tokens, because in code
    ``a + b`` and ``a - b`` are different programs.
    """

    PROSE = "prose"
    CODE = "code"


# Letters and digits; the underscore is excluded so that markdown emphasis (_word_) folds away.
_PROSE_TOKEN = re.compile(r"[^\W_]+")
# Identifiers (underscores kept), numbers, and every other visible character on its own.
_CODE_TOKEN = re.compile(r"\w+|[^\w\s]")
_PATTERNS = {TextMode.PROSE: _PROSE_TOKEN, TextMode.CODE: _CODE_TOKEN}


@dataclass(frozen=True)
class NormalizationSettings:
    """What the tokenizer does; recorded in the index manifest."""

    version: int = NORMALIZATION_VERSION
    unicode_form: str = "NFKC"
    casefold: bool = True
    # Editions, OCR and ASCII-only copies drop or change accents; folding them makes those
    # copies match at the cost of rare collisions such as French "a"/"à".
    fold_accents: bool = True


@dataclass(frozen=True)
class TokenizedText:
    """Normalized tokens of a text with their character spans in the original text."""

    tokens: list[str]
    starts: np.ndarray  # int64, start offset of each token in the original text
    ends: np.ndarray  # int64, end offset (exclusive)

    def __len__(self) -> int:
        return len(self.tokens)

    def char_span(self, token_start: int, token_end: int) -> tuple[int, int]:
        """Original-text character span covering tokens ``[token_start, token_end)``."""
        return int(self.starts[token_start]), int(self.ends[token_end - 1])

    def joined(self, token_start: int = 0, token_end: int | None = None) -> str:
        """Normalized text of a token range, tokens separated by single spaces."""
        return " ".join(self.tokens[token_start:token_end])


def _fold(token: str, settings: NormalizationSettings) -> str:
    folded = unicodedata.normalize(settings.unicode_form, token)
    if settings.fold_accents:
        decomposed = unicodedata.normalize("NFD", folded)
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        folded = unicodedata.normalize("NFC", stripped)
    if settings.casefold:
        folded = folded.casefold()
    return folded


def tokenize(
    text: str,
    mode: TextMode = TextMode.PROSE,
    settings: NormalizationSettings | None = None,
) -> TokenizedText:
    """Split ``text`` into normalized tokens that remember where they came from.

    >>> tokenize("Hello,\\n  WORLD!").tokens
    ['hello', 'world']
    """
    settings = settings or NormalizationSettings()
    pattern = _PATTERNS[TextMode(mode)]
    tokens: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    if text.isascii():
        # ASCII needs no Unicode folding, and lower() keeps offsets, so fold the text once.
        folded_text = text.lower() if settings.casefold else text
        for match in pattern.finditer(text):
            start, end = match.span()
            tokens.append(folded_text[start:end])
            starts.append(start)
            ends.append(end)
    else:
        lower = settings.casefold
        for match in pattern.finditer(text):
            start, end = match.span()
            token = match.group()
            if token.isascii():
                # The same as _fold for ASCII (no composition, no accents; casefold is lower).
                tokens.append(token.lower() if lower else token)
                starts.append(start)
                ends.append(end)
                continue
            folded = _fold(token, settings)
            if pattern.fullmatch(folded):
                tokens.append(folded)
                starts.append(start)
                ends.append(end)
                continue
            # Folding can turn one character into several (e.g. "½" -> "1⁄2"): re-split, and
            # let every piece point at the whole original token.
            for piece in pattern.findall(folded):
                tokens.append(piece)
                starts.append(start)
                ends.append(end)
    return TokenizedText(
        tokens=tokens,
        starts=np.asarray(starts, dtype=np.int64),
        ends=np.asarray(ends, dtype=np.int64),
    )
