"""Texts cut into plain and highlighted segments, for the side-by-side page.

The template writes each segment through Jinja2's autoescape, so highlighting never builds
HTML from document text: a page holding ``<script>`` shows it as text.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

# Longer texts are shown as windows around the highlights (a whole book is one work item).
WHOLE_TEXT_CHARS = 20_000
CONTEXT_CHARS = 1_500


@dataclass(frozen=True)
class Mark:
    """A span to highlight: ``kind`` is the CSS class (verbatim, paraphrase, near-miss),
    ``match`` the number of the match it belongs to on the page."""

    start: int
    end: int
    kind: str
    match: int


@dataclass(frozen=True)
class Segment:
    text: str
    kinds: tuple[str, ...] = ()
    matches: tuple[int, ...] = ()


@dataclass(frozen=True)
class Excerpt:
    """One window of a text: where it starts, and whether text was left out around it."""

    start: int
    end: int
    segments: tuple[Segment, ...]
    cut_before: bool
    cut_after: bool


def excerpts(
    text: str,
    marks: Sequence[Mark],
    *,
    whole: int = WHOLE_TEXT_CHARS,
    context: int = CONTEXT_CHARS,
) -> list[Excerpt]:
    """The whole text if short, else windows of ``context`` around the marks, merged."""
    marks = [m for m in marks if 0 <= m.start < m.end <= len(text)]
    if len(text) <= whole or not marks:
        windows = [(0, min(len(text), whole))]
    else:
        windows = []
        for mark in sorted(marks, key=lambda m: m.start):
            start, end = max(0, mark.start - context), min(len(text), mark.end + context)
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(windows[-1][1], end))
            else:
                windows.append((start, end))
    return [
        Excerpt(start, end, tuple(segments(text, marks, start, end)), start > 0, end < len(text))
        for start, end in windows
    ]


def segments(
    text: str, marks: Sequence[Mark], start: int = 0, end: int | None = None
) -> list[Segment]:
    """``text[start:end]`` cut at every mark boundary; each piece knows the marks over it."""
    end = len(text) if end is None else end
    cuts = {start, end}
    for mark in marks:
        cuts.update(p for p in (mark.start, mark.end) if start < p < end)
    points = sorted(cuts)
    pieces = []
    for left, right in itertools.pairwise(points):
        over = [m for m in marks if m.start < right and left < m.end]
        pieces.append(
            Segment(
                text[left:right],
                tuple(sorted({m.kind for m in over})),
                tuple(sorted({m.match for m in over})),
            )
        )
    return pieces
