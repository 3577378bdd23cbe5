"""A program's shape: its code tokens with every user identifier replaced, strings and comments
blanked out.

Renaming a program's variables and rewording its docstring changes nearly every word of it, and
none of its shape. The paraphrase verifier compares shapes (``item_structure``, the
``code_structure`` of a window) and ``service.renamed_code`` finds renamed copies by them; both
read them here, so the two can never disagree on what a shape is.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz

from indexer.normalize import TextMode, tokenize

CODE_KEEP = set(keyword.kwlist) | set(dir(builtins)) | {"self", "cls"}
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
# Docstrings, string literals (kept as one `"` token each) and comments (dropped): a rewording
# changes them, a renaming leaves the code between them alone.
_STRING_OR_COMMENT = re.compile(
    r'(#[^\n]*)|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
)
# An item whose code (without its docstring) is shorter than this many tokens counts as
# proportionally weaker evidence: `def add(x, y): return x + y` has the shape of many programs.
MIN_ITEM_SHAPE_TOKENS = 30


@dataclass(frozen=True)
class ShapeTokens:
    """A text's shape tokens and, for each, its ``[start, end)`` characters in the text."""

    tokens: list[str]
    starts: np.ndarray  # int64
    ends: np.ndarray

    @property
    def joined(self) -> str:
        return " ".join(self.tokens)

    def char_span(self, first: int, end: int) -> tuple[int, int]:
        """Characters of shape tokens ``[first, end)``."""
        return int(self.starts[first]), int(self.ends[end - 1])

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """The shape tokens that characters ``[start, end)`` of ``joined`` touch."""
        lengths = np.asarray([len(t) for t in self.tokens], dtype=np.int64)
        ends = np.cumsum(lengths + 1) - 1  # end of each token in ``joined``
        first = int(np.searchsorted(ends, start, side="right"))
        last = int(np.searchsorted(ends - lengths, end, side="left"))
        return first, max(last, first + 1)


def _shape_of(token: str) -> str:
    return "ID" if _IDENTIFIER.fullmatch(token) and token not in CODE_KEEP else token


def code_shape(text: str) -> str:
    """Code tokens with every user identifier replaced (strings and comments left as they are)."""
    return " ".join(_shape_of(t) for t in tokenize(text, TextMode.CODE).tokens)


def shape_tokens(code: str) -> ShapeTokens:
    """The shape tokens of ``code`` with docstrings, comments and strings blanked out.

    Blanking keeps every offset (a string becomes its opening `"` and spaces, a comment only
    spaces), so each token still points at the characters of ``code`` a reviewer sees.
    """

    def blank(match: re.Match[str]) -> str:
        length = len(match.group())
        return " " * length if match.group(1) else '"' + " " * (length - 1)

    # One left-to-right pass, so a `#` inside a string and a quote inside a comment stay put.
    tokenized = tokenize(_STRING_OR_COMMENT.sub(blank, code), TextMode.CODE)
    return ShapeTokens([_shape_of(t) for t in tokenized.tokens], tokenized.starts, tokenized.ends)


def item_shape(code: str) -> str:
    """The code's shape with docstrings, comments and strings blanked out.

    A renamed copy of a program keeps it exactly however its docstring is reworded; a
    different program of the same style (MBPP against HumanEval) rarely comes close.
    """
    return shape_tokens(code).joined


@lru_cache(maxsize=32)
def document_shape(text: str) -> str:
    # Cached: every code pair of a document compares against the same document.
    return item_shape(text)


def length_weight(shape: str) -> float:
    """Programs shorter than ``MIN_ITEM_SHAPE_TOKENS`` count in proportion to their length."""
    return min(1.0, (shape.count(" ") + 1) / MIN_ITEM_SHAPE_TOKENS)


@lru_cache(maxsize=4096)
def shape_similarity(shape: str, doc_text: str) -> float:
    """How closely some stretch of ``doc_text`` has this program shape (rapidfuzz's best
    partial alignment), weighted by ``length_weight``."""
    # Cached: every passage of a program, and every window of the page, asks the same.
    return fuzz.partial_ratio(shape, document_shape(doc_text)) / 100.0 * length_weight(shape)
