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
import sys
import unicodedata
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property, lru_cache

import numpy as np

from indexer.compiled import compiled_on_first_use

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
class FoldedText:
    """The normalized characters tokens are cut from, kept so that tokens need no strings.

    ``text`` is the original text with ASCII letters folded (same length, same offsets) and
    ``points`` its code points; ``text[0]`` sits at offset ``origin`` of the token spans. Token
    ``i`` is ``text[start - origin:end - origin]`` unless Unicode folding changed it: then it
    is ``replaced[i]``.
    """

    text: str
    points: np.ndarray
    replaced: dict[int, str]
    origin: int = 0


@dataclass(frozen=True, eq=False)
class TokenizedText:
    """Normalized tokens of a text with their character spans in the original text."""

    starts: np.ndarray  # int64, start offset of each token in the original text
    ends: np.ndarray  # int64, end offset (exclusive)
    folded: FoldedText

    def __len__(self) -> int:
        return len(self.starts)

    @cached_property
    def tokens(self) -> list[str]:
        """The token strings, built on first use: the verbatim tier mostly needs only hashes."""
        text, origin = self.folded.text, self.folded.origin
        tokens = [
            text[a - origin : b - origin]
            for a, b in zip(self.starts.tolist(), self.ends.tolist(), strict=True)
        ]
        for i, token in self.folded.replaced.items():
            tokens[i] = token
        return tokens

    def char_span(self, token_start: int, token_end: int) -> tuple[int, int]:
        """Original-text character span covering tokens ``[token_start, token_end)``."""
        return int(self.starts[token_start]), int(self.ends[token_end - 1])

    def joined(self, token_start: int = 0, token_end: int | None = None) -> str:
        """Normalized text of a token range, tokens separated by single spaces."""
        return " ".join(self.tokens[token_start:token_end])

    def shifted(self, offset: int) -> TokenizedText:
        """The same tokens with spans ``offset`` characters later (a slice of a longer text)."""
        return TokenizedText(
            self.starts + offset,
            self.ends + offset,
            replace(self.folded, origin=self.folded.origin + offset),
        )


# Pages repeat their few non-ASCII tokens (curly quotes, dashes, accented names).
@lru_cache(maxsize=1 << 16)
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

    One compiled pass over the text's code points: each character's class (part of a run, a
    token on its own, a separator) is the class the mode's regex gives it, so the spans are
    exactly the regex's matches, at a tenth of the cost of a Python loop over them. Only tokens
    that hold a non-ASCII character go through Unicode folding, one by one.

    >>> tokenize("Hello,\\n  WORLD!").tokens
    ['hello', 'world']
    """
    settings = settings or NormalizationSettings()
    mode = TextMode(mode)
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _CLASS_TABLES[mode]
    starts = np.empty(len(points), dtype=np.int64)
    ends = np.empty(len(points), dtype=np.int64)
    wide = np.zeros(len(points), dtype=np.bool_)
    # ASCII letters only are folded here: the text keeps its length, so offsets stay valid.
    folded_points = np.empty_like(points)
    count = _token_spans(points, table, settings.casefold, starts, ends, wide, folded_points)
    if count < 0:  # a character not seen before: classify it, then cut again
        _learn_classes(table, points, mode)
        wide[:] = False
        count = _token_spans(points, table, settings.casefold, starts, ends, wide, folded_points)
    # Copies: the buffers were sized for one token per character.
    starts, ends, points = starts[:count].copy(), ends[:count].copy(), folded_points
    ascii_only = text.isascii()
    if ascii_only:
        folded = text.lower() if settings.casefold else text
        return TokenizedText(starts, ends, FoldedText(folded, points, {}))
    folded = FoldedText(points.tobytes().decode("utf-32-le", "surrogatepass"), points, {})
    return _fold_unicode_tokens(
        text, starts, ends, np.flatnonzero(wide[:count]), folded, settings, mode
    )


# Character classes of the tokenizer: not part of any token, part of a run, a token on its own.
_SEPARATOR, _RUN, _SINGLE = 0, 1, 2


def _class_of(character: str, mode: TextMode) -> int:
    """The class the mode's regex gives one character (the regex is the definition)."""
    if mode is TextMode.PROSE:
        return _RUN if _PROSE_TOKEN.fullmatch(character) else _SEPARATOR
    if re.fullmatch(r"\w", character):
        return _RUN
    return _SINGLE if _CODE_TOKEN.fullmatch(character) else _SEPARATOR


_UNKNOWN = 255


def _new_class_table(mode: TextMode) -> np.ndarray:
    table = np.full(sys.maxunicode + 1, _UNKNOWN, dtype=np.uint8)
    table[:128] = [_class_of(chr(c), mode) for c in range(128)]
    return table


# Per mode, the class of every code point, filled in as characters are first seen.
_CLASS_TABLES = {mode: _new_class_table(mode) for mode in TextMode}


def _learn_classes(table: np.ndarray, points: np.ndarray, mode: TextMode) -> None:
    codes = np.unique(points[points >= 128])
    for code in codes[table[codes] == _UNKNOWN].tolist():
        table[code] = _class_of(chr(code), mode)


@compiled_on_first_use
def _token_spans(points, table, casefold, starts, ends, wide, folded):
    # Runs of _RUN characters and lone _SINGLE ones, as the regex's finditer would cut them;
    # ``wide`` marks the tokens that hold a non-ASCII character, ``folded`` gets the points
    # with ASCII letters lower-cased. -1: a character of unknown class, nothing is valid.
    count = 0
    in_run = False
    for i in range(len(points)):
        point = points[i]
        kind = table[point]
        if kind == _UNKNOWN:
            return -1
        folded[i] = point + 32 if casefold and 65 <= point <= 90 else point
        if kind == _RUN:
            if not in_run:
                starts[count] = i
                in_run = True
            if point >= 128:
                wide[count] = True
            continue
        if in_run:
            ends[count] = i
            count += 1
            in_run = False
        if kind == _SINGLE:
            starts[count] = i
            ends[count] = i + 1
            wide[count] = point >= 128
            count += 1
    if in_run:
        ends[count] = len(points)
        count += 1
    return count


def _fold_unicode_tokens(
    text: str,
    starts: np.ndarray,
    ends: np.ndarray,
    unicode_tokens: np.ndarray,
    folded: FoldedText,
    settings: NormalizationSettings,
    mode: TextMode,
) -> TokenizedText:
    """Fold the tokens that hold non-ASCII characters (``_fold``).

    Folding can turn one character into several (e.g. "½" -> "1⁄2"): such a token is split
    again by the mode's regex, and every piece points at the whole original token.
    """
    pattern = _PATTERNS[mode]
    changed: dict[int, list[str]] = {}
    for i, start, end in zip(
        unicode_tokens.tolist(),
        starts[unicode_tokens].tolist(),
        ends[unicode_tokens].tolist(),
        strict=True,
    ):
        token = _fold(text[start:end], settings)
        if not pattern.fullmatch(token):
            changed[i] = pattern.findall(token)
        elif token != folded.text[start:end]:
            changed[i] = [token]
    if not changed:
        return TokenizedText(starts, ends, folded)
    counts = np.ones(len(starts), dtype=np.int64)
    for i, pieces in changed.items():
        counts[i] = len(pieces)
    first = np.cumsum(counts) - counts
    replaced = {
        int(first[i]) + k: piece for i, pieces in changed.items() for k, piece in enumerate(pieces)
    }
    if (counts != 1).any():
        starts, ends = np.repeat(starts, counts), np.repeat(ends, counts)
    return TokenizedText(starts, ends, replace(folded, replaced=replaced))
