"""A bit per hash bucket of a corpus's n-gram postings: 0 means no posting has a hash there.

Most of a page's grams are in no reference; the verbatim tier asks this filter first and
searches the sorted postings only for the grams it lets through (``service.verbatim_candidates``).
It used to be built by every scanner process from every posting: 2.45 CPU-seconds and 128 MB
of private memory per process at 3x the books, about 90 s at 100x by the fit (BENCHMARKS.md).
The build now writes it beside the postings (``PRESENCE_FILE``) and a scanner maps it: free to
load, one copy in the page cache for every worker. An index written before it has no such file
and its scanners build the filter as before (``from_postings``).

Bits: 16 a posting (a 6% chance that an absent gram needs the real search), a power of two,
at most ``FILE_MAX_BITS`` in the file and ``MEMORY_MAX_BITS`` when built in a process. Which
grams pass changes only how much is searched, never what is found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PRESENCE_FILE = "ngram_presence.npy"
BITS_PER_POSTING = 16
MIN_BITS = 1 << 16
# 1 GB, mapped and shared: 16 bits a posting up to 537 million postings (about 370 million
# reference tokens), 7 at a billion tokens.
FILE_MAX_BITS = 1 << 33
# 128 MB of private memory in each process that builds its own.
MEMORY_MAX_BITS = 1 << 30
# Postings read per step: the table is memory-mapped, and whole-table temporaries (three of 8
# bytes a posting) were a scanner's peak memory on a large index.
CHUNK = 1 << 20


def presence_bits(postings: int, max_bits: int) -> int:
    bits = MIN_BITS
    while bits < BITS_PER_POSTING * postings and bits < max_bits:
        bits <<= 1
    return bits


class PresenceWords:
    """The filter's 64-bit words, filled from hashes in any order and any number of calls."""

    def __init__(self, postings: int, max_bits: int):
        bits = presence_bits(postings, max_bits)
        self.mask = np.uint64(bits - 1)
        self.words = np.zeros(bits // 64, dtype=np.uint64)

    def add(self, hashes: np.ndarray) -> None:
        for start in range(0, len(hashes), CHUNK):
            buckets = np.asarray(hashes[start : start + CHUNK], dtype=np.uint64) & self.mask
            bit = np.uint64(1) << (buckets & np.uint64(63))
            np.bitwise_or.at(self.words, buckets >> np.uint64(6), bit)


class PresenceFilter:
    """``may_hold``: False for a hash no posting has; True for those it has, and a few more."""

    def __init__(self, words: np.ndarray):
        if len(words) == 0 or len(words) & (len(words) - 1):
            raise ValueError(f"a presence filter has a power of two of words, not {len(words)}")
        self._words = words
        self._mask = np.uint64(64 * len(words) - 1)

    @classmethod
    def from_postings(cls, table: np.ndarray) -> PresenceFilter:
        """Built here from a sorted postings table (an index written without the file)."""
        words = PresenceWords(len(table), MEMORY_MAX_BITS)
        words.add(table)
        return cls(words.words)

    def may_hold(self, keys: np.ndarray) -> np.ndarray:
        buckets = keys & self._mask
        words = self._words[buckets >> np.uint64(6)]
        return (words >> (buckets & np.uint64(63))) & np.uint64(1) == 1


def write_presence(folder: Path, words: PresenceWords) -> None:
    np.save(Path(folder) / PRESENCE_FILE, words.words)
