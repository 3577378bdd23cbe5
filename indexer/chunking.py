"""Cutting tokenized text into overlapping passages, shared by indexer and scanner.

The embedding model reads at most 256 word pieces (about 150 English words) and silently drops
the rest, so long works are cut into passages well below that. Passages overlap so that a copied
excerpt that straddles a boundary still lies mostly inside one passage. The scanner uses the
same function to cut documents into windows sized like the reference items.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.normalize import TokenizedText


@dataclass(frozen=True)
class ChunkingSettings:
    """Passage sizes in normalized tokens; recorded in the index manifest."""

    passage_tokens: int = 96
    passage_stride: int = 64

    def __post_init__(self) -> None:
        if self.passage_tokens < 1 or not 0 < self.passage_stride <= self.passage_tokens:
            raise ValueError(
                "chunking needs passage_tokens >= 1 and 0 < passage_stride <= passage_tokens, "
                f"got {self.passage_tokens} and {self.passage_stride}"
            )


@dataclass(frozen=True)
class Passage:
    """A token range of a text and the original-text characters it covers."""

    token_start: int
    token_end: int
    char_start: int
    char_end: int


def window_starts(n_tokens: int, size: int, stride: int) -> list[int]:
    """Start positions of windows of ``size`` tokens, the last one flush with the end.

    >>> window_starts(10, 4, 3)
    [0, 3, 6]
    """
    if n_tokens <= size:
        return [0]
    starts = list(range(0, n_tokens - size + 1, stride))
    if starts[-1] + size < n_tokens:
        starts.append(n_tokens - size)
    return starts


def chunk_passages(
    tokenized: TokenizedText, settings: ChunkingSettings | None = None
) -> list[Passage]:
    """Overlapping passages covering every token of ``tokenized`` (none for an empty text)."""
    settings = settings or ChunkingSettings()
    return windows(tokenized, settings.passage_tokens, settings.passage_stride)


def windows(tokenized: TokenizedText, size: int, stride: int) -> list[Passage]:
    """Windows of ``size`` tokens every ``stride`` tokens, with their character spans."""
    n = len(tokenized)
    if n == 0:
        return []
    result = []
    for start in window_starts(n, size, stride):
        end = min(start + size, n)
        char_start, char_end = tokenized.char_span(start, end)
        result.append(Passage(start, end, char_start, char_end))
    return result
