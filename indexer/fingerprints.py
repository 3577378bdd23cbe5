"""Hashed word n-grams: the verbatim tier's fingerprints, shared by indexer and scanner.

Each token is hashed once with xxh3; an n-gram's hash is a polynomial over its token hashes,
computed for a whole text with a few vectorized numpy passes (uint64 arithmetic wraps, which is
the modulus we want). Keeping this in one module guarantees that an index and a scanner can
never compute different hashes for the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xxhash

from indexer.normalize import TextMode

# An odd 64-bit multiplier (from splitmix64); any odd constant gives a well-mixed polynomial hash.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# Mixed in per n-gram length so that a 3-gram and a 5-gram over other words cannot collide by
# construction (they share one posting table).
_LENGTH_SALT = np.uint64(0xD6E8FEB86659FD93)


@dataclass(frozen=True)
class NgramSettings:
    """Verbatim-tier settings; recorded in the index manifest.

    ``n`` = 5 words keeps short items findable (an 8-word question has four 5-grams, where the
    classic 13-gram rule has none) while a common 5-gram is only a candidate: nothing counts
    before alignment verifies it. Items shorter than ``n`` but at least ``min_item_tokens``
    long are fingerprinted as one gram of their full length.
    """

    n: int = 5
    # Code tokens include brackets and operators, so five of them ("( x ) : return") are far
    # less specific than five words; code grams are longer.
    code_n: int = 10
    min_item_tokens: int = 4
    seed: int = 0
    hash: str = "xxh3_64-polynomial"

    def __post_init__(self) -> None:
        if not 1 <= self.min_item_tokens <= min(self.n, self.code_n):
            raise ValueError(
                f"need 1 <= min_item_tokens <= n and code_n, got {self.min_item_tokens}"
            )

    def length_for(self, mode: TextMode) -> int:
        return self.code_n if TextMode(mode) is TextMode.CODE else self.n


def token_hashes(tokens: list[str], seed: int = 0) -> np.ndarray:
    """One uint64 hash per token."""
    digest = xxhash.xxh3_64_intdigest
    return np.fromiter(
        (digest(t.encode("utf-8"), seed) for t in tokens), dtype=np.uint64, count=len(tokens)
    )


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of every n-gram: element ``i`` covers tokens ``[i, i + n)``; empty if too short."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        acc = hashes[:count].copy()
        for offset in range(1, n):
            acc *= _MULTIPLIER
            acc += hashes[offset : offset + count]
        acc ^= _LENGTH_SALT * np.uint64(n)
    return acc


def gram_length_for(n_tokens: int, mode: TextMode, settings: NgramSettings) -> int | None:
    """The gram length used for a reference text of ``n_tokens`` tokens, None if too short."""
    n = settings.length_for(mode)
    if n_tokens >= n:
        return n
    if n_tokens >= settings.min_item_tokens:
        return n_tokens
    return None
