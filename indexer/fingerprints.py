"""Hashed word n-grams: the verbatim tier's fingerprints, shared by indexer and scanner.

Each token is hashed once (FNV-1a over its code points, then the splitmix64 finalizer, in one
compiled loop over a whole text); an n-gram's hash is a polynomial over its token hashes,
computed for a whole text with a few vectorized numpy passes (uint64 arithmetic wraps, which is
the modulus we want). Keeping this in one module guarantees that an index and a scanner can
never compute different hashes for the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.compiled import compiled_on_first_use
from indexer.normalize import TextMode, TokenizedText

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
    hash: str = "fnv1a64-codepoints-splitmix-polynomial"

    def __post_init__(self) -> None:
        if not 1 <= self.min_item_tokens <= min(self.n, self.code_n):
            raise ValueError(
                f"need 1 <= min_item_tokens <= n and code_n, got {self.min_item_tokens}"
            )

    def length_for(self, mode: TextMode) -> int:
        return self.code_n if TextMode(mode) is TextMode.CODE else self.n


def token_hashes(tokens: list[str], seed: int = 0) -> np.ndarray:
    """One uint64 hash per token (tokens hold no whitespace, as ``tokenize`` makes them)."""
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    points = np.frombuffer(" ".join(tokens).encode("utf-32-le", "surrogatepass"), np.uint32)
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    ends = np.cumsum(lengths + 1) - 1
    return span_hashes(points, ends - lengths, ends, seed)


def tokenized_hashes(tokenized: TokenizedText, seed: int = 0) -> np.ndarray:
    """``token_hashes(tokenized.tokens)``, from the folded code points (no token strings)."""
    folded = tokenized.folded
    starts, ends = tokenized.starts, tokenized.ends
    if folded.origin:
        starts, ends = starts - folded.origin, ends - folded.origin
    hashes = span_hashes(folded.points, starts, ends, seed)
    if folded.replaced:
        hashes[list(folded.replaced)] = token_hashes(list(folded.replaced.values()), seed)
    return hashes


def span_hashes(
    points: np.ndarray, starts: np.ndarray, ends: np.ndarray, seed: int = 0
) -> np.ndarray:
    """The hash of each token ``points[starts[i]:ends[i]]`` (code points, already folded).

    The same value ``token_hashes`` gives the token as a string, so a tokenizer that keeps its
    folded text as code points hashes without building a string per token.
    """
    out = np.empty(len(starts), dtype=np.uint64)
    _span_hashes(points, starts, ends, np.uint64(seed), out)
    return out


@compiled_on_first_use
def _span_hashes(points, starts, ends, seed, out):
    for i in range(len(starts)):
        h = np.uint64(0xCBF29CE484222325) ^ (seed * np.uint64(0x9E3779B97F4A7C15))
        for j in range(starts[i], ends[i]):
            h = (h ^ np.uint64(points[j])) * np.uint64(0x100000001B3)
        # splitmix64's finalizer: FNV-1a's low bits mix poorly, and the postings sort by all 64.
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out[i] = h ^ (h >> np.uint64(31))


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
